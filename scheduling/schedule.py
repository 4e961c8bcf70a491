"""The front desk's calendar: one location, one to seven local days, a column per provider (or
per room) with working hours, time off, closures and appointments.

Both the staff API (``GET /api/v1/schedule/``) and the admin's schedule page read it here, so
they always agree. It runs a fixed number of queries whatever the number of providers or days
(weekly hours, exceptions, closures, appointments with their patient, service and room, and the
providers or rooms), then lays the days out in Python in the location's time zone.

Working hours follow the availability search's rules: weekly hours valid that local date, plus
extra hours at the location, minus time off (anywhere, or at this location); a closed day has
none. Patient names are contact details, not clinical content: front desk sees them, never the
visit's reason (the calendar carries no reason for anyone; the appointment page does, audited).
"""

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from django.db.models import Exists, OuterRef, Q

from clinic import roles
from clinic.errors import FieldProblem, PermissionProblem
from clinic.models import Location, Room
from patients.access import provider_for
from providers.models import Provider
from providers.scope import load_scope_index
from scheduling.availability import Interval, local_instant, merge, subtract
from scheduling.models import (
    BLOCKING_STATUSES,
    Appointment,
    AvailabilityException,
    Closure,
    Offering,
    WeeklyAvailability,
)

MAX_DAYS = 7
BY_PROVIDER, BY_ROOM = "provider", "room"


@dataclass(frozen=True)
class Entry:
    """One appointment as the calendar shows it. ``spots_taken`` counts the participants of
    its session (1 for a one-to-one visit; a group class's seats taken)."""

    appointment: Appointment
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
) -> Schedule:
    """The calendar of ``location`` for ``days`` local dates from ``first``; ``provider`` keeps
    that provider's column only. Callers decide who may ask (``column_provider_for``)."""
    days = max(1, min(days, MAX_DAYS))
    last = first + timedelta(days=days - 1)
    range_start = local_instant(first, time(0), location)
    range_end = local_instant(last + timedelta(days=1), time(0), location)

    appointment_rows = Appointment.objects.filter(
        location=location, start__lt=range_end, end__gt=range_start
    )
    hour_rows = WeeklyAvailability.objects.filter(location=location, valid_from__lte=last).filter(
        Q(valid_until__isnull=True) | Q(valid_until__gte=first)
    )
    extra_rows = AvailabilityException.objects.filter(
        location=location,
        kind=AvailabilityException.Kind.EXTRA_HOURS,
        start__lt=range_end,
        end__gt=range_start,
    )
    if provider is not None:
        appointment_rows = appointment_rows.filter(provider=provider)
        hour_rows = hour_rows.filter(provider=provider)
        extra_rows = extra_rows.filter(provider=provider)

    appointments = list(
        appointment_rows.select_related("patient", "service", "room").order_by("start", "id")
    )
    for appointment in appointments:  # all are here: local times need no query per row
        appointment.location = location
    hours = list(
        hour_rows.values_list(
            "provider_id", "weekday", "start_time", "end_time", "valid_from", "valid_until"
        )
    )
    providers = list(
        Provider.objects.filter(
            Exists(hour_rows.filter(provider=OuterRef("pk")))
            | Exists(extra_rows.filter(provider=OuterRef("pk")))
            | Exists(appointment_rows.filter(provider=OuterRef("pk")))
        )
        .select_related("discipline")
        .order_by("display_name", "pk")
    )
    provider_ids = [p.pk for p in providers]
    exceptions = list(
        AvailabilityException.objects.filter(
            provider_id__in=provider_ids, start__lt=range_end, end__gt=range_start
        )
        .filter(Q(location__isnull=True) | Q(location=location))
        .values_list("provider_id", "kind", "start", "end")
    )
    closures = list(
        Closure.objects.filter(location=location, start_date__lte=last, end_date__gte=first)
    )
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
        closure = next((c for c in closures if c.start_date <= day_date <= c.end_date), None)
        if closure is not None:
            day.closed, day.closure_reason = True, closure.reason
        on_day = [a for a in appointments if a.start < day.end and a.end > day.start]
        if by == BY_ROOM:
            day.columns = [
                Column(room=room, entries=_entries(on_day, taken, room_id=room.pk))
                for room in rooms
            ]
        else:
            day.columns = [
                _provider_column(p, day, location, hours, exceptions, on_day, taken)
                for p in providers
            ]
            day.columns = [c for c in day.columns if c.working or c.entries or c.time_off]
        schedule.days.append(day)
    return schedule


def _provider_column(
    provider: Provider,
    day: Day,
    location: Location,
    hours: list[tuple],
    exceptions: list[tuple],
    appointments: list[Appointment],
    taken: dict[str, int],
) -> Column:
    weekday = day.date.weekday()
    windows: list[Interval] = [
        (
            local_instant(day.date, start_t, location),
            local_instant(day.date, end_t, location),
        )
        for pid, wd, start_t, end_t, valid_from, valid_until in hours
        if pid == provider.pk
        and wd == weekday
        and valid_from <= day.date
        and (valid_until is None or day.date <= valid_until)
    ]
    off: list[Interval] = []
    for pid, kind, start, end in exceptions:
        if pid != provider.pk or start >= day.end or end <= day.start:
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
    return Column(
        provider=provider,
        working=working,
        time_off=shown_off,
        entries=_entries(appointments, taken, provider_id=provider.pk),
    )


def _entries(
    appointments: list[Appointment],
    taken: dict[str, int],
    provider_id: int | None = None,
    room_id: int | None = None,
) -> list[Entry]:
    return [
        Entry(a, taken.get(a.slot_key, 0), a.service.capacity)
        for a in appointments
        if (provider_id is None or a.provider_id == provider_id)
        and (room_id is None or a.room_id == room_id)
    ]


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
