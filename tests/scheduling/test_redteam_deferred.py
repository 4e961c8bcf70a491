"""Red team: the insert-first match and the deferred rows of an online booking, attacked from
outside (hostile bodies, racing connections, threads sharing the request serializer)."""

import json
import sys
import threading
import zoneinfo

import pytest
from django.db import transaction
from django.utils import timezone
from rest_framework.test import APIClient

from clinic import deferred_inserts, middleware
from clinic.audit import record_event
from clinic.models import AuditEvent
from notifications.models import Notification
from patients import services
from patients.models import Consent, Patient
from scheduling.models import Appointment, AppointmentEvent
from tests.factories.patients import PatientFactory
from tests.scheduling.conftest import committed_on_another_connection, local, next_week
from tests.scheduling.test_booking_request import VALID, through_function, through_serializer
from tests.scheduling.test_public_api import body
from tests.scheduling.test_races import booking, clinic, run_in_parallel

__all__ = ["clinic"]  # the race tests' fixture


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_booking_whose_matched_person_is_archived_meanwhile_books_them_anew(
    monkeypatch, physio, assessment, location
):
    """The booking's insert is refused by the live holder of the e-mail, who is archived (and
    committed) before the booking reads them: the booking is a new person's, not a 500."""
    known = PatientFactory(email="known@example.org", status=Patient.Status.ACTIVE)
    real_insert = services._insert_unless_email_taken

    def insert_then_archive_the_holder(patient):
        inserted = real_insert(patient)
        if not inserted:
            committed_on_another_connection(
                lambda: Patient.objects.filter(pk=known.pk).update(status=Patient.Status.ARCHIVED)
            )
        return inserted

    monkeypatch.setattr(services, "_insert_unless_email_taken", insert_then_archive_the_holder)
    response = APIClient().post(
        "/api/v1/public/bookings/",
        body(assessment, location, local(next_week(), "10:00"), physio, email="Known@example.org"),
        format="json",
    )
    assert response.status_code == 201, response.content
    booked = Appointment.objects.get(reference=response.json()["reference"]).patient
    assert booked.pk != known.pk
    assert booked.status != Patient.Status.ARCHIVED
    assert AuditEvent.objects.filter(
        object_type="patients.Patient", action="create", object_id=str(booked.pk)
    ).exists()
    assert Consent.objects.filter(patient=booked).exists()


# 255 characters: the e-mail validator's 320 let it through, the column's 254 do not.
TOO_LONG_EMAIL = "k" * 62 + "@" + ("a" * 62 + ".") * 3 + "org"


@pytest.mark.django_db
def test_an_email_longer_than_its_column_is_refused_naming_the_field(
    api_client, physio, assessment, location
):
    assert len(TOO_LONG_EMAIL) == 255
    data = body(assessment, location, local(next_week(), "10:00"), physio, email=TOO_LONG_EMAIL)
    booking = api_client.post("/api/v1/public/bookings/", data, format="json")
    callback = api_client.post(
        "/api/v1/public/callback-requests/",
        {"name": "Ada", "phone": "+1 905 555 0100", "email": TOO_LONG_EMAIL, "consent": {}},
        format="json",
    )
    for response, field in ((booking, "patient.email"), (callback, "email")):
        assert response.status_code == 400
        assert response["Content-Type"] == "application/problem+json"
        assert [(e["field"], e["code"]) for e in response.json()["errors"]] == [
            (field, "max_length")
        ]
    assert not Patient.objects.exists()


def _thread_bodies(n: int) -> list:
    """Thread ``n``'s bodies: its own valid one and refusals in different places."""
    patient = VALID["patient"] | {"first_name": f"Ada{n}", "email": f"t{n}@example.org"}
    valid = VALID | {"service": n + 1, "patient": patient, "start": f"2027-03-0{n + 1}T09:00:00Z"}
    return [
        valid,
        valid | {"patient": patient | {"email": f"not-an-email-{n}"}},
        valid | {"patient": patient | {"first_name": "x" * (101 + n)}},
        valid | {"consent": {f"purpose{n}": "maybe"}},
        valid | {"service": f"s{n}", "start": f"day {n}"},
        [n],
        valid | {"patient": None},
    ]


def test_the_shared_booking_serializer_gives_each_thread_its_own_answers():
    """The serializer instance is one per process and a threaded server validates bodies at
    once: each thread, in its own time zone, gets what a fresh serializer gives it, never a
    value or an error of another thread's body."""
    zones = ["UTC", "America/Toronto", "Asia/Kolkata", "Australia/Lord_Howe"]
    threads_n, rounds = len(zones), 300
    barrier = threading.Barrier(threads_n)
    mismatches: list = []

    done: list[int] = []

    def work(n: int) -> None:
        timezone.activate(zoneinfo.ZoneInfo(zones[n]))
        bodies = _thread_bodies(n)
        expected = [through_serializer(b) for b in bodies]
        barrier.wait(timeout=10)
        for _ in range(rounds):
            for data, want in zip(bodies, expected, strict=True):
                try:
                    got = through_function(data)
                except Exception as exc:  # anything but its answer is cross-talk too
                    got = repr(exc)
                if got != want:
                    mismatches.append((n, data, got, want))
        done.append(n)

    switch = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # threads switch within a validation, not between bodies
    try:
        threads = [threading.Thread(target=work, args=(n,)) for n in range(threads_n)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
    finally:
        sys.setswitchinterval(switch)
    assert sorted(done) == list(range(threads_n))
    assert not mismatches[:3]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_the_losers_of_a_slot_race_leave_none_of_their_deferred_rows(clinic):
    """New people racing for one slot: each queued its person's audit row (and would queue its
    history, ledger and consent rows) before its insert lost; nothing of a loser remains."""
    location, service, physio = clinic
    start = local(next_week(), "10:00")
    racers = 8
    results = run_in_parallel(
        [
            booking(service, location, start, physio, email=f"l{i}@example.org")
            for i in range(racers)
        ]
    )
    assert sorted(code for code, _ in results) == [201] + [409] * (racers - 1)
    [appointment] = Appointment.objects.all()
    winner = appointment.patient_id
    assert list(Patient.objects.values_list("pk", flat=True)) == [winner]
    assert set(AuditEvent.objects.values_list("patient_id", flat=True)) == {winner}
    assert set(Consent.objects.values_list("patient_id", flat=True)) == {winner}
    assert list(AppointmentEvent.objects.values_list("appointment_id", flat=True)) == [
        appointment.pk
    ]
    assert set(Notification.objects.values_list("subject_id", flat=True)) == {appointment.pk}


@pytest.mark.django_db
def test_a_deferred_audit_row_keeps_the_request_id_it_was_recorded_under():
    """The row is built when recorded, so it carries the request id of that moment, not what
    the context says when the block writes it (here: another id)."""
    with transaction.atomic(), deferred_inserts.collecting():
        recorded = middleware._request_id.set("lb-booking.7")
        try:
            record_event(
                actor=None, action="create", object_type="x", object_id="1", channel="public"
            )
        finally:
            middleware._request_id.reset(recorded)
        assert not AuditEvent.objects.exists(), "deferred"
        flushed_under = middleware._request_id.set("another-request")
    middleware._request_id.reset(flushed_under)
    assert list(AuditEvent.objects.values_list("request_id", "channel", "actor")) == [
        ("lb-booking.7", "public", None)
    ]


PATIENT_FIELDS = ("first_name", "last_name", "email", "phone", "date_of_birth")
HOSTILE_VALUES = {
    "nul": lambda value: value[:2] + "\x00" + value[2:],
    "lone-surrogate": lambda value: value[:2] + "\ud800" + value[2:],
    "too-long": lambda value: value + "9" * 300,
}


@pytest.mark.django_db
@pytest.mark.parametrize("field", PATIENT_FIELDS)
@pytest.mark.parametrize("hostile", HOSTILE_VALUES)
def test_a_hostile_patient_detail_is_answered_alike_for_a_known_and_an_unknown_email(
    api_client, physio, assessment, location, field, hostile
):
    """Now that the person is inserted before any read, a detail the table cannot hold must
    still be refused before the e-mail decides anything: a 4xx problem naming the field, the
    same bytes for a patient's address as for a stranger's, nothing written."""
    PatientFactory(email="known@example.org")
    answers = []
    for hour, email in ((10, "KNOWN@example.org"), (12, "stranger@example.org")):
        data = body(assessment, location, local(next_week(), f"{hour}:00"), physio, email=email)
        patient = data["patient"]
        patient[field] = HOSTILE_VALUES[hostile](patient[field])
        response = api_client.post(
            "/api/v1/public/bookings/", json.dumps(data), content_type="application/json"
        )
        assert 400 <= response.status_code < 500, response.content
        assert response["Content-Type"] == "application/problem+json"
        assert {e["field"] for e in response.json()["errors"]} == {f"patient.{field}"}
        answers.append((response.status_code, response.content))
    assert answers[0] == answers[1]
    assert Patient.objects.count() == 1
    assert not Appointment.objects.exists()
