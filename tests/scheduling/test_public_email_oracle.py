"""Public answers never tell whether an e-mail belongs to a patient (issue 14, item 4): the same
request gets the same status and the same problem for a known and an unknown address. The one
difference API.md requires, "free consult already used", is tested with the free consult."""

import pytest

from patients.models import Patient
from scheduling.models import Appointment, CallbackRequest
from tests.factories.patients import PatientFactory
from tests.scheduling.conftest import local, next_week
from tests.scheduling.test_public_api import body, book

pytestmark = pytest.mark.django_db

KNOWN, STRANGER = "known@example.org", "stranger@example.org"


def _answer(response) -> tuple:
    data = response.json()
    if response.status_code == 201:
        return 201, sorted(data)
    return response.status_code, data["type"], data["detail"], data.get("errors")


@pytest.mark.parametrize(
    "consent",
    [
        {"reminders": True, "newsletter": True},  # a purpose the clinic does not ask about
        {"reminders": True, "marketing": True},
        {},
    ],
    ids=["unknown-purpose", "granting", "none"],
)
def test_a_public_booking_answers_alike_for_a_known_and_an_unknown_email(
    api_client, physio, assessment, location, consent
):
    PatientFactory(email=KNOWN)
    answers = [
        _answer(
            book(
                api_client,
                body(assessment, location, local(next_week(), f"{hour}:00"), physio, email=email)
                | {"consent": consent},
            )
        )
        for hour, email in ((10, KNOWN), (12, STRANGER))
    ]
    assert answers[0] == answers[1]
    if "newsletter" in consent:
        assert answers[0][0] == 422
        assert not Appointment.objects.exists()
        assert not Patient.objects.filter(email=STRANGER).exists(), "nothing half-written"


def test_a_call_back_answers_alike_for_a_known_and_an_unknown_email(api_client):
    PatientFactory(email=KNOWN)
    answers = []
    for email in (KNOWN, STRANGER):
        response = api_client.post(
            "/api/v1/public/callback-requests/",
            {
                "name": "Ada Lovelace",
                "phone": "+1 905 555 0100",
                "email": email,
                "consent": {"reminders": True, "newsletter": True},
            },
            format="json",
        )
        answers.append((response.status_code, sorted(response.json())))
    assert answers[0] == answers[1]
    assert CallbackRequest.objects.count() == 2


def test_a_call_back_with_a_name_too_long_to_store_answers_alike_for_a_known_and_an_unknown_email(
    api_client,
):
    """One word of 150 letters fits the form (200) but not a patient's first name (100): a
    known e-mail was matched (201) while a stranger's hit the database's refusal."""
    PatientFactory(email=KNOWN)
    answers = []
    for email in (KNOWN, STRANGER):
        response = api_client.post(
            "/api/v1/public/callback-requests/",
            {"name": "A" * 150, "phone": "+1 905 555 0100", "email": email, "consent": {}},
            format="json",
        )
        answers.append(_answer(response))
    assert answers[0] == answers[1]
    assert answers[0][0] == 422
    assert [e["field"] for e in answers[0][3]] == ["name"]
    assert CallbackRequest.objects.count() == 0
