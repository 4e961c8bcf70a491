"""Red team: the insert-first match and the deferred rows of an online booking, attacked from
outside (hostile bodies, racing connections, threads sharing the request serializer)."""

import threading

import pytest
from django.db import connection
from rest_framework.test import APIClient

from clinic.models import AuditEvent
from patients import services
from patients.models import Consent, Patient
from scheduling.models import Appointment
from tests.factories.patients import PatientFactory
from tests.scheduling.conftest import local, next_week
from tests.scheduling.test_public_api import body


def _in_another_connection(work) -> None:
    """Run ``work`` in a thread with its own connection, committed before this returns."""
    errors: list[BaseException] = []

    def run() -> None:
        try:
            work()
        except BaseException as exc:  # reported to the test below
            errors.append(exc)
        finally:
            connection.close()

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(timeout=30)
    assert not errors, errors


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
            _in_another_connection(
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
