"""Appointment e-mails end to end: a real Redis broker, real ``celery -A clinic worker``
processes on the test database, a real SMTP server, and a clock moved for all of them."""

import zoneinfo
from collections import Counter
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage

import icalendar
import pytest

from notifications import clock
from notifications.models import Notification
from notifications.tasks import send_notification
from patients.services import record_consents
from scheduling.notifications import CANCELLATION, CHANGE, CONFIRMATION, REMINDER
from tests.notifications.conftest import run_sweep
from tests.services import wait_until

pytestmark = [
    pytest.mark.services,
    pytest.mark.postgres,
    pytest.mark.django_db(transaction=True),
]

TORONTO = zoneinfo.ZoneInfo("America/Toronto")
GRACE = timedelta(minutes=3, seconds=1)
Status = Notification.Status


def calendar_of(message: EmailMessage) -> icalendar.Calendar:
    parts = [p for p in message.walk() if p.get_content_type() == "text/calendar"]
    assert len(parts) == 1, "one iCalendar attachment"
    return icalendar.Calendar.from_ical(parts[0].get_payload(decode=True))


def event_of(message: EmailMessage) -> icalendar.Event:
    return calendar_of(message).walk("VEVENT")[0]


def text_of(message: EmailMessage) -> str:
    return message.get_body(preferencelist=("plain",)).get_content()


def html_of(message: EmailMessage) -> str:
    return message.get_body(preferencelist=("html",)).get_content()


def next_start(days: int = 2, hour: int = 10) -> datetime:
    """A start ``days`` ahead at ``hour`` local time in Toronto (no DST change in between)."""
    local = clock.now().astimezone(TORONTO) + timedelta(days=days)
    return local.replace(hour=hour, minute=0, second=0, microsecond=0).astimezone(UTC)


def rows(appointment, kind=None):
    qs = Notification.objects.filter(subject_id=appointment.pk).order_by("planned_for")
    return qs.filter(kind=kind) if kind else qs


def test_booking_sends_one_confirmation_after_grace_and_reminders_at_the_offsets(
    world, celery_workers, smtp_server, service_clock
):
    celery_workers.start()
    start = next_start()
    appointment = world.book(start)
    reminders = list(rows(appointment, REMINDER))
    assert [r.planned_for for r in reminders] == [
        start - timedelta(hours=24),
        start - timedelta(hours=2),
    ]

    service_clock.advance(timedelta(minutes=2))
    run_sweep()
    assert smtp_server.received() == [], "nothing before the grace period ends"

    service_clock.advance(timedelta(minutes=1, seconds=1))
    run_sweep()
    [confirmation] = smtp_server.wait_for(1)
    assert confirmation["To"] == world.patient.email
    assert confirmation["Subject"].startswith("Booked: Physiotherapy follow-up")
    local = start.astimezone(TORONTO)
    assert f"10:00 AM {local.tzname()}" in text_of(confirmation)
    assert "1755 Pickering Pkwy" in text_of(confirmation)
    assert f"/book/?reference={appointment.reference}&amp;token=" in html_of(confirmation)
    assert confirmation["List-Unsubscribe"].strip().startswith("<http")
    assert "/api/v1/public/unsubscribe/?token=" in confirmation["List-Unsubscribe"]
    assert confirmation["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    calendar = calendar_of(confirmation)
    assert calendar["METHOD"] == "REQUEST"
    event = calendar.walk("VEVENT")[0]
    assert str(event["UID"]) == appointment.ical_uid
    assert event.decoded("DTSTART") == start
    assert event.decoded("DTEND") == start + timedelta(minutes=45)

    service_clock.move_to(reminders[0].planned_for + timedelta(seconds=1))
    run_sweep()
    messages = smtp_server.wait_for(2)
    assert messages[1]["Subject"].startswith("Reminder: Physiotherapy follow-up")
    assert f"10:00 AM {local.tzname()}" in text_of(messages[1])

    service_clock.move_to(reminders[1].planned_for + timedelta(seconds=1))
    run_sweep()
    messages = smtp_server.wait_for(3)
    service_clock.advance(timedelta(days=1))
    run_sweep()

    assert len(smtp_server.received()) == 3
    assert [m["Subject"].split(":")[0] for m in messages] == ["Booked", "Reminder", "Reminder"]
    assert len(set(smtp_server.message_ids())) == 3
    assert set(rows(appointment).values_list("status", flat=True)) == {Status.SENT}
