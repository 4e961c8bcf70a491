"""The booking policy in force for a service at a location.

The clinic sets defaults (``ClinicSettings``); a location may override some of them and a
service may override again. The most specific non-blank value wins, field by field, so a manager
can tighten one rule for one service without restating the rest.
"""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import NamedTuple

from django.db.models import Q

from clinic.models import ClinicSettings, Location
from scheduling.models import BookingPolicyOverride, Closure, Service

POLICY_FIELDS = (
    "slot_step_minutes",
    "minimum_notice_minutes",
    "same_day_booking",
    "booking_horizon_days",
    "late_cancellation_hours",
    "max_upcoming_online_bookings",
    "one_free_consult_per_patient",
)


@dataclass(frozen=True)
class BookingPolicy:
    slot_step_minutes: int
    minimum_notice_minutes: int
    same_day_booking: bool
    booking_horizon_days: int
    late_cancellation_hours: int
    max_upcoming_online_bookings: int
    one_free_consult_per_patient: bool

    def window(self, now: datetime, location: Location, online: bool) -> "BookingWindow":
        """The instants a booking made ``now`` may start in: the one answer the availability
        search and the booking check both ask, so they can never disagree."""
        today = now.astimezone(location.zone).date()
        if not online:
            return BookingWindow(self, location, now, now, None)
        earliest = now + timedelta(minutes=self.minimum_notice_minutes)
        if not self.same_day_booking:
            earliest = max(earliest, local_midnight(today + timedelta(days=1), location))
        last_date = today + timedelta(days=self.booking_horizon_days)
        return BookingWindow(self, location, now, earliest, last_date)

    def late_cancellation_starts(self, start: datetime) -> datetime:
        return start - timedelta(hours=self.late_cancellation_hours)


@dataclass(frozen=True)
class BookingWindow:
    """When a booking made at ``now`` may start. ``earliest`` applies the minimum notice and the
    same-day rule (online only); ``last_date`` is the last local date of the horizon (online
    only, else None). Closures are not part of it: they are dates, read with the calendar."""

    policy: BookingPolicy
    location: Location
    now: datetime
    earliest: datetime
    last_date: date | None

    def refusal(self, start: datetime) -> tuple[str, str] | None:
        """Why ``start`` cannot be booked, as ``(code, message)``, or None when it may."""
        policy, local = self.policy, start.astimezone(self.location.zone)
        if start <= self.now:
            return "in_past", "The start time has passed."
        if start < self.earliest:
            today = self.now.astimezone(self.location.zone).date()
            if not policy.same_day_booking and local.date() <= today:
                return "same_day", "Same-day bookings are not taken online; please call the clinic."
            return (
                "minimum_notice",
                f"Online bookings need at least {policy.minimum_notice_minutes} minutes' notice.",
            )
        if self.last_date is not None and local.date() > self.last_date:
            return "horizon", f"Online bookings open {policy.booking_horizon_days} days ahead."
        return None


class ClosedDays(NamedTuple):
    start_date: date
    end_date: date
    reason: str


def location_closures(location: Location) -> tuple[ClosedDays, ...]:
    """Every closure of a location, first first: a few a year, read with the booking rules
    (``scheduling.availability.load_rules``) and judged per date by ``closure_on``."""
    rows = Closure.objects.filter(location=location).order_by("start_date", "pk")
    return tuple(ClosedDays(*row) for row in rows.values_list("start_date", "end_date", "reason"))


def closure_on(closures: Iterable[ClosedDays], day: date) -> ClosedDays | None:
    """The first closure (of ``location_closures``) covering a local date, if any."""
    return next((c for c in closures if c.start_date <= day <= c.end_date), None)


def closures_between(
    closures: Iterable[ClosedDays], first: date, last: date
) -> list[tuple[date, date]]:
    """The closed date ranges (of ``location_closures``) overlapping ``first``..``last``
    (inclusive), for the search."""
    return [
        (c.start_date, c.end_date) for c in closures if c.start_date <= last and c.end_date >= first
    ]


def within_undo_window(booked_at: datetime | None, now: datetime) -> bool:
    """A booking cancelled or changed this soon after it was made is a mistake undone, never a
    late cancellation, however close the start (the clinic's ``cancellation_undo_minutes``)."""
    if booked_at is None:
        return False
    undo = timedelta(minutes=ClinicSettings.load().cancellation_undo_minutes)
    return now < booked_at + undo


def local_midnight(day: date, location: Location) -> datetime:
    return datetime.combine(day, datetime.min.time(), tzinfo=location.zone)


def resolve_policy(service: Service, location: Location) -> BookingPolicy:
    """Service override, then location override, then the clinic's defaults (two queries)."""
    defaults = ClinicSettings.load()
    overrides = {
        ("service" if o.service_id else "location"): o
        for o in BookingPolicyOverride.objects.filter(
            Q(service_id=service.pk) | Q(location_id=location.pk)
        )
    }
    values = {}
    for name in POLICY_FIELDS:
        value = None
        for level in ("service", "location"):
            override = overrides.get(level)
            if override is not None and getattr(override, name) is not None:
                value = getattr(override, name)
                break
        values[name] = getattr(defaults, name) if value is None else value
    return BookingPolicy(**values)
