"""What the scheduling services share: the actor's label, the history row,
the after-commit signal, UTC checks.
"""

from datetime import UTC, datetime

from django.db import transaction

from clinic import deferred_inserts
from clinic.errors import FieldProblem, ValidationProblem
from clinic.models import Location
from clinic.roles import User
from patients.models import Patient
from patients.services import match_or_create_patient
from scheduling.models import Appointment, AppointmentEvent

Status = Appointment.Status


def _actor_label(actor: User | None) -> str:
    if actor is None or not getattr(actor, "is_authenticated", False):
        return "patient (online)"
    return actor.get_username()


def _user(actor: User | None) -> User | None:
    return actor if actor is not None and getattr(actor, "is_authenticated", False) else None


def _aware_utc(value: datetime, field: str = "start") -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValidationProblem(
            "Times need an offset.",
            [FieldProblem(field, "naive_datetime", "Give the time with its UTC offset.")],
        )
    return value.astimezone(UTC)


def _record(appointment: Appointment, kind: str, actor, **data) -> None:
    """The appointment's history row; deferred inside ``deferred_inserts.collecting`` (the
    history is read by pages and the API, never within the transaction that writes it)."""
    event = AppointmentEvent(
        appointment=appointment,
        kind=kind,
        actor=_user(actor),
        actor_label=_actor_label(actor),
        data=data,
    )
    if not deferred_inserts.defer([event]):
        event.save(force_insert=True)


def _send_after_commit(
    signal, appointment: Appointment, actor: User | None, notify_patient: bool = True
) -> None:
    """``notify_patient=False``: the change is told by another e-mail (a series notice), so the
    receivers plan no per-visit notice for it; reminders follow the change as usual."""
    transaction.on_commit(
        lambda: signal.send(
            sender=Appointment,
            appointment=appointment,
            actor=_user(actor),
            notify_patient=notify_patient,
        )
    )


def _locked(appointment: Appointment) -> Appointment:
    """The appointment's row, locked; only that row (``of=self``): the joined patient's row is
    taken first, by whoever needs it (booking, rescheduling), so a visit never waits for the
    patient while holding the visit."""
    rows = Appointment.objects.select_for_update(of=("self",)).select_related(
        "service", "location", "provider", "patient"
    )
    try:
        return rows.get(pk=appointment.pk)
    except Appointment.DoesNotExist:
        # Waiting for the lock, PostgreSQL checks the new version of the row against the
        # joined rows it read before: a move to another provider committed meanwhile leaves
        # no match. Read again, now that the move is done (a deleted visit is still missing).
        return rows.get(pk=appointment.pk)


def match_online_person(
    details: dict, location: Location, new_status: str = Patient.Status.LEAD
) -> tuple[Patient, bool]:
    """The person an anonymous web form names (a booking, a waitlist entry), matched by e-mail or
    created (a lead, unless ``new_status`` says otherwise) who prefers this location; ``created``
    says which."""
    return match_or_create_patient(
        first_name=details.get("first_name", ""),
        last_name=details.get("last_name", ""),
        email=details.get("email", ""),
        phone=details.get("phone", ""),
        date_of_birth=details.get("date_of_birth"),
        preferred_location=location if not location.is_virtual else None,
        new_status=new_status,
    )
