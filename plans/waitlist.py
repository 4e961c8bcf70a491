"""Care-plan patients first on the scheduling waitlist (when the clinic turns that on)."""

from datetime import datetime

from plans.models import CarePlan

OPEN_PHASES = (
    CarePlan.Phase.ASSESSMENT,
    CarePlan.Phase.REHABILITATION,
    CarePlan.Phase.MAINTENANCE,
)


def patients_in_care(patient_ids: set[int], now: datetime) -> set[int]:
    """Those of ``patient_ids`` with a plan not yet closed (one query)."""
    return set(
        CarePlan.objects.filter(patient_id__in=patient_ids, phase__in=OPEN_PHASES)
        .values_list("patient_id", flat=True)
        .distinct()
    )
