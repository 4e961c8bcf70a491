"""The waitlist's patient pages in Chromium: a widget entry is confirmed from the link of its
confirmation e-mail (received over SMTP); the offer e-mail's link opens the entry's page, which
books the held time with one button; the withdraw link asks first. The pages pass the axe
checks."""

import threading
from datetime import timedelta

import pytest
from django.db import connections
from django.utils import timezone

from notifications import clock
from notifications import services as ledger
from notifications.models import Notification
from scheduling.models import Appointment, Service, WaitlistEntry
from scheduling.services import offer_by_hand
from tests.e2e.a11y import assert_accessible
from tests.e2e.conftest import screenshot
from tests.e2e.test_patient_pages import local_path, mail_over_smtp
from tests.services import _smtp_session, smtp_server

pytestmark = pytest.mark.browser
__all__ = ["_smtp_session", "mail_over_smtp", "smtp_server"]


def join(page, email: str) -> tuple[dict, dict]:
    """Join the waitlist through the public API for next week's mornings; (entry, free slot)."""
    service = Service.objects.get(code="physio-follow-up")
    location = service.offerings.filter(location__slug="pickering").first().location
    day = timezone.now().astimezone(location.zone).date() + timedelta(days=7)
    slot = page.request.get(
        "/api/v1/public/availability/",
        params={
            "service": service.pk,
            "location": location.pk,
            "start": day.isoformat(),
            "end": (day + timedelta(days=6)).isoformat(),
        },
    ).json()["slots"][0]
    response = page.request.post(
        "/api/v1/public/waitlist/",
        data={
            "service": service.pk,
            "location": location.pk,
            "earliest_date": day.isoformat(),
            "latest_date": (day + timedelta(days=6)).isoformat(),
            "windows": [{"from": "06:00", "to": "22:00"}],
            "patient": {"first_name": "Katherine", "last_name": "Johnson", "email": email},
            "consent": {"reminders": True},
        },
    )
    assert response.status == 201, response.text()
    return response.json(), slot


def in_own_thread(fn) -> None:
    """Run ``fn`` as a worker would, committing at once (the test's transaction would not)."""
    errors: list[BaseException] = []

    def run() -> None:
        try:
            fn()
        except BaseException as exc:
            errors.append(exc)
        finally:
            connections.close_all()

    worker = threading.Thread(target=run)
    worker.start()
    worker.join(60)
    assert not errors, errors


def offer_and_send(entry_id: int, slot: dict) -> None:
    from datetime import datetime

    from providers.models import Provider

    entry = WaitlistEntry.objects.get(pk=entry_id)
    provider = Provider.objects.get(pk=slot["provider"])
    offer = offer_by_hand(
        entry, provider=provider, start=datetime.fromisoformat(slot["start"]), actor=None
    )
    row = Notification.objects.get(subject_id=offer.pk, kind="waitlist.offer")
    now = clock.now()
    assert ledger.send_claimed(ledger.claim(now, row.pk), now) == Notification.Status.SENT


def send_confirmation(entry_id: int) -> None:
    row = Notification.objects.get(subject_id=entry_id, kind="waitlist.confirm")
    now = clock.now()
    assert ledger.send_claimed(ledger.claim(now, row.pk), now) == Notification.Status.SENT


def confirm_from_the_e_mail(page, mail_over_smtp, entry: dict) -> None:
    """Send the entry's confirmation e-mail, open its link and press the button."""
    in_own_thread(lambda: send_confirmation(entry["id"]))
    [message] = mail_over_smtp.wait_for(1)
    text = message.get_body(preferencelist=("plain",)).get_content()
    [url] = [line.strip() for line in text.splitlines() if "/confirm/" in line]
    page.goto(local_path(url))
    assert page.title().startswith("Confirm your waitlist place")
    assert_accessible(page)
    screenshot(page, "waitlist-confirm")
    assert WaitlistEntry.objects.get(pk=entry["id"]).confirmed_at is None  # the GET did nothing
    page.get_by_role("button", name="Confirm my place").click()
    page.get_by_role("status").wait_for()
    assert "Your place is confirmed" in page.get_by_role("status").inner_text()
    assert_accessible(page)
    assert WaitlistEntry.objects.get(pk=entry["id"]).confirmed_at is not None


def test_a_patient_books_the_held_time_from_the_offer_e_mail(page, mail_over_smtp):
    entry, slot = join(page, "katherine.johnson@example.org")
    confirm_from_the_e_mail(page, mail_over_smtp, entry)
    in_own_thread(lambda: offer_and_send(entry["id"], slot))
    [_, message] = mail_over_smtp.wait_for(2)

    page.goto(_entry_link(message))
    assert page.title().startswith("Your waitlist place")
    assert page.get_by_role("heading", level=2).inner_text() == "A time is held for you"
    assert_accessible(page)
    screenshot(page, "waitlist-entry-offer")
    page.get_by_label("Date of birth (required)").fill("1980-04-02")
    page.get_by_label("Reason for the visit (required)").fill("Stiff shoulder")
    page.get_by_role("button", name="Book this time").click()
    page.get_by_role("heading", level=1, name="Your appointment").wait_for()
    assert_accessible(page)
    booked = Appointment.objects.filter(patient__email="katherine.johnson@example.org")
    assert booked.count() == 1


def _entry_link(message) -> str:
    text = message.get_body(preferencelist=("plain",)).get_content()
    [url] = [
        line.strip()
        for line in text.splitlines()
        if "/waitlist/" in line and "/withdraw/" not in line
    ]
    return local_path(url)


def test_a_patient_leaves_the_waitlist_only_after_confirming(page):
    entry, _ = join(page, "dorothy.vaughan@example.org")
    page.goto(f"/waitlist/{entry['id']}/withdraw/?token={entry['token']}")
    assert page.title().startswith("Leave the waitlist")
    assert_accessible(page)
    page.get_by_role("link", name="No, stay on it").click()
    assert page.get_by_role("heading", level=1).inner_text() == "Your waitlist place"
    assert "not confirmed yet" in page.content()  # joined from the widget, not confirmed
    page.get_by_role("link", name="Leave the waitlist").click()
    page.get_by_role("button", name="Yes, leave the waitlist").click()
    page.get_by_role("status").wait_for()
    assert "left the waitlist" in page.get_by_role("status").inner_text()
    assert_accessible(page)
    assert WaitlistEntry.objects.get(pk=entry["id"]).status == WaitlistEntry.Status.WITHDRAWN
