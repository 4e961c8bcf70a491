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
from datetime import datetime, timedelta

from django.db import IntegrityError, OperationalError, connection, transaction
from django.db.models import Count, Q
from django.utils import timezone

from clinic import deferred_inserts, insert_statements, roles, rules_cache
from clinic.errors import (
    DomainError,
    FieldProblem,
    PermissionProblem,
    RuleProblem,
    ValidationProblem,
)
from clinic.models import Location, Room
from clinic.roles import User
from patients.access import provider_for
from patients.models import Patient
from patients.services import record_online_form_consents
from providers.models import Provider
from scheduling import signals
from scheduling.availability import ProviderSlot, Rules, load_rules, offered_providers, search
from scheduling.models import (
    BLOCKING_STATUSES,
    UPCOMING_STATUSES,
    Appointment,
    AppointmentEvent,
    Series,
    Service,
)
from scheduling.policy import BookingPolicy, closure_on
from scheduling.requirements import missing_fields
from scheduling.services._common import (
    _aware_utc,
    _record,
    _user,
    match_online_person,
)
from scheduling.services.errors import inactive_service, outside_policy, slot_unavailable
from scheduling.slot_check import never_a_slot


def schedule_provider_for(actor: User | None, provider: Provider | None) -> Provider | None:
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
    rules: Rules, location: Location, start: datetime, now: datetime, online: bool
) -> None:
    """Refuse a start the booking window or a closure rules out, with the window's reason."""
    refusal = rules.policy.window(now, location, online).refusal(start)
    if refusal is not None:
        code, message = refusal
        raise outside_policy(message, code)
    closure = closure_on(rules.closures, start.astimezone(location.zone).date())
    if closure is not None:
        raise outside_policy(f"{location.name} is closed that day: {closure.reason}.", "closed")


# What ``_patient_counts`` finds for a person with no appointments.
NO_APPOINTMENTS = {"consults": 0, "upcoming_online": 0, "overlapping": 0}


def _patient_counts(
    patient: Patient, start: datetime, end: datetime, now: datetime, ignore_id: int | None
) -> dict[str, int]:
    """One query counting what the patient's limits look at (``_check_patient``)."""
    blocking = Q(status__in=BLOCKING_STATUSES)
    return (
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


def _check_patient(
    patient: Patient,
    service: Service,
    policy: BookingPolicy,
    start: datetime,
    end: datetime,
    now: datetime,
    online: bool,
    ignore_id: int | None,
    counts: dict[str, int] | None = None,
) -> None:
    """The patient's own limits: one free consult, the online cap on upcoming bookings, and no
    two appointments at once. One query counts all three, unless the caller knows the
    ``counts`` (a person created in this transaction has ``NO_APPOINTMENTS``)."""
    if counts is None:
        counts = _patient_counts(patient, start, end, now, ignore_id)
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


def _candidates(
    service: Service, location: Location, provider: Provider | None, view: rules_cache.RulesView
) -> list[int]:
    """Who may take the booking: the named provider, or everyone offering the service there."""
    if provider is not None:
        return [provider.pk]
    return sorted(offered_providers(service, location, view))


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
    if provider.pk not in rules.offered:
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


def book_appointment(
    *,
    service: Service,
    location: Location,
    start: datetime,
    patient: Patient,
    provider: Provider | None = None,
    source: str = Appointment.Source.STAFF,
    actor: User | None = None,
    reason: str = "",
    now: datetime | None = None,
    series: Series | None = None,
    view: rules_cache.RulesView | None = None,
    new_patient: bool = False,
) -> Appointment:
    """Book ``patient`` for ``service`` at ``location`` at ``start``; ``provider=None`` picks a
    free, in-scope provider. Refuses with a problem naming the field and the rule. A clinician
    ``actor`` books only their own calendar (``schedule_provider_for``), whatever the caller.
    ``series`` links the visit to its recurring series (whose e-mail confirms it). ``view`` is
    the caller's read of the rules (``clinic.rules_cache``), when it has one; it must have been
    taken after any change the caller made to the rules. It judges a new person's booking only:
    a matched person's booking reads the rules again once it holds their lock.

    ``new_patient``: the caller inserted ``patient`` in its still-open transaction and fails
    that transaction as a whole on a refusal (``book_online``). No other transaction can see
    the row, so it needs no lock, and it has no appointments, so its limits are judged on
    ``NO_APPOINTMENTS`` without a query; the caller's transaction is this booking's, so no
    savepoint of its own either."""
    now = now or timezone.now()
    provider = schedule_provider_for(actor, provider)
    start = _aware_utc(start)
    online = source == Appointment.Source.ONLINE
    _check_service(service, location, online)
    end, _, _ = _blocked(service, start)
    with transaction.atomic(savepoint=not new_patient):
        if new_patient:
            view = rules_cache.view_or_read(view)
        else:
            patient = Patient.objects.select_for_update().get(pk=patient.pk)
            # The rules as they are once the lock is held: a booking that waited for it (the
            # person's other booking) judges by what changed meanwhile, not by an earlier view.
            view = rules_cache.read()
        candidates = _candidates(service, location, provider, view)
        rules = load_rules(service, location, candidates, view)
        _check_policy(rules, location, start, now, online)
        if provider is not None:
            _check_provider(provider, service, location, start, rules)
        counts = NO_APPOINTMENTS if new_patient else None
        _check_patient(patient, service, rules.policy, start, end, now, online, None, counts)
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
        for n, option in enumerate(options, 1):
            last = n == len(options)
            appointment = _insert(
                service, location, start, patient, option, source, reason, series, last
            )
            if appointment is not None:
                break
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
        # Inside the transaction: the e-mails it plans commit, or roll back, with the booking.
        signals.appointment_booked.send(
            sender=Appointment,
            appointment=appointment,
            actor=_user(actor),
            view=view,
            created_here=True,
        )
    return appointment


def _insert(
    service: Service,
    location: Location,
    start: datetime,
    patient: Patient,
    option: ProviderSlot,
    source: str,
    reason: str,
    series: Series | None,
    last: bool,
) -> Appointment | None:
    """Insert in a savepoint; None when a racing booking won the constraint, so the caller
    tries its next option. The ``last`` option has none to try: it is inserted without a
    savepoint, and a lost race refuses the booking, whose transaction (or savepoint) rolls back
    as a whole."""
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
        series=series,
    )
    appointment.slot_key = _slot_key(service, start, appointment.reference)
    try:
        with transaction.atomic(savepoint=not last):
            _insert_row(appointment)
    except (IntegrityError, OperationalError) as error:
        if not isinstance(error, IntegrityError) and not _deadlocked(error):
            raise
        if last:
            raise slot_unavailable() from None
        return None
    return appointment


def _insert_row(appointment: Appointment) -> None:
    """PostgreSQL: the statement built once per process (``clinic.insert_statements``: no
    ``save()`` signals, none is listened to); elsewhere ``save()``."""
    if connection.vendor == "postgresql":
        insert_statements.insert(appointment)
    else:
        appointment.save()


def _deadlocked(error: OperationalError) -> bool:
    """PostgreSQL checks an exclusion constraint after inserting the row, so two bookings
    inserting overlapping rows at the same instant can each wait for the other; the deadlock
    detector then aborts one of them (SQLSTATE 40P01). That one lost the race for the time,
    like a violation of the constraint."""
    return getattr(error.__cause__, "sqlstate", None) == "40P01"


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
    """The widget's booking: match or create the person (a new one is a lead for a free consult,
    else an active patient), record their consents, book. All or nothing. The service, location,
    provider and rules come through the rules cache (one read of its token). The append-only
    rows it writes at its own level (audit, history, e-mail ledger, consent rows: none is read
    back before commit) go in one statement just before commit (``clinic.deferred_inserts``)."""
    view = rules_cache.read()
    service = view.instance(("service", service_id), Service.objects.filter(pk=service_id).first)
    if service is None:
        raise inactive_service("No such service.", code="unknown")
    location = view.instance(
        ("location", location_id), Location.objects.filter(pk=location_id).first
    )
    if location is None:
        raise inactive_service("No such location.", field="location", code="unknown")
    provider = None
    if provider_id is not None:
        provider = view.instance(
            ("active provider", provider_id),
            Provider.objects.filter(pk=provider_id, is_active=True).first,
        )
        if provider is None:
            raise ValidationProblem(
                "No such provider.",
                [FieldProblem("provider", "unknown", "No active provider has this id.")],
            )
    missing = missing_fields(service, patient_details, reason)
    if missing:
        raise ValidationProblem("Some required details are missing.", missing)
    _check_service(service, location, online=True)
    # A new person booking real care is an active patient from the start (a lead would be made
    # active by the booking anyway); a free consult keeps them a lead.
    new_status = Patient.Status.LEAD if service.is_free_consult else Patient.Status.ACTIVE
    with transaction.atomic(), deferred_inserts.collecting():
        patient, created = match_online_person(patient_details, location, new_status)
        appointment = book_appointment(
            service=service,
            location=location,
            start=start,
            patient=patient,
            provider=provider,
            source=Appointment.Source.ONLINE,
            reason=reason,
            now=now,
            view=view,
            new_patient=created,
        )
        record_online_form_consents(
            patient, created=created, choices=consent or {}, client_address=client_address
        )
    return appointment
