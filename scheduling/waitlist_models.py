"""The waitlist's tables: who waits for what, the time freed for them, and the offers (holds).

An offer in status ``offered`` holds the provider's time for one entry alone. The database
enforces it (migration ``0008_waitlist``): on PostgreSQL two open holds of one provider never
overlap (an exclusion constraint), and triggers on this table and on appointments serialise per
provider (a transaction-level advisory lock) and refuse an appointment over an open hold or a
hold over a booked appointment. One entry has at most one open offer (a partial unique index,
PostgreSQL and SQLite alike).
"""

import secrets

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import F, Q

from clinic.models import Location
from patients.models import Patient
from providers.models import Provider


def new_waitlist_token() -> str:
    return secrets.token_urlsafe(32)


class WaitlistSettings(models.Model):
    """The clinic's waitlist choices; one row (pk 1), made by migration 0014 (and with its
    defaults when first read on a database flushed since)."""

    hold_minutes = models.PositiveIntegerField(
        default=30,
        validators=[MinValueValidator(1), MaxValueValidator(24 * 60)],
        help_text="How long an offered time is held for the entry it was offered to.",
    )
    care_plan_patients_first = models.BooleanField(
        default=False, help_text="Offer freed time to patients in a care plan before others."
    )

    class Meta:
        verbose_name = "waitlist settings"
        verbose_name_plural = "waitlist settings"
        constraints = [
            models.CheckConstraint(
                condition=Q(hold_minutes__gte=1, hold_minutes__lte=24 * 60),
                name="waitlist_hold_in_range",
            )
        ]

    def __str__(self) -> str:
        return "Waitlist settings"

    @classmethod
    def current(cls) -> "WaitlistSettings":
        found, _ = cls.objects.get_or_create(pk=1)
        return found


class WaitlistEntry(models.Model):
    """One person waiting for a service at a location, maybe with one provider, between two
    local dates and within time windows (``[{"weekday": 0..6 | null, "from", "to"}]``)."""

    class Status(models.TextChoices):
        WAITING = "waiting", "Waiting"
        OFFERED = "offered", "Offered"
        BOOKED = "booked", "Booked"
        EXPIRED = "expired", "Expired"
        WITHDRAWN = "withdrawn", "Withdrawn"

    class Source(models.TextChoices):
        ONLINE = "online", "Online"
        STAFF = "staff", "Staff"

    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="waitlist_entries")
    service = models.ForeignKey(
        "scheduling.Service", on_delete=models.PROTECT, related_name="waitlist_entries"
    )
    location = models.ForeignKey(
        Location, on_delete=models.PROTECT, related_name="waitlist_entries"
    )
    provider = models.ForeignKey(
        Provider, null=True, blank=True, on_delete=models.PROTECT, related_name="waitlist_entries"
    )
    earliest_date = models.DateField()
    latest_date = models.DateField()
    windows = models.JSONField(default=list)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.WAITING)
    source = models.CharField(max_length=10, choices=Source.choices, default=Source.ONLINE)
    token = models.CharField(max_length=64, default=new_waitlist_token, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    closed_at = models.DateTimeField(null=True, blank=True)
    confirmed_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="When the person confirmed the place from the e-mailed link (widget entries);"
        " set at creation for the front desk's. Unconfirmed entries are never offered.",
    )

    class Meta:
        ordering = ["created_at", "pk"]
        verbose_name_plural = "waitlist entries"
        indexes = [models.Index(fields=["location", "service", "status", "latest_date"])]
        constraints = [
            models.CheckConstraint(
                condition=Q(latest_date__gte=F("earliest_date")), name="waitlist_dates_in_order"
            )
        ]

    def __str__(self) -> str:
        return f"{self.patient} waiting for {self.service} ({self.get_status_display()})"


class WaitlistOpening(models.Model):
    """Time that freed up at a provider (a cancellation, a move away, an expired offer, new
    hours). Written before matching; ``matched_at`` is set in the transaction that makes the
    offers, so time a crashed worker never matched is matched again by the sweep."""

    class Reason(models.TextChoices):
        CANCELLED = "cancelled", "Cancelled"
        RESCHEDULED = "rescheduled", "Moved away"
        OFFER_ENDED = "offer_ended", "An offer expired or was withdrawn"
        HOURS = "hours", "New hours or a lifted closure"
        STAFF = "staff", "Front desk"

    location = models.ForeignKey(Location, on_delete=models.CASCADE, related_name="+")
    provider = models.ForeignKey(Provider, on_delete=models.CASCADE, related_name="+")
    start = models.DateTimeField()
    end = models.DateTimeField()
    reason = models.CharField(max_length=12, choices=Reason.choices)
    created_at = models.DateTimeField()
    matched_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["matched_at", "created_at"])]
        constraints = [
            models.CheckConstraint(condition=Q(end__gt=F("start")), name="waitlist_opening_order")
        ]

    def __str__(self) -> str:
        return f"Opening {self.start:%Y-%m-%d %H:%M} UTC ({self.reason})"


OPEN = "offered"


class WaitlistOffer(models.Model):
    """A time offered to one entry: the hold while ``offered``, the history afterwards
    (who offered it, when, and how it ended)."""

    class Status(models.TextChoices):
        OFFERED = OPEN, "Offered (held)"
        CLAIMED = "claimed", "Claimed"
        EXPIRED = "expired", "Expired"
        WITHDRAWN = "withdrawn", "Withdrawn"

    entry = models.ForeignKey(WaitlistEntry, on_delete=models.CASCADE, related_name="offers")
    provider = models.ForeignKey(Provider, on_delete=models.PROTECT, related_name="+")
    start = models.DateTimeField()
    end = models.DateTimeField()
    blocked_start = models.DateTimeField()
    blocked_end = models.DateTimeField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.OFFERED)
    offered_at = models.DateTimeField()
    expires_at = models.DateTimeField()
    offered_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    ended_at = models.DateTimeField(null=True, blank=True)
    appointment = models.ForeignKey(
        "scheduling.Appointment",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )

    class Meta:
        ordering = ["-offered_at", "-pk"]
        indexes = [
            models.Index(fields=["status", "expires_at"]),
            models.Index(fields=["provider", "start"]),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["entry"], condition=Q(status=OPEN), name="waitlist_one_open_offer"
            ),
            models.CheckConstraint(
                condition=Q(blocked_end__gt=F("blocked_start")), name="waitlist_offer_order"
            ),
        ]

    def __str__(self) -> str:
        return f"Offer of {self.start:%Y-%m-%d %H:%M} UTC ({self.get_status_display()})"
