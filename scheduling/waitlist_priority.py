"""Who goes first on the waitlist when the clinic puts care-plan patients first.

``scheduling`` knows nothing of care plans, so the app that does registers a source from its
``AppConfig.ready``: a function from the moment of matching to a queryset of the patient ids to
offer first (``values("patient_id")`` or alike). The matcher orders its one query of waiting
entries by it, so the database reads only the entries it could offer to.
"""

from collections.abc import Callable
from datetime import datetime

from django.db.models import Q, QuerySet

PrioritySource = Callable[[datetime], QuerySet]
_SOURCES: dict[str, PrioritySource] = {}


def register_priority_source(name: str, patient_ids: PrioritySource) -> None:
    """Idempotent per name (``ready`` may run more than once in tests)."""
    _SOURCES[name] = patient_ids


def priority_patients(now: datetime) -> Q | None:
    """A condition on a ``patient_id`` field: some registered source puts the patient first;
    None when no source is registered."""
    condition = None
    for source in _SOURCES.values():
        found = Q(patient_id__in=source(now))
        condition = found if condition is None else condition | found
    return condition
