"""Services, offerings, availability, booking policy, appointments, free consults and call-backs.

The database carries the guarantees that must hold under any concurrency: on PostgreSQL,
exclusion constraints (migration 0002) make overlapping provider appointments and patient double
bookings impossible; room and group-class capacity are counted under row locks by
``scheduling.services``. Everything is stored in UTC; local times live only in weekly hours.
"""

import secrets
import uuid
from decimal import Decimal

from django.conf import settings
from django.db import models
from django.db.models import F, Q

from clinic.models import Location, Room, between
from clinic.validators import validate_phone
from patients.models import Patient
from providers.models import Act, Provider

REFERENCE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
REFERENCE_LENGTH = 8


def new_reference() -> str:
    """A short public code (32^8 ~ 10^12): easy to read out on the phone, hard to guess."""
    return "".join(secrets.choice(REFERENCE_ALPHABET) for _ in range(REFERENCE_LENGTH))


def new_manage_token() -> str:
    return secrets.token_urlsafe(32)


def new_ical_uid() -> str:
    return f"{uuid.uuid4()}@clinic"


class Modality(models.TextChoices):
    IN_PERSON = "in_person", "In person"
    PHONE = "phone", "Phone"
    VIDEO = "video", "Video"


class Service(models.Model):
    """An appointment type. The acts it requires decide who may offer it and which disciplines
    it belongs to (those whose scope rules allow every act)."""

    code = models.SlugField(max_length=60, unique=True)
    name = models.CharField(max_length=120)
    description = models.TextField(blank=True)
    # At least one: a service that requires no act is outside every scope of practice, so
    # anyone could offer it (the admin form and the API refuse an empty list).
    required_acts = models.ManyToManyField(Act, related_name="services")
    duration_minutes = models.PositiveSmallIntegerField(validators=between(5, 8 * 60))
    buffer_before_minutes = models.PositiveSmallIntegerField(default=0, validators=between(0, 120))
    buffer_after_minutes = models.PositiveSmallIntegerField(default=0, validators=between(0, 120))
    modality = models.CharField(max_length=10, choices=Modality.choices, default=Modality.IN_PERSON)
    # In the currency of the location where it is booked (``Location.currency``).
    price = models.DecimalField(
        max_digits=8, decimal_places=2, default=Decimal("0.00"), validators=between(0, 100_000)
    )
    online_bookable = models.BooleanField(default=True)
    capacity = models.PositiveSmallIntegerField(
        default=1, validators=between(1, 100), help_text="1, or N for a group class."
    )
    room_kind = models.CharField(
        max_length=20,
        choices=Room.Kind.choices,
        blank=True,
        help_text="The kind of room the service needs; blank for none (phone, video).",
    )
    is_free_consult = models.BooleanField(default=False)
    is_active = models.BooleanField(default=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(condition=Q(capacity__gte=1), name="service_capacity_positive"),
            models.CheckConstraint(condition=Q(duration_minutes__gte=5), name="service_min_length"),
            models.CheckConstraint(condition=Q(price__gte=0), name="service_price_not_negative"),
            models.CheckConstraint(
                condition=Q(is_free_consult=False) | Q(price=0), name="free_consult_is_free"
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def is_group(self) -> bool:
        return self.capacity > 1


class Offering(models.Model):
    """A provider offers a service at a location. Created only through
    ``services.create_offering``, which refuses it unless scope covers every required act."""

    provider = models.ForeignKey(Provider, on_delete=models.CASCADE, related_name="offerings")
    service = models.ForeignKey(Service, on_delete=models.CASCADE, related_name="offerings")
    location = models.ForeignKey(Location, on_delete=models.CASCADE, related_name="offerings")
    is_active = models.BooleanField(default=True)

    class Meta:
        ordering = ["service__name", "provider__display_name"]
        constraints = [
            models.UniqueConstraint(
                fields=["provider", "service", "location"], name="offering_unique"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.provider.display_name}: {self.service.name} at {self.location.name}"


class Weekday(models.IntegerChoices):
    MONDAY = 0, "Monday"
    TUESDAY = 1, "Tuesday"
    WEDNESDAY = 2, "Wednesday"
    THURSDAY = 3, "Thursday"
    FRIDAY = 4, "Friday"
    SATURDAY = 5, "Saturday"
    SUNDAY = 6, "Sunday"


class WeeklyAvailability(models.Model):
    """Recurring working hours in the location's local time, valid over a date range."""

    provider = models.ForeignKey(Provider, on_delete=models.CASCADE, related_name="weekly_hours")
    location = models.ForeignKey(Location, on_delete=models.CASCADE, related_name="weekly_hours")
    weekday = models.PositiveSmallIntegerField(choices=Weekday.choices)
    start_time = models.TimeField(help_text="Local time at the location.")
    end_time = models.TimeField(help_text="Local time at the location.")
    valid_from = models.DateField()
    valid_until = models.DateField(null=True, blank=True, help_text="Last day; blank: open-ended.")

    class Meta:
        ordering = ["provider__display_name", "weekday", "start_time"]
        verbose_name_plural = "weekly availability"
        constraints = [
            models.CheckConstraint(
                condition=Q(start_time__lt=F("end_time")), name="weekly_hours_start_before_end"
            ),
            models.CheckConstraint(
                condition=Q(valid_until__isnull=True) | Q(valid_until__gte=F("valid_from")),
                name="weekly_hours_dates_in_order",
            ),
            models.CheckConstraint(condition=Q(weekday__lte=6), name="weekly_hours_weekday"),
        ]
        indexes = [models.Index(fields=["location", "provider"])]

    def __str__(self) -> str:
        return (
            f"{self.provider.display_name} {self.get_weekday_display()} "
            f"{self.start_time:%H:%M}-{self.end_time:%H:%M} at {self.location.name}"
        )


class AvailabilityException(models.Model):
    """A one-off change to a provider's hours: time off (anywhere, or at one location) or extra
    hours at a location."""

    class Kind(models.TextChoices):
        TIME_OFF = "time_off", "Time off"
        EXTRA_HOURS = "extra_hours", "Extra hours"

    provider = models.ForeignKey(Provider, on_delete=models.CASCADE, related_name="exceptions")
    location = models.ForeignKey(
        Location,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="+",
        help_text="Blank for time off everywhere; required for extra hours.",
    )
    kind = models.CharField(max_length=12, choices=Kind.choices)
    start = models.DateTimeField()
    end = models.DateTimeField()
    reason = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["start"]
        constraints = [
            models.CheckConstraint(
                condition=Q(start__lt=F("end")), name="exception_start_before_end"
            ),
            models.CheckConstraint(
                condition=Q(kind="time_off") | Q(location__isnull=False),
                name="extra_hours_need_location",
            ),
        ]
        indexes = [models.Index(fields=["provider", "start"])]

    def __str__(self) -> str:
        return f"{self.get_kind_display()}: {self.provider.display_name} {self.start:%Y-%m-%d}"


class Closure(models.Model):
    """A location is closed on these local dates (inclusive): holidays, renovations."""

    location = models.ForeignKey(Location, on_delete=models.CASCADE, related_name="closures")
    start_date = models.DateField()
    end_date = models.DateField()
    reason = models.CharField(max_length=200)

    class Meta:
        ordering = ["start_date"]
        constraints = [
            models.CheckConstraint(
                condition=Q(end_date__gte=F("start_date")), name="closure_dates_in_order"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.location.name} closed {self.start_date}..{self.end_date}: {self.reason}"


class BookingPolicyOverride(models.Model):
    """Overrides the clinic's booking-policy defaults for one location or one service.

    Resolution, field by field: the service's override, then the location's, then
    ``ClinicSettings``. A blank field falls through to the next level.
    """

    location = models.OneToOneField(
        Location, null=True, blank=True, on_delete=models.CASCADE, related_name="booking_policy"
    )
    service = models.OneToOneField(
        Service, null=True, blank=True, on_delete=models.CASCADE, related_name="booking_policy"
    )
    # The same bounds as the clinic-wide defaults (clinic.models.ClinicSettings).
    slot_step_minutes = models.PositiveSmallIntegerField(
        null=True, blank=True, validators=between(5, 240)
    )
    minimum_notice_minutes = models.PositiveIntegerField(
        null=True, blank=True, validators=between(0, 60 * 24 * 30)
    )
    same_day_booking = models.BooleanField(null=True, blank=True)
    booking_horizon_days = models.PositiveSmallIntegerField(
        null=True, blank=True, validators=between(1, 730)
    )
    late_cancellation_hours = models.PositiveSmallIntegerField(
        null=True, blank=True, validators=between(0, 24 * 14)
    )
    max_upcoming_online_bookings = models.PositiveSmallIntegerField(
        null=True, blank=True, validators=between(0, 100)
    )
    one_free_consult_per_patient = models.BooleanField(null=True, blank=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=(Q(location__isnull=False) & Q(service__isnull=True))
                | (Q(location__isnull=True) & Q(service__isnull=False)),
                name="policy_override_one_target",
            ),
        ]

    def __str__(self) -> str:
        target = self.service or self.location
        return f"Booking policy for {target}"


class Appointment(models.Model):
    """One patient's booking with one provider. ``reference`` and ``ical_uid`` never change, so
    a reschedule keeps the appointment's identity; ``ical_sequence`` counts the changes."""

    class Status(models.TextChoices):
        BOOKED = "booked", "Booked"
        CONFIRMED = "confirmed", "Confirmed"
        ARRIVED = "arrived", "Arrived"
        COMPLETED = "completed", "Completed"
        CANCELLED = "cancelled", "Cancelled"
        NO_SHOW = "no_show", "No-show"

    class Source(models.TextChoices):
        ONLINE = "online", "Online"
        STAFF = "staff", "Staff"

    class CancelledBy(models.TextChoices):
        PATIENT = "patient", "Patient"
        STAFF = "staff", "Staff"

    reference = models.CharField(max_length=12, unique=True, default=new_reference, editable=False)
    manage_token = models.CharField(max_length=64, default=new_manage_token, editable=False)
    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="appointments")
    provider = models.ForeignKey(Provider, on_delete=models.PROTECT, related_name="appointments")
    service = models.ForeignKey(Service, on_delete=models.PROTECT, related_name="appointments")
    location = models.ForeignKey(Location, on_delete=models.PROTECT, related_name="appointments")
    room = models.ForeignKey(
        Room, null=True, blank=True, on_delete=models.PROTECT, related_name="appointments"
    )
    start = models.DateTimeField()
    end = models.DateTimeField()
    # The provider's time the appointment takes, buffers included; what conflicts are judged on.
    blocked_start = models.DateTimeField(editable=False)
    blocked_end = models.DateTimeField(editable=False)
    # Appointments sharing a slot key share the provider's time: the participants of one group
    # session. A one-to-one appointment has a key of its own.
    slot_key = models.CharField(max_length=80, editable=False)
    is_free_consult = models.BooleanField(default=False, editable=False)
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.BOOKED)
    source = models.CharField(max_length=10, choices=Source.choices, default=Source.STAFF)
    reason = models.TextField(blank=True, help_text="The patient's words: what brings them in.")
    cancel_reason = models.CharField(max_length=300, blank=True)
    cancelled_by = models.CharField(max_length=10, choices=CancelledBy.choices, blank=True)
    cancelled_by_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    cancelled_at = models.DateTimeField(null=True, blank=True)
    late_cancellation = models.BooleanField(default=False)
    # DOMAIN.md 4: care a changed credential no longer covers waits here for the front desk.
    needs_rebooking = models.BooleanField(
        default=False, help_text="The provider's credentials no longer cover this visit."
    )
    rebooking_reason = models.CharField(max_length=300, blank=True)
    rebooking_flagged_at = models.DateTimeField(null=True, blank=True)
    ical_uid = models.CharField(max_length=80, unique=True, default=new_ical_uid, editable=False)
    ical_sequence = models.PositiveIntegerField(default=0)
    # A visit booked as part of a recurring series (scheduling/series_models.py).
    series = models.ForeignKey(
        "scheduling.Series",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="appointments",
        editable=False,
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["start", "id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(start__lt=F("end")), name="appointment_start_before_end"
            ),
            models.CheckConstraint(
                condition=Q(blocked_start__lte=F("start")) & Q(blocked_end__gte=F("end")),
                name="appointment_blocked_covers_time",
            ),
            models.CheckConstraint(
                condition=~Q(status="cancelled") | Q(cancelled_at__isnull=False),
                name="appointment_cancel_has_time",
            ),
        ]
        indexes = [
            models.Index(fields=["provider", "blocked_start"]),
            models.Index(fields=["location", "start"]),
            models.Index(fields=["room", "blocked_start"]),
            models.Index(fields=["patient", "start"]),
            models.Index(fields=["status", "start"]),
            models.Index(
                fields=["start"],
                condition=models.Q(needs_rebooking=True),
                name="appointment_needs_rebooking",
            ),
        ]

    def __str__(self) -> str:
        """Staff read times in the location's zone: admin titles, breadcrumbs and history."""
        return f"{self.reference} {self.service.name} {self.local_start:%Y-%m-%d %H:%M %Z}"

    @property
    def local_start(self):
        return self.start.astimezone(self.location.zone)

    @property
    def local_end(self):
        return self.end.astimezone(self.location.zone)


# Every status except cancelled holds the provider's, the patient's and the room's time.
BLOCKING_STATUSES = (
    Appointment.Status.BOOKED,
    Appointment.Status.CONFIRMED,
    Appointment.Status.ARRIVED,
    Appointment.Status.COMPLETED,
    Appointment.Status.NO_SHOW,
)
UPCOMING_STATUSES = (Appointment.Status.BOOKED, Appointment.Status.CONFIRMED)


class AppointmentEvent(models.Model):
    """The appointment's history: every booking, move and status change, with who and what."""

    class Kind(models.TextChoices):
        BOOKED = "booked", "Booked"
        RESCHEDULED = "rescheduled", "Rescheduled"
        CONFIRMED = "confirmed", "Confirmed"
        ARRIVED = "arrived", "Arrived"
        COMPLETED = "completed", "Completed"
        CANCELLED = "cancelled", "Cancelled"
        NO_SHOW = "no_show", "No-show"
        OUTCOME = "outcome", "Consult outcome recorded"
        REBOOK = "rebook", "Flagged for rebooking"

    appointment = models.ForeignKey(Appointment, on_delete=models.CASCADE, related_name="events")
    kind = models.CharField(max_length=12, choices=Kind.choices)
    occurred_at = models.DateTimeField(auto_now_add=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    actor_label = models.CharField(max_length=150, blank=True)
    data = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["occurred_at", "id"]

    def __str__(self) -> str:
        return f"{self.appointment.reference} {self.kind} {self.occurred_at:%Y-%m-%d %H:%M}"


class IdempotencyKey(models.Model):
    """A client's ``Idempotency-Key`` with the hash of its request and the response it got."""

    scope = models.CharField(max_length=40)
    key = models.CharField(max_length=200)
    request_hash = models.CharField(max_length=64)
    response_status = models.PositiveSmallIntegerField(null=True, blank=True)
    response_body = models.JSONField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["scope", "key"], name="idempotency_key_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.scope}:{self.key}"


class FreeConsultOutcome(models.Model):
    """What the provider concluded after a free consult, and the first real appointment if any."""

    class Path(models.TextChoices):
        PHYSIOTHERAPY = "physiotherapy", "Physiotherapy"
        CHIROPRACTIC = "chiropractic", "Chiropractic"
        MASSAGE = "massage", "Massage therapy"
        EXERCISE_THERAPY = "exercise_therapy", "Exercise therapy"
        PERSONAL_TRAINING = "personal_training", "Personal training"
        NONE = "none", "None"

    appointment = models.OneToOneField(
        Appointment, on_delete=models.CASCADE, related_name="consult_outcome"
    )
    recommended_path = models.CharField(max_length=20, choices=Path.choices)
    notes = models.TextField(blank=True)
    first_appointment = models.ForeignKey(
        Appointment, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    recorded_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.appointment.reference}: {self.get_recommended_path_display()}"


class CallbackRequest(models.Model):
    """Someone asked to be called back; front desk works the queue new -> contacted -> closed."""

    class Status(models.TextChoices):
        NEW = "new", "New"
        CONTACTED = "contacted", "Contacted"
        CLOSED = "closed", "Closed"

    name = models.CharField(max_length=200)
    phone = models.CharField(max_length=40, validators=[validate_phone])
    email = models.EmailField(blank=True)
    preferred_time = models.CharField(max_length=200, blank=True)
    message = models.TextField(blank=True)
    consent = models.JSONField(default=dict, blank=True)
    patient = models.ForeignKey(
        Patient, null=True, blank=True, on_delete=models.SET_NULL, related_name="callback_requests"
    )
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.NEW)
    handled_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    handled_at = models.DateTimeField(null=True, blank=True)
    staff_note = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["status", "created_at"])]

    def __str__(self) -> str:
        return f"Call back {self.name} ({self.get_status_display()})"


class CalendarFeed(models.Model):
    """A provider's secret calendar-feed link. Only a SHA-256 hash of the token is stored, so
    the table alone never yields a working link; the token itself is re-derived from ``nonce``
    with the site's secret key (``scheduling.calendar_feed``). Rotating replaces the nonce,
    which revokes the old link at once; deleting the row revokes it without a replacement."""

    provider = models.OneToOneField(
        Provider, on_delete=models.CASCADE, related_name="calendar_feed"
    )
    token_hash = models.CharField(max_length=64, unique=True, editable=False)
    nonce = models.CharField(max_length=64, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["provider__display_name"]

    def __str__(self) -> str:
        return f"Calendar feed of {self.provider.display_name}"


class CalendarVersion(models.Model):
    """A random value per provider that database triggers replace whenever that provider's
    busy time may have changed (an appointment or a waitlist hold written, moved, cancelled or
    removed): the key under which ``scheduling.busy_time`` keeps their merged busy time between
    requests. Written only by the triggers (PostgreSQL; ``scheduling/migrations/0015``)."""

    provider_id = models.BigIntegerField(primary_key=True)
    value = models.BigIntegerField()

    def __str__(self) -> str:
        return f"Calendar version of provider {self.provider_id}"


from scheduling.series_models import Series  # noqa: E402, F401
from scheduling.waitlist_models import (  # noqa: E402, F401  the waitlist's tables
    WaitlistEntry,
    WaitlistOffer,
    WaitlistOpening,
    WaitlistSettings,
)
