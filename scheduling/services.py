"""Writes for scheduling: offerings, booking, the appointment lifecycle, free consults, call-backs.

``book_appointment`` is the one booking function; the public widget, the staff API, the admin and
the demo all call it. It judges scope, policy and conflicts, then writes inside one transaction:

1. lock the patient row (serialises one person's bookings: free consult, upcoming limit),
   the provider rows for a group class (counts its participants), and the rooms of the kind the
   service needs (counts room use) -- always in that order, so two bookings cannot deadlock;
2. run the availability search for that day inside the transaction, so a booking accepts exactly
   what the widget shows;
3. insert in a savepoint. On PostgreSQL the exclusion constraints refuse an overlap that a racing
   transaction slipped in; that ``IntegrityError`` becomes ``409 slot-unavailable``, and "any
   provider" moves on to the next free provider.

Signals go out with ``transaction.on_commit``, so a rolled-back booking tells nobody.
"""

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

from django.db import IntegrityError, transaction
from django.db.models import Count, Q
from django.utils import timezone

from clinic import roles
from clinic.errors import (
    ConflictProblem,
    DomainError,
    FieldProblem,
    PermissionProblem,
    RuleProblem,
    ValidationProblem,
)
from clinic.models import Location, Room
from patients.access import provider_for
from patients.models import Patient
from patients.services import (
    PURPOSES,
    match_or_create_patient,
    record_online_form_consents,
)
from providers.models import Provider
from providers.scope import decide_acts
from scheduling import signals
from scheduling.availability import (
    ProviderSlot,
    Rules,
    load_rules,
    offering_providers,
    search,
)
from scheduling.models import (
    BLOCKING_STATUSES,
    UPCOMING_STATUSES,
    Appointment,
    AppointmentEvent,
    CallbackRequest,
    FreeConsultOutcome,
    Offering,
    Service,
)
from scheduling.policy import BookingPolicy, closure_on, resolve_policy, within_undo_window
from scheduling.requirements import missing_fields
from scheduling.slot_check import never_a_slot

Status = Appointment.Status

SLOT_UNAVAILABLE = "slot-unavailable"
OUTSIDE_POLICY = "outside-booking-policy"


# --- Refusals -------------------------------------------------------------------------------


def slot_unavailable(detail: str = "This time is no longer available.", code: str = "taken"):
    return ConflictProblem(
        detail,
        slug=SLOT_UNAVAILABLE,
        title="The slot is not available.",
        errors=[FieldProblem("start", code, detail)],
    )


def outside_policy(detail: str, code: str, field: str = "start") -> RuleProblem:
    return RuleProblem(
        detail,
        OUTSIDE_POLICY,
        "Outside the booking policy.",
        [FieldProblem(field, code, detail)],
    )


def inactive_service(detail: str, field: str = "service", code: str = "inactive") -> RuleProblem:
    return RuleProblem(
        detail,
        "inactive-service",
        "Unknown or inactive service.",
        [FieldProblem(field, code, detail)],
    )


def invalid_transition(detail: str) -> ConflictProblem:
    return ConflictProblem(
        detail,
        slug="invalid-transition",
        title="Not possible in the appointment's current state.",
        errors=[FieldProblem("status", "invalid_transition", detail)],
    )


def _actor_label(actor) -> str:
    if actor is None or not getattr(actor, "is_authenticated", False):
        return "patient (online)"
    return actor.get_username()


def _user(actor):
    return actor if actor is not None and getattr(actor, "is_authenticated", False) else None


def _aware_utc(value: datetime, field: str = "start") -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValidationProblem(
            "Times need an offset.",
            [FieldProblem(field, "naive_datetime", "Give the time with its UTC offset.")],
        )
    return value.astimezone(UTC)


# --- Offerings ------------------------------------------------------------------------------


@transaction.atomic
def check_offering_scope(
    provider: Provider, service: Service, location: Location, now: datetime | None = None
) -> None:
    """An offering is valid only while the provider's scope covers every act the service
    requires at that location; raises ``OutOfScope`` naming the reasons otherwise."""
    acts = list(service.required_acts.values_list("code", flat=True))
    decide_acts(provider, acts, location, now or timezone.now()).raise_if_refused("provider")


def create_offering(
    *, provider: Provider, service: Service, location: Location, now: datetime | None = None
) -> Offering:
    """A provider offers a service at a location, only if their scope covers every act the
    service requires there, today."""
    check_offering_scope(provider, service, location, now)
    offering, _ = Offering.objects.update_or_create(
        provider=provider, service=service, location=location, defaults={"is_active": True}
    )
    return offering


def schedule_provider_for(actor, provider: Provider | None) -> Provider | None:
    """The provider whose calendar a staff booking or move may fill. Front desk and managers run
    every calendar; a clinician only their own (their provider when none is named), so one
    clinician cannot fill or take a colleague's time. The API and the admin both ask here."""
    if roles.is_manager(actor) or not roles.is_clinician(actor):
        return provider
    own = provider_for(actor)
    if own is not None and provider is None:
        return own
    if own is None or provider != own:
        raise PermissionProblem(
            "Clinicians book and move appointments on their own schedule only.",
            [FieldProblem("provider", "not_own_schedule", "Choose yourself as the provider.")],
        )
    return provider


# --- Booking --------------------------------------------------------------------------------


def _check_service(service: Service, location: Location, online: bool) -> None:
    if not service.is_active:
        raise inactive_service(f"{service.name} is not offered any more.")
    if online and not service.online_bookable:
        raise inactive_service(
            f"{service.name} cannot be booked online; please call the clinic.",
            code="not_online_bookable",
        )
    if not location.is_active:
        raise inactive_service(f"{location.name} is not open for bookings.", field="location")


def _check_policy(
    policy: BookingPolicy, location: Location, start: datetime, now: datetime, online: bool
) -> None:
    """Refuse a start the booking window or a closure rules out, with the window's reason."""
    refusal = policy.window(now, location, online).refusal(start)
    if refusal is not None:
        code, message = refusal
        raise outside_policy(message, code)
    closure = closure_on(location, start.astimezone(location.zone).date())
    if closure is not None:
        raise outside_policy(f"{location.name} is closed that day: {closure.reason}.", "closed")


def _check_patient(
    patient: Patient,
    service: Service,
    policy: BookingPolicy,
    start: datetime,
    end: datetime,
    now: datetime,
    online: bool,
    ignore_id: int | None,
) -> None:
    """The patient's own limits: one free consult, the online cap on upcoming bookings, and no
    two appointments at once. One query counts all three."""
    blocking = Q(status__in=BLOCKING_STATUSES)
    counts = (
        Appointment.objects.filter(patient=patient)
        .exclude(pk=ignore_id)
        .aggregate(
            consults=Count("pk", filter=blocking & Q(is_free_consult=True)),
            upcoming_online=Count(
                "pk",
                filter=Q(
                    source=Appointment.Source.ONLINE, status__in=UPCOMING_STATUSES, start__gt=now
                ),
            ),
            overlapping=Count("pk", filter=blocking & Q(start__lt=end, end__gt=start)),
        )
    )
    if service.is_free_consult and policy.one_free_consult_per_patient and counts["consults"]:
        raise RuleProblem(
            "A free consult has already been booked for this person; one per patient.",
            "free-consult-used",
            "The free consult is used.",
            [FieldProblem("service", "free_consult_used", "One free consult per patient.")],
        )
    if online and counts["upcoming_online"] >= policy.max_upcoming_online_bookings:
        raise outside_policy(
            f"At most {policy.max_upcoming_online_bookings} upcoming online bookings per "
            "patient; please call the clinic for more.",
            "max_upcoming_bookings",
            field="patient",
        )
    if counts["overlapping"]:
        if online:  # anyone may type this e-mail: say no more than for any taken slot
            raise slot_unavailable()
        raise slot_unavailable(
            "The patient already has an appointment at that time.", "patient_busy"
        )


def _lock(service: Service, location: Location, provider_ids: Iterable[int]) -> None:
    """Row locks for what exclusion constraints cannot count: group size and room use."""
    if service.is_group:
        list(
            Provider.objects.select_for_update()
            .filter(pk__in=list(provider_ids))
            .order_by("pk")
            .values_list("pk", flat=True)
        )
    if service.room_kind:
        list(
            Room.objects.select_for_update()
            .filter(location=location, kind=service.room_kind)
            .order_by("pk")
            .values_list("pk", flat=True)
        )


def _candidates(service: Service, location: Location, provider: Provider | None) -> list[int]:
    """Who may take the booking: the named provider, or everyone offering the service there."""
    if provider is not None:
        return [provider.pk]
    return list(offering_providers(service, location))


def _options(
    *,
    service: Service,
    location: Location,
    start: datetime,
    candidates: list[int],
    rules: Rules,
    now: datetime,
    online: bool,
    ignore_id: int | None = None,
) -> list[ProviderSlot]:
    """The providers who can take ``start``, best first (joining a group session, then the
    least busy), judged inside the caller's transaction after the locks."""
    _lock(service, location, candidates)
    day = start.astimezone(location.zone).date()
    result = search(
        service=service,
        location=location,
        start_date=day,
        end_date=day,
        provider_ids=candidates,
        now=now,
        online=online,
        ignore_appointment_id=ignore_id,
        rules=rules,
    )
    options = [slot for slot in result.slots if slot.start == start]
    options.sort(
        key=lambda s: (s.spots_left == service.capacity, result.provider_load.get(s.provider_id, 0))
    )
    return options


def _check_provider(
    provider: Provider, service: Service, location: Location, start: datetime, rules: Rules
) -> None:
    """A named provider is refused with the scope decision's reasons, not a bare "taken"."""
    rules.scope.decide_acts(provider.pk, rules.act_codes, location, start).raise_if_refused(
        "provider"
    )
    if not Offering.objects.filter(
        provider=provider, service=service, location=location, is_active=True
    ).exists():
        raise ValidationProblem(
            f"{provider.display_name} does not offer {service.name} at {location.name}.",
            [FieldProblem("provider", "not_offered", "Pick a provider who offers this service.")],
        )


def _never_a_slot(service, location, start, candidates, rules, now, online) -> DomainError:
    """No free option: 422 ``not-a-slot`` when ``start`` could never be offered, else taken."""
    never = never_a_slot(
        service=service,
        location=location,
        start=start,
        candidates=candidates,
        rules=rules,
        now=now,
        online=online,
    )
    return never or slot_unavailable()


def _slot_key(service: Service, start: datetime, reference: str) -> str:
    if service.is_group:
        return f"group:{service.pk}:{start:%Y%m%dT%H%M%SZ}"
    return f"one:{reference}"


def _blocked(service: Service, start: datetime) -> tuple[datetime, datetime, datetime]:
    end = start + timedelta(minutes=service.duration_minutes)
    return (
        end,
        start - timedelta(minutes=service.buffer_before_minutes),
        end + timedelta(minutes=service.buffer_after_minutes),
    )


def _record(appointment: Appointment, kind: str, actor, **data) -> None:
    AppointmentEvent.objects.create(
        appointment=appointment,
        kind=kind,
        actor=_user(actor),
        actor_label=_actor_label(actor),
        data=data,
    )


def _send_after_commit(signal, appointment: Appointment, actor) -> None:
    transaction.on_commit(
        lambda: signal.send(sender=Appointment, appointment=appointment, actor=_user(actor))
    )


def book_appointment(
    *,
    service: Service,
    location: Location,
    start: datetime,
    patient: Patient,
    provider: Provider | None = None,
    source: str = Appointment.Source.STAFF,
    actor=None,
    reason: str = "",
    now: datetime | None = None,
) -> Appointment:
    """Book ``patient`` for ``service`` at ``location`` at ``start``; ``provider=None`` picks a
    free, in-scope provider. Refuses with a problem naming the field and the rule. A clinician
    ``actor`` books only their own calendar (``schedule_provider_for``), whatever the caller."""
    now = now or timezone.now()
    provider = schedule_provider_for(actor, provider)
    start = _aware_utc(start)
    online = source == Appointment.Source.ONLINE
    _check_service(service, location, online)
    end, _, _ = _blocked(service, start)
    with transaction.atomic():
        patient = Patient.objects.select_for_update().get(pk=patient.pk)
        candidates = _candidates(service, location, provider)
        rules = load_rules(service, location, candidates)
        _check_policy(rules.policy, location, start, now, online)
        if provider is not None:
            _check_provider(provider, service, location, start, rules)
        _check_patient(patient, service, rules.policy, start, end, now, online, None)
        options = _options(
            service=service,
            location=location,
            start=start,
            candidates=candidates,
            rules=rules,
            now=now,
            online=online,
        )
        if not options:
            raise _never_a_slot(service, location, start, candidates, rules, now, online)
        for option in options:
            appointment = _insert(service, location, start, patient, option, source, reason)
            if appointment is not None:
                break
        else:
            raise slot_unavailable()
        if provider is not None:
            appointment.provider = provider
        _record(
            appointment,
            AppointmentEvent.Kind.BOOKED,
            actor,
            start=start.isoformat(),
            provider=appointment.provider_id,
            source=source,
        )
        if not service.is_free_consult and patient.status == Patient.Status.LEAD:
            # A lead (free consult, call-back) who books real care becomes an active patient.
            patient.status = Patient.Status.ACTIVE
            patient.save(update_fields=["status", "updated_at"])
        _send_after_commit(signals.appointment_booked, appointment, actor)
    return appointment


def _insert(
    service: Service,
    location: Location,
    start: datetime,
    patient: Patient,
    option: ProviderSlot,
    source: str,
    reason: str,
) -> Appointment | None:
    """Insert in a savepoint; None when a racing booking won the constraint."""
    end, blocked_start, blocked_end = _blocked(service, start)
    appointment = Appointment(
        patient=patient,
        provider_id=option.provider_id,
        service=service,
        location=location,
        room_id=option.room_id,
        start=start,
        end=end,
        blocked_start=blocked_start,
        blocked_end=blocked_end,
        is_free_consult=service.is_free_consult,
        source=source,
        reason=reason,
    )
    appointment.slot_key = _slot_key(service, start, appointment.reference)
    try:
        with transaction.atomic():
            appointment.save()
    except IntegrityError:
        return None
    return appointment


def book_online(
    *,
    service_id: int,
    location_id: int,
    provider_id: int | None,
    start: datetime,
    patient_details: dict,
    consent: dict[str, bool],
    reason: str = "",
    client_address: str | None = None,
    now: datetime | None = None,
) -> Appointment:
    """The widget's booking: match or create the person (a new one is a lead), record their
    consents, book. All or nothing."""
    service = Service.objects.filter(pk=service_id).first()
    if service is None:
        raise inactive_service("No such service.", code="unknown")
    location = Location.objects.filter(pk=location_id).first()
    if location is None:
        raise inactive_service("No such location.", field="location", code="unknown")
    provider = None
    if provider_id is not None:
        provider = Provider.objects.filter(pk=provider_id, is_active=True).first()
        if provider is None:
            raise ValidationProblem(
                "No such provider.",
                [FieldProblem("provider", "unknown", "No active provider has this id.")],
            )
    missing = missing_fields(service, patient_details, reason)
    if missing:
        raise ValidationProblem("Some required details are missing.", missing)
    _check_service(service, location, online=True)
    with transaction.atomic():
        patient, created = match_or_create_patient(
            first_name=patient_details.get("first_name", ""),
            last_name=patient_details.get("last_name", ""),
            email=patient_details.get("email", ""),
            phone=patient_details.get("phone", ""),
            date_of_birth=patient_details.get("date_of_birth"),
            preferred_location=location if not location.is_virtual else None,
        )
        appointment = book_appointment(
            service=service,
            location=location,
            start=start,
            patient=patient,
            provider=provider,
            source=Appointment.Source.ONLINE,
            reason=reason,
            now=now,
        )
        record_online_form_consents(
            patient, created=created, choices=consent or {}, client_address=client_address
        )
    return appointment


# --- Lifecycle ------------------------------------------------------------------------------


def _locked(appointment: Appointment) -> Appointment:
    return (
        Appointment.objects.select_for_update()
        .select_related("service", "location", "provider", "patient")
        .get(pk=appointment.pk)
    )


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
    actor=None,
    refuse_late: bool = False,
    now: datetime | None = None,
) -> Appointment:
    """Cancel, recording why, by whom and whether it was late. Patients online are refused
    inside the late window (``refuse_late``); staff may cancel late, and it is flagged."""
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
        _send_after_commit(signals.appointment_cancelled, appointment, actor)
    return appointment


def reschedule_appointment(
    appointment: Appointment,
    *,
    start: datetime,
    provider: Provider | None = None,
    actor=None,
    source: str = Appointment.Source.STAFF,
    refuse_late: bool = False,
    now: datetime | None = None,
) -> Appointment:
    """Move an appointment, keeping its reference, manage token and calendar UID; the calendar
    sequence goes up and the history keeps the old time. ``provider=None`` keeps the provider.
    A clinician ``actor`` moves appointments on their own calendar only."""
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
        _check_policy(rules.policy, location, start, now, online)
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
        _send_after_commit(signals.appointment_rescheduled, appointment, actor)
    return appointment


# action -> (statuses it may start from, resulting status, needs the start to have passed)
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
    actor=None,
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


# --- Free consult ---------------------------------------------------------------------------


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
    actor=None,
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


# --- Call-backs -----------------------------------------------------------------------------


def request_callback(
    *,
    name: str,
    phone: str,
    email: str = "",
    preferred_time: str = "",
    message: str = "",
    consent: dict[str, bool] | None = None,
    client_address: str | None = None,
) -> CallbackRequest:
    """Queue a call-back for front desk. With an e-mail the person is matched or becomes a
    lead, and the consents they gave are recorded."""
    consent = dict(consent or {})
    problems = [
        FieldProblem(field, "required", "This field may not be blank.")
        for field, value in (("name", name), ("phone", phone))
        if not (value or "").strip()
    ]
    if problems:
        raise ValidationProblem("Name and phone are required.", problems)
    with transaction.atomic():
        patient = None
        if email:
            first, _, last = name.strip().partition(" ")
            patient, created = match_or_create_patient(
                first_name=first, last_name=last.strip() or "-", email=email, phone=phone
            )
            record_online_form_consents(
                patient,
                created=created,
                choices={k: bool(v) for k, v in consent.items() if k in PURPOSES},
                client_address=client_address,
            )
        return CallbackRequest.objects.create(
            name=name.strip(),
            phone=phone.strip(),
            email=email,
            preferred_time=preferred_time,
            message=message,
            consent=consent,
            patient=patient,
        )


def update_callback(
    callback: CallbackRequest, *, status: str, actor, note: str | None = None
) -> CallbackRequest:
    """Move a call-back through the queue; who handled it and when are kept."""
    if status not in CallbackRequest.Status.values:
        raise ValidationProblem(
            "Unknown status.",
            [FieldProblem("status", "invalid_choice", "Use new, contacted or closed.")],
        )
    with transaction.atomic():
        callback = CallbackRequest.objects.select_for_update().get(pk=callback.pk)
        callback.status = status
        if status != CallbackRequest.Status.NEW:
            callback.handled_by = _user(actor)
            callback.handled_at = timezone.now()
        if note is not None:
            callback.staff_note = note
        callback.save()
    return callback
