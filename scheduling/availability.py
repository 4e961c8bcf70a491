"""The availability search: which start times can a service be booked at, with whom.

One search loads everything it needs in a fixed number of queries (offerings, weekly hours,
exceptions, closures, existing appointments, rooms, policy, the scope index), whatever the number
of providers or days, then computes in Python on sorted UTC intervals.

Local time only matters in two places: weekly hours and closures are local wall-clock times and
dates, turned into UTC instants day by day with ``zoneinfo``; slots then step in absolute time
from the start of each working window, so a daylight-saving day has exactly the hours it really
has (none lost, none doubled). Scope is judged at each slot's start; credential validity is per
local date, so the decision is cached per provider and local day.

The booking service runs the same search inside its transaction, so what the widget shows and
what a booking accepts can never disagree.
"""

import math
from bisect import bisect_left
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from operator import itemgetter
from types import MappingProxyType
from typing import NamedTuple, TypeVar

from django.db import router
from django.db.models import FloatField, Func, Q, QuerySet
from django.utils import timezone

from clinic import rules_cache
from clinic.models import Location, Room
from providers.scope import ScopeIndex, load_scope_index
from scheduling.busy_time import merged_busy, merges_in_database
from scheduling.models import (
    BLOCKING_STATUSES,
    Appointment,
    AvailabilityException,
    Offering,
    Service,
    WaitlistOffer,
    WeeklyAvailability,
)
from scheduling.policy import (
    BookingPolicy,
    BookingWindow,
    ClosedDays,
    closures_between,
    location_closures,
    resolve_policy,
)

Interval = tuple[datetime, datetime]
Span = tuple[int, int]  # whole seconds since the epoch, half-open
Window = tuple[int | float, int | float]  # exact seconds since the epoch, half-open
T = TypeVar("T", datetime, float)


class ProviderSlot(NamedTuple):
    """A start time a provider can take. ``room_id`` is the room the booking would use;
    ``room_free`` counts the free places in all rooms of the needed kind (None: no room).
    A named tuple: a month of twenty providers makes thousands, so they must be cheap."""

    start: datetime
    end: datetime
    provider_id: int
    spots_left: int
    room_id: int | None
    room_free: int | None


class FreeStarts(NamedTuple):
    """The bookable starts of a sweep, per provider, as whole seconds since the epoch.

    ``runs``: providers whose slots need no more than their own calendar (no room kind, no
    group session of theirs in range) take every start at the service's full capacity, so their
    starts are kept as ``range`` objects, one per stretch of free time: a fifty-provider search
    makes fourteen thousand starts, and a tuple (and a datetime) each was most of its time.
    ``detailed``: the others, one ``(start, spots_left, room_id, room_free)`` per start."""

    runs: dict[int, list[range]]
    detailed: dict[int, list[tuple[int, int, int | None, int | None]]]


@dataclass(frozen=True)
class SearchResult:
    slots: list[ProviderSlot]
    policy: BookingPolicy
    provider_load: dict[int, int]


@dataclass(frozen=True)
class Rules:
    """What a search judges by before it looks at calendars: the booking policy, the service's
    acts, who actively offers it there, the location's closures and the scope index of the
    providers who may take it. Loaded through the rules cache (``clinic.rules_cache``), so a
    booking or a search reads them from the database only after a manager changed them; shared,
    so read-only. Dates are judged per visit from them (credential dates, closures)."""

    policy: BookingPolicy
    act_codes: tuple[str, ...]  # a tuple: shared by every request, no caller may change it
    scope: ScopeIndex
    offered: frozenset[int]
    closures: tuple[ClosedDays, ...]
    # Per provider their weekly hours at the location, every row whatever its dates
    # (weekday, start, end, valid_from, valid_until): read-only, as all of the rules.
    hours: Mapping[int, tuple[tuple[int, time, time, date, date | None], ...]]
    # Per provider their time off and extra hours that apply at the location and end after
    # ``exceptions_from`` (epoch seconds, a day before the rules were read): (kind, location_id,
    # start, end), the instants as epoch seconds. A search reaching back before that reads them.
    exceptions: Mapping[int, tuple[tuple[str, int | None, float, float], ...]]
    exceptions_from: float


def offering_providers(service: Service, location: Location) -> QuerySet:
    """Ids of the active providers actively offering ``service`` at ``location``: who a search
    looks at and who an "any provider" booking may get."""
    return Offering.objects.filter(
        service=service, location=location, is_active=True, provider__is_active=True
    ).values_list("provider_id", flat=True)


def offered_providers(
    service: Service, location: Location, view: rules_cache.RulesView | None = None
) -> frozenset[int]:
    """``offering_providers`` through the rules cache."""
    return rules_cache.view_or_read(view).get(
        ("offered", service.pk, location.pk),
        lambda: frozenset(offering_providers(service, location)),
    )


def load_rules(
    service: Service,
    location: Location,
    provider_ids: Iterable[int],
    view: rules_cache.RulesView | None = None,
) -> Rules:
    """The rules for ``service`` at ``location`` and these providers: eleven queries when the
    rules changed since this process last read them, none otherwise (``view``: the caller's
    read of the rules token, else one query to read it)."""
    view = rules_cache.view_or_read(view)
    ids = tuple(sorted({int(pk) for pk in provider_ids}))

    def load() -> Rules:
        act_codes = tuple(service.required_acts.values_list("code", flat=True))
        exceptions_from = _epoch(timezone.now() - timedelta(days=1))
        return Rules(
            policy=resolve_policy(service, location),
            act_codes=act_codes,
            scope=load_scope_index(ids, act_codes, location.jurisdiction),
            offered=offered_providers(service, location, view),
            closures=location_closures(location),
            hours=MappingProxyType(_weekly_hours(ids, location)),
            exceptions=MappingProxyType(_exceptions(ids, location, exceptions_from)),
            exceptions_from=exceptions_from,
        )

    return view.get(("rules", service.pk, location.pk, location.jurisdiction, ids), load)


_HOUR_COLUMNS = ("weekday", "start_time", "end_time", "valid_from", "valid_until")


def _weekly_hours(pids: Iterable[int], location: Location) -> dict[int, tuple]:
    """Every weekly-hours row of these providers at ``location``, per provider."""
    found: dict[int, list] = {pid: [] for pid in pids}
    rows = WeeklyAvailability.objects.filter(provider_id__in=list(found), location=location)
    for pid, *hours in rows.order_by().values_list("provider_id", *_HOUR_COLUMNS):
        found[pid].append(tuple(hours))
    return {pid: tuple(hours) for pid, hours in found.items()}


def _exception_rows(pids: Iterable[int], location: Location) -> QuerySet:
    """The time off (anywhere) and extra hours (anywhere, kept only here by the caller) of
    these providers that can touch a search at ``location``, instants as epoch seconds."""
    return (
        AvailabilityException.objects.filter(provider_id__in=list(pids))
        .filter(Q(location__isnull=True) | Q(location=location))
        .order_by()
        .values_list("provider_id", "kind", "location_id", _Epoch("start"), _Epoch("end"))
    )


def _exceptions(pids: Iterable[int], location: Location, after: float) -> dict[int, tuple]:
    """``_exception_rows`` ending after ``after``, per provider (the rules' ``exceptions``)."""
    found: dict[int, list] = {pid: [] for pid in pids}
    cutoff = datetime.fromtimestamp(after, UTC)
    for pid, *row in _exception_rows(found, location).filter(end__gt=cutoff):
        found[pid].append(tuple(row))
    return {pid: tuple(rows) for pid, rows in found.items()}


def local_instant(day: date, at: time, location: Location) -> datetime:
    """A local wall-clock time on a date, as a UTC instant."""
    return datetime.combine(day, at, tzinfo=location.zone).astimezone(UTC)


def _days(first: date, last: date) -> Iterable[date]:
    day = first
    while day <= last:
        yield day
        day += timedelta(days=1)


def _epoch(instant: datetime) -> int | float:
    """An instant as seconds since the epoch: an int when whole, else the exact float."""
    delta = instant - EPOCH
    if delta.microseconds:
        return delta.total_seconds()
    return delta.days * 86400 + delta.seconds


def _wall_seconds(at: time) -> tuple[int, int]:
    """A wall-clock time as (whole seconds after midnight, microseconds)."""
    return at.hour * 3600 + at.minute * 60 + at.second, at.microsecond


class LocalDays:
    """Wall-clock times on a range of local dates as epoch seconds, equal to ``local_instant``.

    On a day whose UTC offset holds from one local midnight to the next (all but a few days a
    year), a wall time is that midnight plus its seconds: integer arithmetic, no datetime. Only
    on a day the offset changes (or a zone skips or repeats midnight) is each time asked of
    ``zoneinfo`` (``local_instant``), so gaps and repeated hours resolve as it resolves them."""

    def __init__(self, first: date, last: date, location: Location):
        self.location = location
        self.midnights: dict[date, int | None] = {}
        zone = location.zone
        day = first
        start = local_instant(day, time(0), location)
        while day <= last:
            following = day + timedelta(days=1)
            end = local_instant(following, time(0), location)
            steady = end - start == timedelta(days=1) and (
                start.astimezone(zone).utcoffset() == end.astimezone(zone).utcoffset()
            )
            self.midnights[day] = _epoch(start) if steady else None
            day, start = following, end
        self._careful: dict[tuple[date, time], int | float] = {}

    def at(self, day: date, at: time) -> int | float:
        """``local_instant(day, at)`` in seconds since the epoch (exact)."""
        midnight = self.midnights.get(day)
        if midnight is None:
            found = self._careful.get((day, at))
            if found is None:
                found = self._careful[(day, at)] = _epoch(local_instant(day, at, self.location))
            return found
        seconds, micro = _wall_seconds(at)
        if micro:
            return ((midnight + seconds) * 1_000_000 + micro) / 1_000_000
        return midnight + seconds


def _hours_order(row: tuple[int, time, time, date, date | None]) -> tuple:
    """A weekly-hours row's place in a provider's canonical list (open-ended rows last)."""
    return (*row[:4], row[4] or date.max)


def weekly_windows(
    rows: Iterable[tuple[int, int, time, time, date, date | None]],
    first: date,
    last: date,
    location: Location,
) -> dict[int, list[Window]]:
    """Per provider the open windows (epoch seconds, sorted and merged) their weekly hours
    ``(provider, weekday, start, end, valid_from, valid_until)`` give on the local dates
    ``first``..``last``. Providers with the same hours share one list (read-only)."""
    by_provider: dict[int, list] = defaultdict(list)
    for pid, *hours in rows:
        by_provider[pid].append(tuple(hours))
    days = LocalDays(first, last, location)
    shared: dict[tuple, list[Window]] = {}
    windows: dict[int, list[Window]] = defaultdict(list)
    for pid, hours in by_provider.items():
        key = tuple(sorted(hours, key=_hours_order))
        found = shared.get(key)
        if found is None:
            by_weekday: dict[int, list] = defaultdict(list)
            for weekday, *rest in key:
                by_weekday[weekday].append(rest)
            spans = []
            for day in days.midnights:
                for start_t, end_t, valid_from, valid_until in by_weekday.get(day.weekday(), ()):
                    if valid_from <= day and (valid_until is None or day <= valid_until):
                        spans.append((days.at(day, start_t), days.at(day, end_t)))
            found = shared[key] = merge(spans)
        windows[pid] = found
    return windows


def merge(intervals: Iterable[tuple[T, T]]) -> list[tuple[T, T]]:
    """Sorted, disjoint union of half-open intervals."""
    merged: list[list[T]] = []
    for start, end in sorted(intervals):
        if merged and start <= merged[-1][1]:
            if end > merged[-1][1]:
                merged[-1][1] = end
        else:
            merged.append([start, end])
    return [(s, e) for s, e in merged]


def subtract(windows: list[tuple[T, T]], holes: list[tuple[T, T]]) -> list[tuple[T, T]]:
    """``windows`` minus ``holes``; both sorted and disjoint."""
    out: list[tuple[T, T]] = []
    j = 0
    for start, end in windows:
        cursor = start
        while j < len(holes) and holes[j][1] <= cursor:
            j += 1
        k = j
        while k < len(holes) and holes[k][0] < end:
            hole_start, hole_end = holes[k]
            if hole_start > cursor:
                out.append((cursor, hole_start))
            cursor = max(cursor, hole_end)
            k += 1
        if cursor < end:
            out.append((cursor, end))
    return out


class _Epoch(Func):
    """A datetime column as float seconds since the epoch, computed by the database.

    psycopg reads floats in C, whereas Django's timestamptz loader parses each value in Python
    (about 3.5 us): for a 20-provider month of appointments that was 40% of the request. Exact
    to the microsecond on both backends.
    """

    output_field = FloatField()
    template = "EXTRACT(EPOCH FROM %(expressions)s)::double precision"

    def as_sqlite(self, compiler, connection, **extra_context) -> tuple[str, list]:
        # Django stores UTC text, 'YYYY-MM-DD HH:MM:SS[.ffffff]': whole seconds from the first
        # 19 characters (strftime would round the fraction to milliseconds), then the fraction.
        template = (
            "(CAST(strftime('%%%%s', substr(%(expressions)s, 1, 19)) AS INTEGER)"
            " + CAST(substr(%(expressions)s, 20) AS REAL))"
        )
        return self.as_sql(compiler, connection, template=template, **extra_context)

    def get_db_converters(self, connection) -> list:
        """None: both backends already return a float (no Python call per value)."""
        return []


class _RoomUse:
    """Appointments in one room; counts those overlapping [a, b) (capacity is a count)."""

    def __init__(self, capacity: int, intervals: list[Span]):
        self.capacity = capacity
        self.intervals = sorted(intervals)
        self.starts = [s for s, _ in self.intervals]
        self.longest = max((e - s for s, e in self.intervals), default=0)

    def free(self, a: int, b: int) -> int:
        lo = bisect_left(self.starts, a - self.longest)
        hi = bisect_left(self.starts, b)
        used = sum(1 for _, end in self.intervals[lo:hi] if end > a)
        return self.capacity - used


@dataclass
class Calendar:
    """What one search reads, for one service at one location over a range of local dates:
    per provider the open windows (their hours, sorted and merged; providers with the same
    hours share one list), time off and busy spans, group sessions and scope answers; the
    location's closures and its rooms of the needed kind. Every instant is in seconds since the
    epoch: exact (an int, or a float with the microseconds) for hours, time off and closures,
    whole seconds rounded outwards for busy spans. ``load_calendar`` fills it in a fixed number
    of queries; ``sweep`` turns it into slots without any."""

    pids: list[int]
    earliest: datetime
    range_end: datetime
    windows: dict[int, list[Window]]
    closed: list[Window]
    time_off: dict[int, list[Window]]
    busy: dict[int, list[Span]]  # merged and sorted
    sessions: dict[tuple[int, float], list]  # (provider, start) -> [participants, room, blocked]
    room_use: list[tuple[int, "_RoomUse"]]
    load: dict[int, int]
    scope: dict[int, list[tuple[int, bool]]]


def search(
    *,
    service: Service,
    location: Location,
    start_date: date,
    end_date: date,
    provider_ids: Iterable[int] | None = None,
    now: datetime | None = None,
    online: bool = True,
    ignore_appointment_id: int | None = None,
    rules: Rules | None = None,
    with_bookings: bool = True,
) -> SearchResult:
    """Every bookable (start, provider) for ``service`` at ``location`` on the local dates
    ``start_date``..``end_date`` (inclusive).

    ``online`` applies the booking policy's notice, same-day rule and horizon (staff bookings
    skip them but never book in the past). ``ignore_appointment_id`` leaves one appointment out
    of the conflicts, for rescheduling it. ``rules``, when the caller has loaded them for these
    providers (``load_rules``), are used instead of reading them again. ``with_bookings=False``
    searches empty calendars: the start times that could ever be offered.
    """
    found = search_starts(
        service=service,
        location=location,
        start_date=start_date,
        end_date=end_date,
        provider_ids=provider_ids,
        now=now,
        online=online,
        ignore_appointment_id=ignore_appointment_id,
        rules=rules,
        with_bookings=with_bookings,
    )
    return SearchResult(provider_slots(found.starts, service), found.policy, found.provider_load)


class StartsResult(NamedTuple):
    starts: FreeStarts
    policy: BookingPolicy
    provider_load: dict[int, int]


def search_starts(
    *,
    service: Service,
    location: Location,
    start_date: date,
    end_date: date,
    provider_ids: Iterable[int] | None = None,
    now: datetime | None = None,
    online: bool = True,
    ignore_appointment_id: int | None = None,
    rules: Rules | None = None,
    with_bookings: bool = True,
    view: rules_cache.RulesView | None = None,
) -> StartsResult:
    """``search`` with its answer as epoch seconds (``FreeStarts``), for callers that never
    need a datetime per slot (the public widget's "any provider" merge and its JSON).
    ``view``: the caller's read of the rules token, when it has one."""
    now = now or timezone.now()
    if rules is None:
        view = rules_cache.view_or_read(view)
        offered = offered_providers(service, location, view)
        if provider_ids is not None:
            offered = offered & {int(pk) for pk in provider_ids}
        rules = load_rules(service, location, offered, view)
    policy = rules.policy
    calendar = load_calendar(
        service=service,
        location=location,
        start_date=start_date,
        end_date=end_date,
        window=policy.window(now, location, online),
        provider_ids=provider_ids,
        ignore_appointment_id=ignore_appointment_id,
        rules=rules,
        with_bookings=with_bookings,
    )
    if calendar is None:
        return StartsResult(FreeStarts({}, {}), policy, {})
    return StartsResult(
        free_starts(calendar, service, policy.slot_step_minutes), policy, dict(calendar.load)
    )


def load_calendar(
    *,
    service: Service,
    location: Location,
    start_date: date,
    end_date: date,
    window: BookingWindow,
    provider_ids: Iterable[int] | None,
    ignore_appointment_id: int | None,
    rules: Rules | None,
    with_bookings: bool = True,
) -> Calendar | None:
    """Read the calendar a search sweeps (a fixed number of queries), or None when nothing
    can be booked in the range (past the horizon, nobody offers it, no room of the kind)."""
    earliest = window.earliest
    if window.last_date is not None:
        end_date = min(end_date, window.last_date)
    if end_date < start_date:
        return None
    range_start = local_instant(start_date, time(0), location)
    range_end = local_instant(end_date + timedelta(days=1), time(0), location)
    earliest = max(earliest, range_start)

    if rules is None:
        rules = load_rules(service, location, offered_providers(service, location))
    offered = rules.offered
    if provider_ids is not None:
        offered = offered & {int(pk) for pk in provider_ids}
    pids = sorted(offered)
    if not pids:
        return None
    act_codes, index = rules.act_codes, rules.scope

    margin = timedelta(
        minutes=service.duration_minutes
        + service.buffer_before_minutes
        + service.buffer_after_minutes,
        days=1,
    )
    query_start, query_end = range_start - margin, range_end + margin

    if rules.hours.keys() >= set(pids):  # the rules were read for these providers
        hours: Iterable = ((pid, *row) for pid in pids for row in rules.hours[pid])
    else:
        hours = (
            WeeklyAvailability.objects.filter(
                provider_id__in=pids, location=location, valid_from__lte=end_date
            )
            .filter(Q(valid_until__isnull=True) | Q(valid_until__gte=start_date))
            .order_by()
            .values_list("provider_id", *_HOUR_COLUMNS)
        )
    windows = weekly_windows(hours, start_date, end_date, location)

    closed = [
        (
            _epoch(local_instant(max(first, start_date), time(0), location)),
            _epoch(local_instant(min(last, end_date) + timedelta(days=1), time(0), location)),
        )
        for first, last in closures_between(rules.closures, start_date, end_date)
    ]
    time_off: dict[int, list[Window]] = defaultdict(list)
    extra: dict[int, list[Window]] = defaultdict(list)
    low, high = _epoch(query_start), _epoch(query_end)
    if rules.exceptions.keys() >= set(pids) and low >= rules.exceptions_from:
        exceptions: Iterable = (
            (pid, *row)
            for pid in pids
            for row in rules.exceptions[pid]
            if row[2] < high and row[3] > low
        )
    else:  # providers the rules were not read for, or a range before what they hold
        exceptions = _exception_rows(pids, location).filter(
            start__lt=query_end, end__gt=query_start
        )
    for pid, kind, exc_location, exc_start, exc_end in exceptions:
        if kind == AvailabilityException.Kind.EXTRA_HOURS:
            if exc_location == location.pk:
                extra[pid].append((exc_start, exc_end))
        else:
            time_off[pid].append((exc_start, exc_end))
    for pid, spans in extra.items():
        windows[pid] = merge(windows.get(pid, []) + spans)

    rooms: list[tuple[int, int]] = []
    if service.room_kind:
        rooms = list(
            Room.objects.filter(location=location, kind=service.room_kind, is_active=True)
            .order_by("id")
            .values_list("id", "capacity")
        )
        if not rooms:
            return None
    room_ids = [room_id for room_id, _ in rooms]

    # Appointment times are read as epoch seconds (see _Epoch) and kept as whole seconds,
    # rounded outwards: slot bounds are whole seconds, so every overlap test gives the same
    # answer as on the exact instants. ``start`` only identifies a group session.
    group = service.is_group
    times = [_Epoch("blocked_start"), _Epoch("blocked_end")] + ([_Epoch("start")] if group else [])
    busy: dict[int, list[Span]] = defaultdict(list)
    sessions: dict[tuple[int, float], list] = {}
    room_intervals: dict[int, list[Span]] = defaultdict(list)
    load: dict[int, int] = defaultdict(int)

    def appointments() -> QuerySet:
        return Appointment.objects.filter(
            status__in=BLOCKING_STATUSES, blocked_start__lt=query_end, blocked_end__gt=query_start
        ).exclude(pk=ignore_appointment_id)

    alias = router.db_for_read(Appointment)
    in_database = with_bookings and merges_in_database(alias)
    merged: set[int] = set()  # providers whose busy spans are merged and sorted
    # Appointments needed one by one: those in a room of the kind (room use counts them) and the
    # group service's sessions (places left). PostgreSQL merges the rest (``busy_time``).
    one_by_one = Q(room_id__in=room_ids) | (Q(service_id=service.pk) if group else Q())
    if in_database:
        busy, counts = merged_busy(
            alias,
            provider_ids=pids,
            start=query_start,
            end=query_end,
            ignored=ignore_appointment_id,
            rooms=room_ids,
            sessions_of=service.pk if group else None,
        )
        merged.update(busy)
        for pid, count in counts.items():
            load[pid] += count
    pid_set, room_set = set(pids), set(room_ids)
    floor, ceil = math.floor, math.ceil
    if with_bookings and (room_ids or group or not in_database):
        rows = appointments().filter(Q(provider_id__in=pids) | Q(room_id__in=room_ids))
        if in_database:
            rows = rows.filter(one_by_one)
        for (
            pid,
            room_id,
            service_id,
            blocked_start,
            blocked_end,
            *session_start,
        ) in rows.values_list("provider_id", "room_id", "service_id", *times):
            blocked = (floor(blocked_start), ceil(blocked_end))
            if room_id in room_set:
                room_intervals[room_id].append(blocked)
            if pid not in pid_set:
                continue
            load[pid] += 1
            if group and service_id == service.pk:
                session = sessions.setdefault((pid, session_start[0]), [0, room_id, blocked])
                session[0] += 1
            else:
                if pid in merged:  # the merged spans may be shared (``busy_time``'s cache)
                    busy[pid] = list(busy[pid])
                    merged.discard(pid)
                busy[pid].append(blocked)
    if with_bookings and not in_database:
        # Time held for a waitlist offer is busy for everyone (its claim ends the hold first).
        holds = WaitlistOffer.objects.filter(
            status=WaitlistOffer.Status.OFFERED,
            provider_id__in=pids,
            blocked_start__lt=query_end,
            blocked_end__gt=query_start,
        )
        for pid, held_start, held_end in holds.values_list(
            "provider_id", _Epoch("blocked_start"), _Epoch("blocked_end")
        ):
            busy[pid].append((floor(held_start), ceil(held_end)))
            merged.discard(pid)
    for pid in busy.keys() - merged:
        busy[pid] = merge(busy[pid])
    return Calendar(
        pids=pids,
        earliest=earliest,
        range_end=range_end,
        windows=windows,
        closed=closed,
        time_off=time_off,
        busy=busy,
        sessions=sessions,
        room_use=[(room_id, _RoomUse(cap, room_intervals[room_id])) for room_id, cap in rooms],
        load=load,
        scope=_scope_spans(index, pids, act_codes, location, start_date, end_date),
    )


def _needs_detail(room_use: list, provider_sessions: dict) -> bool:
    """Whether a provider's starts must be judged one by one (rooms, or group sessions)."""
    return bool(room_use or provider_sessions)


def free_starts(calendar: Calendar, service: Service, step_minutes: int) -> FreeStarts:
    """The bookable starts of a loaded calendar per provider: pure computation, no queries.

    The sweep runs on whole seconds since the epoch (integer maths is several times faster
    than datetime maths). A provider's open windows are their hours less time off and closures
    (computed once for providers with the same hours and no time off); busy time and scope turn
    into stretches of forbidden starts. Slots only move forward in time, so each check keeps a
    pointer instead of searching, and a forbidden start skips every step with the same fate in
    one jump."""
    runs: dict[int, list[range]] = {}
    detailed: dict[int, list[tuple[int, int, int | None, int | None]]] = {}
    room_use, sessions = calendar.room_use, calendar.sessions
    step_s = step_minutes * 60
    duration_s = service.duration_minutes * 60
    before_s, after_s = service.buffer_before_minutes * 60, service.buffer_after_minutes * 60
    earliest_s, range_end_s = _seconds(calendar.earliest, up=True), _seconds(calendar.range_end)
    closed = merge(calendar.closed)
    open_for: dict[int, list[Span]] = {}  # id(shared hours) -> open windows, whole seconds
    by_provider: dict[int, dict] = defaultdict(dict)
    for (pid, session_start), session in sessions.items():
        by_provider[pid][session_start] = session
    floor, ceil = math.floor, math.ceil
    reach = duration_s + after_s - 1  # a busy span forbids starts from its start - reach ...
    back = before_s - 1  # ... to its end + back

    for pid in calendar.pids:
        spans = calendar.scope[pid]
        if not any(allowed for _, allowed in spans):
            continue
        hours = calendar.windows.get(pid, [])
        time_off = calendar.time_off.get(pid)
        open_windows = open_for.get(id(hours)) if not time_off else None
        if open_windows is None:
            holes = merge(time_off + closed) if time_off else closed
            open_windows = [(ceil(start), floor(end)) for start, end in subtract(hours, holes)]
            if not time_off:
                open_for[id(hours)] = open_windows
        # Forbidden starts, closed intervals sorted by their first second.
        lows = [start - reach for start, _ in calendar.busy.get(pid, ())]
        highs = [end + back for _, end in calendar.busy.get(pid, ())]
        if not all(allowed for _, allowed in spans):
            forbidden = sorted(
                [*zip(lows, highs, strict=True)]
                + [
                    (when, spans[n + 1][0] - 1 if n + 1 < len(spans) else range_end_s)
                    for n, (when, allowed) in enumerate(spans)
                    if not allowed
                ]
            )
            lows, highs = [lo for lo, _ in forbidden], [hi for _, hi in forbidden]
        provider_sessions = by_provider.get(pid, {})
        found_runs: list[range] = []
        f, n_forbidden = 0, len(lows)
        for start, window_end in open_windows:
            if start < earliest_s:
                start += step_s * -((start - earliest_s) // step_s)
            last = min(window_end - duration_s, range_end_s - 1)
            while start <= last:
                while f < n_forbidden and highs[f] < start:
                    f += 1
                stop = last
                if f < n_forbidden:
                    low = lows[f]
                    if low <= start:  # forbidden: on to the first step after the stretch
                        start += step_s * -((start - highs[f] - 1) // step_s)
                        continue
                    if low <= last:
                        stop = low - 1
                after = start + step_s * ((stop - start) // step_s + 1)
                found_runs.append(range(start, after, step_s))
                start = after
        if _needs_detail(room_use, provider_sessions):
            session_ranges = [(s, v[2]) for s, v in provider_sessions.items()]
            found: list[tuple[int, int, int | None, int | None]] = []
            for run in found_runs:
                for start in run:
                    judged = _slot(
                        start,
                        start - before_s,
                        start + duration_s + after_s,
                        service,
                        provider_sessions,
                        session_ranges,
                        room_use,
                    )
                    if judged is not None:
                        found.append((start, *judged))
            detailed[pid] = found
        else:
            runs[pid] = found_runs
    return FreeStarts(runs, detailed)


def sweep(calendar: Calendar, service: Service, step_minutes: int) -> list[ProviderSlot]:
    """The bookable slots of a loaded calendar, sorted (``free_starts`` as named tuples)."""
    return provider_slots(free_starts(calendar, service, step_minutes), service)


def provider_slots(starts: FreeStarts, service: Service) -> list[ProviderSlot]:
    """``starts`` as sorted slots; instants become datetimes once per distinct second."""
    plain = (service.capacity, None, None)
    found: list[tuple] = []
    for pid, provider_runs in starts.runs.items():
        for run in provider_runs:
            found.extend((start, pid, plain) for start in run)
    for pid, provider_found in starts.detailed.items():
        found.extend((start, pid, rest) for start, *rest in provider_found)
    found.sort(key=itemgetter(0, 1))
    new_slot = tuple.__new__  # the named tuple without its Python-level constructor: hot loop
    duration = timedelta(minutes=service.duration_minutes)
    bounds_at: dict[int, tuple[datetime, datetime]] = {}
    slots: list[ProviderSlot] = []
    for start, pid, rest in found:
        bounds = bounds_at.get(start)
        if bounds is None:
            slot_start = EPOCH + timedelta(seconds=start)
            bounds = bounds_at[start] = (slot_start, slot_start + duration)
        slots.append(new_slot(ProviderSlot, (*bounds, pid, *rest)))
    return slots


EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _seconds(instant: datetime, up: bool = False) -> int:
    """Whole seconds since the epoch, rounded down (or ``up``): rounding always in the
    direction that keeps a slot inside its window and outside busy time."""
    seconds = (instant - EPOCH).total_seconds()
    return math.ceil(seconds) if up else math.floor(seconds)


def _scope_spans(
    index: ScopeIndex,
    pids: list[int],
    act_codes: tuple[str, ...],
    location: Location,
    first: date,
    last: date,
) -> dict[int, list[tuple[int, bool]]]:
    """Per provider, from which second (since the epoch) on the range the scope decision holds,
    and its answer.

    The answer can change only at 00:00 local on the days ``providers.scope`` names
    (``ScopeIndex.change_days``). Asking on each such day (at noon, never skipped by a clock
    change) gives the answer for every slot at a handful of decisions per provider.
    """
    instants: dict[date, tuple[int, datetime]] = {}  # providers mostly share their change days

    def day_bounds(day: date) -> tuple[int, datetime]:
        found = instants.get(day)
        if found is None:
            found = instants[day] = (
                _seconds(local_instant(day, time(0), location)),
                local_instant(day, time(12), location),
            )
        return found

    spans: dict[int, list[tuple[int, bool]]] = {}
    for pid in pids:
        spans[pid] = [
            (midnight, index.decide_acts(pid, act_codes, location, noon).allowed)
            for midnight, noon in map(day_bounds, [first, *index.change_days(pid, first, last)])
        ]
    return spans


def _slot(
    start: int,
    blocked_start: int,
    blocked_end: int,
    service: Service,
    provider_sessions: dict[float, list],
    session_ranges: list[tuple[float, Span]],
    room_use: list[tuple[int, _RoomUse]],
) -> tuple[int, int | None, int | None] | None:
    """``(spots_left, room_id, room_free)`` of the slot at ``start`` (epoch seconds) for a
    provider who is free then (group sessions and rooms aside), or None when a session or the
    rooms are in the way."""
    for session_start, (a, b) in session_ranges:
        if session_start != start and a < blocked_end and b > blocked_start:
            return None
    session = provider_sessions.get(start)
    room_free: int | None = None
    room_id: int | None = None
    if room_use:
        free_by_room = [(use.free(blocked_start, blocked_end), rid) for rid, use in room_use]
        room_free = sum(max(free, 0) for free, _ in free_by_room)
        if session is not None and session[1] is not None:
            best_free, room_id = next(
                ((free, rid) for free, rid in free_by_room if rid == session[1]), (0, session[1])
            )
        else:
            best_free, room_id = max(free_by_room, key=lambda fr: (fr[0], -fr[1]))
        if best_free <= 0:
            return None
    else:
        best_free = service.capacity
    taken = session[0] if session is not None else 0
    spots = min(service.capacity - taken, best_free)
    if spots <= 0:
        return None
    return spots, room_id, room_free
