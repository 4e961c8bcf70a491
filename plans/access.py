"""A role on a care plan is real care: its lead and its maintenance owner read the patient's
records (``patients.access`` asks through ``register_care_source``)."""

from datetime import datetime

from django.db.models import Q, QuerySet

from plans.models import CarePlan


def plan_role_patient_ids(provider, now: datetime) -> QuerySet:
    """Patients whose care plans ``provider`` leads or owns in maintenance, as ``patient_id``."""
    return CarePlan.objects.filter(Q(lead=provider) | Q(maintenance_owner=provider)).values(
        "patient_id"
    )
