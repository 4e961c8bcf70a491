"""The preview of a recurring series: every planned visit with its conflict, if any, and a free
time the same day.

The whole series is judged from one read: the rules (``load_rules``: policy, acts, the scope
index), one calendar of the provider over the series' whole date range (``load_calendar``) and
the patient's bookings in that range, so the query count does not grow with the number of
visits. Each visit is then judged in memory by the same owners the booking rule asks:

- ``BookingPolicy.window(...).refusal`` (the start has passed);
- the closures the calendar read (the location is closed that day);
- ``ScopeIndex.decide_acts`` at the visit's start (a credential not valid that day, an act out
  of scope), so a licence ending mid-series refuses only the visits after its end;
- the provider's open hours minus time off (outside hours), the patient's own bookings
  (patient busy), and the sweep of the calendar (``sweep``: provider busy, room or class full).

A visit the sweep offers is free; the booking still runs the full booking rule for it, under
its locks, so the preview can only be too hopeful under a race, never let a conflict through.
"""

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import TypeVar

from clinic.models import Location
from patients.models import Patient
from providers.models import Provider
from providers.scope import ScopeIndex
from scheduling.availability import Calendar, load_calendar, load_rules, merge, subtract, sweep
from scheduling.models import BLOCKING_STATUSES, Appointment, Service
from scheduling.policy import BookingWindow

T = TypeVar("T", datetime, float)


@dataclass(frozen=True)
class Conflict:
    """Why a planned visit cannot be booked as planned: a stable ``code`` and the desk's words."""

    code: str
    message: str


@dataclass(frozen=True)
class PlannedVisit:
    index: int
    start: datetime
    end: datetime
    conflict: Conflict | None
    alternative: datetime | None  # a free start the same local day, when the visit conflicts

    @property
    def free(self) -> bool:
        return self.conflict is None


@dataclass(frozen=True)
class _Judge:
    """What the visits are judged against, read once for the series."""

    service: Service
    location: Location
    provider: Provider
    act_codes: tuple[str, ...]
    scope: ScopeIndex
    window: BookingWindow
    calendar: Calendar | None
    free_starts: dict[date, list[datetime]]
    patient_busy: list[tuple[datetime, datetime]]


def preview_visits(
    *,
    service: Service,
    location: Location,
    provider: Provider,
    patient: Patient,
    starts: list[datetime],
    now: datetime,
) -> list[PlannedVisit]:
    """Judge every start (UTC, sorted) of a series for ``provider`` and ``patient``."""
    if not starts:
        return []
    zone = location.zone
    first, last = starts[0].astimezone(zone).date(), starts[-1].astimezone(zone).date()
    rules = load_rules(service, location, [provider.pk])
    window = rules.policy.window(now, location, False)
    calendar = load_calendar(
        service=service,
        location=location,
        start_date=first,
        end_date=last,
        window=window,
        provider_ids=[provider.pk],
        ignore_appointment_id=None,
        rules=rules,
    )
    duration = timedelta(minutes=service.duration_minutes)
    busy = list(
        Appointment.objects.filter(
            patient=patient,
            status__in=BLOCKING_STATUSES,
            start__lt=starts[-1] + duration,
            end__gt=starts[0],
        ).values_list("start", "end")
    )
    free_starts: dict[date, list[datetime]] = {}
    if calendar is not None:
        for slot in sweep(calendar, service, rules.policy.slot_step_minutes):
            if slot.provider_id == provider.pk and not _overlaps(busy, slot.start, slot.end):
                free_starts.setdefault(slot.start.astimezone(zone).date(), []).append(slot.start)
    judge = _Judge(
        service=service,
        location=location,
        provider=provider,
        act_codes=rules.act_codes,
        scope=rules.scope,
        window=window,
        calendar=calendar,
        free_starts=free_starts,
        patient_busy=busy,
    )
    return [_judge(judge, index, start, start + duration) for index, start in enumerate(starts)]


def _overlaps(spans: list[tuple[T, T]], start: T, end: T) -> bool:
    return any(a < end and b > start for a, b in spans)


def _judge(judge: _Judge, index: int, start: datetime, end: datetime) -> PlannedVisit:
    conflict = _conflict(judge, start, end)
    alternative = None
    if conflict is not None:
        day = start.astimezone(judge.location.zone).date()
        options = judge.free_starts.get(day, [])
        if options:
            alternative = min(options, key=lambda s: (abs(s - start), s))
    return PlannedVisit(index, start, end, conflict, alternative)


def _conflict(judge: _Judge, start: datetime, end: datetime) -> Conflict | None:
    """The first reason, in the order the desk would look: the clock, the location, the
    provider's credentials and scope, their hours, the patient, then the provider's time."""
    refusal = judge.window.refusal(start)
    if refusal is not None:
        return Conflict(*refusal)
    calendar = judge.calendar
    if calendar is None:
        return Conflict(
            "not_offered",
            f"{judge.provider.display_name} cannot be booked for {judge.service.name} at "
            f"{judge.location.name}.",
        )
    start_s, end_s = start.timestamp(), end.timestamp()  # the calendar's epoch seconds
    if _overlaps(calendar.closed, start_s, end_s):
        return Conflict("closed", f"{judge.location.name} is closed that day.")
    decision = judge.scope.decide_acts(judge.provider.pk, judge.act_codes, judge.location, start)
    if not decision.allowed:
        reason = decision.reasons[0]
        return Conflict(reason.code, reason.message)
    pid = judge.provider.pk
    blocked_start = start - timedelta(minutes=judge.service.buffer_before_minutes)
    blocked_end = end + timedelta(minutes=judge.service.buffer_after_minutes)
    open_windows = subtract(merge(calendar.windows[pid]), merge(calendar.time_off[pid]))
    if not any(a <= start_s and end_s <= b for a, b in open_windows):
        return Conflict(
            "outside_hours", f"{judge.provider.display_name} does not work at that time."
        )
    if _overlaps(judge.patient_busy, start, end):
        return Conflict("patient_busy", "The patient already has an appointment at that time.")
    day = start.astimezone(judge.location.zone).date()
    if start in judge.free_starts.get(day, []):
        return None
    epoch_start, epoch_end = blocked_start.timestamp(), blocked_end.timestamp()
    if any(a < epoch_end and b > epoch_start for a, b in calendar.busy[pid]):
        return Conflict(
            "provider_busy", f"{judge.provider.display_name} has another appointment then."
        )
    if calendar.room_use:
        return Conflict("room_unavailable", "No room of the kind the service needs is free then.")
    return Conflict("not_a_start_time", "This is not a start time on offer for this service.")
