"""Consent ticked on the anonymous booking or call-back form: it speaks for a person only when
it created their record; for a known e-mail it may withdraw but never grant."""

import pytest

from patients.models import Patient
from patients.selectors import current_consents
from tests.factories.patients import PatientFactory, grant_consents, withdraw_consents
from tests.scheduling.conftest import local, next_week
from tests.scheduling.test_public_api import body, book

pytestmark = pytest.mark.django_db


@pytest.fixture
def start():
    return local(next_week(), "10:00")


def test_a_new_person_booking_online_gets_the_consents_they_ticked(
    api_client, physio, assessment, location, start
):
    response = book(api_client, body(assessment, location, start, provider=physio))
    assert response.status_code == 201, response.content
    patient = Patient.objects.get(email="ada@example.org")
    assert current_consents(patient) == {
        "reminders": True,
        "care_plans": True,
        "marketing": False,
    }


def test_a_stranger_using_a_known_email_cannot_grant_consent_in_its_owners_name(
    api_client, physio, assessment, location, start
):
    owner = PatientFactory(email="ada@example.org", status="active")
    withdraw_consents(owner)
    data = body(assessment, location, start, provider=physio)
    data["consent"] = {"reminders": True, "care_plans": True, "marketing": True}
    assert book(api_client, data).status_code == 201
    assert current_consents(owner) == {
        "reminders": False,
        "care_plans": False,
        "marketing": False,
    }


def test_a_known_person_may_still_withdraw_from_the_form(
    api_client, physio, assessment, location, start
):
    owner = PatientFactory(email="ada@example.org", status="active")
    grant_consents(owner)
    data = body(assessment, location, start, provider=physio)
    data["consent"] = {"reminders": False, "care_plans": True, "marketing": True}
    assert book(api_client, data).status_code == 201
    assert current_consents(owner)["reminders"] is False
    assert current_consents(owner)["marketing"] is True


def test_a_callback_request_cannot_grant_marketing_for_a_known_email(api_client, db):
    owner = PatientFactory(email="grace@example.org", status="active")
    withdraw_consents(owner, "marketing")
    response = api_client.post(
        "/api/v1/public/callback-requests/",
        {
            "name": "Grace Hopper",
            "phone": "+1 905 555 0101",
            "email": "grace@example.org",
            "consent": {"marketing": True},
        },
        format="json",
    )
    assert response.status_code == 201, response.content
    assert current_consents(owner)["marketing"] is False
