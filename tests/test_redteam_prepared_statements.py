"""A migration that changes a column's type leaves a connection's prepared statements on that
column stale; the connection must not keep failing every read of it (``clinic.stale_plans``)."""

import threading

import pytest
from django.db import NotSupportedError, connection, connections

from patients.models import Patient
from tests.factories.patients import PatientFactory

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def _read() -> list:
    """A read in autocommit (outside ``atomic``), as a list endpoint makes it."""
    return list(Patient.objects.filter(email="stale@example.org").values_list("pk", "first_name"))


def _alter(length: int) -> None:
    """What a migration raising ``first_name``'s ``max_length`` does, from another connection."""
    errors: list[BaseException] = []

    def run() -> None:
        try:
            with connections["default"].cursor() as cursor:
                cursor.execute(
                    f"ALTER TABLE patients_patient ALTER COLUMN first_name TYPE varchar({length})"
                )
        except BaseException as error:  # reported to the test's thread
            errors.append(error)
        finally:
            connections["default"].close()

    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
    assert errors == []


def test_a_connection_whose_prepared_read_a_migration_made_stale_is_retired_after_the_request():
    if connection.settings_dict["OPTIONS"].get("prepare_threshold") is None:
        pytest.skip("nothing is prepared with DB_PREPARE_THRESHOLD=off")
    PatientFactory(email="stale@example.org")
    length = Patient._meta.get_field("first_name").max_length
    for _ in range(connection.settings_dict["OPTIONS"]["prepare_threshold"] + 1):
        assert len(_read()) == 1  # prepared from here on
    _alter(length + 1)
    try:
        with pytest.raises(NotSupportedError, match="cached plan must not change result type"):
            _read()
        connection.close_if_unusable_or_obsolete()  # what the end of a request or task does
        assert len(_read()) == 1, "the next request reads on a fresh connection"
    finally:
        _alter(length)
        connection.close()
