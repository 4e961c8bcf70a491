"""Every appointment e-mail kind, for every modality, sent over SMTP to a real (aiosmtpd) server
and parsed back as a mail client would: the location's local time, the address or the call or
video details of that modality only, the manage link, the List-Unsubscribe headers, and an
iCalendar part the ``icalendar`` library reads (same UID, rising SEQUENCE, REQUEST or CANCEL)."""

import re
import zoneinfo
from datetime import datetime, timedelta
from email.message import EmailMessage
from urllib.parse import parse_qs, urlsplit

import icalendar
import pytest
from django.conf import settings

from notifications import services
from notifications.models import Notification
from patients.tokens import read_unsubscribe_token
from scheduling.models import Modality
from tests.notifications.conftest import World

pytestmark = pytest.mark.django_db
TORONTO = zoneinfo.ZoneInfo("America/Toronto")
# Across the end of daylight-saving time (November 2, 2031): booked in EDT, moved into EST.
FIRST = datetime(2031, 10, 28, 9, 30, tzinfo=TORONTO)
MOVED = datetime(2031, 11, 4, 14, 0, tzinfo=TORONTO)
VIDEO_URL = "https://video.clinic.example/room/pickering"


@pytest.fixture
def smtp_world(db, smtp_server, settings, monkeypatch, django_capture_on_commit_callbacks):
    """The in-process ledger sends through Django's SMTP backend to the test SMTP server."""
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", smtp_server.port
    settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
    monkeypatch.setattr(services, "_enqueue", lambda pk, countdown: None)
    world = World()
    world.location.phone = "+1 905 555 0142"
    world.location.video_url = VIDEO_URL
    world.location.save()
    world.patient.phone = "+1 416 555 0177"
    world.patient.save()
    world.commit = lambda: django_capture_on_commit_callbacks(execute=True)
    return world


def send_due(at: datetime) -> None:
    while (claimed := services.claim(at)) is not None:
        services.send_claimed(claimed, at)


def text_of(message: EmailMessage) -> str:
    return message.get_body(preferencelist=("plain",)).get_content()


def html_of(message: EmailMessage) -> str:
    return message.get_body(preferencelist=("html",)).get_content()


def calendar_of(message: EmailMessage) -> icalendar.Calendar:
    [part] = [p for p in message.walk() if p.get_content_type() == "text/calendar"]
    calendar = icalendar.Calendar.from_ical(part.get_payload(decode=True))
    assert part.get_param("method") == calendar["METHOD"]
    return calendar


def all_emails_for(world: World, modality: str, smtp_server) -> dict[str, EmailMessage]:
    """Book, move, be reminded and cancel: one message of each kind, by subject prefix."""
    world.service.modality = modality
    world.service.save()
    with world.commit():
        appointment = world.book(FIRST.astimezone(TORONTO))
    send_due(appointment.created_at + timedelta(minutes=5))
    with world.commit():
        world.reschedule(appointment, MOVED)
    send_due(Notification.objects.filter(kind="appointment.change").get().next_attempt_at)
    send_due(MOVED - timedelta(hours=2))  # the day-before and two-hour reminders
    with world.commit():
        world.cancel(appointment)
    send_due(MOVED - timedelta(hours=1))
    messages = smtp_server.wait_for(5)
    by_kind = {m["Subject"].split(":")[0]: m for m in messages}
    assert sorted(by_kind) == ["Booked", "Cancelled", "Changed", "Reminder"]
    assert [m["Subject"].split(":")[0] for m in messages].count("Reminder") == 2
    appointment.refresh_from_db()
    return appointment, by_kind


def check_common(appointment, kind: str, message: EmailMessage, sequences: list[int]) -> None:
    text, html = text_of(message), html_of(message)
    # Local time of the location, with its zone's abbreviation for that date.
    shown = "Tuesday, October 28, 2031, 9:30 AM EDT"
    if kind != "Booked":
        shown = "Tuesday, November 4, 2031, 2:00 PM EST"
    assert shown in text, (kind, text)
    assert shown in html
    # The manage link opens this booking's page with its token.
    if kind != "Cancelled":
        [link] = {u for u in re.findall(r"https?://\S+", text) if "/manage/" in u}
        parts = urlsplit(link)
        assert parts.path == f"/manage/{appointment.reference}/"
        assert parse_qs(parts.query)["token"] == [appointment.manage_token]
        assert f'href="{link.replace("&", "&amp;")}"' in html
    # One-click unsubscribe (RFC 2369 and 8058), pointing to the unsubscribe page.
    header = message["List-Unsubscribe"].strip()
    assert (header[0], header[-1]) == ("<", ">")
    url = header[1:-1]
    assert url.startswith(f"{settings.PUBLIC_BASE_URL}/unsubscribe/?token=")
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    token = parse_qs(urlsplit(url).query)["token"][0]
    assert read_unsubscribe_token(token) == (appointment.patient, "reminders")
    # A calendar part every client reads: one event, the booking's UID, start in UTC.
    calendar = calendar_of(message)
    [event] = calendar.walk("VEVENT")
    assert str(event["UID"]) == appointment.ical_uid
    cancelled = kind == "Cancelled"
    assert calendar["METHOD"] == ("CANCEL" if cancelled else "REQUEST")
    assert str(event["STATUS"]) == ("CANCELLED" if cancelled else "CONFIRMED")
    start = FIRST if kind == "Booked" else MOVED
    assert event.decoded("DTSTART") == start
    sequences.append(int(event["SEQUENCE"]))


@pytest.mark.parametrize("modality", [Modality.IN_PERSON, Modality.PHONE, Modality.VIDEO])
def test_every_appointment_email_says_when_where_or_how_and_links_manage_and_unsubscribe(
    smtp_world, smtp_server, modality
):
    appointment, by_kind = all_emails_for(smtp_world, modality, smtp_server)
    sequences: list[int] = []
    for kind in ("Booked", "Changed", "Reminder", "Cancelled"):
        message = by_kind[kind]
        check_common(appointment, kind, message, sequences)
        text = text_of(message)
        location = str(calendar_of(message).walk("VEVENT")[0]["LOCATION"])
        if modality == Modality.IN_PERSON:
            assert "Where: Pickering, 1755 Pickering Pkwy" in text
            assert "1755 Pickering Pkwy" in location
            assert "calls you" not in text
            assert "How:" not in text
            assert "video" not in text.lower()
        elif modality == Modality.PHONE:
            assert "Dana Physio calls you at +1 416 555 0177." in text
            assert "Call us at +1 905 555 0142." in text
            assert "+1 416 555 0177" in location
            assert "video" not in text.lower()
            assert "1755 Pickering Pkwy" not in text
        else:
            assert f"Join the video call with Dana Physio at {VIDEO_URL}" in text
            assert f'href="{VIDEO_URL}"' in html_of(message)
            assert location == VIDEO_URL
            assert "calls you" not in text
            assert "1755 Pickering Pkwy" not in text
    # The patient's calendar updates one event: rising sequence (the reminder repeats the last).
    booked, changed, reminder, cancelled = sequences
    assert booked < changed == reminder < cancelled
