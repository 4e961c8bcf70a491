"""One person, one record: matching by e-mail, case-insensitive, among non-archived patients."""

import datetime
import threading

import pytest
from django.db import IntegrityError, connection, transaction
from django.test.utils import CaptureQueriesContext
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from clinic.errors import ValidationProblem
from patients import services
from patients.models import Patient
from patients.selectors import email_is
from patients.services import match_or_create_patient
from tests.factories.patients import PatientFactory


@pytest.mark.django_db
def test_same_email_in_another_case_matches_the_existing_patient():
    first, created = match_or_create_patient(
        first_name="Ada", last_name="Lovelace", email="Ada@Example.org"
    )
    again, created_again = match_or_create_patient(
        first_name="Ada", last_name="L.", email="  ada@example.ORG "
    )
    assert created
    assert not created_again
    assert again.pk == first.pk
    assert first.status == Patient.Status.LEAD
    assert Patient.objects.count() == 1


@pytest.mark.django_db
def test_matching_fills_missing_details_but_never_overwrites_them():
    patient = PatientFactory(email="kim@example.org", phone="", first_name="Kim")
    matched, created = match_or_create_patient(
        first_name="Kimberly", last_name="X", email="kim@example.org", phone="+1 905 555 0101"
    )
    assert not created
    matched.refresh_from_db()
    assert matched.first_name == "Kim"
    assert matched.phone == "+1 905 555 0101"
    assert matched.pk == patient.pk


@pytest.mark.django_db
def test_an_archived_record_does_not_capture_a_returning_person():
    old = PatientFactory(email="sam@example.org", status=Patient.Status.ARCHIVED)
    new, created = match_or_create_patient(
        first_name="Sam", last_name="Ro", email="sam@example.org"
    )
    assert created
    assert new.pk != old.pk


@pytest.mark.django_db
def test_invalid_email_is_refused_naming_the_field():
    with pytest.raises(ValidationProblem) as err:
        match_or_create_patient(first_name="A", last_name="B", email="not-an-email")
    assert err.value.errors[0].field == "email"
    assert Patient.objects.count() == 0


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("archived_holder", [False, True])
def test_two_parallel_creations_with_the_same_email_give_one_patient(monkeypatch, archived_holder):
    """Real parallel connections that all insert at once (held at a barrier just before the
    INSERT, which comes before any read): the unique index lets one insert win and the others
    re-read it. An archived record with the address takes no part, as in the lookup."""
    if archived_holder:
        old = PatientFactory(email="race@example.org", status=Patient.Status.ARCHIVED)
    workers = 6
    barrier = threading.Barrier(workers)
    real_insert = services._insert_unless_email_taken

    def insert_when_everyone_is_there(patient):
        barrier.wait(timeout=10)
        return real_insert(patient)

    monkeypatch.setattr(services, "_insert_unless_email_taken", insert_when_everyone_is_there)
    results: list[tuple[int, bool]] = []
    errors: list[BaseException] = []

    def book(n: int) -> None:
        try:
            patient, created = services.match_or_create_patient(
                first_name="Race", last_name=f"Runner{n}", email="RACE@example.org"
            )
            results.append((patient.pk, created))
        except BaseException as exc:  # collected and re-raised in the main thread
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=book, args=(n,)) for n in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert len(results) == workers
    assert len({pk for pk, _ in results}) == 1
    assert sum(created for _, created in results) == 1
    live = Patient.objects.exclude(status=Patient.Status.ARCHIVED)
    assert live.filter(email__iexact="race@example.org").count() == 1
    if archived_holder:
        assert {pk for pk, _ in results} != {old.pk}
        assert Patient.objects.get(pk=old.pk).status == Patient.Status.ARCHIVED


@pytest.mark.django_db
def test_matching_by_email_is_served_by_the_unique_email_index():
    """Every online booking and waitlist join looks its person up by e-mail: the lookup must fold
    case as the unique index does (LOWER), or PostgreSQL reads the whole patient table."""
    if connection.vendor != "postgresql":
        pytest.skip("index use is a PostgreSQL plan")
    PatientFactory(email="someone@example.org")
    lookup = (
        Patient.objects.exclude(status=Patient.Status.ARCHIVED)
        .filter(email_is("SomeOne@Example.org"))
        .order_by("pk")
    )
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        plan = lookup.explain()
    assert "patient_unique_email_not_archived" in plan
    assert [p.email for p in lookup] == ["someone@example.org"]


@pytest.mark.django_db
@pytest.mark.parametrize("vendor", ["postgresql", "sqlite"])
def test_the_insert_of_a_new_person_refuses_a_taken_email_on_either_path(monkeypatch, vendor):
    """PostgreSQL inserts with ``ON CONFLICT DO NOTHING`` (no savepoint), other databases in a
    savepoint: both write the same row, and both write nothing for an e-mail a non-archived
    patient holds in any case, while an archived holder does not count."""
    if connection.vendor != "postgresql" and vendor == "postgresql":
        pytest.skip("the ON CONFLICT path needs PostgreSQL")
    monkeypatch.setattr(connection, "vendor", vendor)
    PatientFactory(email="old@example.org", status=Patient.Status.ARCHIVED)
    fresh = Patient(
        first_name="Ada", last_name="L", email="Ada@example.org", phone="+1 905 555 0100"
    )
    assert services._insert_unless_email_taken(fresh)
    stored = Patient.objects.get(pk=fresh.pk)
    assert [getattr(stored, f.attname) for f in Patient._meta.concrete_fields] == [
        getattr(fresh, f.attname) for f in Patient._meta.concrete_fields
    ]
    assert not fresh._state.adding
    twin = Patient(first_name="Ada", last_name="Other", email="ADA@example.org")
    assert not services._insert_unless_email_taken(twin)
    assert twin.pk is None
    again = Patient(first_name="Old", last_name="Timer", email="old@example.org")
    assert services._insert_unless_email_taken(again)
    assert Patient.objects.count() == 3


ADDRESSES = st.sampled_from(
    [
        "ada@example.org",
        "ADA@Example.ORG",
        "Ada@example.org",
        "ada@example.com",
        "k@straße.de",
        "K@STRASSE.DE",
        "\u212a@straße.de",  # the Kelvin sign: LOWER folds it to k
        "\u017fam@example.org",  # the long s
        "sam@example.org",
    ]
)


@pytest.mark.django_db
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    holders=st.lists(st.tuples(ADDRESSES, st.booleans()), max_size=4),
    email=ADDRESSES,
)
def test_the_insert_first_match_finds_exactly_whom_the_lookup_finds(holders, email):
    """Inserting first (the unique index decides) matches the person ``_find_by_email`` finds
    and creates one exactly when it finds none, whatever the case, the folding and the archived
    records."""
    with transaction.atomic():
        for n, (address, archived) in enumerate(holders):
            status = Patient.Status.ARCHIVED if archived else Patient.Status.ACTIVE
            try:
                with transaction.atomic():
                    Patient.objects.create(
                        first_name="H", last_name=f"H{n}", email=address, status=status
                    )
            except IntegrityError:
                pass  # a live holder of this address already exists
        expected = services._find_by_email(email.strip())
        patient, created = match_or_create_patient(first_name="N", last_name="N", email=email)
        assert created == (expected is None)
        if expected is not None:
            assert patient.pk == expected.pk
        assert services._find_by_email(email.strip()).pk == patient.pk
        transaction.set_rollback(True)


@pytest.mark.django_db
def test_a_new_person_is_matched_in_one_insert_and_a_known_one_in_an_insert_and_a_read():
    if connection.vendor != "postgresql":
        pytest.skip("the ON CONFLICT insert is PostgreSQL's")
    with CaptureQueriesContext(connection) as new:
        match_or_create_patient(first_name="A", last_name="B", email="ab@example.org")
    with CaptureQueriesContext(connection) as known:
        match_or_create_patient(first_name="A", last_name="B", email="AB@example.org")
    patient_sql = [q["sql"] for q in new.captured_queries if "patients_patient" in q["sql"]]
    assert len(patient_sql) == 1
    assert patient_sql[0].startswith("INSERT")
    known_sql = [q["sql"] for q in known.captured_queries if "patients_patient" in q["sql"]]
    assert [s.split()[0] for s in known_sql] == ["INSERT", "SELECT"]


REFUSED = {
    "a birth date below the table's floor": {"date_of_birth": datetime.date(1849, 12, 31)},
    "a name longer than its column": {"first_name": "A" * 101},
    "a NUL in the phone": {"phone": "+1 905\x00"},
    "an unreadable birth date": {"date_of_birth": "31/12/1990"},
}


@pytest.mark.django_db
@pytest.mark.parametrize("typed", REFUSED.values(), ids=REFUSED.keys())
def test_details_the_table_would_refuse_are_refused_alike_for_a_known_person_and_a_stranger(
    typed,
):
    """Naming the field, before any insert or lookup: a known e-mail must not get another
    answer (once it was matched while a stranger's row hit the database's refusal)."""
    PatientFactory(
        email="known@example.org", date_of_birth=datetime.date(1980, 1, 1), phone="+1 905 555 0100"
    )
    answers = []
    for email in ("KNOWN@example.org", "stranger@example.org"):
        details = {"first_name": "K", "last_name": "N", "email": email, **typed}
        with pytest.raises(ValidationProblem) as refused:
            match_or_create_patient(**details)
        answers.append([(p.field, p.code) for p in refused.value.errors])
    assert answers[0] == answers[1]
    assert answers[0][0][0] == next(iter(typed))
    assert Patient.objects.count() == 1
