"""A series' e-mails end to end: a real Redis broker, a real ``celery -A clinic worker`` on the
test database, a real SMTP server, the messages parsed back with the ``icalendar`` library.
One confirmation for the whole series (one VEVENT per visit, the visits' own UIDs), none per
visit; cancelling "this and the following" sends one notice whose calendar cancels exactly
those visits under the same UIDs."""

import datetime
from email.message import EmailMessage
from zoneinfo import ZoneInfo

import icalendar
import pytest

from notifications.models import Notification
from scheduling.models import Appointment
from scheduling.services import SeriesRule, book_series, cancel_series, move_series
from tests.factories.clinic import LocationFactory
from tests.factories.patients import PatientFactory
from tests.factories.providers import ProviderFactory, ensure_scope_catalog
from tests.factories.scheduling import ServiceFactory, offer, weekly_hours
from tests.notifications.conftest import run_sweep

pytestmark = [
    pytest.mark.services,
    pytest.mark.postgres,
    pytest.mark.django_db(transaction=True),
]

TORONTO = ZoneInfo("America/Toronto")
GRACE = datetime.timedelta(minutes=3, seconds=1)


def calendar_of(message: EmailMessage) -> icalendar.Calendar:
    parts = [p for p in message.walk() if p.get_content_type() == "text/calendar"]
    assert len(parts) == 1, "one iCalendar attachment for the whole series"
    calendar = icalendar.Calendar.from_ical(parts[0].get_payload(decode=True))
    assert parts[0].get_param("method") == calendar["METHOD"]
    return calendar


def text_of(message: EmailMessage) -> str:
    return message.get_body(preferencelist=("plain",)).get_content()


def uids(calendar: icalendar.Calendar) -> list[str]:
    return [str(event["UID"]) for event in calendar.walk("VEVENT")]


@pytest.fixture
def booked_series(transactional_db):
    ensure_scope_catalog()
    location = LocationFactory(slug="pickering", name="Pickering", email="pickering@clinic.example")
    service = ServiceFactory(code="series-mail", name="Physiotherapy follow-up", acts=["diagnose"])
    physio = ProviderFactory(display_name="Dana Physio", locations=[location])
    offer(physio, service, location)
    weekly_hours(physio, location)
    patient = PatientFactory(first_name="Alex", email="alex.series@example.org")
    today = datetime.datetime.now(TORONTO).date()
    monday = today + datetime.timedelta(days=14 - today.weekday())
    start = datetime.datetime.combine(monday, datetime.time(9), tzinfo=TORONTO)
    return book_series(
        service=service,
        location=location,
        provider=physio,
        patient=patient,
        start=start,
        rule=SeriesRule(by_weekday=("MO", "TH"), count=6),
    )


def test_a_series_sends_one_confirmation_and_cancelling_the_following_cancels_exactly_those(
    booked_series, celery_workers, smtp_server, service_clock
):
    visits = booked_series.appointments
    service_clock.advance(GRACE)
    run_sweep()
    [confirmation] = smtp_server.wait_for(1)
    assert confirmation["To"] == "alex.series@example.org"
    assert confirmation["Subject"].startswith("Booked: 6 visits of Physiotherapy follow-up")
    text = text_of(confirmation)
    for visit in visits:
        assert visit.reference in text
        assert "9:00 AM" in text
    calendar = calendar_of(confirmation)
    assert calendar["METHOD"] == "REQUEST"
    assert uids(calendar) == [v.ical_uid for v in visits], "one VEVENT per visit, its own UID"
    starts = [event.decoded("DTSTART") for event in calendar.walk("VEVENT")]
    assert starts == [v.start for v in visits]
    assert not Notification.objects.filter(kind="appointment.confirmation").exists()

    following = visits[3:]
    cancel_series(booked_series.series, reason="Feeling better", on=following[0].local_start.date())
    run_sweep()
    messages = smtp_server.wait_for(2)
    notice = messages[1]
    assert notice["Subject"].startswith("Cancelled: 3 visits of Physiotherapy follow-up")
    calendar = calendar_of(notice)
    assert calendar["METHOD"] == "CANCEL"
    assert uids(calendar) == [v.ical_uid for v in following], "exactly those, same UIDs"
    assert {str(e["STATUS"]) for e in calendar.walk("VEVENT")} == {"CANCELLED"}
    sequences = [int(e["SEQUENCE"]) for e in calendar.walk("VEVENT")]
    assert sequences == [1, 1, 1], "the cancellation raises each visit's sequence"
    assert not Notification.objects.filter(kind="appointment.cancellation").exists()

    kept = Appointment.objects.filter(series=booked_series.series, status="booked")
    assert sorted(kept.values_list("pk", flat=True)) == [v.pk for v in visits[:3]]
    assert (
        Notification.objects.filter(
            kind="appointment.reminder", subject_id__in=[v.pk for v in visits[:3]], status="pending"
        ).count()
        == 6
    ), "the visits kept keep their own reminders"
    run_sweep()
    assert len(smtp_server.received()) == 2, "one e-mail per change, not one per visit"


def test_moving_the_following_visits_sends_one_change_notice_listing_old_and_new_times(
    booked_series, celery_workers, smtp_server, service_clock
):
    visits = booked_series.appointments
    service_clock.advance(GRACE)
    run_sweep()
    smtp_server.wait_for(1)
    moved = move_series(booked_series.series, at=datetime.time(15), on=visits[4].local_start.date())
    assert [m.pk for m in moved] == [v.pk for v in visits[4:]]
    service_clock.advance(GRACE + GRACE)
    run_sweep()
    notice = smtp_server.wait_for(2)[1]
    assert notice["Subject"].startswith("Changed: 2 visits of Physiotherapy follow-up")
    text = text_of(notice)
    assert "3:00 PM" in text
    assert "9:00 AM" in text, "the old time is named"
    calendar = calendar_of(notice)
    assert calendar["METHOD"] == "REQUEST"
    assert uids(calendar) == [v.ical_uid for v in visits[4:]]
    assert [e.decoded("DTSTART").astimezone(TORONTO).hour for e in calendar.walk("VEVENT")] == [
        15,
        15,
    ]
    assert not Notification.objects.filter(kind="appointment.change").exists()
