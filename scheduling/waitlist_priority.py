"""Who goes first on the waitlist when the clinic puts care-plan patients first.

``scheduling`` knows nothing of care plans, so the app that does registers a source from its
``AppConfig.ready``: a function from a set of patient ids to the ids among them to offer first.
"""

from collections.abc import Callable
from datetime import datetime

PrioritySource = Callable[[set[int], datetime], set[int]]
_SOURCES: dict[str, PrioritySource] = {}


def register_priority_source(name: str, patient_ids: PrioritySource) -> None:
    """Idempotent per name (``ready`` may run more than once in tests)."""
    _SOURCES[name] = patient_ids


def priority_patient_ids(patient_ids: set[int], now: datetime) -> set[int]:
    """The patients, among ``patient_ids``, some registered source puts first."""
    first: set[int] = set()
    for source in _SOURCES.values():
        first |= source(patient_ids, now)
    return first
