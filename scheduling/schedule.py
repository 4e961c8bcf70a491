"""The front desk's calendar: one location, one to seven local days, a column per provider (or
per room) with working hours, time off, closures and appointments.

Both the staff API (``GET /api/v1/schedule/``) and the admin's schedule page read it here, so
they always agree. It runs a fixed number of queries whatever the number of providers or days:
the rules token and the appointments with their patient, service and room (and the rooms, for
room columns) on every request; weekly hours, time off and extra hours, closures and providers
only when the rules changed since this process last read them (``clinic.rules_cache``, whose
triggers cover those tables). Then it lays the days out in Python in the location's time zone,
sorting appointments, hours and time off into their day and column in one pass each.

The admin page reads each appointment as a model instance (its panels need the policy, the
patient and more); the API reads ``Visit`` rows instead: exactly the columns the answer shows,
times as epoch seconds. A 50-provider week is 1,500 appointments, and building models and
parsing ``timestamptz`` text in Python was most of the request.

Working hours follow the availability search's rules: weekly hours valid that local date, plus
extra hours at the location, minus time off (anywhere, or at this location); a closed day has
none. Patient names are contact details, not clinical content: front desk sees them, never the
visit's reason (the calendar carries no reason for anyone; the appointment page does, audited).
"""

import copy
from bisect import bisect_right
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import NamedTuple

from django.db.models import Q

from clinic import roles, rules_cache
from clinic.errors import FieldProblem, PermissionProblem
from clinic.models import Location, Room
from patients.access import provider_for
from providers.models import Provider
from providers.scope import load_scope_index
from scheduling.availability import Interval, _Epoch, local_instant, merge, subtract
from scheduling.models import (
    BLOCKING_STATUSES,
    Appointment,
    AvailabilityException,
    Offering,
    WeeklyAvailability,
)
from scheduling.policy import closure_on, location_closures

MAX_DAYS = 7
BY_PROVIDER, BY_ROOM = "provider", "room"


class Visit(NamedTuple):
    """An appointment as the staff API's calendar shows it, read as one row of plain values
    (``schedule_for(visits=True)``): what the answer carries and what the layout needs, nothing
    else (never the reason). ``start`` and ``end`` are UTC instants."""

    pk: int
    reference: str
    start: datetime
    end: datetime
    status: str
    slot_key: str
    late_cancellation: bool
    provider_id: int
    room_id: int | None
    room_name: str | None
    service_id: int
    service_name: str
    capacity: int
    patient_id: int
    patient_name: str


@dataclass(frozen=True)
class Entry:
    """One appointment as the calendar shows it. ``spots_taken`` counts the participants of
    its session (1 for a one-to-one visit; a group class's seats taken)."""

    appointment: Appointment | Visit
    spots_taken: int
    capacity: int


@dataclass
class Column:
    """A provider's (or a room's) day: ``working`` is the bookable time, ``time_off`` the time
    off that cut into it (both UTC intervals)."""

    provider: Provider | None = None
    room: Room | None = None
    working: list[Interval] = field(default_factory=list)
    time_off: list[Interval] = field(default_factory=list)
    entries: list[Entry] = field(default_factory=list)


@dataclass
class Day:
    date: date
    start: datetime  # local midnight, as a UTC instant
    end: datetime
    closed: bool = False
    closure_reason: str = ""
    columns: list[Column] = field(default_factory=list)


@dataclass
class Schedule:
    location: Location
    first: date
    days: list[Day]
    by: str = BY_PROVIDER
    providers: list[Provider] = field(default_factory=list)


def default_location(user, day: date) -> Location | None:
    """Where a user's schedule opens: a clinician's location of that weekday's hours, else the
    first active in-person location set up (then any active one)."""
    own = provider_for(user) if roles.is_clinician(user) else None
    if own is not None:
        hours = (
            WeeklyAvailability.objects.filter(
                provider=own, weekday=day.weekday(), valid_from__lte=day, location__is_active=True
            )
            .exclude(valid_until__lt=day)
            .select_related("location")
            .first()
        )
        if hours is not None:
            return hours.location
    active = Location.objects.filter(is_active=True).order_by("is_virtual", "pk")
    return active.first()


def column_provider_for(user, provider: Provider | None) -> Provider | None:
    """Whose columns a user may see: front desk and managers anyone's (None = all); a clinician
    their own, which is also their default."""
    if roles.runs_the_desk(user):
        return provider
    own = provider_for(user) if roles.is_clinician(user) else None
    if own is None or (provider is not None and provider != own):
        raise PermissionProblem(
            "Clinicians see their own schedule only.",
            [FieldProblem("provider", "not_own_schedule", "Choose yourself as the provider.")],
        )
    return own


def schedule_for(
    *,
    location: Location,
    first: date,
    days: int = 1,
    provider: Provider | None = None,
    by: str = BY_PROVIDER,
    visits: bool = False,
) -> Schedule:
    """The calendar of ``location`` for ``days`` local dates from ``first``; ``provider`` keeps
    that provider's column only. Callers decide who may ask (``column_provider_for``).
    ``visits``: the entries hold ``Visit`` rows (the API) instead of ``Appointment`` instances
    with their patient, service and room (the admin page)."""
    days = max(1, min(days, MAX_DAYS))
    last = first + timedelta(days=days - 1)
    range_start = local_instant(first, time(0), location)
    range_end = local_instant(last + timedelta(days=1), time(0), location)

    # Hours, time off, providers and closures are rules (``clinic.rules_cache``): read once per
    # change of the rules token, not per request. Appointments are read every time.
    view = rules_cache.read()
    appointment_rows = Appointment.objects.filter(
        location=location, start__lt=range_end, end__gt=range_start
    )
    if provider is not None:
        appointment_rows = appointment_rows.filter(provider=provider)

    appointments: list[Appointment] | list[Visit]
    capacity_of: Callable[[Appointment | Visit], int]
    if visits:
        appointments, capacity_of = _visits(appointment_rows), _visit_capacity
    else:
        appointments = list(
            appointment_rows.select_related("patient", "service", "room").order_by("start", "id")
        )
        for appointment in appointments:  # all are here: local times need no query per row
            appointment.location = location
        capacity_of = _service_capacity
    hours: dict[tuple[int, int], list[tuple]] = defaultdict(list)
    for pid, weekday, start_t, end_t, valid_from, valid_until in _location_hours(view, location):
        if provider is not None and pid != provider.pk:
            continue
        if valid_from <= last and (valid_until is None or valid_until >= first):
            hours[pid, weekday].append((start_t, end_t, valid_from, valid_until))
    # The columns: who has hours there, an appointment there or extra hours there in the range
    # (read with their time off, so no query asks each provider whether they belong).
    column_ids = {pid for pid, _ in hours} | {a.provider_id for a in appointments}
    exceptions: dict[int, list[tuple]] = defaultdict(list)
    for pid, kind, start, end in _exceptions(
        view, location, range_start, range_end, provider, column_ids
    ):
        exceptions[pid].append((kind, start, end))
        column_ids.add(pid)
    providers = _providers(view, column_ids)
    closures = view.get(("closures", location.pk), lambda: location_closures(location))
    rooms = (
        list(Room.objects.filter(location=location, is_active=True).order_by("name", "pk"))
        if by == BY_ROOM
        else []
    )

    taken: dict[str, int] = defaultdict(int)
    for appointment in appointments:
        if appointment.status in BLOCKING_STATUSES:
            taken[appointment.slot_key] += 1

    schedule = Schedule(location=location, first=first, days=[], by=by, providers=providers)
    for offset in range(days):
        day_date = first + timedelta(days=offset)
        day = Day(
            date=day_date,
            start=local_instant(day_date, time(0), location),
            end=local_instant(day_date + timedelta(days=1), time(0), location),
        )
        closure = closure_on(closures, day_date)
        if closure is not None:
            day.closed, day.closure_reason = True, closure.reason
        schedule.days.append(day)

    # Each appointment into every day it overlaps, then into its column, keeping the
    # (start, id) order: one pass, not a scan of all appointments per day and column.
    column_of = _room_of if by == BY_ROOM else _provider_of
    entries: list[dict[int | None, list[Entry]]] = [defaultdict(list) for _ in schedule.days]
    day_starts = [day.start for day in schedule.days]
    for appointment in appointments:
        start, end = appointment.start, appointment.end
        entry = Entry(appointment, taken.get(appointment.slot_key, 0), capacity_of(appointment))
        index = max(bisect_right(day_starts, start) - 1, 0)
        while index < days and day_starts[index] < end:
            if start < schedule.days[index].end:
                entries[index][column_of(appointment)].append(entry)
            index += 1

    for day, on_day in zip(schedule.days, entries, strict=True):
        if by == BY_ROOM:
            day.columns = [Column(room=room, entries=on_day.get(room.pk, [])) for room in rooms]
        else:
            day.columns = [
                _provider_column(
                    p, day, location, hours, exceptions.get(p.pk, ()), on_day.get(p.pk, [])
                )
                for p in providers
            ]
            day.columns = [c for c in day.columns if c.working or c.entries or c.time_off]
    return schedule


def _location_hours(view: rules_cache.RulesView, location: Location) -> tuple[tuple, ...]:
    """Every weekly-hours row at ``location`` (provider, weekday, start, end, valid from, valid
    until), whatever its dates: a few rows per provider."""
    return view.get(
        ("schedule hours", location.pk),
        lambda: tuple(
            WeeklyAvailability.objects.filter(location=location)
            .order_by("provider_id", "weekday", "start_time", "pk")
            .values_list(
                "provider_id", "weekday", "start_time", "end_time", "valid_from", "valid_until"
            )
        ),
    )


def _exceptions(
    view: rules_cache.RulesView,
    location: Location,
    range_start: datetime,
    range_end: datetime,
    provider: Provider | None,
    column_ids: set[int],
) -> tuple[tuple, ...]:
    """(provider, kind, start, end) of the time off (anywhere, or at ``location``) and extra
    hours there overlapping the range, of the providers in ``column_ids`` and of anyone with
    extra hours there then (only ``provider``'s when given)."""
    ids = tuple(sorted(column_ids))

    def load() -> tuple[tuple, ...]:
        extra_rows = AvailabilityException.objects.filter(
            location=location,
            kind=AvailabilityException.Kind.EXTRA_HOURS,
            start__lt=range_end,
            end__gt=range_start,
        )
        if provider is not None:
            extra_rows = extra_rows.filter(provider=provider)
        rows = AvailabilityException.objects.filter(
            Q(provider_id__in=ids) | Q(provider_id__in=extra_rows.values("provider_id")),
            Q(location__isnull=True) | Q(location=location),
            start__lt=range_end,
            end__gt=range_start,
        )
        return tuple(
            rows.order_by("start", "pk").values_list("provider_id", "kind", "start", "end")
        )

    key = ("schedule exceptions", location.pk, range_start, range_end, provider and provider.pk)
    return view.get((*key, ids), load)


def _providers(view: rules_cache.RulesView, ids: set[int]) -> list[Provider]:
    """The providers with these ids and their discipline, by name: each the caller's own copy,
    with its own copy of the discipline (``copy.copy`` shares related instances, and a caller
    changing ``provider.discipline`` must not change the next request's)."""
    key = tuple(sorted(ids))
    shared = view.get(
        ("schedule providers", key),
        lambda: tuple(
            Provider.objects.filter(pk__in=key)
            .select_related("discipline")
            .order_by("display_name", "pk")
        ),
    )
    return [_own_copy(p) for p in shared]


def _own_copy(shared: Provider) -> Provider:
    mine = copy.copy(shared)
    mine.discipline = copy.copy(shared.discipline)
    return mine


VISIT_COLUMNS = (
    "pk",
    "reference",
    "status",
    "slot_key",
    "late_cancellation",
    "provider_id",
    "room_id",
    "room__name",
    "service_id",
    "service__name",
    "service__capacity",
    "patient_id",
    "patient__first_name",
    "patient__last_name",
)


def _visits(appointment_rows) -> list[Visit]:
    """The appointments as ``Visit`` rows in (start, id) order: one query with the patient,
    service and room joined, the times as epoch seconds (read in C by the driver)."""
    from_epoch = datetime.fromtimestamp
    return [
        Visit(
            pk,
            reference,
            from_epoch(start, UTC),
            from_epoch(end, UTC),
            status,
            slot_key,
            late,
            provider_id,
            room_id,
            room_name,
            service_id,
            service_name,
            capacity,
            patient_id,
            f"{first_name} {last_name}",  # Patient.full_name
        )
        for (
            pk,
            reference,
            status,
            slot_key,
            late,
            provider_id,
            room_id,
            room_name,
            service_id,
            service_name,
            capacity,
            patient_id,
            first_name,
            last_name,
            start,
            end,
        ) in appointment_rows.order_by("start", "id").values_list(
            *VISIT_COLUMNS, _Epoch("start"), _Epoch("end")
        )
    ]


def _visit_capacity(visit: Visit) -> int:
    return visit.capacity


def _service_capacity(appointment: Appointment) -> int:
    return appointment.service.capacity


def _provider_of(appointment: Appointment | Visit) -> int:
    return appointment.provider_id


def _room_of(appointment: Appointment | Visit) -> int | None:
    return appointment.room_id


def _provider_column(
    provider: Provider,
    day: Day,
    location: Location,
    hours: dict[tuple[int, int], list[tuple]],
    exceptions: list[tuple],
    entries: list[Entry],
) -> Column:
    windows: list[Interval] = [
        (
            local_instant(day.date, start_t, location),
            local_instant(day.date, end_t, location),
        )
        for start_t, end_t, valid_from, valid_until in hours.get(
            (provider.pk, day.date.weekday()), ()
        )
        if valid_from <= day.date and (valid_until is None or day.date <= valid_until)
    ]
    off: list[Interval] = []
    for kind, start, end in exceptions:
        if start >= day.end or end <= day.start:
            continue
        clipped = (max(start, day.start), min(end, day.end))
        if kind == AvailabilityException.Kind.EXTRA_HOURS:
            windows.append(clipped)
        else:
            off.append(clipped)
    windows, off = merge(windows), merge(off)
    working = [] if day.closed else subtract(windows, off)
    shown_off = (
        [] if day.closed else [o for o in off if any(o[0] < e and o[1] > s for s, e in windows)]
    )
    return Column(provider=provider, working=working, time_off=shown_off, entries=entries)


def bookable_services(location: Location, provider_ids: list[int], day: date) -> dict[int, list]:
    """The services each provider may be booked for at ``location`` on ``day``: those they
    offer there whose every act their scope covers that local day (the scope decision, with
    credentials judged per local date). Three queries plus the scope index's, for any number
    of providers."""
    offerings = list(
        Offering.objects.filter(
            provider_id__in=provider_ids,
            location=location,
            is_active=True,
            service__is_active=True,
        )
        .select_related("service")
        .prefetch_related("service__required_acts")
        .order_by("service__name")
    )
    acts = {o.service_id: [a.code for a in o.service.required_acts.all()] for o in offerings}
    index = load_scope_index(
        provider_ids, sorted({c for codes in acts.values() for c in codes}), location.jurisdiction
    )
    noon = local_instant(day, time(12), location)
    allowed: dict[int, list] = defaultdict(list)
    for offering in offerings:
        decision = index.decide_acts(
            offering.provider_id, acts[offering.service_id], location, noon
        )
        if decision.allowed:
            allowed[offering.provider_id].append(offering.service)
    return allowed
