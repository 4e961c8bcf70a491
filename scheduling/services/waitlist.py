"""The waitlist's writes for one entry: joining (widget and front desk), offering a time to it,
withdrawing. Claiming is ``waitlist_claim``, confirming a widget entry ``waitlist_confirmation``.

An offer is a hold: a ``WaitlistOffer`` row in status ``offered``, which the availability search
counts as busy and which the database refuses to overlap with a booking of anyone else (see
``scheduling.waitlist_models``). A claim ends the hold and books in the same transaction,
through ``book_appointment``, so scope, policy and the patient's own calendar are judged once
more by their owners; if the booking is refused, nothing changes and the hold stays.

Lock order, everywhere: entry row, then its offer rows, then (inside the booking) the patient
row, then the provider's advisory lock the database triggers take. The matcher takes entry
locks with SKIP LOCKED, so it never waits on a claim that waits on it.
"""

import logging
import re
from datetime import date, datetime, timedelta

from django.db import IntegrityError, transaction
from django.db.models import Exists, OuterRef, QuerySet

from clinic.audit import record_event
from clinic.celery import app as celery_app
from clinic.errors import ConflictProblem, DomainError, FieldProblem, ValidationProblem
from clinic.models import AuditEvent, Location
from clinic.roles import User
from notifications import clock
from notifications import services as ledger
from patients.models import Patient
from patients.services import record_online_form_consents
from providers.models import Provider
from scheduling.availability import search
from scheduling.models import BLOCKING_STATUSES, Appointment, Offering, Service
from scheduling.policy import BookingPolicy, resolve_policy
from scheduling.services._common import _aware_utc, _user, match_online_person
from scheduling.services.booking import _blocked, _check_patient, _check_service
from scheduling.services.errors import inactive_service, slot_unavailable
from scheduling.services.waitlist_confirmation import plan_confirmation
from scheduling.slot_check import never_a_slot
from scheduling.waitlist_models import (
    WaitlistEntry,
    WaitlistOffer,
    WaitlistOpening,
    WaitlistSettings,
)

logger = logging.getLogger(__name__)

OFFER_KIND = "waitlist.offer"
MATCH_TASK = "scheduling.waitlist_match"
EXPIRE_TASK = "scheduling.waitlist_expire_offer"
MAX_WINDOWS = 14
MAX_SPAN_DAYS = 366
HH_MM = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")
Entry = WaitlistEntry.Status
OfferStatus = WaitlistOffer.Status


def parse_windows(raw: object) -> list[dict]:
    """The time windows as stored: ``[{"weekday": 0..6 | None, "from": "HH:MM", "to": "HH:MM"}]``,
    each refused with the field that is wrong (``windows.1.to``)."""
    if not isinstance(raw, list) or not raw:
        raise ValidationProblem(
            "Give at least one time window.",
            [FieldProblem("windows", "required", "At least one {from, to} window.")],
        )
    if len(raw) > MAX_WINDOWS:
        raise ValidationProblem(
            "Too many time windows.",
            [FieldProblem("windows", "too_many", f"At most {MAX_WINDOWS} windows.")],
        )
    windows = []
    for i, item in enumerate(raw):
        field = f"windows.{i}"
        if not isinstance(item, dict):
            raise ValidationProblem(
                "A window is an object.", [FieldProblem(field, "invalid", "{from, to}")]
            )
        weekday = item.get("weekday")
        if weekday is not None and (
            isinstance(weekday, bool) or not isinstance(weekday, int) or not 0 <= weekday <= 6
        ):
            raise ValidationProblem(
                "A weekday is 0 (Monday) to 6 (Sunday).",
                [FieldProblem(f"{field}.weekday", "invalid", "0 (Monday) to 6 (Sunday).")],
            )
        bounds = {}
        for key in ("from", "to"):
            value = item.get(key)
            if not isinstance(value, str) or not HH_MM.match(value):
                raise ValidationProblem(
                    "Window times are HH:MM.",
                    [FieldProblem(f"{field}.{key}", "invalid", "A time as HH:MM (24 h).")],
                )
            bounds[key] = value
        if bounds["from"] >= bounds["to"]:
            raise ValidationProblem(
                "A window ends after it starts.",
                [FieldProblem(f"{field}.to", "before_from", "End the window after its start.")],
            )
        windows.append({"weekday": weekday, **bounds})
    return windows


def _check_dates(location: Location, earliest: date, latest: date, now: datetime) -> None:
    today = now.astimezone(location.zone).date()
    if latest < earliest:
        raise ValidationProblem(
            "The last date is before the first.",
            [FieldProblem("latest_date", "before_earliest", "On or after earliest_date.")],
        )
    if latest < today:
        raise ValidationProblem(
            "The dates are in the past.",
            [FieldProblem("latest_date", "in_past", "A date from today on.")],
        )
    if (latest - max(earliest, today)).days > MAX_SPAN_DAYS:
        raise ValidationProblem(
            "The waitlist covers at most a year.",
            [FieldProblem("latest_date", "too_far", f"At most {MAX_SPAN_DAYS} days ahead.")],
        )


def _check_wish(service: Service, location: Location, provider: Provider | None) -> None:
    """What an entry may wait for: an active one-to-one service, offered where it waits."""
    if not service.is_active:
        raise inactive_service(f"{service.name} is not offered any more.")
    if not service.online_bookable:
        raise inactive_service(
            f"{service.name} cannot be booked online, so its offers could not be claimed.",
            code="not_online_bookable",
        )
    if service.is_group:
        raise ValidationProblem(
            "Group classes have no waitlist; join a session with free spots.",
            [FieldProblem("service", "group_service", "Choose a one-to-one service.")],
        )
    if not location.is_active:
        raise inactive_service(f"{location.name} is not open for bookings.", field="location")
    offers = Offering.objects.filter(service=service, location=location, is_active=True)
    if provider is not None:
        offers = offers.filter(provider=provider)
    if not offers.exists():
        field = "provider" if provider is not None else "service"
        raise ValidationProblem(
            f"{service.name} is not offered at {location.name} by this choice.",
            [FieldProblem(field, "not_offered", "Pick a service and provider offered there.")],
        )


def join_waitlist(
    *,
    patient: Patient,
    service: Service,
    location: Location,
    provider: Provider | None,
    earliest_date: date,
    latest_date: date,
    windows: object,
    source: str = WaitlistEntry.Source.STAFF,
    actor: User | None = None,
    now: datetime | None = None,
) -> WaitlistEntry:
    """Put ``patient`` on the waitlist; refused with the field and the rule. The front desk's
    entries are confirmed at once; the widget's wait for the e-mailed link."""
    now = now or clock.now()
    parsed = parse_windows(windows)
    _check_wish(service, location, provider)
    _check_dates(location, earliest_date, latest_date, now)
    with transaction.atomic():
        entry = WaitlistEntry.objects.create(
            patient=patient,
            service=service,
            location=location,
            provider=provider,
            earliest_date=earliest_date,
            latest_date=latest_date,
            windows=parsed,
            source=source,
            created_by=_user(actor),
            confirmed_at=None if source == WaitlistEntry.Source.ONLINE else now,
        )
        record_event(
            actor=_user(actor),
            action=AuditEvent.Action.CREATE,
            object_type="waitlist_entry",
            object_id=entry.pk,
            patient_id=patient.pk,
            summary=f"Joined the waitlist for {service.name} at {location.name}",
            channel="api",
        )
    return entry


def join_waitlist_online(
    *,
    service_id: int,
    location_id: int,
    provider_id: int | None,
    earliest_date: date,
    latest_date: date,
    windows: object,
    patient_details: dict,
    consent: dict[str, bool],
    client_address: str | None = None,
) -> WaitlistEntry:
    """The widget's entry: as for an online booking, the person is matched or created (a new
    one is a lead) and the form's consents recorded; the entry is unconfirmed and its
    confirmation e-mail planned (``waitlist_confirmation``); all or nothing."""
    service = Service.objects.filter(pk=service_id, online_bookable=True).first()
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
    parse_windows(windows)
    _check_wish(service, location, provider)
    _check_dates(location, earliest_date, latest_date, clock.now())
    with transaction.atomic():
        patient, created = match_online_person(patient_details, location)
        entry = join_waitlist(
            patient=patient,
            service=service,
            location=location,
            provider=provider,
            earliest_date=earliest_date,
            latest_date=latest_date,
            windows=windows,
            source=WaitlistEntry.Source.ONLINE,
        )
        record_online_form_consents(
            patient, created=created, choices=consent or {}, client_address=client_address
        )
        plan_confirmation(entry, clock.now())
    return entry


def create_offer(
    entry: WaitlistEntry,
    *,
    provider_id: int,
    start: datetime,
    now: datetime,
    actor: User | None = None,
    hold_minutes: int | None = None,
    policy: BookingPolicy | None = None,
) -> WaitlistOffer | None:
    """Hold ``start`` for ``entry`` and plan its offer e-mail, in the caller's transaction.
    None when the entry is taken (locked, no longer waiting, changed since the caller read it)
    or the database refused the hold (the time was booked or held meanwhile, or the entry got
    another offer first). ``entry`` carries its service and location (the caller has them);
    ``policy`` is the entry's booking policy when the caller has just resolved it (the
    matcher's search). The lock reads what the checks and the e-mail need in one query."""
    service, location = entry.service, entry.location
    end, blocked_start, blocked_end = _blocked(service, start)
    locked = (
        WaitlistEntry.objects.select_for_update(skip_locked=True, of=("self", "patient"))
        .select_related("patient")
        .only("patient__email")
        .filter(
            pk=entry.pk,
            status=Entry.WAITING,
            confirmed_at__isnull=False,
            service_id=service.pk,
            location_id=location.pk,
        )
        .annotate(
            holds_other=Exists(_other_holds(OuterRef("patient_id"), OuterRef("pk"), start, end))
        )
        .first()
    )
    if locked is None:
        return None
    locked.service, locked.location = service, location
    try:
        check_claimable(locked, start, now, policy, holds_other=locked.holds_other)
    except DomainError:
        return None
    if hold_minutes is None:
        hold_minutes = WaitlistSettings.current().hold_minutes
    offer = WaitlistOffer(
        entry=locked,
        provider_id=provider_id,
        start=start,
        end=end,
        blocked_start=blocked_start,
        blocked_end=blocked_end,
        offered_at=now,
        expires_at=now + timedelta(minutes=hold_minutes),
        offered_by=_user(actor),
    )
    try:
        with transaction.atomic():
            offer.save()
    except IntegrityError:
        return None
    WaitlistEntry.objects.filter(pk=entry.pk).update(status=Entry.OFFERED)
    # A new offer has no ledger rows yet: one INSERT (``plan`` when the constraint says else).
    email = locked.patient.email
    if ledger.plan_first(offer, [ledger.Planned(OFFER_KIND, now, email)]) is None:
        ledger.plan(offer, OFFER_KIND, now, email)
    record_event(
        actor=_user(actor),
        action=AuditEvent.Action.CREATE,
        object_type="waitlist_offer",
        object_id=offer.pk,
        patient_id=locked.patient_id,
        summary=f"Offered {start.isoformat()} with provider {provider_id} until "
        f"{offer.expires_at.isoformat()}",
        changes={"entry": entry.pk, "start": start.isoformat(), "provider": provider_id},
        channel="api" if actor is not None else "task",
    )
    _expire_later(offer)
    return offer


def _other_holds(patient_id: object, entry_id: object, start: datetime, end: datetime) -> QuerySet:
    """The patient's open offers of other entries overlapping ``start``-``end``."""
    return WaitlistOffer.objects.filter(
        entry__patient_id=patient_id,
        status=OfferStatus.OFFERED,
        start__lt=end,
        end__gt=start,
    ).exclude(entry_id=entry_id)


def check_claimable(
    entry: WaitlistEntry,
    start: datetime,
    now: datetime,
    policy: BookingPolicy | None = None,
    *,
    holds_other: bool | None = None,
) -> None:
    """Refuse an offer its claim would refuse: the claim is an online booking, so the service
    must be bookable online and the patient within their own online limits (the booking rule's
    checks: the cap on upcoming online bookings, one free consult, no two visits at once), and
    not already holding another time then (they could claim only one). ``holds_other`` is
    that last answer when the caller read it with the entry's lock (``create_offer``)."""
    service, location = entry.service, entry.location
    _check_service(service, location, online=True)
    end = start + timedelta(minutes=service.duration_minutes)
    policy = policy or resolve_policy(service, location)
    _check_patient(entry.patient, service, policy, start, end, now, True, None)
    if holds_other is None:
        holds_other = _other_holds(entry.patient_id, entry.pk, start, end).exists()
    if holds_other:
        raise slot_unavailable("The patient is already offered another time then.", "patient_busy")


def offer_by_hand(
    entry: WaitlistEntry,
    *,
    provider: Provider,
    start: datetime,
    actor: User | None,
    now: datetime | None = None,
) -> WaitlistOffer:
    """The front desk offers a chosen entry a time it picked: a free time the patient could
    book online (the one availability search, scope and policy included)."""
    now = now or clock.now()
    start = _aware_utc(start)
    if entry.status != Entry.WAITING:
        raise ConflictProblem(
            f"This entry is {entry.get_status_display().lower()}; only a waiting entry is offered.",
            slug="invalid-transition",
            title="The entry is not waiting.",
            errors=[FieldProblem("entry", "not_waiting", "Choose a waiting entry.")],
        )
    if entry.confirmed_at is None:
        raise ConflictProblem(
            "The patient has not confirmed this entry from its e-mail yet.",
            slug="invalid-transition",
            title="The entry is not confirmed.",
            errors=[FieldProblem("entry", "not_confirmed", "Offer times to confirmed entries.")],
        )
    service, location = entry.service, entry.location
    if entry.provider_id is not None and entry.provider_id != provider.pk:
        raise ValidationProblem(
            "This entry waits for another provider.",
            [FieldProblem("provider", "not_wished", "Offer the provider the entry asked for.")],
        )
    day = start.astimezone(location.zone).date()
    with transaction.atomic():  # the search inside: on SQLite the write lock covers both
        result = search(
            service=service,
            location=location,
            start_date=day,
            end_date=day,
            provider_ids=[provider.pk],
            now=now,
            online=True,
        )
        if not any(slot.start == start for slot in result.slots):
            never = never_a_slot(
                service=service,
                location=location,
                start=start,
                candidates=[provider.pk],
                rules=None,
                now=now,
                online=True,
            )
            raise never or slot_unavailable()
        if _patient_busy(entry, start, start + timedelta(minutes=service.duration_minutes)):
            raise slot_unavailable(
                "The patient already has an appointment at that time.", "patient_busy"
            )
        check_claimable(entry, start, now)
        offer = create_offer(entry, provider_id=provider.pk, start=start, now=now, actor=actor)
        if offer is None:
            raise slot_unavailable("The time or the entry was taken meanwhile; try again.")
    return offer


def _patient_busy(entry: WaitlistEntry, start: datetime, end: datetime) -> bool:
    return Appointment.objects.filter(
        patient_id=entry.patient_id,
        status__in=BLOCKING_STATUSES,
        start__lt=end,
        end__gt=start,
    ).exists()


def _queue(task: str, args: tuple, countdown: float = 0.0) -> None:
    """Queue a waitlist task by name (``scheduling.waitlist_tasks`` imports this module). A lost
    message is covered by the beat sweep, so a broker hiccup never fails the caller."""
    try:
        celery_app.signature(task, args=args).apply_async(countdown=countdown)
    except Exception:
        logger.warning("Could not queue %s%s; the waitlist sweep will do it.", task, args)


def _expire_later(offer: WaitlistOffer) -> None:
    countdown = max(0.0, (offer.expires_at - offer.offered_at).total_seconds()) + 1
    transaction.on_commit(lambda: _queue(EXPIRE_TASK, (offer.pk,), countdown))


def queue_match(opening: WaitlistOpening) -> None:
    """Match an opening after the caller's commit."""
    transaction.on_commit(lambda: _queue(MATCH_TASK, (opening.pk,)))


def withdraw_entry(
    entry: WaitlistEntry, *, actor: User | None = None, now: datetime | None = None
) -> WaitlistEntry:
    """Leave the waitlist (the patient's link, or the front desk). An open offer ends and its
    time goes to the next entry. Withdrawing twice changes nothing."""
    now = now or clock.now()
    with transaction.atomic():
        entry = WaitlistEntry.objects.select_for_update().get(pk=entry.pk)
        if entry.status not in (Entry.WAITING, Entry.OFFERED):
            return entry
        for offer in entry.offers.select_for_update().filter(status=OfferStatus.OFFERED):
            end_offer(offer, OfferStatus.WITHDRAWN, now)
        entry.status, entry.closed_at = Entry.WITHDRAWN, now
        entry.save(update_fields=["status", "closed_at"])
        record_event(
            actor=_user(actor),
            action=AuditEvent.Action.UPDATE,
            object_type="waitlist_entry",
            object_id=entry.pk,
            patient_id=entry.patient_id,
            summary="Withdrew from the waitlist",
            channel="api",
        )
    return entry


def end_offer(offer: WaitlistOffer, status: str, now: datetime) -> WaitlistOpening:
    """End a hold (expired, withdrawn) in the caller's transaction; its time is an opening for
    the next entry, matched after commit."""
    offer.status, offer.ended_at = status, now
    offer.save(update_fields=["status", "ended_at"])
    ledger.withdraw(offer, [OFFER_KIND], f"offer_{status}")
    opening = WaitlistOpening.objects.create(
        location_id=offer.entry.location_id,
        provider_id=offer.provider_id,
        start=offer.start,
        end=offer.end,
        reason=WaitlistOpening.Reason.OFFER_ENDED,
        created_at=now,
    )
    queue_match(opening)
    return opening
