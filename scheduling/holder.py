"""The holder of a booking: whoever presents its reference with its secret manage token.

One check for the widget's API and the patient's pages: a wrong token and an unknown reference
give the same 404 through the same code path (constant-time compare against a dummy token), so
neither tells a guesser which references exist.
"""

import secrets

from clinic.errors import FieldProblem, NotFoundProblem
from scheduling.models import Appointment

_DUMMY_TOKEN = secrets.token_urlsafe(32)


def booking_for_holder(reference: str, token: str) -> Appointment:
    """The booking when reference and token match; otherwise the one 404 for both cases."""
    appointment = (
        Appointment.objects.select_related("service", "location", "provider", "patient")
        .filter(reference=(reference or "").strip().upper())
        .first()
    )
    expected = appointment.manage_token if appointment is not None else _DUMMY_TOKEN
    if not secrets.compare_digest(expected.encode(), (token or "").encode()) or not appointment:
        raise NotFoundProblem(
            "No booking with this reference and token.",
            [FieldProblem("token", "not_found", "Check the link in your confirmation e-mail.")],
        )
    return appointment
