"""A series of recurring visits (DOMAIN.md 11): the rule it was booked by and what it books.

Each visit is an ordinary ``Appointment`` linked here by ``Appointment.series``; the series row
keeps the rule (an RFC 5545 RRULE over local wall-clock time) so the desk can read how it was
planned and change "this and the following" visits later. ``care_plan_id`` is a plain id: the
plan it was proposed from lives in ``plans``, which scheduling does not import.
"""

from django.conf import settings
from django.db import models
from django.db.models import Q

# A series books at most this many visits (a year of weekly care); more is a mistake.
MAX_SERIES_VISITS = 52
# The last visit is at most this many days after the first.
MAX_SERIES_DAYS = 366


class Series(models.Model):
    patient = models.ForeignKey(
        "patients.Patient", on_delete=models.PROTECT, related_name="visit_series"
    )
    provider = models.ForeignKey(
        "providers.Provider", on_delete=models.PROTECT, related_name="visit_series"
    )
    service = models.ForeignKey(
        "scheduling.Service", on_delete=models.PROTECT, related_name="visit_series"
    )
    location = models.ForeignKey(
        "clinic.Location", on_delete=models.PROTECT, related_name="visit_series"
    )
    care_plan_id = models.PositiveBigIntegerField(
        null=True, blank=True, help_text="The care plan whose session frequency proposed it."
    )
    first_start = models.DateTimeField(help_text="The first planned visit (UTC).")
    by_weekday = models.CharField(max_length=20, help_text="RFC 5545 BYDAY codes, e.g. MO,TH.")
    count = models.PositiveSmallIntegerField(null=True, blank=True)
    until = models.DateField(null=True, blank=True, help_text="Last local date, inclusive.")
    rrule = models.CharField(max_length=200, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "series"
        constraints = [
            models.CheckConstraint(
                condition=(Q(count__isnull=False) & Q(until__isnull=True))
                | (Q(count__isnull=True) & Q(until__isnull=False)),
                name="series_count_or_until",
            ),
            models.CheckConstraint(
                condition=Q(count__isnull=True)
                | (Q(count__gte=1) & Q(count__lte=MAX_SERIES_VISITS)),
                name="series_count_bounded",
            ),
        ]

    def __str__(self) -> str:
        local = self.first_start.astimezone(self.location.zone)
        return f"Series {self.pk}: {self.service.name} from {local:%Y-%m-%d %H:%M %Z}"
