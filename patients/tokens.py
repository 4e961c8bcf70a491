"""Signed links for e-mails: one-click unsubscribe.

Tokens are signed with the secret key and a salt of their own, carry no expiry (an unsubscribe
link in a months-old e-mail must still work) and no personal data beyond the patient's id.
"""

from urllib.parse import urlencode

from django.conf import settings
from django.core import signing
from django.urls import reverse

from clinic.errors import NotFoundProblem
from patients.models import Consent, Patient

UNSUBSCRIBE_SALT = "patients.unsubscribe"


def make_unsubscribe_token(patient: Patient, purpose: str = "reminders") -> str:
    """A token that withdraws ``purpose`` for ``patient`` when presented to the unsubscribe API."""
    if purpose not in Consent.Purpose.values:
        raise ValueError(f"Unknown consent purpose {purpose!r}.")
    return signing.Signer(salt=UNSUBSCRIBE_SALT).sign_object({"p": patient.pk, "u": purpose})


def read_unsubscribe_token(token: str) -> tuple[Patient, str]:
    """The patient and purpose of a valid token; a forged, damaged or stale one is a 404."""
    try:
        data = signing.Signer(salt=UNSUBSCRIBE_SALT).unsign_object(token or "")
        patient_id, purpose = int(data["p"]), str(data["u"])
    except (signing.BadSignature, KeyError, TypeError, ValueError):
        raise NotFoundProblem("This unsubscribe link is not valid.") from None
    if purpose not in Consent.Purpose.values:
        raise NotFoundProblem("This unsubscribe link is not valid.")
    patient = Patient.objects.filter(pk=patient_id).first()
    if patient is None:
        raise NotFoundProblem("This unsubscribe link is not valid.")
    return patient, purpose


def unsubscribe_url(patient: Patient, purpose: str = "reminders") -> str:
    """The absolute link to put in an e-mail body and its ``List-Unsubscribe`` header: the
    unsubscribe page, which also takes the RFC 8058 one-click POST."""
    query = urlencode({"token": make_unsubscribe_token(patient, purpose)})
    return f"{settings.PUBLIC_BASE_URL}{reverse('unsubscribe')}?{query}"
