"""Patients. Consent, referrals and the care relationships that gate clinical access live here
too; this app knows nothing of scheduling or care plans."""

from django.db import models
from django.db.models import Q
from django.db.models.functions import Lower

from clinic.models import Location


class Patient(models.Model):
    class Status(models.TextChoices):
        LEAD = "lead", "Lead"
        ACTIVE = "active", "Active"
        DISCHARGED = "discharged", "Discharged"
        ARCHIVED = "archived", "Archived"

    first_name = models.CharField(max_length=100)
    last_name = models.CharField(max_length=100)
    email = models.EmailField()
    phone = models.CharField(max_length=40, blank=True)
    date_of_birth = models.DateField(null=True, blank=True)
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
        ]
        indexes = [models.Index(Lower("last_name"), name="patient_last_name_ci")]

    def __str__(self) -> str:
        return f"{self.first_name} {self.last_name}"

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}"
