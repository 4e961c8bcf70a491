"""``clinic.deferred_inserts``: append-only rows of a transaction written in one statement
before it commits, and never differently from saving them one by one."""

import pytest
from django.db import IntegrityError, connection, transaction
from django.db.transaction import TransactionManagementError
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from clinic import deferred_inserts
from clinic.audit import record_event
from clinic.models import AuditEvent
from patients.models import Consent, Patient


class Boom(Exception):
    pass


def audit(summary: str) -> None:
    record_event(actor=None, action="create", object_type="x.Y", object_id=1, summary=summary[:300])


def consent(patient: Patient, purpose: str = "reminders") -> Consent:
    return Consent(patient=patient, purpose=purpose, granted=True, source="online_form")


@pytest.mark.django_db
def test_outside_a_block_nothing_is_deferred():
    assert not deferred_inserts.defer([AuditEvent(action="read", object_type="x.Y")])
    audit("now")
    assert AuditEvent.objects.filter(summary="now").exists()


@pytest.mark.django_db(transaction=True)
def test_a_block_needs_an_open_transaction():
    with pytest.raises(TransactionManagementError), deferred_inserts.collecting():
        pass


@pytest.mark.django_db
def test_rows_of_several_models_are_written_when_the_block_closes_with_their_ids():
    patient = Patient.objects.create(first_name="A", last_name="B", email="a@example.org")
    rows = [consent(patient), consent(patient, "marketing")]
    seen: list[list[int | None]] = []
    with transaction.atomic(), deferred_inserts.collecting():
        audit("first")
        assert deferred_inserts.defer(rows, after=lambda: seen.append([r.pk for r in rows]))
        audit("second")
        assert not AuditEvent.objects.exists(), "nothing is written before the block closes"
        assert not Consent.objects.exists()
    stored = list(Consent.objects.order_by("pk"))
    assert [c.pk for c in stored] == [r.pk for r in rows] == seen[0]
    assert [c.purpose for c in stored] == ["reminders", "marketing"]
    assert not rows[0]._state.adding
    events = list(AuditEvent.objects.order_by("pk"))
    assert [e.summary for e in events] == ["first", "second"]
    assert events[0].occurred_at < events[1].occurred_at


@pytest.mark.postgres
@pytest.mark.django_db
def test_on_postgresql_the_rows_of_a_block_are_one_statement():
    patient = Patient.objects.create(first_name="A", last_name="B", email="a@example.org")
    with (
        CaptureQueriesContext(connection) as captured,
        transaction.atomic(),
        deferred_inserts.collecting(),
    ):
        audit("one")
        deferred_inserts.defer([consent(patient), consent(patient, "marketing")])
        audit("two")
    sql = [q["sql"] for q in captured.captured_queries if not q["sql"].startswith("SAVEPOINT")]
    sql = [s for s in sql if not s.startswith("RELEASE SAVEPOINT")]
    assert len(sql) == 1
    assert sql[0].startswith("WITH i0 AS (INSERT INTO")
    assert AuditEvent.objects.count() == 2
    assert Consent.objects.count() == 2


@pytest.mark.django_db
def test_a_value_set_on_save_is_taken_when_the_row_is_deferred_not_when_it_is_written():
    with transaction.atomic(), deferred_inserts.collecting():
        before = timezone.now()
        audit("timed")
        after = timezone.now()
    occurred = AuditEvent.objects.get(summary="timed").occurred_at
    assert before <= occurred <= after


@pytest.mark.django_db
def test_rows_inside_a_later_savepoint_are_inserted_at_once_and_roll_back_with_it():
    with transaction.atomic(), deferred_inserts.collecting():
        audit("kept")
        try:
            with transaction.atomic():
                audit("inside the savepoint")
                assert AuditEvent.objects.filter(summary="inside the savepoint").exists()
                raise Boom
        except Boom:
            pass
        with transaction.atomic(savepoint=False):
            audit("no savepoint: still deferred")
            assert not AuditEvent.objects.filter(summary__startswith="no savepoint").exists()
    assert sorted(AuditEvent.objects.values_list("summary", flat=True)) == [
        "kept",
        "no savepoint: still deferred",
    ]


@pytest.mark.django_db
def test_a_block_left_by_an_error_writes_nothing_and_runs_no_callback():
    called: list[bool] = []

    def fail_in_the_block() -> None:
        with transaction.atomic(), deferred_inserts.collecting():
            audit("lost")
            deferred_inserts.defer([], after=lambda: called.append(True))
            raise Boom

    with pytest.raises(Boom):
        fail_in_the_block()
    assert not AuditEvent.objects.exists()
    assert called == []


@pytest.mark.django_db
def test_a_block_in_a_transaction_marked_for_rollback_writes_nothing():
    with transaction.atomic(), deferred_inserts.collecting():
        audit("lost")
        transaction.set_rollback(True)
    assert not AuditEvent.objects.exists()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_constraint_the_write_breaks_fails_the_transaction_as_a_whole():
    Patient.objects.create(first_name="A", last_name="B", email="a@example.org")
    twin = Patient(first_name="C", last_name="D", email="A@example.org")

    def book_a_twin() -> None:
        with transaction.atomic(), deferred_inserts.collecting():
            audit("lost")
            Patient.objects.create(first_name="E", last_name="F", email="e@example.org")
            deferred_inserts.defer([twin])  # the unique e-mail index refuses it

    with pytest.raises(IntegrityError, match="patient_unique_email_not_archived"):
        book_a_twin()
    assert not AuditEvent.objects.exists()
    assert list(Patient.objects.values_list("email", flat=True)) == ["a@example.org"]


@pytest.mark.django_db
def test_only_new_rows_with_an_auto_primary_key_are_deferred():
    patient = Patient.objects.create(first_name="A", last_name="B", email="a@example.org")
    with (
        transaction.atomic(),
        deferred_inserts.collecting(),
        pytest.raises(ValueError, match="only new rows"),
    ):
        deferred_inserts.defer([patient])
