"""An online booking writes its append-only rows (audit, history, e-mail ledger, consents) in
one statement before commit (``clinic.deferred_inserts``): the same rows, with the same
content, as when each is inserted where it is recorded; a failure there fails the booking."""

import contextlib

import pytest
from django.db import IntegrityError, connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from clinic import deferred_inserts, rules_cache
from clinic.models import AuditEvent, ClinicSettings
from notifications import clock
from notifications import services as notification_services
from notifications.models import Notification
from patients.models import Consent, Patient
from patients.services import PURPOSES, record_consents
from scheduling import notifications as scheduling_notifications
from scheduling.models import Appointment, AppointmentEvent
from scheduling.services import book_online
from tests.factories.patients import PatientFactory
from tests.scheduling.conftest import local, next_week


def book(service, location, provider, start, consent, email="new@example.org") -> Appointment:
    return book_online(
        service_id=service.pk,
        location_id=location.pk,
        provider_id=provider.pk,
        start=start,
        patient_details={
            "first_name": "Nia",
            "last_name": "New",
            "email": email,
            "phone": "+1 905 555 0100",
            "date_of_birth": "1990-05-01",
        },
        consent=consent,
        reason="Knee pain",
        client_address="203.0.113.9",
    )


def written(appointment: Appointment) -> dict:
    """Every row the booking wrote, in id order, without ids and write times; the patient and
    appointment ids are the booking's own."""
    patient_id = appointment.patient_id
    audits = [
        (
            a.patient_id == patient_id,
            a.action,
            a.object_type,
            "patient" if a.object_id == str(patient_id) else a.object_id,
            a.summary,
            a.changes,
            a.client_address,
            a.request_id,
            a.channel,
            a.actor_id,
            a.actor_label,
        )
        for a in AuditEvent.objects.filter(patient_id=patient_id).order_by("pk")
    ]
    history = list(
        AppointmentEvent.objects.filter(appointment=appointment)
        .order_by("pk")
        .values_list("kind", "actor_id", "actor_label", "data")
    )
    ledger = list(
        Notification.objects.filter(subject_id=appointment.pk)
        .order_by("pk")
        .values_list(
            "subject_type",
            "kind",
            "planned_for",
            "recipient",
            "status",
            "reason",
            "next_attempt_at",
            "attempts",
            "context",
            "told",
        )
    )
    consents = list(
        Consent.objects.filter(patient_id=patient_id)
        .order_by("pk")
        .values_list("purpose", "granted", "source", "wording", "wording_version", "client_address")
    )
    patient = Patient.objects.filter(pk=patient_id).values_list(
        "first_name", "last_name", "email", "phone", "date_of_birth", "status"
    )
    return {
        "patient": list(patient),
        "audits": audits,
        "history": history,
        "ledger": ledger,
        "consents": consents,
    }


COLLECTING = deferred_inserts.collecting


def no_deferral(using="default"):
    return contextlib.nullcontext()


@pytest.fixture
def queued(monkeypatch) -> list[int]:
    calls: list[int] = []
    monkeypatch.setattr(notification_services, "_enqueue", lambda pk, countdown: calls.append(pk))
    return calls


@pytest.mark.django_db
@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    consent=st.dictionaries(st.sampled_from(PURPOSES), st.booleans()),
    known=st.none() | st.dictionaries(st.sampled_from(PURPOSES), st.booleans(), min_size=1),
)
def test_a_booking_writes_the_same_rows_deferred_as_inserted_one_by_one(
    monkeypatch, physio, assessment, location, queued, consent, known
):
    """``known``: the person exists, with these consents (a matched person's booking runs its
    savepoint and its consent read), or not (a new person's booking defers every row)."""
    rules_cache.clear()
    fixed = timezone.now().replace(microsecond=0)
    monkeypatch.setattr(clock, "now", lambda: fixed)
    start = local(next_week(), "10:00")
    with transaction.atomic():  # the rules cache warmed, for both runs alike
        book(assessment, location, physio, start, {}, email="warm@example.org")
        transaction.set_rollback(True)
    outcomes = []
    for collecting in (COLLECTING, no_deferral):
        monkeypatch.setattr(deferred_inserts, "collecting", collecting)
        with transaction.atomic():
            if known is not None:
                existing = PatientFactory(
                    first_name="Kim", last_name="Known", email="new@example.org", phone=""
                )
                record_consents(existing, choices=known, source="staff")
            with CaptureQueriesContext(connection) as captured:
                appointment = book(assessment, location, physio, start, consent)
            outcomes.append((written(appointment), len(captured.captured_queries)))
            transaction.set_rollback(True)
    (deferred, deferred_count), (plain, plain_count) = outcomes
    assert deferred == plain
    assert deferred_count <= plain_count
    if connection.vendor == "postgresql" and known is None:  # elsewhere: one insert per model
        assert deferred_count < plain_count


@pytest.mark.django_db(transaction=True)
def test_the_deferred_rows_get_their_ids_and_the_task_is_queued_after_commit(
    monkeypatch, physio, assessment, location, queued, no_grace
):
    in_transaction: list[bool] = []

    def enqueue(pk: int, countdown: float) -> None:
        queued.append(pk)
        in_transaction.append(connection.in_atomic_block)

    monkeypatch.setattr(notification_services, "_enqueue", enqueue)
    appointment = book(assessment, location, physio, local(next_week(), "10:00"), {})
    rows = Notification.objects.filter(subject_id=appointment.pk)
    assert queued == [rows.get(kind="appointment.confirmation").pk]
    assert in_transaction == [False], "queued only once the booking committed"
    audits = list(AuditEvent.objects.order_by("pk"))
    assert [a.occurred_at for a in audits] == sorted(a.occurred_at for a in audits)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_failing_write_of_the_deferred_rows_rolls_back_the_whole_booking(
    monkeypatch, physio, assessment, location, queued
):
    """Two ledger rows with one key break the unique constraint in the final statement: the
    person, the appointment and every row with them are gone, and no task is queued."""
    real = notification_services.plan_first

    def twice(subject, items, *, created_here=False):
        return real(subject, [*items, *items], created_here=created_here)

    monkeypatch.setattr(scheduling_notifications.services, "plan_first", twice)
    with pytest.raises(IntegrityError):
        book(assessment, location, physio, local(next_week(), "10:00"), {"reminders": True})
    for model in (Patient, Appointment, AppointmentEvent, Notification, Consent, AuditEvent):
        assert not model.objects.exists(), model
    assert queued == []


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_new_persons_online_booking_runs_seven_statements(physio, assessment, location):
    """The rules token, BEGIN, the person's insert (no read first), the busy merge, the
    appointment, the append-only rows in one statement, COMMIT."""
    ClinicSettings.load()
    book(assessment, location, physio, local(next_week(), "09:00"), {}, email="warm@example.org")
    with CaptureQueriesContext(connection) as captured:
        book(assessment, location, physio, local(next_week(), "10:00"), {"reminders": True})
    sql = [q["sql"] for q in captured.captured_queries]
    assert len(sql) == 7, sql
    assert sql[0].startswith("SELECT value FROM clinic_rulestoken")
    assert sql[1] == "BEGIN"
    assert sql[2].startswith('INSERT INTO "patients_patient"')
    assert "ON CONFLICT" in sql[2]
    assert sql[4].startswith('INSERT INTO "scheduling_appointment"')
    tables = ["clinic_auditevent", "scheduling_appointmentevent", "notifications_notification"]
    assert sql[5].startswith("WITH i0 AS (INSERT INTO")
    assert all(f'INSERT INTO "{table}"' in sql[5] for table in [*tables, "patients_consent"])
    assert sql[6] == "COMMIT"


@pytest.mark.django_db
def test_a_matched_persons_booking_keeps_its_checks_and_defers_only_its_own_level(
    physio, assessment, location
):
    """A matched person's booking runs in a savepoint: its history and ledger rows are inserted
    there (a refusal rolls them back with it), its consent rows at the booking's level."""
    PatientFactory(email="known@example.org")
    with CaptureQueriesContext(connection) as captured:
        book(
            assessment,
            location,
            physio,
            local(next_week(), "10:00"),
            {"marketing": False},
            email="known@example.org",
        )
    sql = [q["sql"] for q in captured.captured_queries]
    assert [s for s in sql if s.startswith('INSERT INTO "scheduling_appointmentevent"')]
    assert Consent.objects.filter(purpose="marketing", granted=False).count() == 1
    if connection.vendor == "postgresql":  # elsewhere the block writes one insert per model
        assert not [s for s in sql if s.startswith('INSERT INTO "patients_consent"')]
        assert [s for s in sql if s.startswith("WITH i0 AS (INSERT") and '"patients_consent"' in s]
