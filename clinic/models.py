"""Clinic-wide data: the organisation's settings and booking-policy defaults, locations, rooms,
and the append-only audit log."""

import re
import zoneinfo

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import IntegrityError, models, transaction
from django.db.models import Q

from clinic.validators import validate_currency, validate_phone

JURISDICTION_PATTERN = re.compile(r"^[A-Z]{2}(-[A-Z0-9]{1,3})?$")


def validate_timezone(value: str) -> None:
    """Only IANA zone names that ``zoneinfo`` knows; local times are computed in them."""
    if value not in zoneinfo.available_timezones():
        raise ValidationError(f"'{value}' is not an IANA time zone.", code="invalid_timezone")


def validate_jurisdiction(value: str) -> None:
    """ISO 3166 country, optionally with a subdivision: ``CA-ON``, ``US-NY``, ``GB``."""
    if not JURISDICTION_PATTERN.match(value):
        raise ValidationError(
            f"'{value}' is not a jurisdiction code like CA-ON or US-NY.",
            code="invalid_jurisdiction",
        )


MAX_REMINDER_OFFSET_MINUTES = 60 * 24 * 14
MAX_REMINDER_OFFSETS = 6


def validate_reminder_offsets(value: object) -> None:
    """Whole minutes from 1 to two weeks, each once, at most six: the ledger plans one reminder
    per offset, so a repeated or runaway list would mail patients the same reminder again."""
    if not isinstance(value, list) or not all(
        isinstance(o, int) and not isinstance(o, bool) and 0 < o <= MAX_REMINDER_OFFSET_MINUTES
        for o in value
    ):
        raise ValidationError(
            f"A list of whole minutes between 1 and {MAX_REMINDER_OFFSET_MINUTES}.",
            code="invalid_offset",
        )
    if len(set(value)) != len(value):
        raise ValidationError("Each reminder offset may appear once.", code="duplicate")
    if len(value) > MAX_REMINDER_OFFSETS:
        raise ValidationError(
            f"At most {MAX_REMINDER_OFFSETS} reminders per appointment.", code="too_many"
        )


# The pain scale the care-plan rules read is the 0-10 numeric rating scale.
PAIN_SCALE_MAX = 10


def between(low: int, high: int) -> list:
    """Validators for a number that only makes sense from ``low`` to ``high``."""
    return [MinValueValidator(low), MaxValueValidator(high)]


def default_reminder_offsets() -> list[int]:
    return [24 * 60, 2 * 60]


class ClinicSettings(models.Model):
    """The organisation's single settings row: booking-policy defaults, reminders, care-plan rules.

    Locations and services may override the booking policy (see ``scheduling``); these are the
    values used when nothing overrides them.
    """

    name = models.CharField(max_length=200, default="Clinic")
    currency = models.CharField(max_length=3, default="CAD", validators=[validate_currency])
    # Booking policy defaults (DOMAIN.md section 4).
    slot_step_minutes = models.PositiveSmallIntegerField(default=15, validators=between(5, 240))
    minimum_notice_minutes = models.PositiveIntegerField(
        default=120, validators=between(0, 60 * 24 * 30)
    )
    same_day_booking = models.BooleanField(default=True)
    booking_horizon_days = models.PositiveSmallIntegerField(default=60, validators=between(1, 730))
    late_cancellation_hours = models.PositiveSmallIntegerField(
        default=24, validators=between(0, 24 * 14)
    )
    max_upcoming_online_bookings = models.PositiveSmallIntegerField(
        default=3, validators=between(0, 100)
    )
    cancellation_undo_minutes = models.PositiveSmallIntegerField(
        default=30,
        validators=between(0, 24 * 60),
        help_text="A booking cancelled this soon after it was made is never a late cancellation.",
    )
    one_free_consult_per_patient = models.BooleanField(default=True)
    # Notifications (DOMAIN.md section 7).
    reminder_offsets_minutes = models.JSONField(
        default=default_reminder_offsets,
        help_text="Minutes before the start at which reminders go out, e.g. [1440, 120].",
    )
    notification_grace_minutes = models.PositiveSmallIntegerField(
        default=3,
        validators=between(0, 60),
        help_text="Confirmations and change notices wait this long; an undone edit sends nothing.",
    )
    # Care plans (DOMAIN.md section 6).
    discharge_pain_max = models.PositiveSmallIntegerField(
        default=2, validators=between(0, PAIN_SCALE_MAX)
    )
    discharge_pain_consecutive = models.PositiveSmallIntegerField(
        default=2, validators=between(1, 20)
    )
    refer_back_pain_threshold = models.PositiveSmallIntegerField(
        default=6, validators=between(0, PAIN_SCALE_MAX)
    )
    # Interoperability (DOMAIN.md section 12).
    calendar_feed_patient_names = models.BooleanField(
        default=False,
        help_text=(
            "Show patients' names in providers' calendar feeds. Off: events read "
            "'Booked: <service>'. A phone's calendar is outside the clinic's control."
        ),
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "clinic settings"
        verbose_name_plural = "clinic settings"
        constraints = [
            models.CheckConstraint(condition=Q(pk=1), name="clinic_settings_singleton"),
            models.CheckConstraint(
                condition=Q(discharge_pain_max__lte=PAIN_SCALE_MAX)
                & Q(refer_back_pain_threshold__lte=PAIN_SCALE_MAX),
                name="clinic_settings_pain_on_the_scale",
            ),
            models.CheckConstraint(
                condition=Q(currency__regex=r"^[A-Z]{3}$"), name="clinic_settings_currency_code"
            ),
            models.CheckConstraint(
                condition=Q(slot_step_minutes__gte=5) & Q(booking_horizon_days__gte=1),
                name="clinic_settings_policy_positive",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} settings"

    def save(self, *args, **kwargs) -> None:
        """Always the one row. Saving the unsaved defaults ``load`` gives where the row is
        missing inserts it, and two such saves at once both try (each UPDATE found nothing):
        the later one then updates the row the first made, as two saves of the row do, where
        its refused INSERT was a 500."""
        self.pk = 1
        if not self._state.adding:
            super().save(*args, **kwargs)
            return
        using = kwargs.get("using") or "default"
        try:
            with transaction.atomic(using=using):
                super().save(*args, **kwargs)
        except IntegrityError:
            if not type(self).objects.using(using).filter(pk=1).exists():
                raise
            kwargs.pop("force_insert", None)
            super().save(*args, **kwargs)

    def clean(self) -> None:
        try:
            validate_reminder_offsets(self.reminder_offsets_minutes)
        except ValidationError as error:
            raise ValidationError({"reminder_offsets_minutes": error.error_list}) from error

    @classmethod
    def load(cls) -> "ClinicSettings":
        """The settings row (migration 0011 makes it), or its defaults unsaved where there is
        none (a flushed test database); saving them writes the row. Reading never writes: an
        insert here, inside a booking, would hold the rules token (the table's trigger) and
        the new key until that booking commits, while racing bookings that inserted their
        appointment first wait on both and the booking waits on their appointment: a
        deadlock."""
        return cls.objects.filter(pk=1).first() or cls(pk=1)


class Location(models.Model):
    """A place where care is given. Its zone drives local times; its jurisdiction drives scope."""

    name = models.CharField(max_length=120, unique=True)
    slug = models.SlugField(max_length=60, unique=True)
    address_line = models.CharField(max_length=200, blank=True)
    city = models.CharField(max_length=100, blank=True)
    region = models.CharField(max_length=100, blank=True)
    postal_code = models.CharField(max_length=20, blank=True)
    country = models.CharField(
        max_length=2,
        default="CA",
        validators=[RegexValidator(r"^[A-Z]{2}\Z", "An ISO 3166 country code such as CA.")],
    )
    phone = models.CharField(max_length=40, blank=True, validators=[validate_phone])
    email = models.EmailField(blank=True)
    timezone = models.CharField(max_length=64, validators=[validate_timezone])
    jurisdiction = models.CharField(max_length=10, validators=[validate_jurisdiction])
    currency = models.CharField(
        max_length=3,
        default="CAD",
        validators=[validate_currency],
        help_text="ISO 4217 code; service prices at this location are in it.",
    )
    is_virtual = models.BooleanField(
        default=False, help_text="Phone and video care only; no rooms to walk into."
    )
    virtual_instructions = models.TextField(
        blank=True,
        help_text="Notes for phone and video visits alike (e.g. be somewhere quiet); who calls "
        "whom, and the video link, are added per modality.",
    )
    video_url = models.URLField(
        blank=True, help_text="The link patients open to join a video visit here."
    )
    is_active = models.BooleanField(default=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=Q(currency__regex=r"^[A-Z]{3}$"), name="location_currency_iso_code"
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def zone(self) -> zoneinfo.ZoneInfo:
        return zoneinfo.ZoneInfo(self.timezone)

    def price_label(self, amount) -> str:
        """A price as patients read it here, e.g. ``120.00 USD``."""
        return f"{amount:.2f} {self.currency}"

    @property
    def address(self) -> str:
        parts = [self.address_line, self.city, self.region, self.postal_code]
        return ", ".join(p for p in parts if p)


class Room(models.Model):
    """A room or resource at a location; services ask for a kind, bookings use its capacity."""

    class Kind(models.TextChoices):
        TREATMENT = "treatment", "Treatment room"
        MASSAGE = "massage", "Massage room"
        GYM = "gym", "Gym floor"
        VIRTUAL = "virtual", "Virtual room"

    location = models.ForeignKey(Location, on_delete=models.CASCADE, related_name="rooms")
    name = models.CharField(max_length=80)
    kind = models.CharField(max_length=20, choices=Kind.choices)
    capacity = models.PositiveSmallIntegerField(default=1, validators=between(1, 500))
    is_active = models.BooleanField(default=True)

    class Meta:
        ordering = ["location__name", "name"]
        constraints = [
            models.UniqueConstraint(fields=["location", "name"], name="room_unique_name"),
            models.CheckConstraint(condition=Q(capacity__gte=1), name="room_capacity_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.location.name}: {self.name}"


class AuditEvent(models.Model):
    """Append-only record of staff reads and changes of patient and clinical data.

    The database refuses UPDATE and DELETE on this table (a trigger installed by migration), so
    not even code with a bug can rewrite history.
    """

    class Action(models.TextChoices):
        READ = "read", "Read"
        CREATE = "create", "Create"
        UPDATE = "update", "Update"
        DELETE = "delete", "Delete"
        EXPORT = "export", "Export"
        LOGIN = "login", "Log in"

    occurred_at = models.DateTimeField(auto_now_add=True, db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        related_name="+",
    )
    actor_label = models.CharField(max_length=150, blank=True)
    action = models.CharField(max_length=10, choices=Action.choices)
    object_type = models.CharField(max_length=80)
    object_id = models.CharField(max_length=64, blank=True)
    patient_id = models.BigIntegerField(null=True, blank=True, db_index=True)
    summary = models.CharField(max_length=300, blank=True)
    changes = models.JSONField(default=dict, blank=True)
    client_address = models.GenericIPAddressField(null=True, blank=True)
    request_id = models.CharField(max_length=64, blank=True)
    channel = models.CharField(max_length=20, blank=True, help_text="api, admin, task, command")

    class Meta:
        ordering = ["-occurred_at", "-id"]
        indexes = [models.Index(fields=["object_type", "object_id"])]

    def __str__(self) -> str:
        return (
            f"{self.occurred_at:%Y-%m-%d %H:%M} {self.actor_label} {self.action} {self.object_type}"
        )


class RulesToken(models.Model):
    """One row whose ``value`` changes, to a new random value, whenever a table the booking
    rules are read from changes: database triggers on those tables replace it in the changing
    transaction (``clinic.rules_cache``). Never written by the application itself."""

    value = models.CharField(max_length=36)

    class Meta:
        constraints = [models.CheckConstraint(condition=Q(pk=1), name="rules_token_singleton")]

    def __str__(self) -> str:
        return self.value
