"""The patients API: search, contact details for front desk, clinical parts for clinicians."""

import pytest

from patients.models import Patient
from tests.conftest import client_for
from tests.factories.patients import (
    PatientFactory,
    ReferralFactory,
    clinician_user,
    grant_consents,
    link_patient,
)

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("term", "expected"),
    [("lovelace", ["ada"]), ("ADA@EXAMPLE", ["ada"]), ("0100", ["ada"]), ("gr", ["grace"])],
)
def test_search_by_name_email_or_phone(front_desk_client, term, expected):
    PatientFactory(
        first_name="Ada", last_name="Lovelace", email="ada@example.org", phone="+1 905 555 0100"
    )
    PatientFactory(
        first_name="Grace", last_name="Hopper", email="grace@example.org", phone="+1 905 555 0200"
    )
    response = front_desk_client.get("/api/v1/patients/", {"search": term})
    names = [p["first_name"].lower() for p in response.json()["results"]]
    assert names == expected


def test_front_desk_gets_contact_details_and_consent_but_no_clinical_parts(front_desk_client):
    patient = PatientFactory()
    grant_consents(patient, "reminders")
    ReferralFactory(patient=patient)
    body = front_desk_client.get(f"/api/v1/patients/{patient.pk}/").json()
    assert "referrals" not in body
    assert body["consents"] == {"reminders": True, "care_plans": False, "marketing": False}
    assert body["email"] == patient.email


def test_a_clinician_lists_only_their_patients_with_referrals():
    mine, _other = PatientFactory(), PatientFactory()
    user = clinician_user("physio-list")
    link_patient(mine, user.provider)
    ReferralFactory(patient=mine, from_provider=user.provider)
    body = client_for(user).get("/api/v1/patients/").json()
    assert [p["id"] for p in body["results"]] == [mine.pk]
    assert len(body["results"][0]["referrals"]) == 1


def test_the_patient_list_does_not_grow_queries_with_its_length(
    manager_client, django_assert_max_num_queries
):
    for patient in PatientFactory.create_batch(3):
        grant_consents(patient)
        ReferralFactory(patient=patient)
    manager_client.get("/api/v1/patients/")
    with django_assert_max_num_queries(10) as few:
        manager_client.get("/api/v1/patients/")
    for patient in PatientFactory.create_batch(12):
        grant_consents(patient)
        ReferralFactory(patient=patient)
    with django_assert_max_num_queries(len(few.captured_queries)):
        response = manager_client.get("/api/v1/patients/")
    assert response.json()["count"] == 15


def test_staff_cannot_create_a_second_record_for_a_known_email(front_desk_client):
    PatientFactory(email="dup@example.org")
    response = front_desk_client.post(
        "/api/v1/patients/",
        {"first_name": "D", "last_name": "Up", "email": "DUP@example.org"},
        format="json",
    )
    assert response.status_code == 409
    assert response.json()["type"].endswith("/duplicate-patient")
    assert response.json()["errors"][0]["field"] == "email"


def test_changing_an_email_to_one_in_use_is_a_409_not_a_500(front_desk_client):
    PatientFactory(email="taken@example.org")
    patient = PatientFactory(email="free@example.org")
    response = front_desk_client.patch(
        f"/api/v1/patients/{patient.pk}/", {"email": "taken@example.org"}, format="json"
    )
    assert response.status_code == 409
    patient.refresh_from_db()
    assert patient.email == "free@example.org"


def test_archiving_frees_the_email_for_a_new_record(front_desk_client):
    patient = PatientFactory(email="moved@example.org")
    front_desk_client.patch(
        f"/api/v1/patients/{patient.pk}/", {"status": "archived"}, format="json"
    )
    response = front_desk_client.post(
        "/api/v1/patients/",
        {"first_name": "M", "last_name": "Oved", "email": "moved@example.org"},
        format="json",
    )
    assert response.status_code == 201
    assert Patient.objects.filter(email="moved@example.org").count() == 2


def test_staff_record_consent_given_on_the_phone(front_desk_client, front_desk_user):
    patient = PatientFactory()
    response = front_desk_client.post(
        f"/api/v1/patients/{patient.pk}/consents/",
        {"choices": {"reminders": True}},
        format="json",
    )
    assert response.status_code == 201
    history = front_desk_client.get(f"/api/v1/patients/{patient.pk}/consents/").json()
    assert history[0]["source"] == "staff"
    assert history[0]["recorded_by"] == front_desk_user.username
