"""The booking policy in force for a service at a location.

The clinic sets defaults (``ClinicSettings``); a location may override some of them and a
service may override again. The most specific non-blank value wins, field by field, so a manager
can tighten one rule for one service without restating the rest.
"""

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from django.db.models import Q

from clinic.models import ClinicSettings, Location
from scheduling.models import BookingPolicyOverride, Service

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

    def earliest_start(self, now: datetime, location: Location) -> datetime:
        """The first instant an online booking may start: minimum notice, and tomorrow's local
        midnight when same-day booking is off."""
        earliest = now + timedelta(minutes=self.minimum_notice_minutes)
        if not self.same_day_booking:
            tomorrow = now.astimezone(location.zone).date() + timedelta(days=1)
            earliest = max(earliest, local_midnight(tomorrow, location))
        return earliest

    def last_bookable_date(self, now: datetime, location: Location) -> date:
        """Online bookings may start up to the end of this local date (the horizon)."""
        return now.astimezone(location.zone).date() + timedelta(days=self.booking_horizon_days)

    def late_cancellation_starts(self, start: datetime) -> datetime:
        return start - timedelta(hours=self.late_cancellation_hours)


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
