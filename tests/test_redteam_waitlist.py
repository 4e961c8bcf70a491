"""Red-team checks of the waitlist (issue 19): what an outsider or a careless path could do to
the holds, the links and the offers. Each test is named for the rule it holds the code to."""

import datetime

import pytest

from clinic.celery import app as celery_app
from notifications import services as ledger
from scheduling.models import Appointment, BookingPolicyOverride, WaitlistEntry, WaitlistOffer
from scheduling.services import book_appointment, cancel_appointment
from tests.waitlist.conftest import clinic, open_offer, problem

__all__ = ["clinic"]

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def eager_tasks(monkeypatch):
    monkeypatch.setattr(ledger, "_enqueue", lambda row_id, countdown: None)
    celery_app.conf.task_always_eager = True
    yield
    celery_app.conf.task_always_eager = False


@pytest.fixture
def cancel(django_capture_on_commit_callbacks):
    def run(appointment: Appointment) -> None:
        with django_capture_on_commit_callbacks(execute=True):
            cancel_appointment(appointment, reason="Feeling better")

    return run


def test_a_service_not_bookable_online_is_never_offered_since_its_claim_is_online(
    clinic, cancel, api_client
):
    booked = clinic.book()
    entry = clinic.wait(clinic.patient("First"))
    clinic.service.online_bookable = False
    clinic.service.save(update_fields=["online_bookable"])
    cancel(booked)
    assert open_offer(entry) is None


def test_a_patient_at_the_online_booking_cap_is_not_offered_a_time_they_cannot_claim(
    clinic, cancel, api_client
):
    BookingPolicyOverride.objects.create(location=clinic.location, max_upcoming_online_bookings=1)
    capped, second = clinic.patient("Capped"), clinic.patient("Second")
    book_appointment(
        service=clinic.service,
        location=clinic.location,
        start=clinic.start + datetime.timedelta(days=1),
        patient=capped,
        provider=clinic.physio,
        source=Appointment.Source.ONLINE,
    )
    booked = clinic.book()
    capped_entry, second_entry = clinic.wait(capped), clinic.wait(second)
    cancel(booked)
    assert open_offer(capped_entry) is None
    assert open_offer(second_entry) is not None


def test_a_claim_after_the_offering_was_removed_is_a_clean_refusal(clinic, cancel, api_client):
    from scheduling.models import Offering

    booked = clinic.book()
    entry = clinic.wait(clinic.patient("First"))
    cancel(booked)
    assert open_offer(entry) is not None
    Offering.objects.filter(provider=clinic.physio).update(is_active=False)
    url = f"/api/v1/public/waitlist/{entry.pk}/claim/"
    response = api_client.post(url, {"token": entry.token}, format="json")
    assert 400 <= response.status_code < 500, response.content
    problem(response)
    assert not Appointment.objects.filter(patient=entry.patient).exists()


@pytest.mark.parametrize("token", ["\ud800", "a\x00b", "x" * 5000, ["a"], {"a": 1}, None, 7])
def test_a_hostile_token_on_claim_and_withdraw_is_a_4xx(clinic, api_client, token):
    import json

    entry = clinic.wait(clinic.patient("First"))
    for verb in ("claim", "withdraw"):
        body = json.dumps({"token": token})
        url = f"/api/v1/public/waitlist/{entry.pk}/{verb}/"
        response = api_client.post(url, body, content_type="application/json")
        assert 400 <= response.status_code < 500, response.content
    entry.refresh_from_db()
    assert entry.status == WaitlistEntry.Status.WAITING
    assert not WaitlistOffer.objects.exists()


def test_the_front_desk_cannot_add_an_entry_for_a_service_not_bookable_online(
    clinic, front_desk_client
):
    clinic.service.online_bookable = False
    clinic.service.save(update_fields=["online_bookable"])
    body = clinic.body(patient=clinic.patient("Phone").pk)
    del body["consent"]
    response = front_desk_client.post("/api/v1/waitlist/", body, format="json")
    assert response.status_code in (409, 422), response.content
    assert response.json()["errors"][0]["field"] == "service"
    assert not WaitlistEntry.objects.exists()


def test_the_front_desk_cannot_offer_by_hand_a_time_the_patients_online_cap_refuses(
    clinic, front_desk_client
):
    BookingPolicyOverride.objects.create(location=clinic.location, max_upcoming_online_bookings=1)
    capped = clinic.patient("Capped")
    book_appointment(
        service=clinic.service,
        location=clinic.location,
        start=clinic.start + datetime.timedelta(days=1),
        patient=capped,
        provider=clinic.physio,
        source=Appointment.Source.ONLINE,
    )
    entry = clinic.wait(capped)
    url = f"/api/v1/waitlist/{entry.pk}/offer/"
    body = {"start": clinic.start.isoformat(), "provider": clinic.physio.pk}
    response = front_desk_client.post(url, body, format="json")
    assert 400 <= response.status_code < 500, response.content
    assert response.json()["errors"][0]["field"] == "patient"
    assert not WaitlistOffer.objects.exists()
