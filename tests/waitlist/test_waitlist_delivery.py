"""The waitlist end to end with real parts: PostgreSQL, Redis, a Celery worker, the beat tasks
(sent as beat sends them) and an aiosmtpd server. A cancellation reaches the first matching
entry as one offer e-mail whose link books the time; an offer left to expire goes to the next
entry, once; an offer whose worker died before sending is still sent once; a widget entry gets
one confirm e-mail and is offered only after its link is followed."""

import datetime
import re
from urllib.parse import urlsplit

import pytest
from django.test import Client

from clinic.celery import app as celery_app
from notifications import clock
from notifications.models import Notification
from notifications.tasks import sweep as notifications_sweep
from scheduling.models import Appointment, WaitlistEntry, WaitlistOffer, WaitlistOpening
from scheduling.services import cancel_appointment
from scheduling.services.waitlist_matching import match_opening
from tests.services import wait_until
from tests.waitlist.conftest import Clinic, open_offer

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.services,
    pytest.mark.django_db(transaction=True),
]

LINK = re.compile(r"https?://\S+/waitlist/(\d+)/\?token=(\S+)")


@pytest.fixture
def clinic(transactional_db) -> Clinic:
    return Clinic()


def text_of(message) -> str:
    return message.get_body(preferencelist=("plain",)).get_content()


def claim_link(message) -> str:
    match = LINK.search(text_of(message))
    assert match, text_of(message)
    return match.group(0)


def settled() -> bool:
    now = clock.now()
    return (
        not Notification.objects.filter(status__in=["pending", "sending"])
        .filter(next_attempt_at__lte=now)
        .exists()
        and not WaitlistOpening.objects.filter(matched_at__isnull=True).exists()
    )


def test_a_cancellation_reaches_the_first_entry_as_one_offer_whose_link_books_it(
    clinic, celery_workers, smtp_server
):
    booked = clinic.book()
    first, second = clinic.wait(clinic.patient("First")), clinic.wait(clinic.patient("Second"))
    cancel_appointment(booked, reason="Feeling better")
    [message] = smtp_server.wait_for(1)
    assert message["To"] == first.patient.email
    body = text_of(message)
    assert "Priya Physio" in body
    local = clinic.start.astimezone(clinic.location.zone)
    assert f"{local:%B} {local.day}, {local.year}, 10:00 AM" in body
    assert "/withdraw/" in body
    url = urlsplit(claim_link(message))
    client = Client()
    page = client.get(f"{url.path}?{url.query}")
    assert page.status_code == 200
    assert b"Book this time" in page.content
    token = url.query.removeprefix("token=")
    claimed = client.post(
        url.path, {"token": token, "reason": "Knee pain", "date_of_birth": "1980-04-02"}
    )
    assert claimed.status_code == 303
    appointment = Appointment.objects.get(patient=first.patient)
    assert appointment.start == clinic.start
    assert appointment.provider == clinic.physio
    first.refresh_from_db()
    assert first.status == WaitlistEntry.Status.BOOKED
    wait_until(settled, 20, "the worker to finish")
    offers_to = [m["To"] for m in smtp_server.received() if "opened up" in m["Subject"]]
    assert offers_to == [first.patient.email]
    assert open_offer(second) is None


def test_an_offer_left_to_expire_goes_to_the_second_entry_once(
    clinic, celery_workers, smtp_server, service_clock
):
    booked = clinic.book()
    first, second = clinic.wait(clinic.patient("First")), clinic.wait(clinic.patient("Second"))
    cancel_appointment(booked, reason="Feeling better")
    smtp_server.wait_for(1)
    service_clock.advance(datetime.timedelta(minutes=31))
    celery_app.send_task("scheduling.waitlist_sweep")  # as beat does every minute
    messages = smtp_server.wait_for(2)
    assert [m["To"] for m in messages] == [first.patient.email, second.patient.email]
    first_offer = first.offers.get()
    assert first_offer.status == WaitlistOffer.Status.EXPIRED
    assert open_offer(second).start == clinic.start
    celery_app.send_task("scheduling.waitlist_sweep")
    notifications_sweep.delay()
    wait_until(settled, 20, "the sweeps to finish")
    assert len(smtp_server.received()) == 2


def test_an_offer_whose_worker_died_before_sending_is_sent_once(
    clinic, celery_workers, smtp_server
):
    booked = clinic.book()
    entry = clinic.wait(clinic.patient("First"))
    celery_workers.stop_all()
    # What a worker killed after choosing the entry leaves: the offer and its ledger row
    # committed, its send message lost with the worker.
    Appointment.objects.filter(pk=booked.pk).update(
        status=Appointment.Status.CANCELLED, cancelled_at=clock.now()
    )
    opening = WaitlistOpening.objects.create(
        location=clinic.location,
        provider=clinic.physio,
        start=clinic.start,
        end=clinic.start + datetime.timedelta(hours=1),
        reason="cancelled",
        created_at=clock.now(),
    )
    [offer] = match_opening(opening.pk)
    celery_app.control.purge()
    # And a worker killed before committing its choice: an opening nobody matched.
    other = clinic.wait(clinic.patient("Second"))
    lost = WaitlistOpening.objects.create(
        location=clinic.location,
        provider=clinic.physio,
        start=clinic.start + datetime.timedelta(days=1),
        end=clinic.start + datetime.timedelta(days=1, hours=1),
        reason="cancelled",
        created_at=clock.now() - datetime.timedelta(minutes=5),
    )
    celery_workers.start()
    for _ in range(2):  # beat keeps sweeping; nothing is sent twice
        celery_app.send_task("scheduling.waitlist_sweep")
        notifications_sweep.delay()
    messages = smtp_server.wait_for(2)
    wait_until(settled, 20, "the sweeps to finish")
    assert sorted(m["To"] for m in smtp_server.received()) == sorted(
        [entry.patient.email, other.patient.email]
    )
    assert offer.entry_id == entry.pk
    assert len(messages) == 2
    lost.refresh_from_db()
    assert lost.matched_at is not None
    assert open_offer(other).start == lost.start


def test_a_worker_killed_after_choosing_the_entry_and_before_the_offer_went_out_sends_it_once(
    clinic, celery_workers, smtp_server
):
    """SIGKILL for real: the mail server is down, so the worker matches the cancellation,
    commits the offer and fails its first send; it is killed there. A new worker and the sweep
    send the offer, once."""
    booked = clinic.book()
    entry = clinic.wait(clinic.patient("First"))
    smtp_server.stop()
    cancel_appointment(booked, reason="Feeling better")
    # A claimed row counts its attempt while still ``sending``; the failed send puts it back.
    wait_until(
        lambda: Notification.objects.filter(
            kind="waitlist.offer", attempts__gte=1, status=Notification.Status.PENDING
        ).exists(),
        20,
        "the worker to choose the entry and fail its first send",
    )
    assert open_offer(entry) is not None
    for worker in celery_workers.alive():
        worker.kill()
    smtp_server.start()
    celery_workers.start()
    for _ in range(3):  # beat keeps sweeping; nothing is sent twice
        notifications_sweep.delay()
        celery_app.send_task("scheduling.waitlist_sweep")
    [message] = smtp_server.wait_for(1)
    wait_until(settled, 30, "the sweeps to finish")
    assert message["To"] == entry.patient.email
    assert len(smtp_server.received()) == 1
    assert WaitlistOffer.objects.count() == 1


CONFIRM_LINK = re.compile(r"https?://\S+/waitlist/(\d+)/confirm/\?token=(\S+)")


def test_a_widget_entry_gets_one_confirm_email_and_is_offered_only_after_its_link_is_posted(
    clinic, celery_workers, smtp_server
):
    widget = Client()
    joined = widget.post(
        "/api/v1/public/waitlist/",
        clinic.body(email="widget.person@example.org"),
        content_type="application/json",
    )
    assert joined.status_code == 201, joined.content
    assert joined.json()["confirmed"] is False
    [confirm] = smtp_server.wait_for(1)
    assert confirm["To"] == "widget.person@example.org"
    body = text_of(confirm)
    assert "Physiotherapy assessment" in body
    assert "Pickering" in body
    assert "/withdraw/" in body
    # Unconfirmed: a cancellation is not offered to it.
    cancel_appointment(clinic.book(), reason="Feeling better")
    wait_until(settled, 20, "the worker to match the cancellation")
    entry = WaitlistEntry.objects.get(pk=joined.json()["id"])
    assert open_offer(entry) is None
    # The link from the e-mail: its GET (a mail scanner) confirms nothing, its button does.
    match = CONFIRM_LINK.search(body)
    assert match, body
    url = urlsplit(match.group(0))
    page = widget.get(f"{url.path}?{url.query}")
    assert b"Confirm my place" in page.content
    entry.refresh_from_db()
    assert entry.confirmed_at is None
    assert widget.post(url.path, {"token": match.group(2)}).status_code == 303
    entry.refresh_from_db()
    assert entry.confirmed_at is not None
    cancel_appointment(clinic.book(clinic.patient("Again")), reason="Feeling better")
    messages = smtp_server.wait_for(2)
    assert messages[1]["To"] == "widget.person@example.org"
    assert "opened up" in messages[1]["Subject"]
    for _ in range(2):  # beat keeps sweeping; the confirm e-mail is not sent again
        celery_app.send_task("scheduling.waitlist_sweep")
        notifications_sweep.delay()
    wait_until(settled, 20, "the sweeps to finish")
    assert len(smtp_server.received()) == 2
    assert Notification.objects.filter(kind="waitlist.confirm").count() == 1
