"""Matching freed time to the waitlist, and the clock's part: expiring offers and entries.

Freed time is first written down as a ``WaitlistOpening`` (a cancellation, a move away, an
ended offer, new hours), then matched by a Celery task. ``match_opening`` asks the owners what
is bookable: the one availability search for that provider and day (working hours, closures,
scope through the scope index, the online booking policy, appointments and other holds), then
keeps the free starts that lie in the opening. Only the entries some free start fits are read
(service, dates and windows judged in SQL), in order (first come, first offered; care-plan
patients first when the clinic says so, through ``scheduling.waitlist_priority``) and a batch
at a time, and each free start goes to the first entry whose service, dates and windows it
meets, whose patient is free then and who has not let this very time go before. Freed time
nobody could take writes no opening at all (``someone_could_wait``). The offers and
``matched_at`` commit together, so a worker that dies halfway leaves an unmatched opening the
sweep matches again, and an offer whose e-mail the ledger sends once.
The number of queries depends on the services waited for and the offers made, not on how many
entries wait.
"""

import json
from collections import defaultdict
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta

from django.db import NotSupportedError, transaction
from django.db.models import (
    BooleanField,
    Case,
    Exists,
    F,
    Func,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Value,
    When,
)

from clinic.models import Location
from notifications import clock
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
from scheduling.waitlist_priority import priority_patients

RETRY_AFTER = timedelta(minutes=2)  # an opening unmatched this long is matched by the sweep
BATCH = 32  # waiting entries read at a time (most openings need one batch)


def record_opening(
    *,
    location_id: int,
    provider_id: int,
    start: datetime,
    end: datetime,
    reason: str,
    now: datetime | None = None,
) -> WaitlistOpening | None:
    """Write freed time down and match it after commit; None, and nothing written, when nobody
    waits who could take it (``someone_could_wait``)."""
    if not someone_could_wait(location_id, provider_id, start, end):
        return None
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


class WindowsHold(Func):
    """True when one of the entry's ``windows`` holds one of ``spans`` (local ``("HH:MM",
    "HH:MM")`` begin and finish) on ``weekday``: ``_fits``'s window test, in SQL, so only the
    entries some free start fits are read. Strings compare by code point on both databases
    (a jsonpath on PostgreSQL, ``json_each`` on SQLite), as in Python."""

    output_field = BooleanField()
    conditional = True

    def __init__(self, weekday: int, spans: list[tuple[str, str]]) -> None:
        super().__init__(F("windows"))
        self.weekday, self.spans = weekday, spans

    def as_sql(self, compiler, connection, **extra_context):
        raise NotSupportedError("Waitlist windows are matched on PostgreSQL and SQLite only.")

    def as_postgresql(self, compiler, connection, **extra_context):
        column, params = compiler.compile(self.source_expressions[0])
        # The times first: most windows fail on them, and a failed left side of ``&&`` skips
        # the weekday test (about a third of the per-row cost over 10,000 entries).
        spans = " || ".join(f"(@.from <= $b{i} && @.to >= $f{i})" for i in range(len(self.spans)))
        path = (
            f"$[*] ? (({spans}) && (@.weekday == null || @.weekday == $wd || !exists(@.weekday)))"
        )
        variables = {"wd": self.weekday}
        for i, (begin, finish) in enumerate(self.spans):
            variables[f"b{i}"], variables[f"f{i}"] = begin, finish
        sql = f"jsonb_path_exists({column}, %s::jsonpath, %s::jsonb)"
        return sql, (*params, path, json.dumps(variables))

    def as_sqlite(self, compiler, connection, **extra_context):
        column, params = compiler.compile(self.source_expressions[0])
        spans = " OR ".join(
            "(json_extract(wl_window.value, '$.from') <= %s"
            " AND json_extract(wl_window.value, '$.to') >= %s)"
            for _ in self.spans
        )
        each = f"SELECT 1 FROM json_each({column}) AS wl_window"  # noqa: S608  (a column)
        weekday = "json_extract(wl_window.value, '$.weekday')"
        sql = f"EXISTS ({each} WHERE ({weekday} IS NULL OR {weekday} = %s) AND ({spans}))"
        return sql, (*params, self.weekday, *(bound for span in self.spans for bound in span))


def _waiting(opening: WaitlistOpening, location: Location, now: datetime) -> QuerySet:
    """The entries this opening could serve: confirmed, waiting, here, for this provider or
    any, and waiting on one of the opening's local days."""
    zone = location.zone
    first, last = opening.start.astimezone(zone).date(), opening.end.astimezone(zone).date()
    today = now.astimezone(zone).date()
    return WaitlistEntry.objects.filter(
        location_id=opening.location_id,
        status=Entry.WAITING,
        confirmed_at__isnull=False,
        earliest_date__lte=last,
        latest_date__gte=max(first, today),
    ).filter(Q(provider__isnull=True) | Q(provider_id=opening.provider_id))


def someone_could_wait(location_id: int, provider_id: int, start: datetime, end: datetime) -> bool:
    """Whether a confirmed entry waits here, for this provider or any, around the freed time's
    days (one query): where nobody does, freed time writes no opening and queues no task. A
    superset of what ``match_opening`` reads (a local date is within a day of the UTC one), so
    it never drops an offer the matcher would make."""
    return (
        WaitlistEntry.objects.filter(
            location_id=location_id,
            status=Entry.WAITING,
            confirmed_at__isnull=False,
            earliest_date__lte=end.astimezone(UTC).date() + timedelta(days=1),
            latest_date__gte=start.astimezone(UTC).date() - timedelta(days=1),
        )
        .filter(Q(provider__isnull=True) | Q(provider_id=provider_id))
        .exists()
    )


def _free_starts(opening, location, provider_ids, services, now) -> tuple[list[tuple], dict]:
    """(start, end, service) free in the opening, from the one availability search, and the
    booking policy each service's search judged by."""
    zone = location.zone
    first, last = opening.start.astimezone(zone).date(), opening.end.astimezone(zone).date()
    starts, policies = [], {}
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
        policies[service.pk] = result.policy
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
    return starts, policies


def match_opening(opening_id: int, now: datetime | None = None) -> list[WaitlistOffer]:
    """Offer the opening's free time to the waitlist, once: an opening already matched (or
    being matched by another worker) is left alone."""
    now = now or clock.now()
    offers: list[WaitlistOffer] = []
    with transaction.atomic():
        opening = (
            WaitlistOpening.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("location", "provider")
            .filter(pk=opening_id, matched_at__isnull=True)
            .first()
        )
        if opening is None:
            return offers
        location = opening.location
        waiting = _waiting(opening, location, now)
        services = list(_waited_for(waiting))
        if services and opening.provider.is_active:
            settings = _settings(services[0])
            offers = _offer_starts(opening, location, waiting, services, settings, now)
        opening.matched_at = now
        opening.save(update_fields=["matched_at"])
    return offers


# Every column of the settings row, so a setting added later is read with the services too.
_SETTINGS_COLUMNS = tuple(f.attname for f in WaitlistSettings._meta.concrete_fields)


def _waited_for(waiting: QuerySet) -> QuerySet:
    """The services bookable online some of ``waiting`` wait for, each row carrying the
    waitlist settings (the same for all): one query where two were."""
    current = WaitlistSettings.objects.filter(pk=1)
    return (
        Service.objects.filter(online_bookable=True)
        .filter(Exists(waiting.filter(service_id=OuterRef("pk"))))
        .annotate(**{f"wl_{name}": Subquery(current.values(name)) for name in _SETTINGS_COLUMNS})
    )


def _settings(service: Service) -> WaitlistSettings:
    """The settings read with the services (``_waited_for``), or the row made now if the
    clinic has none yet."""
    values = {name: getattr(service, f"wl_{name}") for name in _SETTINGS_COLUMNS}
    if values["id"] is None:
        return WaitlistSettings.current()
    return WaitlistSettings(**values)


class _Queue:
    """The waiting entries some free start fits, in the order they are offered, read in
    batches as the matcher walks them (most openings read one short batch). Rows carry what
    the walk needs: the windows, and the patient's appointments and this time's earlier
    offers to the entry, read only for the rows that have any."""

    def __init__(self, entries: QuerySet, ordered: list[str], size: int, opening, span) -> None:
        self.entries, self.ordered, self.size = entries, ordered, size
        self.opening, self.span = opening, span
        self.rows: list[dict] = []
        self.done = False
        self.busy: dict[int, list[tuple]] = defaultdict(list)
        self.let_go: set[tuple[int, datetime]] = set()

    def __iter__(self) -> Iterator[dict]:
        i = 0
        while i < len(self.rows) or not self.done:
            if i == len(self.rows):
                self._read()
                continue
            yield self.rows[i]
            i += 1

    def _read(self) -> None:
        entries = self.entries
        if self.rows:
            entries = entries.filter(_after(self.rows[-1], self.ordered))
        batch = list(
            entries.order_by(*self.ordered).values(
                "id",
                "patient_id",
                "service_id",
                "earliest_date",
                "latest_date",
                "windows",
                "created_at",
                "has_busy",
                "has_offers",
                *(["rank"] if "rank" in self.ordered else []),
            )[: self.size]
        )
        self.done = len(batch) < self.size
        self.rows.extend(batch)
        busy_patients = [row["patient_id"] for row in batch if row["has_busy"]]
        if busy_patients:
            for patient_id, start, end in Appointment.objects.filter(
                patient_id__in=busy_patients,
                status__in=BLOCKING_STATUSES,
                start__lt=self.span[1],
                end__gt=self.span[0],
            ).values_list("patient_id", "start", "end"):
                self.busy[patient_id].append((start, end))
        offered = [row["id"] for row in batch if row["has_offers"]]
        if offered:
            self.let_go.update(
                _earlier_offers(self.opening)
                .filter(entry_id__in=offered)
                .values_list("entry_id", "start")
            )


def _after(row: dict, ordered: list[str]) -> Q:
    """Rows after ``row`` in the order ``ordered`` (ascending fields, the last one unique)."""
    later = Q()
    for depth in reversed(range(len(ordered))):
        same = {name: row[_field(name)] for name in ordered[:depth]}
        later = Q(**same, **{f"{ordered[depth]}__gt": row[_field(ordered[depth])]}) | later
    return later


def _field(name: str) -> str:
    return "id" if name == "pk" else name


def _earlier_offers(opening: WaitlistOpening) -> QuerySet:
    """Offers of this provider's time in the opening, made before: an entry that let a time
    go is not offered that very time again."""
    return WaitlistOffer.objects.filter(
        provider_id=opening.provider_id, start__lt=opening.end, end__gt=opening.start
    )


def _candidates(
    opening, location, waiting: QuerySet, free: list[tuple], care_first: bool, now
) -> _Queue | None:
    """The query for the entries some free start fits (service, dates and windows in SQL),
    ordered first come, first offered (care-plan patients first when the clinic says so)."""
    zone = location.zone
    spans: dict[tuple[int, date], set[tuple[str, str]]] = defaultdict(set)
    for start, end, service in free:
        local_start, local_end = start.astimezone(zone), end.astimezone(zone)
        if local_end.date() == local_start.date():
            spans[(service.pk, local_start.date())].add(
                (f"{local_start:%H:%M}", f"{local_end:%H:%M}")
            )
    if not spans:
        return None
    fits = Q()
    for (service_id, day), day_spans in spans.items():
        fits |= Q(service_id=service_id, earliest_date__lte=day, latest_date__gte=day) & Q(
            WindowsHold(day.weekday(), sorted(day_spans))
        )
    span = (min(start for start, _, _ in free), max(end for _, end, _ in free))
    entries = waiting.filter(fits).annotate(
        has_busy=Exists(
            Appointment.objects.filter(
                patient_id=OuterRef("patient_id"),
                status__in=BLOCKING_STATUSES,
                start__lt=span[1],
                end__gt=span[0],
            )
        ),
        has_offers=Exists(_earlier_offers(opening).filter(entry_id=OuterRef("pk"))),
    )
    ordered = ["created_at", "pk"]
    first = priority_patients(now) if care_first else None
    if first is not None:
        entries = entries.annotate(rank=Case(When(first, then=Value(0)), default=Value(1)))
        ordered = ["rank", *ordered]
    return _Queue(entries, ordered, BATCH, opening, span)


def _offer_starts(opening, location, waiting, services, settings, now) -> list[WaitlistOffer]:
    free, policies = _free_starts(opening, location, [opening.provider_id], services, now)
    care_first = settings.care_plan_patients_first
    queue = _candidates(opening, location, waiting, free, care_first, now) if free else None
    if queue is None:
        return []
    zone = location.zone
    hold_minutes = settings.hold_minutes
    offers: list[WaitlistOffer] = []
    taken: set[int] = set()
    held: list[tuple[datetime, datetime]] = []
    for start, end, service in free:
        if any(start < h_end and end > h_start for h_start, h_end in held):
            continue
        local_start, local_end = start.astimezone(zone), end.astimezone(zone)
        for row in queue:
            if row["id"] in taken or row["service_id"] != service.pk:
                continue
            if (row["id"], start) in queue.let_go or not _fits(row, local_start, local_end):
                continue
            busy = queue.busy[row["patient_id"]]
            if any(start < b_end and end > b_start for b_start, b_end in busy):
                continue
            taken.add(row["id"])
            entry = WaitlistEntry(pk=row["id"], service=service, location=location)
            offer = create_offer(
                entry,
                provider_id=opening.provider_id,
                start=start,
                now=now,
                hold_minutes=hold_minutes,
                policy=policies[service.pk],
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
