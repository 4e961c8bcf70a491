"""The manage and unsubscribe pages as a patient uses them: Chromium opens the links parsed out
of the confirmation e-mail, received over SMTP (aiosmtpd), for a booking made through the public
API of the demo clinic's live server."""

import re
import threading
from datetime import datetime, timedelta
from urllib.parse import urlsplit

import pytest
from django.db import connections
from django.utils import timezone

from notifications import services as ledger
from notifications.models import Notification
from patients.selectors import has_consent
from scheduling.models import Appointment, Service
from scheduling.notifications import CONFIRMATION
from tests.e2e.a11y import assert_accessible
from tests.e2e.conftest import screenshot
from tests.services import _smtp_session, smtp_server

pytestmark = pytest.mark.browser
__all__ = ["_smtp_session", "smtp_server"]


@pytest.fixture
def mail_over_smtp(settings, smtp_server, monkeypatch):
    """The ledger, run from the test, sends through Django's SMTP backend to the test server."""
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", smtp_server.port
    settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
    monkeypatch.setattr(ledger, "_enqueue", lambda pk, countdown: None)
    return smtp_server


def book_next_week(page, email: str) -> Appointment:
    """Book a follow-up at Pickering next week through the public API, as the widget does."""
    service = Service.objects.get(code="physio-follow-up")
    location = service.offerings.filter(location__slug="pickering").first().location
    day = timezone.now().astimezone(location.zone).date() + timedelta(days=7)
    slots = page.request.get(
        "/api/v1/public/availability/",
        params={
            "service": service.pk,
            "location": location.pk,
            "start": day.isoformat(),
            "end": (day + timedelta(days=6)).isoformat(),
        },
    ).json()["slots"]
    slot = slots[0]
    response = page.request.post(
        "/api/v1/public/bookings/",
        data={
            "service": service.pk,
            "location": location.pk,
            "provider": slot["provider"],
            "start": slot["start"],
            "patient": {
                "first_name": "Mary",
                "last_name": "Jackson",
                "email": email,
                "phone": "+1 905 555 0142",
                "date_of_birth": "1961-04-09",
            },
            "consent": {"reminders": True, "care_plans": False, "marketing": False},
            "reason": "Sore shoulder when reaching overhead",
        },
    )
    assert response.status == 201, response.text()
    return Appointment.objects.get(reference=response.json()["reference"])


def confirmation_over_smtp(appointment: Appointment, smtp_server):
    """Send the booking's confirmation (after its grace period) and receive it over SMTP.

    Sent from a thread of its own, as a worker would: its writes commit at once, where the test's
    own transaction would hold the ledger row locked against the server's later changes."""
    row = Notification.objects.get(subject_id=appointment.pk, kind=CONFIRMATION)
    at = row.next_attempt_at
    results: list[str] = []

    def send() -> None:
        try:
            results.append(ledger.send_claimed(ledger.claim(at, row.pk), at))
        finally:
            connections.close_all()

    worker = threading.Thread(target=send)
    worker.start()
    worker.join(60)
    assert results == [Notification.Status.SENT]
    [message] = smtp_server.wait_for(1)
    return message


def local_path(url: str) -> str:
    """The e-mail's absolute link, opened on the live server (same path and query)."""
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}"


def link_in(message, fragment: str) -> str:
    text = message.get_body(preferencelist=("plain",)).get_content()
    [url] = {u for u in re.findall(r"https?://\S+", text) if fragment in u}
    return url


def test_a_patient_moves_then_cancels_a_visit_from_the_e_mails_manage_link(page, mail_over_smtp):
    appointment = book_next_week(page, "mary.jackson@example.org")
    message = confirmation_over_smtp(appointment, mail_over_smtp)

    page.goto(local_path(link_in(message, "/manage/")))
    assert page.title() == "Your appointment | Lakeshore Health & Motion"
    local = appointment.start.astimezone(appointment.location.zone)
    hour = local.strftime("%I").lstrip("0")
    summary = page.locator("dl.visit").inner_text()
    assert f"{hour}:{local:%M %p} {local.tzname()}" in summary
    assert appointment.location.address_line in summary
    assert "swagger" not in page.content().lower()
    assert "Django REST framework" not in page.content()
    assert_accessible(page)
    screenshot(page, "manage-booking")

    page.get_by_role("link", name="Choose another time").click()
    page.locator("fieldset").first.wait_for()
    assert_accessible(page)
    choice = page.get_by_role("radio").nth(1)
    new_start = datetime.fromisoformat(choice.get_attribute("value"))
    choice.focus()
    page.keyboard.press("Space")  # by keyboard, as a patient without a mouse would
    screenshot(page, "manage-booking-reschedule")
    page.get_by_role("button", name="Move my appointment to this time").click()
    page.get_by_role("status").wait_for()
    assert "moved" in page.get_by_role("status").inner_text()
    appointment.refresh_from_db()
    assert appointment.start == new_start
    assert appointment.status == Appointment.Status.BOOKED

    page.get_by_role("link", name="Cancel this appointment").click()
    assert page.get_by_role("heading", level=1).inner_text() == "Cancel your appointment?"
    assert_accessible(page)
    page.get_by_role("link", name="No, keep it").click()
    appointment.refresh_from_db()
    assert appointment.status == Appointment.Status.BOOKED, "nothing changes without confirming"

    page.get_by_role("link", name="Cancel this appointment").click()
    page.get_by_label("Reason (optional)").fill("Away that week")
    page.get_by_role("button", name="Yes, cancel this appointment").click()
    page.get_by_role("status").wait_for()
    assert "cancelled" in page.get_by_role("status").inner_text()
    screenshot(page, "manage-booking-cancelled")
    appointment.refresh_from_db()
    assert appointment.status == Appointment.Status.CANCELLED
    assert appointment.cancelled_by == Appointment.CancelledBy.PATIENT
    assert appointment.cancel_reason == "Away that week"
    assert appointment.late_cancellation is False
    assert page.get_by_role("link", name="Cancel this appointment").count() == 0


def test_a_wrong_token_in_the_manage_link_is_a_plain_404_page(page, mail_over_smtp):
    appointment = book_next_week(page, "wrong.token@example.org")
    response = page.goto(f"/manage/{appointment.reference}/?token=not-the-token")
    assert response.status == 404
    assert page.get_by_role("heading", level=1).inner_text() == "This link does not work"
    assert_accessible(page)


def test_a_patient_unsubscribes_with_one_button_then_sees_done(page, mail_over_smtp):
    appointment = book_next_week(page, "una.subscribe@example.org")
    message = confirmation_over_smtp(appointment, mail_over_smtp)
    body_link = link_in(message, "/unsubscribe/")
    assert message["List-Unsubscribe"].strip() == f"<{body_link}>"

    page.goto(local_path(body_link))
    assert page.title() == "Unsubscribe | Lakeshore Health & Motion"
    assert_accessible(page)
    assert has_consent(appointment.patient, "reminders"), "opening the page changes nothing"
    screenshot(page, "unsubscribe")
    page.get_by_role("button", name="Unsubscribe").click()
    assert page.get_by_role("heading", level=1).inner_text() == "Done"
    assert "no more appointment reminders" in page.get_by_role("status").inner_text()
    assert_accessible(page)
    assert not has_consent(appointment.patient, "reminders")


def test_a_mail_clients_one_click_post_to_the_header_url_unsubscribes(page, mail_over_smtp):
    """RFC 8058: a POST with ``List-Unsubscribe=One-Click`` to the header's URL, no cookies."""
    appointment = book_next_week(page, "one.click@example.org")
    message = confirmation_over_smtp(appointment, mail_over_smtp)
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    url = message["List-Unsubscribe"].strip()[1:-1]
    response = page.request.post(
        local_path(url),
        data="List-Unsubscribe=One-Click",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert response.status == 200
    assert not has_consent(appointment.patient, "reminders")
