"""Matching freed time to the waitlist, and the clock's part: expiring offers and entries.

Freed time is first written down as a ``WaitlistOpening`` (a cancellation, a move away, an
ended offer, new hours), then matched by a Celery task. ``match_opening`` asks the owners what
is bookable: the one availability search for that provider and day (working hours, closures,
scope through the scope index, the online booking policy, appointments and other holds), then
keeps the free starts that lie in the opening. Entries are read in one query, in order (first
come, first offered; care-plan patients first when the clinic says so, through
``scheduling.waitlist_priority``), and each free start goes to the first entry whose service,
dates and windows it meets, whose patient is free then and who has not let this very time go
before. The offers and ``matched_at`` commit together, so a worker that dies halfway leaves an
unmatched opening the sweep matches again, and an offer whose e-mail the ledger sends once.
The number of queries depends on the services waited for and the offers made, not on how many
entries wait.
"""

from collections import defaultdict
from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import Q

from clinic.models import Location
from notifications import clock
from providers.models import Provider
from scheduling.availability import search
from scheduling.models import BLOCKING_STATUSES, Appointment, Service
from scheduling.services.waitlist import Entry, OfferStatus, create_offer, end_offer, queue_match
from scheduling.services.waitlist_confirmation import expire_unconfirmed
from scheduling.waitlist_models import (
    WaitlistEntry,
    WaitlistOffer,
    WaitlistOpening,
    WaitlistSettings,
)
from scheduling.waitlist_priority import priority_patient_ids

RETRY_AFTER = timedelta(minutes=2)  # an opening unmatched this long is matched by the sweep


def record_opening(
    *,
    location_id: int,
    provider_id: int,
    start: datetime,
    end: datetime,
    reason: str,
    now: datetime | None = None,
) -> WaitlistOpening:
    """Write freed time down and match it after commit."""
    with transaction.atomic():
        opening = WaitlistOpening.objects.create(
            location_id=location_id,
            provider_id=provider_id,
            start=start,
            end=end,
            reason=reason,
            created_at=now or clock.now(),
        )
        queue_match(opening)
    return opening


def _fits(entry: dict, local_start: datetime, local_end: datetime) -> bool:
    day = local_start.date()
    if not entry["earliest_date"] <= day <= entry["latest_date"]:
        return False
    if local_end.date() != day:
        return False
    begin, finish = f"{local_start:%H:%M}", f"{local_end:%H:%M}"
    weekday = day.weekday()
    return any(
        (w.get("weekday") is None or w["weekday"] == weekday)
        and w["from"] <= begin
        and finish <= w["to"]
        for w in entry["windows"]
    )


def _waiting(opening: WaitlistOpening, location: Location, now: datetime):
    """The entries this opening could serve (as a queryset for subqueries, and as rows in the
    order they are offered): one query, one more for the care-plan order when asked for."""
    zone = location.zone
    first, last = opening.start.astimezone(zone).date(), opening.end.astimezone(zone).date()
    today = now.astimezone(zone).date()
    entries = WaitlistEntry.objects.filter(
        location_id=opening.location_id,
        status=Entry.WAITING,
        confirmed_at__isnull=False,
        earliest_date__lte=last,
        latest_date__gte=max(first, today),
    ).filter(Q(provider__isnull=True) | Q(provider_id=opening.provider_id))
    rows = list(
        entries.order_by("created_at", "pk").values(
            "id", "patient_id", "service_id", "earliest_date", "latest_date", "windows"
        )
    )
    if rows and WaitlistSettings.current().care_plan_patients_first:
        first_ids = priority_patient_ids({row["patient_id"] for row in rows}, now)
        rows.sort(key=lambda row: row["patient_id"] not in first_ids)  # stable: order kept
    return entries, rows


def _busy_patients(opening: WaitlistOpening, entries) -> dict[int, list[tuple]]:
    busy: dict[int, list[tuple]] = defaultdict(list)
    for patient_id, start, end in Appointment.objects.filter(
        patient_id__in=entries.values("patient_id"),
        status__in=BLOCKING_STATUSES,
        start__lt=opening.end + timedelta(days=1),
        end__gt=opening.start - timedelta(days=1),
    ).values_list("patient_id", "start", "end"):
        busy[patient_id].append((start, end))
    return busy


def _free_starts(opening, location, provider_ids, services, now) -> list[tuple]:
    """(start, end, service) free in the opening, from the one availability search."""
    zone = location.zone
    first, last = opening.start.astimezone(zone).date(), opening.end.astimezone(zone).date()
    starts = []
    for service in services:
        result = search(
            service=service,
            location=location,
            start_date=first,
            end_date=last,
            provider_ids=provider_ids,
            now=now,
            online=True,
        )
        for slot in result.slots:
            if slot.start < opening.end and slot.end > opening.start:
                starts.append((slot.start, slot.end, service))
    # Starts wholly inside the opening first (the cancelled visit's own time), then the ones
    # that also use free time next to it.
    starts.sort(
        key=lambda item: (
            not (item[0] >= opening.start and item[1] <= opening.end),
            item[0],
            item[2].pk,
        )
    )
    return starts


def match_opening(opening_id: int, now: datetime | None = None) -> list[WaitlistOffer]:
    """Offer the opening's free time to the waitlist, once: an opening already matched (or
    being matched by another worker) is left alone."""
    now = now or clock.now()
    offers: list[WaitlistOffer] = []
    with transaction.atomic():
        opening = (
            WaitlistOpening.objects.select_for_update(skip_locked=True)
            .filter(pk=opening_id, matched_at__isnull=True)
            .first()
        )
        if opening is None:
            return offers
        location = Location.objects.get(pk=opening.location_id)
        entries, rows = _waiting(opening, location, now)
        if rows and Provider.objects.filter(pk=opening.provider_id, is_active=True).exists():
            services = list(
                Service.objects.filter(
                    pk__in={row["service_id"] for row in rows}, online_bookable=True
                )
            )
            offers = _offer_starts(opening, location, entries, rows, services, now)
        opening.matched_at = now
        opening.save(update_fields=["matched_at"])
    return offers


def _offer_starts(opening, location, entries, rows, services, now) -> list[WaitlistOffer]:
    busy = _busy_patients(opening, entries)
    let_go = set(
        WaitlistOffer.objects.filter(
            entry__in=entries.values("pk"), provider_id=opening.provider_id, start__lt=opening.end
        )
        .filter(end__gt=opening.start)
        .values_list("entry_id", "start")
    )
    zone = location.zone
    hold_minutes = WaitlistSettings.current().hold_minutes
    offers: list[WaitlistOffer] = []
    taken: set[int] = set()
    held: list[tuple[datetime, datetime]] = []
    free = _free_starts(opening, location, [opening.provider_id], services, now)
    for start, end, service in free:
        if any(start < h_end and end > h_start for h_start, h_end in held):
            continue
        local_start, local_end = start.astimezone(zone), end.astimezone(zone)
        for row in rows:
            if row["id"] in taken or row["service_id"] != service.pk:
                continue
            if (row["id"], start) in let_go or not _fits(row, local_start, local_end):
                continue
            if any(start < b_end and end > b_start for b_start, b_end in busy[row["patient_id"]]):
                continue
            taken.add(row["id"])
            entry = WaitlistEntry(pk=row["id"])
            offer = create_offer(
                entry,
                provider_id=opening.provider_id,
                start=start,
                now=now,
                hold_minutes=hold_minutes,
            )
            if offer is not None:
                offers.append(offer)
                held.append((offer.blocked_start, offer.blocked_end))
                break
    return offers


def expire_offer(offer_id: int, now: datetime | None = None) -> bool:
    """End one hold whose time is up (the countdown task); False if it is not due or open."""
    now = now or clock.now()
    with transaction.atomic():
        entry = (
            WaitlistEntry.objects.select_for_update(of=("self",), skip_locked=True)
            .filter(offers__pk=offer_id, offers__status=OfferStatus.OFFERED)
            .first()
        )
        if entry is None:
            return False
        offer = entry.offers.select_for_update().get(pk=offer_id)
        if offer.expires_at > now:
            return False
        end_offer(offer, OfferStatus.EXPIRED, now)
        past = entry.latest_date < now.astimezone(entry.location.zone).date()
        entry.status = Entry.EXPIRED if past else Entry.WAITING
        entry.closed_at = now if past else None
        entry.save(update_fields=["status", "closed_at"])
    return True


def sweep(now: datetime | None = None, limit: int = 200) -> dict[str, int]:
    """The beat task's work: end holds whose time is up, close entries past their last date
    and widget entries left unconfirmed too long, and match openings a crashed worker left
    unmatched."""
    now = now or clock.now()
    due = list(
        WaitlistOffer.objects.filter(status=OfferStatus.OFFERED, expires_at__lte=now)
        .order_by("expires_at")
        .values_list("pk", flat=True)[:limit]
    )
    expired = sum(expire_offer(pk, now) for pk in due)
    closed = 0
    for location in Location.objects.filter(waitlist_entries__status=Entry.WAITING).distinct():
        today = now.astimezone(location.zone).date()
        closed += WaitlistEntry.objects.filter(
            location=location, status=Entry.WAITING, latest_date__lt=today
        ).update(status=Entry.EXPIRED, closed_at=now)
    unconfirmed = expire_unconfirmed(now)
    stale = list(
        WaitlistOpening.objects.filter(matched_at__isnull=True, created_at__lte=now - RETRY_AFTER)
        .order_by("created_at")
        .values_list("pk", flat=True)[:limit]
    )
    matched = sum(bool(match_opening(pk, now)) for pk in stale)
    return {
        "expired_offers": expired,
        "closed_entries": closed,
        "unconfirmed_entries": unconfirmed,
        "rematched": matched,
    }
