"""An online booking of a person it creates: that person's row is seen by no other transaction
and has no appointments or consents, so ``book_online`` skips their lock, their limits query
and the read of their consents; the e-mails are planned inside the booking's one transaction.
A matched (existing) person still goes through every check."""

from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from hypothesis import given, settings
from hypothesis import strategies as st

from clinic import rules_cache
from clinic.audit import object_label
from clinic.errors import DomainError
from clinic.models import AuditEvent, ClinicSettings
from notifications import services as notification_services
from notifications.models import Notification
from patients.models import Consent, Patient
from patients.services import PURPOSES, record_consents, record_online_form_consents
from scheduling.models import Appointment
from scheduling.services import book_appointment, book_online
from tests.factories.patients import PatientFactory
from tests.factories.providers import ProviderFactory
from tests.factories.scheduling import offer, weekly_hours
from tests.scheduling.conftest import local, next_week

PROBLEM = "https://clinic-backend.dev/problems/"


def details(email: str = "new@example.org") -> dict:
    return {
        "first_name": "Nia",
        "last_name": "New",
        "email": email,
        "phone": "+1 905 555 0100",
        "date_of_birth": "1990-05-01",
    }


def book_new(assessment, location, start, provider=None, email="new@example.org"):
    return book_online(
        service_id=assessment.pk,
        location_id=location.pk,
        provider_id=provider.pk if provider is not None else None,
        start=start,
        patient_details=details(email),
        consent={"reminders": True},
        reason="Knee pain",
    )


def body(service, location, start, provider, email="new@example.org") -> dict:
    return {
        "service": service.pk,
        "location": location.pk,
        "start": start.isoformat(),
        "provider": provider.pk,
        "patient": details(email),
        "consent": {"reminders": True},
        "reason": "Knee pain",
    }


@pytest.fixture
def queued(monkeypatch) -> list[int]:
    calls: list[int] = []
    monkeypatch.setattr(notification_services, "_enqueue", lambda pk, countdown: calls.append(pk))
    return calls


class Boom(Exception):
    pass


@pytest.mark.django_db(transaction=True)
def test_a_booking_that_rolls_back_leaves_no_ledger_row_and_queues_no_task(
    physio, assessment, location, queued
):
    start = local(next_week(), "10:00")
    seen: list[int] = []

    def book_then_fail() -> None:
        with transaction.atomic():
            book_new(assessment, location, start, physio)
            seen.append(Notification.objects.count())
            raise Boom

    with pytest.raises(Boom):
        book_then_fail()
    assert seen[0] > 0, "the rows are written inside the booking"
    assert not Appointment.objects.exists()
    assert not Notification.objects.exists()
    assert queued == []


@pytest.mark.django_db(transaction=True)
def test_a_committed_booking_has_its_rows_and_queues_the_confirmation_after_commit(
    physio, assessment, location, queued, no_grace
):
    start = local(next_week(), "10:00")
    with transaction.atomic():
        appointment = book_new(assessment, location, start, physio)
        assert queued == [], "nothing is queued before the commit"
    rows = Notification.objects.filter(subject_id=appointment.pk)
    confirmation = rows.get(kind="appointment.confirmation")
    assert rows.filter(kind="appointment.reminder").exists()
    assert queued == [confirmation.pk]


@pytest.mark.django_db(transaction=True)
def test_a_new_persons_booking_is_one_transaction_without_their_lock_or_a_settings_read(
    physio, assessment, location, queued
):
    book_new(assessment, location, local(next_week(), "09:00"), physio, email="warm@example.org")
    with CaptureQueriesContext(connection) as captured:
        book_new(assessment, location, local(next_week(), "10:00"), physio)
    sql = [q["sql"] for q in captured.captured_queries]
    assert sum(s == "COMMIT" for s in sql) == 1
    assert not [s for s in sql if "clinic_clinicsettings" in s]
    assert not [s for s in sql if "patients_patient" in s and "FOR UPDATE" in s]
    assert not [s for s in sql if s.startswith("SELECT") and "patients_consent" in s]
    assert Notification.objects.filter(kind="appointment.confirmation").count() == 2


@pytest.mark.django_db
def test_a_new_person_is_still_refused_by_a_limit_their_empty_history_breaks(
    physio, assessment, location
):
    """``NO_APPOINTMENTS`` stands for the counts: a cap of zero upcoming online bookings
    refuses a person created by this very booking, as the counting query would."""
    ClinicSettings.objects.update_or_create(pk=1, defaults={"max_upcoming_online_bookings": 0})
    with pytest.raises(DomainError) as refused:
        book_new(assessment, location, local(next_week(), "10:00"), physio)
    assert refused.value.errors[0].code == "max_upcoming_bookings"
    assert not Patient.objects.exists()


@pytest.mark.django_db
def test_an_existing_person_booking_online_at_a_time_they_are_booked_gets_409(
    api_client, physio, assessment, location
):
    other = ProviderFactory(display_name="Second Physio", locations=[location])
    offer(other, assessment, location)
    weekly_hours(other, location)
    start = local(next_week(), "10:00")
    first = api_client.post("/api/v1/public/bookings/", body(assessment, location, start, physio))
    assert first.status_code == 201
    again = api_client.post(
        "/api/v1/public/bookings/",
        body(assessment, location, start, other, email="NEW@example.org"),
        format="json",
    )
    assert again.status_code == 409
    assert again.json()["type"] == f"{PROBLEM}slot-unavailable"
    assert Appointment.objects.count() == 1


@pytest.mark.django_db
def test_an_existing_person_is_locked_and_counted_when_booked(physio, assessment, location):
    book_new(assessment, location, local(next_week(), "09:00"), physio)
    with CaptureQueriesContext(connection) as captured:
        book_new(assessment, location, local(next_week(), "11:00"), physio)
    sql = [q["sql"] for q in captured.captured_queries]
    if connection.features.has_select_for_update:  # SQLite locks the whole file instead
        assert [s for s in sql if "patients_patient" in s and "FOR UPDATE" in s]
    assert [s for s in sql if "COUNT" in s and "scheduling_appointment" in s]


@pytest.mark.django_db
def test_the_booking_rule_with_a_new_patient_flag_judges_like_the_counting_query(
    physio, assessment, location
):
    """``new_patient=True`` for a person without appointments books what the plain path books."""
    start = local(next_week(), "10:00")
    plain = Patient.objects.create(first_name="P", last_name="Lain", email="plain@example.org")
    fresh = Patient.objects.create(first_name="F", last_name="Resh", email="fresh@example.org")
    with transaction.atomic():
        a = book_appointment(
            service=assessment, location=location, start=start, patient=plain, source="online"
        )
    with transaction.atomic():
        b = book_appointment(
            service=assessment,
            location=location,
            start=start + timedelta(hours=1),
            patient=fresh,
            source="online",
            new_patient=True,
        )
    assert (a.provider_id, a.status, a.source) == (b.provider_id, b.status, b.source)
    fresh.refresh_from_db()
    plain.refresh_from_db()
    assert fresh.status == plain.status


def _recorded(patient: Patient) -> tuple[list, list]:
    consents = list(
        Consent.objects.filter(patient=patient)
        .order_by("purpose")
        .values_list("purpose", "granted", "source", "wording", "wording_version")
    )
    audits = list(
        AuditEvent.objects.filter(
            patient_id=patient.pk, object_type=object_label(Consent)
        ).values_list("action", "changes", "summary", "channel")
    )
    return consents, audits


@pytest.mark.django_db
@settings(max_examples=25, deadline=None)
@given(choices=st.dictionaries(st.sampled_from(PURPOSES), st.booleans()))
def test_a_created_persons_form_consents_equal_the_locked_path(choices):
    """The created person's shortcut (no lock, no read of the latest) records what
    ``record_consents`` records for a person without consents."""
    rules_cache.clear()
    with transaction.atomic():
        Patient.objects.all().delete()
        plain = Patient.objects.create(first_name="P", last_name="L", email="p@example.org")
        fresh = Patient.objects.create(first_name="F", last_name="R", email="f@example.org")
        if choices:
            record_consents(plain, choices=choices, source="online_form")
        record_online_form_consents(fresh, created=True, choices=choices, client_address=None)
        assert _recorded(plain) == _recorded(fresh)
        transaction.set_rollback(True)


@pytest.mark.django_db
def test_a_new_person_booking_real_care_online_is_an_active_patient_from_the_start(
    physio, assessment, location
):
    """A lead who books real care becomes active; a new person booking it is written active
    at once (no second write of their row), audited as a new patient."""
    with CaptureQueriesContext(connection) as captured:
        book_new(assessment, location, local(next_week(), "09:00"), physio)
    patient = Patient.objects.get(email="new@example.org")
    assert patient.status == Patient.Status.ACTIVE
    writes = [q["sql"] for q in captured.captured_queries if q["sql"].startswith("UPDATE")]
    assert not [sql for sql in writes if "patients_patient" in sql]
    created = AuditEvent.objects.get(object_id=patient.pk, action=AuditEvent.Action.CREATE)
    assert created.summary == "new patient"


@pytest.mark.django_db
def test_a_lead_booking_real_care_online_becomes_an_active_patient(physio, assessment, location):
    lead = PatientFactory(email="lead@example.org", status=Patient.Status.LEAD)
    book_new(assessment, location, local(next_week(), "09:00"), physio, email="lead@example.org")
    lead.refresh_from_db()
    assert lead.status == Patient.Status.ACTIVE
