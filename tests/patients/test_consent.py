"""Consent per purpose: derived from the latest record, withdrawn in one click, history kept."""

import time
from unittest import mock

import pytest
from django.core import signing

from clinic.errors import NotFoundProblem, ValidationProblem
from clinic.models import AuditEvent
from patients import consent_texts
from patients.models import Consent
from patients.selectors import current_consents, has_consent
from patients.services import record_consents
from patients.tokens import make_unsubscribe_token, read_unsubscribe_token, unsubscribe_url
from tests.factories.patients import PatientFactory, grant_consents, staff_user

pytestmark = pytest.mark.django_db
URL = "/api/v1/public/unsubscribe/"


def test_current_state_is_the_latest_record_and_none_means_no():
    patient = PatientFactory()
    assert current_consents(patient) == {
        "reminders": False,
        "care_plans": False,
        "marketing": False,
    }
    record_consents(patient, choices={"reminders": True, "marketing": True}, source="online_form")
    record_consents(patient, choices={"marketing": False}, source="staff")
    assert current_consents(patient) == {"reminders": True, "care_plans": False, "marketing": False}
    assert has_consent(patient, "reminders")
    assert not has_consent(patient, "marketing")
    assert Consent.objects.filter(patient=patient, purpose="marketing").count() == 2


def test_a_record_keeps_the_wording_shown_its_version_source_and_address():
    patient = PatientFactory()
    record_consents(
        patient,
        choices={"reminders": True},
        source="online_form",
        client_address="203.0.113.9",
    )
    consent = Consent.objects.get(patient=patient)
    assert consent.wording == consent_texts.WORDING[consent_texts.CURRENT_VERSION]["reminders"]
    assert consent.wording_version == consent_texts.CURRENT_VERSION
    assert consent.source == "online_form"
    assert consent.client_address == "203.0.113.9"


def test_repeating_the_same_decision_under_the_same_wording_adds_no_record():
    patient = PatientFactory()
    grant_consents(patient, "reminders")
    grant_consents(patient, "reminders")
    assert Consent.objects.filter(patient=patient).count() == 1


def test_unknown_purpose_source_or_wording_version_is_refused_naming_the_field():
    patient = PatientFactory()
    with pytest.raises(ValidationProblem) as err:
        record_consents(patient, choices={"sms": True}, source="online_form")
    assert err.value.errors[0].field == "consent.sms"
    with pytest.raises(ValidationProblem) as err:
        record_consents(patient, choices={"reminders": True}, source="fax")
    assert err.value.errors[0].field == "source"
    with pytest.raises(ValidationProblem) as err:
        record_consents(
            patient, choices={"reminders": True}, source="staff", wording_version="1999"
        )
    assert err.value.errors[0].field == "wording_version"
    assert not Consent.objects.exists()


def test_staff_recording_consent_leaves_an_audit_row():
    patient = PatientFactory()
    desk = staff_user("desk", "front_desk")
    record_consents(patient, choices={"marketing": True}, source="staff", actor=desk)
    event = AuditEvent.objects.get(object_type="patients.Consent")
    assert event.actor == desk
    assert event.patient_id == patient.pk
    assert event.changes == {"marketing": True}


def test_get_shows_what_the_link_withdraws_and_changes_nothing(client):
    patient = PatientFactory(email="ada@example.org")
    grant_consents(patient, "reminders")
    response = client.get(URL, {"token": make_unsubscribe_token(patient)})
    assert response.status_code == 200
    body = response.json()
    assert body["purpose"] == "reminders"
    assert body["granted"] is True
    assert body["email"] == "a***@example.org"
    assert has_consent(patient, "reminders")


def test_withdrawal_through_the_link_takes_effect_at_once_and_history_keeps_both(client):
    patient = PatientFactory()
    grant_consents(patient, "reminders", "marketing")
    response = client.post(
        f"{URL}?token={make_unsubscribe_token(patient)}", REMOTE_ADDR="198.51.100.7"
    )
    assert response.status_code == 200
    assert response.json()["granted"] is False
    assert not has_consent(patient, "reminders")
    assert has_consent(patient, "marketing")
    history = list(
        Consent.objects.filter(patient=patient, purpose="reminders").order_by("recorded_at", "id")
    )
    assert [(c.granted, c.source) for c in history] == [
        (True, "online_form"),
        (False, "email_link"),
    ]
    assert history[1].client_address == "198.51.100.7"


def test_rfc8058_one_click_post_with_a_form_body_withdraws(client):
    patient = PatientFactory()
    grant_consents(patient, "reminders")
    response = client.post(
        unsubscribe_url(patient).split("127.0.0.1:8000", 1)[-1],
        data="List-Unsubscribe=One-Click",
        content_type="application/x-www-form-urlencoded",
    )
    assert response.status_code == 200
    assert not has_consent(patient, "reminders")


def test_a_second_click_adds_no_second_withdrawal(client):
    patient = PatientFactory()
    grant_consents(patient, "reminders")
    token = make_unsubscribe_token(patient)
    client.post(f"{URL}?token={token}")
    client.post(f"{URL}?token={token}")
    assert Consent.objects.filter(patient=patient, granted=False).count() == 1


def test_a_marketing_link_withdraws_marketing_only(client):
    patient = PatientFactory()
    grant_consents(patient)
    client.post(f"{URL}?token={make_unsubscribe_token(patient, 'marketing')}")
    assert not has_consent(patient, "marketing")
    assert has_consent(patient, "reminders")
    assert has_consent(patient, "care_plans")


@pytest.mark.parametrize("token", ["", "garbage", "eyJwIjoxLCJ1IjoicmVtaW5kZXJzIn0:forged"])
def test_a_bad_token_is_a_404_problem(client, token):
    response = client.post(f"{URL}?token={token}")
    assert response.status_code == 404
    assert response["Content-Type"] == "application/problem+json"
    assert response.json()["type"].endswith("/not-found")


def test_a_token_signed_for_another_purpose_of_the_site_is_refused():
    patient = PatientFactory()
    other_salt = signing.Signer(salt="scheduling.manage").sign_object(
        {"p": patient.pk, "u": "reminders"}
    )
    with pytest.raises(NotFoundProblem):
        read_unsubscribe_token(other_salt)


def test_links_keep_working_years_later():
    patient = PatientFactory()
    token = make_unsubscribe_token(patient)
    with mock.patch("time.time", return_value=time.time() + 5 * 365 * 24 * 3600):
        assert read_unsubscribe_token(token) == (patient, "reminders")
