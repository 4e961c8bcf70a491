"""A claim is an online booking, so it gives what an online booking of the service must give
(``scheduling.requirements.required_fields``: the patient's date of birth and the reason); a
claim without them is a 422 naming the field, books nothing and keeps the hold."""

import datetime

import pytest

from clinic.celery import app as celery_app
from notifications import services as ledger
from scheduling.models import Appointment, WaitlistEntry, WaitlistOffer
from scheduling.services import cancel_appointment
from tests.waitlist.conftest import CLAIM_DETAILS, open_offer, problem

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def eager_tasks(monkeypatch):
    monkeypatch.setattr(ledger, "_enqueue", lambda row_id, countdown: None)
    celery_app.conf.task_always_eager = True
    yield
    celery_app.conf.task_always_eager = False


@pytest.fixture
def offered(clinic, django_capture_on_commit_callbacks) -> WaitlistEntry:
    booked = clinic.book()
    entry = clinic.wait(clinic.patient("First"))
    with django_capture_on_commit_callbacks(execute=True):
        cancel_appointment(booked, reason="Feeling better")
    assert open_offer(entry) is not None
    return entry


def assert_hold_kept(entry: WaitlistEntry) -> None:
    entry.refresh_from_db()
    assert entry.status == WaitlistEntry.Status.OFFERED
    assert entry.offers.get().status == WaitlistOffer.Status.OFFERED
    assert not Appointment.objects.filter(patient=entry.patient).exists()


def test_a_claim_without_the_required_details_is_a_422_naming_them_and_keeps_the_hold(
    offered, api_client
):
    url = f"/api/v1/public/waitlist/{offered.pk}/claim/"
    response = api_client.post(url, {"token": offered.token}, format="json")
    assert response.status_code == 422, response.content
    assert problem(response) == "validation-error"
    errors = {e["field"]: e["code"] for e in response.json()["errors"]}
    assert errors == {"patient.date_of_birth": "required", "reason": "required"}
    assert_hold_kept(offered)
    only_reason = api_client.post(
        url, {"token": offered.token, "reason": "Knee pain"}, format="json"
    )
    assert [e["field"] for e in only_reason.json()["errors"]] == ["patient.date_of_birth"]
    assert_hold_kept(offered)


def test_a_claim_with_the_details_books_with_the_reason_and_fills_a_missing_birth_date(
    offered, api_client
):
    assert offered.patient.date_of_birth is None
    url = f"/api/v1/public/waitlist/{offered.pk}/claim/"
    response = api_client.post(url, {"token": offered.token, **CLAIM_DETAILS}, format="json")
    assert response.status_code == 201, response.content
    appointment = Appointment.objects.get(patient=offered.patient)
    assert appointment.reason == CLAIM_DETAILS["reason"]
    offered.patient.refresh_from_db()
    assert offered.patient.date_of_birth == datetime.date(1980, 4, 2)


def test_a_claim_never_overwrites_a_birth_date_on_file(offered, api_client):
    offered.patient.date_of_birth = datetime.date(1975, 1, 9)
    offered.patient.save(update_fields=["date_of_birth"])
    url = f"/api/v1/public/waitlist/{offered.pk}/claim/"
    response = api_client.post(url, {"token": offered.token, **CLAIM_DETAILS}, format="json")
    assert response.status_code == 201, response.content
    offered.patient.refresh_from_db()
    assert offered.patient.date_of_birth == datetime.date(1975, 1, 9)


def test_a_future_birth_date_in_the_claim_is_refused_naming_the_field(offered, api_client):
    url = f"/api/v1/public/waitlist/{offered.pk}/claim/"
    body = {"token": offered.token, "reason": "Knee", "patient": {"date_of_birth": "2999-01-01"}}
    response = api_client.post(url, body, format="json")
    assert response.status_code in (400, 422), response.content
    assert "patient.date_of_birth" in [e["field"] for e in response.json()["errors"]]
    assert_hold_kept(offered)


def test_the_claim_page_asks_for_the_required_details_with_labels_and_errors(offered, client):
    path = f"/waitlist/{offered.pk}/"
    page = client.get(path, {"token": offered.token})
    assert b'<label for="date_of_birth">' in page.content
    assert b'<label for="reason">' in page.content
    refused = client.post(path, {"token": offered.token, "reason": "  "})
    assert refused.status_code == 422
    assert b'aria-describedby="date_of_birth-error"' in refused.content
    assert b'id="reason-error"' in refused.content
    assert b"Book this time" in refused.content  # the hold is still there to book
    assert_hold_kept(offered)
    booked = client.post(
        path, {"token": offered.token, "reason": "Knee pain", "date_of_birth": "1980-04-02"}
    )
    assert booked.status_code == 303
    assert Appointment.objects.get(patient=offered.patient).reason == "Knee pain"
