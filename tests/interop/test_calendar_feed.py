"""Providers' calendar feeds (DOMAIN.md section 12), read back with the icalendar library."""

import datetime

import icalendar
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.test import APIClient

from clinic import roles
from clinic.models import AuditEvent, ClinicSettings
from notifications.models import Notification
from scheduling import calendar_feed
from scheduling.models import CalendarFeed
from scheduling.services import book_appointment, cancel_appointment, reschedule_appointment
from tests.conftest import client_for
from tests.factories.patients import PatientFactory, clinician_user, staff_user
from tests.scheduling.conftest import local, next_week

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _throttles(no_throttles):
    return no_throttles


@pytest.fixture
def booked(physio, assessment, location):
    patient = PatientFactory(first_name="Ada", last_name="Lovelace")
    return book_appointment(
        service=assessment,
        location=location,
        start=local(next_week(), "10:00"),
        patient=patient,
        provider=physio,
        reason="Knee pain after running",
    )


def _path(token: str) -> str:
    return f"/calendar/{token}.ics"


def _fetch(token: str, **headers):
    return APIClient().get(_path(token), **headers)


def _events(response) -> dict[str, icalendar.Event]:
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/calendar")
    calendar = icalendar.Calendar.from_ical(response.content)
    return {str(e["uid"]): e for e in calendar.walk("VEVENT")}


def test_feed_event_has_the_invitations_uid_and_sequence(booked, physio):
    token = calendar_feed.rotate(physio)
    event = _events(_fetch(token))[booked.ical_uid]
    assert event["sequence"] == booked.ical_sequence == 0
    assert event["dtstart"].dt == booked.start


def test_reschedule_keeps_the_uid_and_raises_the_sequence(booked, physio):
    token = calendar_feed.rotate(physio)
    before = _events(_fetch(token))[booked.ical_uid]
    moved = reschedule_appointment(booked, start=local(next_week(), "14:00"))
    after = _events(_fetch(token))
    assert list(after) == [booked.ical_uid]
    event = after[booked.ical_uid]
    assert event["sequence"] > before["sequence"]
    assert event["dtstart"].dt == moved.start


def test_feed_times_are_local_with_the_locations_vtimezone(booked, physio):
    token = calendar_feed.rotate(physio)
    response = _fetch(token)
    calendar = icalendar.Calendar.from_ical(response.content)
    zones = [str(tz["tzid"]) for tz in calendar.walk("VTIMEZONE")]
    assert zones == ["America/Toronto"]
    event = calendar.walk("VEVENT")[0]
    assert event["dtstart"].params["TZID"] == "America/Toronto"
    assert event["dtstart"].dt.hour == 10


def test_a_cancelled_visit_is_marked_cancelled(booked, physio):
    token = calendar_feed.rotate(physio)
    cancel_appointment(booked, reason="Patient called")
    event = _events(_fetch(token))[booked.ical_uid]
    assert event["status"] == "CANCELLED"
    assert event["sequence"] >= 1


def test_a_rotated_token_gives_404(booked, physio):
    old = calendar_feed.rotate(physio)
    new = calendar_feed.rotate(physio)
    assert _fetch(old).status_code == 404
    assert booked.ical_uid in _events(_fetch(new))


def test_unknown_or_malformed_tokens_give_404(booked, physio):
    calendar_feed.rotate(physio)
    assert _fetch("A" * 43).status_code == 404
    assert _fetch("not a token").status_code == 404


def test_only_a_hash_of_the_token_is_stored(physio):
    token = calendar_feed.rotate(physio)
    feed = CalendarFeed.objects.get(provider=physio)
    assert token not in (feed.token_hash, feed.nonce)
    assert calendar_feed.token_of(feed) == token


def test_no_patient_name_when_the_setting_is_off(booked, physio):
    assert ClinicSettings.load().calendar_feed_patient_names is False
    token = calendar_feed.rotate(physio)
    response = _fetch(token)
    event = _events(response)[booked.ical_uid]
    assert str(event["summary"]) == "Booked: Physiotherapy assessment"
    for secret in (b"Ada", b"Lovelace", b"Knee pain", booked.manage_token.encode()):
        assert secret not in response.content


def test_patient_names_appear_only_when_the_clinic_allows_it(booked, physio):
    settings_row = ClinicSettings.load()
    settings_row.calendar_feed_patient_names = True
    settings_row.save()
    token = calendar_feed.rotate(physio)
    response = _fetch(token)
    event = _events(response)[booked.ical_uid]
    assert str(event["summary"]) == "Physiotherapy assessment: Ada Lovelace"
    assert b"Knee pain" not in response.content  # never clinical content


def test_unchanged_feed_answers_304_to_its_etag_and_changes_after_an_edit(booked, physio):
    token = calendar_feed.rotate(physio)
    first = _fetch(token)
    assert first["ETag"]
    assert first["Last-Modified"]
    again = _fetch(token, HTTP_IF_NONE_MATCH=first["ETag"])
    assert again.status_code == 304
    assert again.content == b""
    reschedule_appointment(booked, start=local(next_week(), "15:00"))
    changed = _fetch(token, HTTP_IF_NONE_MATCH=first["ETag"])
    assert changed.status_code == 200
    assert changed["ETag"] != first["ETag"]


def test_every_feed_fetch_is_audited(booked, physio):
    token = calendar_feed.rotate(physio)
    _fetch(token)
    _fetch(token)
    rows = AuditEvent.objects.filter(object_type="scheduling.CalendarFeed", action="export")
    assert rows.count() == 2
    assert {r.channel for r in rows} == {"feed"}


def test_feed_queries_do_not_grow_with_appointments(physio, assessment, location):
    token = calendar_feed.rotate(physio)
    day = next_week()

    def count() -> int:
        with CaptureQueriesContext(connection) as queries:
            assert _fetch(token).status_code == 200
        return len(queries)

    patient = PatientFactory()
    book_appointment(
        service=assessment,
        location=location,
        start=local(day, "09:00"),
        patient=patient,
        provider=physio,
    )
    few = count()
    for offset in range(1, 8):
        book_appointment(
            service=assessment,
            location=location,
            start=local(day + datetime.timedelta(days=offset), "11:00"),
            patient=PatientFactory(),
            provider=physio,
        )
    assert count() == few


def test_the_provider_and_managers_see_and_rotate_the_link_others_do_not(physio):
    own = clinician_user("feed-own", provider=physio)
    manager = staff_user("feed-manager", roles.MANAGER)
    front_desk = staff_user("feed-desk", roles.FRONT_DESK)
    url = f"/api/v1/providers/{physio.pk}/calendar-feed/"
    assert client_for(own).get(url).json()["url"] is None
    rotated = client_for(own).post(url + "rotate/").json()["url"]
    assert rotated.endswith(".ics")
    assert client_for(manager).get(url).json()["url"] == rotated
    assert client_for(front_desk).get(url).status_code == 403
    assert APIClient().get(url).status_code == 401
    token = rotated.rsplit("/", 1)[1].removesuffix(".ics")
    assert _fetch(token).status_code == 200
    newer = client_for(manager).post(url + "rotate/").json()["url"]
    assert newer != rotated
    assert _fetch(token).status_code == 404


def test_feed_sequence_never_falls_behind_the_last_invitation(booked, physio):
    """The patient's invitation may carry a higher SEQUENCE than the appointment's counter
    (``scheduling.notifications`` keeps it above what their calendar holds): the feed follows."""
    now = timezone.now()
    Notification.objects.create(
        subject_type="scheduling.appointment",
        subject_id=booked.pk,
        kind="appointment.change",
        planned_for=now,
        next_attempt_at=now,
        recipient=booked.patient.email,
        status=Notification.Status.SENT,
        sent_at=now,
        message_id="<feed-sequence@test>",
        told={"sequence": 4},
    )
    token = calendar_feed.rotate(physio)
    assert _events(_fetch(token))[booked.ical_uid]["sequence"] == 4
