"""``clinic.insert_statements``: an INSERT built once per model writes what ``save()`` writes."""

import itertools
import uuid
from datetime import UTC, date, datetime, timedelta

import pytest
from django.db import connection
from django.db.models.functions import Now
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from clinic import insert_statements
from clinic.models import AuditEvent, Location
from notifications.models import Notification
from patients.models import Consent, Patient
from providers.models import Credential
from scheduling.models import Appointment
from tests.factories.clinic import LocationFactory
from tests.factories.providers import ProviderFactory
from tests.factories.scheduling import ServiceFactory

pytestmark = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="the built statements serve PostgreSQL's paths"
)

text = st.text(st.characters(blacklist_categories=["Cs"], blacklist_characters="\x00"), max_size=40)
EXAMPLES = itertools.count()
WHEN = datetime(2027, 3, 14, 6, 59, 59, 999999, tzinfo=UTC)


def same_save_times(saved, built) -> None:
    """``auto_now``/``auto_now_add`` times as the ORM's save set them on ``saved``."""
    for f in insert_statements.columns(type(saved)):
        if getattr(f, "auto_now", False) or getattr(f, "auto_now_add", False):
            setattr(built, f.attname, getattr(saved, f.attname))


def stored(obj) -> dict:
    row = type(obj).objects.filter(pk=obj.pk).values().get()
    row.pop("id")
    return row


@pytest.mark.django_db
@settings(max_examples=25, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    first=text,
    last=text,
    born=st.one_of(st.none(), st.dates(min_value=date(1850, 1, 1), max_value=date(2026, 12, 1))),
    local_part=st.from_regex(r"[a-z0-9]{1,20}", fullmatch=True),
)
def test_a_patient_row_is_stored_as_save_would_store_it(first, last, born, local_part):
    location = Location.objects.first()
    fields = {
        "first_name": first,
        "last_name": last,
        "date_of_birth": born,
        "preferred_location": location,
        "status": Patient.Status.ACTIVE,
    }
    n = next(EXAMPLES)  # the examples share one transaction, and the e-mail is unique
    saved = Patient(email=f"{local_part}.{n}@saved.example.org", **fields)
    Patient.objects.bulk_create([saved])
    built = Patient(email=f"{local_part}.{n}@built.example.org", **fields)
    assert insert_statements.insert(built)
    times = {"created_at": None, "updated_at": None}
    assert stored(built) | times == stored(saved) | {"email": built.email} | times


def insert_recordset(objs: list) -> list[int]:
    statement = insert_statements.recordset_sql(connection, type(objs[0]))
    with connection.cursor() as cursor:
        cursor.execute(statement, [insert_statements.recordset(connection, objs)])
        return [pk for (pk,) in cursor.fetchall()]


@pytest.mark.django_db
def test_ledger_audit_and_consent_rows_of_several_rows_each_are_stored_as_bulk_create_stores_them():
    patient = Patient.objects.create(first_name="A", last_name="B", email="ab@example.org")

    def ledger(n: int, built: bool) -> Notification:
        return Notification(
            subject_type="scheduling.appointment",
            subject_id=n + 1000 * built,  # the ledger's key is unique
            kind="confirmation",
            planned_for=WHEN,
            next_attempt_at=WHEN,
            recipient="ab@example.org",
            message_id=f"<{n}-{built}@clinic.example>",
            context={"nested": {"list": [1, "two", None]}, "text": "é\u2028"},
            lease_token=uuid.UUID(int=n),
        )

    def audit(n: int, built: bool) -> AuditEvent:
        return AuditEvent(occurred_at=WHEN, action="create", object_type="x.Y", object_id=n)

    def consent(purpose: str, built: bool) -> Consent:
        return Consent(
            patient=patient,
            purpose=purpose,
            granted=True,
            recorded_at=WHEN,
            source="online_form",
            client_address="2001:db8::1",
        )

    unique = {"subject_id": None, "message_id": None}
    for make, keys in ((ledger, [1, 2, 3]), (audit, [1, 2]), (consent, ["reminders", "marketing"])):
        saved = [make(k, False) for k in keys]
        type(saved[0]).objects.bulk_create(saved)
        built = [make(k, True) for k in keys]
        for was, now in zip(saved, built, strict=True):
            same_save_times(was, now)
        ids = insert_recordset(built)
        assert ids == sorted(ids), "keys come back in the rows' order"
        for obj, pk in zip(built, ids, strict=True):
            obj.pk = pk
        for was, now in zip(saved, built, strict=True):
            assert {**stored(now), **unique} == {**stored(was), **unique}


@pytest.mark.django_db
def test_a_row_the_conflict_rule_skips_returns_no_key_and_writes_nothing():
    Patient.objects.create(first_name="A", last_name="B", email="twin@example.org")
    twin = Patient(first_name="C", last_name="D", email="twin@example.org")
    assert not insert_statements.insert(twin, ignore_conflicts=True)
    assert twin.pk is None
    assert Patient.objects.filter(email="twin@example.org").count() == 1


@pytest.mark.django_db
def test_an_inserted_row_takes_its_auto_now_add_time_at_the_insert():
    patient = Patient(first_name="A", last_name="B", email="now@example.org")
    assert insert_statements.insert(patient)
    row = Patient.objects.get(pk=patient.pk)
    assert row.created_at is not None
    assert row.created_at == patient.created_at


def test_an_sql_expression_as_a_value_is_refused_not_sent():
    event = AuditEvent(occurred_at=Now(), action="create", object_type="x.Y", object_id=1)
    with pytest.raises(ValueError, match="occurred_at"):
        insert_statements.recordset(connection, [event])


def test_a_statement_is_built_once_per_model():
    one = insert_statements.recordset_sql(connection, AuditEvent)
    assert insert_statements.recordset_sql(connection, AuditEvent) is one
    assert insert_statements.recordset_sql(connection, Consent) != one


@pytest.mark.django_db
def test_an_appointment_row_is_stored_as_save_would_store_it():
    location = LocationFactory()
    provider = ProviderFactory(locations=[location])
    service = ServiceFactory()
    patient = Patient.objects.create(first_name="A", last_name="B", email="visit@example.org")

    def visit(hour: int) -> Appointment:
        start = datetime(2027, 3, 14, hour, tzinfo=UTC)
        return Appointment(
            patient=patient,
            provider=provider,
            service=service,
            location=location,
            start=start,
            end=start + timedelta(minutes=45),
            blocked_start=start,
            blocked_end=start + timedelta(minutes=45),
            slot_key=f"slot-{hour}",
            reason="Knee pain\u2028after running",
            source=Appointment.Source.ONLINE,
        )

    saved, built = visit(9), visit(11)
    saved.save()
    assert insert_statements.insert(built)
    assert not built._state.adding
    unique = {"reference", "manage_token", "ical_uid", "start", "end", "blocked_start"}
    unique |= {"blocked_end", "slot_key", "created_at", "updated_at"}
    kept = {k: v for k, v in stored(built).items() if k not in unique}
    assert kept == {k: v for k, v in stored(saved).items() if k not in unique}
    assert stored(built)["reference"] == built.reference
    assert stored(built)["created_at"] is not None


def test_a_model_whose_save_signals_have_receivers_is_refused():
    credential = Credential()  # providers.signals listens to its saves
    with pytest.raises(ValueError, match="save\\(\\) signals"):
        insert_statements.insert(credential)
