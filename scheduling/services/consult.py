"""The free consult's outcome: the recommended path, and optionally the first real appointment."""

from datetime import datetime

from django.db import transaction
from django.utils import timezone

from clinic import roles
from clinic.errors import FieldProblem, PermissionProblem, ValidationProblem
from clinic.roles import User
from patients.access import provider_for
from patients.models import Patient
from scheduling import signals
from scheduling.models import Appointment, AppointmentEvent, FreeConsultOutcome
from scheduling.services._common import Status, _locked, _record, _send_after_commit, _user
from scheduling.services.booking import book_appointment
from scheduling.services.errors import invalid_transition


def may_record_outcome(user, appointment: Appointment) -> bool:
    """The consult's conclusion is the clinical judgement of whoever held it; managers may
    correct it. Front desk and other clinicians may not."""
    if roles.is_manager(user):
        return True
    own = provider_for(user)
    return own is not None and own.pk == appointment.provider_id


def record_consult_outcome(
    appointment: Appointment,
    *,
    recommended_path: str,
    notes: str = "",
    actor: User | None = None,
    first_appointment: dict | None = None,
    now: datetime | None = None,
) -> FreeConsultOutcome:
    """After the call: the recommended path, and optionally the first real appointment
    (``{"service", "location", "start", "provider"?}``) booked for the same patient.
    ``actor=None`` is the system (demo data); a staff actor must pass ``may_record_outcome``."""
    if actor is not None and not may_record_outcome(actor, appointment):
        raise PermissionProblem("Only the consult's provider or a manager records its outcome.")
    if recommended_path not in FreeConsultOutcome.Path.values:
        raise ValidationProblem(
            "Unknown recommended path.",
            [
                FieldProblem(
                    "recommended_path",
                    "invalid_choice",
                    f"Choose one of {', '.join(FreeConsultOutcome.Path.values)}.",
                )
            ],
        )
    now = now or timezone.now()
    with transaction.atomic():
        # Patient first, as every booking does, so this cannot deadlock with a reschedule.
        Patient.objects.select_for_update().filter(pk=appointment.patient_id).first()
        appointment = _locked(appointment)
        if not appointment.is_free_consult:
            raise ValidationProblem(
                "Only a free consult has an outcome.",
                [FieldProblem("appointment", "not_free_consult", "Not a free consult.")],
            )
        if appointment.status in (Status.CANCELLED, Status.NO_SHOW):
            raise invalid_transition("The consult did not take place.")
        if now < appointment.start:
            raise invalid_transition("The consult has not started yet.")
        first = None
        if first_appointment:
            first = book_appointment(
                service=first_appointment["service"],
                location=first_appointment["location"],
                start=first_appointment["start"],
                provider=first_appointment.get("provider"),
                patient=appointment.patient,
                source=Appointment.Source.STAFF,
                actor=actor,
                now=now,
            )
        outcome, _ = FreeConsultOutcome.objects.update_or_create(
            appointment=appointment,
            defaults={
                "recommended_path": recommended_path,
                "notes": notes,
                "recorded_by": _user(actor),
                **({"first_appointment": first} if first else {}),
            },
        )
        if appointment.status != Status.COMPLETED:
            appointment.status = Status.COMPLETED
            appointment.save(update_fields=["status", "updated_at"])
            _send_after_commit(signals.appointment_status_changed, appointment, actor)
        _record(
            appointment,
            AppointmentEvent.Kind.OUTCOME,
            actor,
            recommended_path=recommended_path,
            first_appointment=first.reference if first else None,
        )
    return outcome
