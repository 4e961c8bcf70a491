"""Double opt-in for the widget's waitlist entries: anyone can fill in the widget, so its entry
is offered nothing until the person follows the link e-mailed to the entry's address; the
front desk's entries need no confirmation; unconfirmed entries lapse after 48 hours. (Tasks run
eagerly here; the e-mail over a real worker and SMTP is in test_waitlist_delivery.py.)"""

import datetime

import pytest
from django.test import Client

from clinic import roles
from clinic.celery import app as celery_app
from clinic.models import AuditEvent
from notifications import clock
from notifications import services as ledger
from notifications.models import Notification
from notifications.registry import Skip
from scheduling.models import Appointment, WaitlistEntry
from scheduling.services import cancel_appointment, confirm_entry, offer_by_hand
from scheduling.services.waitlist_confirmation import CONFIRM_KIND, CONFIRM_WITHIN
from scheduling.services.waitlist_matching import sweep
from scheduling.waitlist_notifications import render_confirmation
from tests.conftest import client_for
from tests.factories.patients import PatientFactory, staff_user
from tests.waitlist.conftest import open_offer, problem

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


def join(api_client, clinic, email: str = "new.person@example.org") -> WaitlistEntry:
    response = api_client.post("/api/v1/public/waitlist/", clinic.body(email=email), format="json")
    assert response.status_code == 201, response.content
    return WaitlistEntry.objects.get(pk=response.json()["id"])


def confirm_mails(entry: WaitlistEntry):
    return Notification.objects.filter(
        kind=CONFIRM_KIND, subject_type="scheduling.waitlistentry", subject_id=entry.pk
    )


def confirmations(entry: WaitlistEntry):
    return AuditEvent.objects.filter(
        object_type="waitlist_entry", object_id=str(entry.pk), summary__startswith="Confirmed"
    )


def test_a_widget_entry_is_never_offered_a_freed_time_until_it_is_confirmed(
    clinic, cancel, api_client, client
):
    entry = join(api_client, clinic)
    detail = api_client.get(f"/api/v1/public/waitlist/{entry.pk}/", {"token": entry.token})
    assert detail.json()["confirmed"] is False
    assert detail.json()["status"] == "waiting"
    cancel(clinic.book())
    entry.refresh_from_db()
    assert entry.status == WaitlistEntry.Status.WAITING
    assert open_offer(entry) is None

    confirmed = client.post(f"/waitlist/{entry.pk}/confirm/", {"token": entry.token})
    assert confirmed.status_code == 303
    detail = api_client.get(f"/api/v1/public/waitlist/{entry.pk}/", {"token": entry.token})
    assert detail.json()["confirmed"] is True
    cancel(clinic.book(clinic.patient("Again")))  # the same time, freed again
    assert open_offer(entry) is not None


def test_the_front_desk_cannot_offer_an_unconfirmed_widget_entry_by_hand(clinic, api_client):
    entry = join(api_client, clinic)
    desk = staff_user("desk", roles.FRONT_DESK)
    response = client_for(desk).post(
        f"/api/v1/waitlist/{entry.pk}/offer/",
        {"start": clinic.start.isoformat(), "provider": clinic.physio.pk},
        format="json",
    )
    assert response.status_code == 409
    assert problem(response) == "invalid-transition"
    assert [e["code"] for e in response.json()["errors"]] == ["not_confirmed"]
    assert open_offer(entry) is None
    with pytest.raises(Exception, match="not confirmed"):
        offer_by_hand(entry, provider=clinic.physio, start=clinic.start, actor=desk)


def test_the_join_plans_one_confirm_email_that_says_what_was_joined(clinic, api_client):
    entry = join(api_client, clinic)
    [row] = confirm_mails(entry)
    assert row.recipient == "new.person@example.org"
    email = render_confirmation(row, clock.now())
    assert email.to == "new.person@example.org"
    assert "Physiotherapy assessment" in email.text
    assert "Pickering" in email.text
    assert "any day 09:00-12:00" in email.text
    assert f"/waitlist/{entry.pk}/confirm/?token={entry.token}" in email.text
    assert f"/waitlist/{entry.pk}/withdraw/?token={entry.token}" in email.text
    confirm_entry(entry)
    with pytest.raises(Skip):
        render_confirmation(row, clock.now())


def test_a_known_and_an_unknown_email_get_the_same_answer(clinic, api_client):
    PatientFactory(email="known@example.org")
    answers = []
    for email in ("known@example.org", "stranger@example.org"):
        body = api_client.post(
            "/api/v1/public/waitlist/", clinic.body(email=email), format="json"
        ).json()
        answers.append({key: value for key, value in body.items() if key not in ("id", "token")})
    assert answers[0] == answers[1] == {"status": "waiting", "confirmed": False}


def test_a_get_of_the_confirm_link_confirms_nothing(clinic, api_client, client):
    entry = join(api_client, clinic)
    path = f"/waitlist/{entry.pk}/confirm/"
    page = client.get(path, {"token": entry.token})
    assert page.status_code == 200
    assert b"Confirm my place" in page.content
    assert b'<html lang="' in page.content
    assert client.head(path, {"token": entry.token}).status_code == 200
    entry.refresh_from_db()
    assert entry.confirmed_at is None
    assert not confirmations(entry).exists()


def test_confirming_twice_is_harmless(clinic, api_client, client):
    entry = join(api_client, clinic)
    path = f"/waitlist/{entry.pk}/confirm/"
    first = client.post(path, {"token": entry.token})
    entry.refresh_from_db()
    when = entry.confirmed_at
    second = client.post(path, {"token": entry.token})
    assert first.status_code == second.status_code == 303
    entry.refresh_from_db()
    assert entry.confirmed_at == when is not None
    assert confirmations(entry).count() == 1
    page = client.get(second["Location"])
    assert b"Your place is confirmed" in page.content


def test_a_wrong_token_on_the_confirm_page_is_the_404_of_the_other_pages(
    clinic, api_client, client
):
    entry = join(api_client, clinic)
    confirm = client.post(f"/waitlist/{entry.pk}/confirm/", {"token": "wrong"})
    withdraw = client.post(f"/waitlist/{entry.pk}/withdraw/", {"token": "wrong"})
    unknown = client.get("/waitlist/99999/confirm/", {"token": "wrong"})
    assert confirm.status_code == withdraw.status_code == unknown.status_code == 404
    assert confirm.content == withdraw.content
    entry.refresh_from_db()
    assert entry.confirmed_at is None


def test_the_confirm_page_refuses_a_post_without_the_csrf_token(clinic, api_client):
    entry = join(api_client, clinic)
    strict = Client(enforce_csrf_checks=True)
    response = strict.post(f"/waitlist/{entry.pk}/confirm/", {"token": entry.token})
    assert response.status_code == 403
    entry.refresh_from_db()
    assert entry.confirmed_at is None


def test_entries_made_by_the_front_desk_need_no_confirmation(clinic, cancel):
    patient = clinic.patient("Phone")
    desk = client_for(staff_user("desk", roles.FRONT_DESK))
    created = desk.post(
        "/api/v1/waitlist/",
        {
            "patient": patient.pk,
            "service": clinic.service.pk,
            "location": clinic.location.pk,
            "earliest_date": clinic.day.isoformat(),
            "latest_date": clinic.day.isoformat(),
            "windows": [{"from": "09:00", "to": "12:00"}],
        },
        format="json",
    )
    assert created.status_code == 201, created.content
    assert created.json()["confirmed_at"] is not None
    entry = WaitlistEntry.objects.get(pk=created.json()["id"])
    assert not confirm_mails(entry).exists()
    cancel(clinic.book())
    assert open_offer(entry) is not None


def test_an_entry_unconfirmed_for_48_hours_is_expired_by_the_sweep(clinic, api_client, client):
    unconfirmed = join(api_client, clinic, "nobody@example.org")
    confirmed = join(api_client, clinic, "someone@example.org")
    confirm_entry(confirmed)
    late = join(api_client, clinic, "late@example.org")
    joined = unconfirmed.created_at

    assert (
        sweep(now=joined + CONFIRM_WITHIN - datetime.timedelta(minutes=1))["unconfirmed_entries"]
        == 0
    )
    unconfirmed.refresh_from_db()
    assert unconfirmed.status == WaitlistEntry.Status.WAITING

    # Followed after the 48 hours but before the sweep came by: too late, not confirmed.
    confirm_entry(late, now=late.created_at + CONFIRM_WITHIN + datetime.timedelta(minutes=1))
    late.refresh_from_db()
    assert late.status == WaitlistEntry.Status.EXPIRED
    assert late.confirmed_at is None

    after = joined + CONFIRM_WITHIN + datetime.timedelta(minutes=1)
    assert sweep(now=after)["unconfirmed_entries"] == 1
    unconfirmed.refresh_from_db()
    confirmed.refresh_from_db()
    assert unconfirmed.status == WaitlistEntry.Status.EXPIRED
    assert unconfirmed.closed_at == after
    assert confirmed.status == WaitlistEntry.Status.WAITING
    with pytest.raises(Skip):
        render_confirmation(confirm_mails(unconfirmed).get(), after)
