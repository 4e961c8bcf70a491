"""Patients. Consent, referrals, care relationships and the grants of clinical access live here
too; this app knows nothing of scheduling or care plans."""

import datetime

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.db.models.functions import Lower
from django.utils import timezone

from clinic.models import Location
from clinic.validators import validate_date_of_birth, validate_phone

# The earliest birth date the table stores (``patient_born_after_1850``).
BIRTH_DATE_FLOOR = datetime.date(1850, 1, 1)


class Patient(models.Model):
    class Status(models.TextChoices):
        LEAD = "lead", "Lead"
        ACTIVE = "active", "Active"
        DISCHARGED = "discharged", "Discharged"
        ARCHIVED = "archived", "Archived"

    first_name = models.CharField(max_length=100)
    last_name = models.CharField(max_length=100)
    email = models.EmailField()
    phone = models.CharField(max_length=40, blank=True, validators=[validate_phone])
    date_of_birth = models.DateField(null=True, blank=True, validators=[validate_date_of_birth])
    preferred_location = models.ForeignKey(
        Location, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    preferred_language = models.CharField(max_length=10, default="en")
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.LEAD)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["last_name", "first_name", "id"]
        constraints = [
            # One person, one record: the same e-mail among non-archived patients is one patient.
            models.UniqueConstraint(
                Lower("email"),
                condition=~Q(status="archived"),
                name="patient_unique_email_not_archived",
            ),
            # A fixed floor under the 130-year rule (validate_date_of_birth) for any write that
            # skips the validators.
            models.CheckConstraint(
                condition=Q(date_of_birth__gte=BIRTH_DATE_FLOOR),
                name="patient_born_after_1850",
            ),
        ]
        indexes = [models.Index(Lower("last_name"), name="patient_last_name_ci")]

    def __str__(self) -> str:
        return f"{self.first_name} {self.last_name}"

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}"


class Consent(models.Model):
    """One consent decision for one purpose. Rows are never edited: the current state of a
    purpose is the latest row, and the history shows what the person agreed to and when."""

    class Purpose(models.TextChoices):
        REMINDERS = "reminders", "Appointment reminders"
        CARE_PLANS = "care_plans", "Exercise plans and plans of care by e-mail"
        MARKETING = "marketing", "Marketing"

    class Source(models.TextChoices):
        ONLINE_FORM = "online_form", "Online form"
        STAFF = "staff", "Staff"
        EMAIL_LINK = "email_link", "E-mail link"

    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="consents")
    purpose = models.CharField(max_length=20, choices=Purpose.choices)
    granted = models.BooleanField()
    recorded_at = models.DateTimeField(default=timezone.now)
    source = models.CharField(max_length=20, choices=Source.choices)
    wording = models.TextField(blank=True, help_text="The exact sentence shown to the person.")
    wording_version = models.CharField(max_length=20, blank=True)
    client_address = models.GenericIPAddressField(null=True, blank=True)
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )

    class Meta:
        ordering = ["-recorded_at", "-id"]
        indexes = [
            models.Index(fields=["patient", "purpose", "-recorded_at"], name="consent_latest"),
        ]

    def __str__(self) -> str:
        verdict = "granted" if self.granted else "withdrawn"
        return f"{self.get_purpose_display()} {verdict} {self.recorded_at:%Y-%m-%d %H:%M}"


class CareRelationship(models.Model):
    """When and how a provider's care of a patient began (plans and referrals note it).

    Clinical access is derived from the facts of care each time it is asked
    (``patients.access``), so a booking, a cancellation or a declined referral cannot leave a
    stale row behind. Of these rows only those of source ``care_plan`` count, for a former
    care-plan role (a plan's lead who handed it on keeps access to what they wrote).
    """

    class Source(models.TextChoices):
        APPOINTMENT = "appointment", "Appointment"
        CARE_PLAN = "care_plan", "Care plan"
        REFERRAL = "referral", "Referral"
        STAFF = "staff", "Recorded by staff"

    patient = models.ForeignKey(
        Patient, on_delete=models.CASCADE, related_name="care_relationships"
    )
    provider = models.ForeignKey(
        "providers.Provider", on_delete=models.CASCADE, related_name="care_relationships"
    )
    source = models.CharField(max_length=20)
    first_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["patient", "first_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["patient", "provider"], name="care_relationship_unique"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.provider} treats {self.patient}"


class Referral(models.Model):
    """A provider asks another discipline (optionally a named provider) to see a patient."""

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        ACCEPTED = "accepted", "Accepted"
        COMPLETED = "completed", "Completed"
        DECLINED = "declined", "Declined"

    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="referrals")
    from_provider = models.ForeignKey(
        "providers.Provider", on_delete=models.PROTECT, related_name="referrals_sent"
    )
    to_discipline = models.ForeignKey(
        "providers.Discipline", on_delete=models.PROTECT, related_name="referrals"
    )
    to_provider = models.ForeignKey(
        "providers.Provider",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="referrals_received",
    )
    reason = models.TextField()
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.OPEN)
    created_at = models.DateTimeField(default=timezone.now)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    status_changed_at = models.DateTimeField(default=timezone.now)
    status_changed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(condition=~Q(reason=""), name="referral_reason_required"),
            models.CheckConstraint(
                condition=Q(to_provider__isnull=True) | ~Q(to_provider=models.F("from_provider")),
                name="referral_not_to_self",
            ),
        ]
        indexes = [models.Index(fields=["status", "to_discipline"], name="referral_queue")]

    def __str__(self) -> str:
        return f"{self.patient} -> {self.to_discipline} ({self.get_status_display()})"


class ReferralStatusChange(models.Model):
    """Who moved a referral to which status, when, and why: the referral's history."""

    referral = models.ForeignKey(Referral, on_delete=models.CASCADE, related_name="history")
    from_status = models.CharField(max_length=12, choices=Referral.Status.choices, blank=True)
    to_status = models.CharField(max_length=12, choices=Referral.Status.choices)
    changed_at = models.DateTimeField(default=timezone.now)
    changed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    note = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["changed_at", "id"]

    def __str__(self) -> str:
        return f"{self.from_status or 'new'} -> {self.to_status}"


class AccessGrant(models.Model):
    """A manager lets a provider read a patient's clinical records, for a stated reason.

    For care the system cannot see (a colleague covering a caseload, a paper referral). Revoked,
    never deleted, so the audit trail of who could read what stays whole.
    """

    patient = models.ForeignKey(Patient, on_delete=models.CASCADE, related_name="access_grants")
    provider = models.ForeignKey(
        "providers.Provider", on_delete=models.CASCADE, related_name="access_grants"
    )
    reason = models.CharField(max_length=300)
    granted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    granted_at = models.DateTimeField(default=timezone.now)
    ends_at = models.DateTimeField(null=True, blank=True, help_text="Empty: until revoked.")
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )

    class Meta:
        ordering = ["-granted_at", "-id"]
        constraints = [
            models.CheckConstraint(condition=~Q(reason=""), name="access_grant_reason_required"),
            models.CheckConstraint(
                condition=Q(ends_at__isnull=True) | Q(ends_at__gt=models.F("granted_at")),
                name="access_grant_ends_after_start",
            ),
        ]
        indexes = [models.Index(fields=["provider", "patient"], name="access_grant_provider")]

    def __str__(self) -> str:
        return f"{self.provider} may read {self.patient}"


class EmergencyAccess(models.Model):
    """Break the glass: a clinician opened a record they have no care relationship with.

    The reason is required and the row is shown to managers; access lasts
    ``CLINICAL_EMERGENCY_ACCESS_HOURS`` from ``opened_at``. Rows are never edited.
    """

    patient = models.ForeignKey(
        Patient, on_delete=models.PROTECT, related_name="emergency_accesses"
    )
    provider = models.ForeignKey(
        "providers.Provider", on_delete=models.PROTECT, related_name="emergency_accesses"
    )
    opened_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    reason = models.CharField(max_length=300)
    opened_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()

    class Meta:
        ordering = ["-opened_at", "-id"]
        verbose_name_plural = "emergency accesses"
        constraints = [
            models.CheckConstraint(
                condition=~Q(reason=""), name="emergency_access_reason_required"
            ),
            models.CheckConstraint(
                condition=Q(expires_at__gt=models.F("opened_at")),
                name="emergency_access_expires_after_opening",
            ),
        ]
        indexes = [models.Index(fields=["provider", "expires_at"], name="emergency_access_open")]

    def __str__(self) -> str:
        return f"{self.provider} broke the glass for {self.patient} ({self.opened_at:%Y-%m-%d})"
