"""An appointment after booking: cancel (late flag, undo window), reschedule, and the status
changes (check-in on the local day, no-show after the start, complete after check-in).
"""

from datetime import datetime

from django.db import IntegrityError, transaction
from django.utils import timezone

from clinic.errors import ConflictProblem, FieldProblem, ValidationProblem
from clinic.roles import User
from patients.models import Patient
from providers.models import Provider
from scheduling import signals
from scheduling.availability import load_rules
from scheduling.models import UPCOMING_STATUSES, Appointment, AppointmentEvent
from scheduling.policy import resolve_policy, within_undo_window
from scheduling.services._common import (
    Status,
    _aware_utc,
    _locked,
    _record,
    _send_after_commit,
    _user,
)
from scheduling.services.booking import (
    _blocked,
    _check_patient,
    _check_policy,
    _check_provider,
    _check_service,
    _never_a_slot,
    _options,
    _slot_key,
    schedule_provider_for,
)
from scheduling.services.errors import invalid_transition, slot_unavailable


def is_late(appointment: Appointment, now: datetime | None = None) -> bool:
    """Inside the late-cancellation window of the policy for the appointment's service, and
    past the clinic's undo window after the booking was made."""
    now = now or timezone.now()
    if within_undo_window(appointment.created_at, now):
        return False
    policy = resolve_policy(appointment.service, appointment.location)
    return now >= policy.late_cancellation_starts(appointment.start)


def cancel_appointment(
    appointment: Appointment,
    *,
    reason: str = "",
    by: str = Appointment.CancelledBy.STAFF,
    actor: User | None = None,
    refuse_late: bool = False,
    now: datetime | None = None,
    notify_patient: bool = True,
) -> Appointment:
    """Cancel, recording why, by whom and whether it was late. Patients online are refused
    inside the late window (``refuse_late``); staff may cancel late, and it is flagged.
    ``notify_patient=False`` when a series notice tells the patient instead."""
    now = now or timezone.now()
    with transaction.atomic():
        appointment = _locked(appointment)
        if appointment.status not in UPCOMING_STATUSES:
            raise invalid_transition(
                f"A {appointment.get_status_display().lower()} appointment cannot be cancelled."
            )
        late = is_late(appointment, now)
        if late and refuse_late:
            policy = resolve_policy(appointment.service, appointment.location)
            raise ConflictProblem(
                f"Appointments cannot be cancelled online less than "
                f"{policy.late_cancellation_hours} hours before the start; please call the clinic.",
                slug="late-cancellation",
                title="Too late to cancel online.",
                errors=[FieldProblem("start", "late_cancellation", "Inside the late window.")],
            )
        appointment.status = Status.CANCELLED
        appointment.cancel_reason = (reason or "")[:300]
        appointment.cancelled_by = by
        appointment.cancelled_by_user = _user(actor)
        appointment.cancelled_at = now
        appointment.late_cancellation = late
        appointment.ical_sequence += 1
        appointment.save()
        _record(
            appointment, AppointmentEvent.Kind.CANCELLED, actor, reason=reason, by=by, late=late
        )
        _send_after_commit(signals.appointment_cancelled, appointment, actor, notify_patient)
    return appointment


def reschedule_appointment(
    appointment: Appointment,
    *,
    start: datetime,
    provider: Provider | None = None,
    actor: User | None = None,
    source: str = Appointment.Source.STAFF,
    refuse_late: bool = False,
    now: datetime | None = None,
    notify_patient: bool = True,
) -> Appointment:
    """Move an appointment, keeping its reference, manage token and calendar UID; the calendar
    sequence goes up and the history keeps the old time. ``provider=None`` keeps the provider.
    A clinician ``actor`` moves appointments on their own calendar only.
    ``notify_patient=False`` when a series notice tells the patient instead."""
    now = now or timezone.now()
    provider = schedule_provider_for(actor, provider or appointment.provider)
    start = _aware_utc(start)
    online = source == Appointment.Source.ONLINE
    with transaction.atomic():
        Patient.objects.select_for_update().filter(pk=appointment.patient_id).first()
        appointment = _locked(appointment)
        if appointment.status not in UPCOMING_STATUSES:
            raise invalid_transition(
                f"A {appointment.get_status_display().lower()} appointment cannot be moved."
            )
        service, location = appointment.service, appointment.location
        if refuse_late and is_late(appointment, now):
            raise ConflictProblem(
                "This appointment is too close to change online; please call the clinic.",
                slug="late-cancellation",
                title="Too late to change online.",
                errors=[FieldProblem("start", "late_cancellation", "Inside the late window.")],
            )
        _check_service(service, location, online)
        target = provider or appointment.provider
        rules = load_rules(service, location, [target.pk])
        _check_policy(rules, location, start, now, online)
        _check_provider(target, service, location, start, rules)
        end, blocked_start, blocked_end = _blocked(service, start)
        _check_patient(
            appointment.patient, service, rules.policy, start, end, now, False, appointment.pk
        )
        options = _options(
            service=service,
            location=location,
            start=start,
            candidates=[target.pk],
            rules=rules,
            now=now,
            online=online,
            ignore_id=appointment.pk,
        )
        if not options:
            raise _never_a_slot(service, location, start, [target.pk], rules, now, online)
        old = {"start": appointment.start.isoformat(), "provider": appointment.provider_id}
        option = options[0]
        appointment.provider_id = option.provider_id
        appointment.room_id = option.room_id
        appointment.start, appointment.end = start, end
        appointment.blocked_start, appointment.blocked_end = blocked_start, blocked_end
        appointment.slot_key = _slot_key(service, start, appointment.reference)
        appointment.status = Status.BOOKED
        appointment.ical_sequence += 1
        try:
            with transaction.atomic():
                appointment.save()
        except IntegrityError:
            raise slot_unavailable() from None
        _record(
            appointment,
            AppointmentEvent.Kind.RESCHEDULED,
            actor,
            old=old,
            new={"start": start.isoformat(), "provider": option.provider_id},
        )
        _send_after_commit(signals.appointment_rescheduled, appointment, actor, notify_patient)
    return appointment


TRANSITIONS: dict[str, tuple[tuple[str, ...], str, bool]] = {
    "confirm": ((Status.BOOKED,), Status.CONFIRMED, False),
    "arrive": ((Status.BOOKED, Status.CONFIRMED), Status.ARRIVED, False),
    "complete": ((Status.ARRIVED,), Status.COMPLETED, False),
    "no_show": ((Status.BOOKED, Status.CONFIRMED), Status.NO_SHOW, True),
}


STATUS_PHRASES = {
    "confirm": "Cannot confirm {} appointment",
    "arrive": "Cannot check in {} appointment",
    "complete": "Cannot complete {} appointment",
    "no_show": "Cannot mark {} appointment as a no-show",
}


def _status_refusal(appointment: Appointment, action: str, now: datetime) -> str | None:
    """Why ``action`` cannot happen now, in the desk's words; None when it can. A patient
    checks in on the visit's local day, is a no-show only once it has started, and a visit is
    completed only after check-in."""
    allowed_from, _, needs_start = TRANSITIONS[action]
    phrase = STATUS_PHRASES[action]
    if appointment.status not in allowed_from:
        label = appointment.get_status_display().lower()
        hint = " (check the patient in first)" if action == "complete" else ""
        return phrase.format(("an " if label[0] in "aeiou" else "a ") + label) + f"{hint}."
    local_day = appointment.local_start.date()
    if action == "arrive" and now.astimezone(appointment.location.zone).date() != local_day:
        return f"{phrase.format('an')} on another day than its own ({local_day:%Y-%m-%d})."
    if needs_start and now < appointment.start:
        return f"{phrase.format('an')} before it starts."
    return None


def change_status(
    appointment: Appointment,
    action: str,
    *,
    actor: User | None = None,
    now: datetime | None = None,
    via: str = "",
) -> Appointment:
    """Confirm, arrive, complete or mark a no-show, following the allowed transitions.
    ``via`` names an anonymous channel in the history (``manage_link``: the patient)."""
    if action not in TRANSITIONS:
        raise ValidationProblem(
            "Unknown action.",
            [FieldProblem("action", "unknown", f"Actions are {', '.join(TRANSITIONS)}.")],
        )
    target = TRANSITIONS[action][1]
    now = now or timezone.now()
    with transaction.atomic():
        appointment = _locked(appointment)
        refusal = _status_refusal(appointment, action, now)
        if refusal:
            raise invalid_transition(refusal)
        old = appointment.status
        appointment.status = target
        appointment.save(update_fields=["status", "updated_at"])
        _record(appointment, target, actor, old=old, **({"via": via} if via else {}))
        _send_after_commit(signals.appointment_status_changed, appointment, actor)
    return appointment
