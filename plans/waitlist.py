"""Care-plan patients first on the scheduling waitlist (when the clinic turns that on)."""

from datetime import datetime

from django.db.models import QuerySet

from plans.models import CarePlan

OPEN_PHASES = (
    CarePlan.Phase.ASSESSMENT,
    CarePlan.Phase.REHABILITATION,
    CarePlan.Phase.MAINTENANCE,
)


def patients_in_care(now: datetime) -> QuerySet:
    """The ids of patients with a plan not yet closed, as a subquery for the matcher's order."""
    return CarePlan.objects.filter(phase__in=OPEN_PHASES).values("patient_id")
