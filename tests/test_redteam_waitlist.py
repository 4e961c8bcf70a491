"""Red-team checks of the waitlist (issue 19): what an outsider or a careless path could do to
the holds, the links and the offers. Each test is named for the rule it holds the code to."""

import datetime

import pytest

from clinic.celery import app as celery_app
from notifications import services as ledger
from scheduling.models import Appointment, BookingPolicyOverride, WaitlistEntry, WaitlistOffer
from scheduling.services import book_appointment, cancel_appointment
from tests.waitlist.conftest import CLAIM_DETAILS, clinic, open_offer, problem

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
    response = api_client.post(url, {"token": entry.token, **CLAIM_DETAILS}, format="json")
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


def test_a_claim_after_the_provider_left_books_nothing(clinic, cancel, api_client):
    booked = clinic.book()
    entry = clinic.wait(clinic.patient("First"))
    cancel(booked)
    assert open_offer(entry) is not None
    clinic.physio.is_active = False
    clinic.physio.save(update_fields=["is_active"])
    url = f"/api/v1/public/waitlist/{entry.pk}/claim/"
    response = api_client.post(url, {"token": entry.token, **CLAIM_DETAILS}, format="json")
    assert 400 <= response.status_code < 500, response.content
    assert not Appointment.objects.filter(patient=entry.patient).exists()


@pytest.mark.parametrize(
    "query",
    [
        "?status=bogus",
        "?location=abc",
        "?provider=99999999999999999999",
        "?service=-1",
        "?location=%00",
    ],
)
def test_odd_staff_list_filters_are_4xx_or_empty_never_500(clinic, front_desk_client, query):
    clinic.wait(clinic.patient("First"))
    response = front_desk_client.get(f"/api/v1/waitlist/{query}")
    assert response.status_code in (200, 400), response.content


@pytest.mark.parametrize("entry_id", ["99999999999999999999", "0"])
def test_huge_entry_ids_are_404_everywhere(clinic, front_desk_client, api_client, entry_id):
    assert front_desk_client.get(f"/api/v1/waitlist/{entry_id}/").status_code == 404
    public = api_client.get(f"/api/v1/public/waitlist/{entry_id}/", {"token": "x"})
    assert public.status_code == 404
    claim = api_client.post(f"/api/v1/public/waitlist/{entry_id}/claim/", {"token": "x"})
    assert claim.status_code == 404
    page = api_client.get(f"/waitlist/{entry_id}/", {"token": "x"})
    assert page.status_code == 404
    page = api_client.post(f"/waitlist/{entry_id}/withdraw/", {"token": "x"})
    assert page.status_code in (403, 404)


def test_the_mail_scanner_get_of_both_links_claims_and_withdraws_nothing(clinic, cancel, client):
    booked = clinic.book()
    entry = clinic.wait(clinic.patient("First"))
    cancel(booked)
    for path in (f"/waitlist/{entry.pk}/", f"/waitlist/{entry.pk}/withdraw/"):
        assert client.get(path, {"token": entry.token}).status_code == 200
        assert client.head(path, {"token": entry.token}).status_code == 200
    entry.refresh_from_db()
    assert entry.status == WaitlistEntry.Status.OFFERED
    assert not Appointment.objects.filter(patient=entry.patient).exists()


def test_the_pages_refuse_a_post_without_the_csrf_token(clinic, cancel):
    from django.test import Client

    booked = clinic.book()
    entry = clinic.wait(clinic.patient("First"))
    cancel(booked)
    strict = Client(enforce_csrf_checks=True)
    for path in (f"/waitlist/{entry.pk}/", f"/waitlist/{entry.pk}/withdraw/"):
        assert strict.post(path, {"token": entry.token}).status_code == 403
    entry.refresh_from_db()
    assert entry.status == WaitlistEntry.Status.OFFERED


def test_one_entrys_token_opens_no_other_entry(clinic, cancel, api_client):
    booked = clinic.book()
    mine = clinic.wait(clinic.patient("Mine"))
    other = clinic.wait(clinic.patient("Other"))
    cancel(booked)
    for verb in ("claim", "withdraw"):
        url = f"/api/v1/public/waitlist/{mine.pk}/{verb}/"
        assert api_client.post(url, {"token": other.token}, format="json").status_code == 404
    assert api_client.get(f"/waitlist/{mine.pk}/", {"token": other.token}).status_code == 404
    mine.refresh_from_db()
    assert mine.status == WaitlistEntry.Status.OFFERED


HOSTILE_JOINS = {
    "huge service id": {"service": 99999999999999999999},
    "huge location id": {"location": 99999999999999999999},
    "huge provider id": {"provider": 99999999999999999999},
    "negative provider": {"provider": -5},
    "weekday true": {"windows": [{"weekday": True, "from": "09:00", "to": "10:00"}]},
    "weekday 7": {"windows": [{"weekday": 7, "from": "09:00", "to": "10:00"}]},
    "one-digit hour": {"windows": [{"from": "9:00", "to": "10:00"}]},
    "24:00": {"windows": [{"from": "09:00", "to": "24:00"}]},
    "end before start": {"windows": [{"from": "11:00", "to": "10:00"}]},
    "empty window": {"windows": [{"from": "10:00", "to": "10:00"}]},
    "windows object": {"windows": {"from": "09:00", "to": "10:00"}},
    "window list": {"windows": [["09:00", "10:00"]]},
    "many windows": {"windows": [{"from": "09:00", "to": "10:00"}] * 500},
    "no windows": {"windows": []},
    "nul time": {"windows": [{"from": "09:00\x00", "to": "10:00"}]},
    "year one": {"earliest_date": "0001-01-01"},
    "year 9999": {"latest_date": "9999-12-31"},
    "two years": {"latest_date": "2029-01-01"},
    "past": {"earliest_date": "2020-01-01", "latest_date": "2020-02-01"},
    "date not a date": {"earliest_date": "2026-02-30"},
    "date as number": {"earliest_date": 20260101},
    "consent string": {"consent": {"reminders": "yes please"}},
    "unknown consent": {"consent": {"sell_my_data": True}},
    "patient list": {"patient": []},
    "nul name": {"patient": {"first_name": "A\x00", "last_name": "B", "email": "a@b.org"}},
}


@pytest.mark.parametrize("name", sorted(HOSTILE_JOINS))
def test_a_hostile_join_is_a_4xx_naming_a_field_and_writes_nothing(clinic, api_client, name):
    from patients.models import Patient

    before = Patient.objects.count()
    body = clinic.body(**HOSTILE_JOINS[name])
    response = api_client.post("/api/v1/public/waitlist/", body, format="json")
    assert 400 <= response.status_code < 500, (response.status_code, response.content)
    assert response["Content-Type"] == "application/problem+json"
    assert response.json().get("errors"), response.json()
    assert not WaitlistEntry.objects.exists()
    assert Patient.objects.count() == before


def test_an_unknown_consent_gets_the_same_refusal_for_a_known_and_an_unknown_email(
    clinic, api_client
):
    known = clinic.patient("Known")
    answers = []
    for email in (known.email, "nobody@example.org"):
        body = clinic.body(email=email, consent={"sell_my_data": True})
        response = api_client.post("/api/v1/public/waitlist/", body, format="json")
        answers.append((response.status_code, response.json()))
    assert answers[0] == answers[1]


def test_the_widget_shows_no_held_time_once_the_hold_ended(clinic, cancel, api_client):
    booked = clinic.book()
    entry = clinic.wait(clinic.patient("First"))
    cancel(booked)
    offer = open_offer(entry)
    url = f"/api/v1/public/waitlist/{entry.pk}/"
    assert api_client.get(url, {"token": entry.token}).json()["offer"] is not None
    # The hold ran out; the sweep has not ended it yet (it runs once a minute).
    WaitlistOffer.objects.filter(pk=offer.pk).update(
        offered_at=offer.offered_at - datetime.timedelta(hours=1),
        expires_at=offer.offered_at - datetime.timedelta(minutes=1),
    )
    assert api_client.get(url, {"token": entry.token}).json()["offer"] is None


def test_the_offer_email_gives_the_local_time_across_the_spring_change_and_only_its_patient(
    clinic,
):
    from types import SimpleNamespace
    from zoneinfo import ZoneInfo

    from scheduling.waitlist_notifications import render_offer

    zone = ZoneInfo(clinic.location.timezone)
    start = datetime.datetime(2027, 3, 14, 10, 0, tzinfo=zone)  # the first EDT day
    now = datetime.datetime(2027, 3, 14, 1, 45, tzinfo=zone)  # still EST
    clinic.wait(clinic.patient("Other"))
    entry = clinic.wait(clinic.patient("Ada"))
    offer = WaitlistOffer.objects.create(
        entry=entry,
        provider=clinic.physio,
        start=start,
        end=start + datetime.timedelta(hours=1),
        blocked_start=start,
        blocked_end=start + datetime.timedelta(hours=1),
        offered_at=now,
        expires_at=now + datetime.timedelta(minutes=30),  # 03:15 EDT, past the change
    )
    mail = render_offer(SimpleNamespace(subject_id=offer.pk), now)
    assert "Sunday, March 14, 2027, 10:00 AM EDT" in mail.text
    assert "3:15 AM EDT" in mail.text
    assert mail.to == entry.patient.email
    assert "Other" not in mail.text
    assert "Other" not in mail.html


def test_a_patient_is_never_held_two_times_at_once_by_two_of_their_entries(clinic):
    from scheduling.models import WaitlistOpening
    from scheduling.services.waitlist_matching import match_opening
    from tests.scheduling.conftest import make_physio

    colleague = make_physio(clinic.location, clinic.service, "Colleague")
    twice = clinic.patient("Twice")
    first_entry = clinic.wait(twice, provider=clinic.physio)
    second_entry = clinic.wait(twice, provider=colleague)
    next_in_line = clinic.wait(clinic.patient("Next"))
    for provider in (clinic.physio, colleague):
        opening = WaitlistOpening.objects.create(
            location=clinic.location,
            provider=provider,
            start=clinic.start,
            end=clinic.start + datetime.timedelta(hours=1),
            reason="cancelled",
            created_at=clinic.start - datetime.timedelta(days=7),
        )
        match_opening(opening.pk)
    held = WaitlistOffer.objects.filter(status="offered")
    assert held.filter(entry__patient=twice).count() == 1
    assert open_offer(first_entry) is not None
    assert open_offer(second_entry) is None
    assert open_offer(next_in_line).provider == colleague
