"""Reads about patients: who has an e-mail address, the current consent state and its history."""

from django.db.models import OuterRef, QuerySet, Subquery, Value
from django.db.models.functions import Lower
from django.db.models.lookups import Exact

from patients.models import Consent, Patient


def email_is(email: str) -> Exact:
    """A filter for patients with this e-mail address, case folded the way the unique index
    ``patient_unique_email_not_archived`` is (``LOWER`` on both sides), so PostgreSQL finds the
    patient through it. Django's ``email__iexact`` compiles to ``UPPER(...)``, which no index
    serves: every online booking then read the whole patient table."""
    return Exact(Lower("email"), Lower(Value(email)))


def consent_history(patient: Patient) -> QuerySet:
    """Every consent record of the patient, newest first."""
    return Consent.objects.filter(patient=patient).order_by("-recorded_at", "-id")


def current_consents(patient: Patient) -> dict[str, bool]:
    """The state per purpose, from the latest record of each; no record means not granted."""
    state = dict.fromkeys(Consent.Purpose.values, False)
    for purpose, granted in (
        Consent.objects.filter(patient=patient)
        .order_by("recorded_at", "id")
        .values_list("purpose", "granted")
    ):
        state[purpose] = granted
    return state


def current_consents_from(records) -> dict[str, bool]:
    """The same as ``current_consents`` from already-loaded records (prefetch), in any order."""
    state = dict.fromkeys(Consent.Purpose.values, False)
    for record in sorted(records, key=lambda c: (c.recorded_at, c.pk)):
        state[record.purpose] = record.granted
    return state


def _latest(purpose: str) -> QuerySet:
    """The consent records for ``purpose``, the one that decides first."""
    return Consent.objects.filter(purpose=purpose).order_by("-recorded_at", "-id")


def has_consent(patient: Patient, purpose: str) -> bool:
    """Is ``purpose`` granted now? The latest record decides; none means no."""
    return bool(_latest(purpose).filter(patient=patient).values_list("granted", flat=True).first())


def consent_column(purpose: str, patient_field: str = "patient") -> Subquery:
    """``has_consent`` as a column of another query whose rows have a patient (``patient_field``
    of the outer row): NULL, read as no, when there is no record. Lets a sender read its subject
    and the consent in one round trip, decided by the same rule."""
    latest = _latest(purpose).filter(patient=OuterRef(patient_field))
    return Subquery(latest.values("granted")[:1])
