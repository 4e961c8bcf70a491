"""Reads about patients: the current consent state and its history."""

from django.db.models import QuerySet

from patients.models import Consent, Patient


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


def has_consent(patient: Patient, purpose: str) -> bool:
    """Is ``purpose`` granted now? The latest record decides; none means no."""
    latest = (
        Consent.objects.filter(patient=patient, purpose=purpose)
        .order_by("-recorded_at", "-id")
        .values_list("granted", flat=True)
        .first()
    )
    return bool(latest)
