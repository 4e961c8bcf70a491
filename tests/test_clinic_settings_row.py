"""The clinic settings row: made by a migration, and read without writing where a flushed
database has none, so reading it inside a booking takes no lock (the rules token's, whose
trigger the table carries) that racing bookings would queue on."""

import threading

import pytest
from django.core.management import call_command
from django.db import connection, transaction

from clinic import roles, rules_cache
from clinic.models import ClinicSettings
from scheduling.models import WaitlistSettings
from tests.conftest import client_for, make_staff_user
from tests.factories.clinic import LocationFactory


def model_defaults() -> dict:
    return {
        f.name: f.get_default()
        for f in ClinicSettings._meta.concrete_fields
        if f.name not in ("id", "updated_at")
    }


def values(settings_row: ClinicSettings) -> dict:
    return {name: getattr(settings_row, name) for name in model_defaults()}


@pytest.mark.django_db(transaction=True)
def test_migrating_creates_the_settings_row_with_its_model_defaults():
    ClinicSettings.objects.all().delete()
    call_command("migrate", "clinic", "0010", verbosity=0)
    call_command("migrate", "clinic", verbosity=0)
    assert values(ClinicSettings.objects.get(pk=1)) == model_defaults()


@pytest.mark.django_db
def test_reading_the_settings_without_a_row_gives_the_defaults_and_writes_nothing():
    ClinicSettings.objects.all().delete()
    LocationFactory()  # a token row to compare
    token = rules_cache.read().token
    found = ClinicSettings.load()
    assert values(found) == model_defaults()
    assert not ClinicSettings.objects.exists()
    assert rules_cache.read().token == token, "a read renews no rules token"
    found.minimum_notice_minutes = 0
    found.save()
    assert ClinicSettings.load().minimum_notice_minutes == 0


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_transaction_reading_the_missing_settings_row_holds_nothing_another_reader_waits_for():
    """The CI deadlock's first half: one booking read the missing row (and made it, taking the
    rules token's lock until it committed); every other booking reading it then waited there,
    some while holding the appointment the first one was about to wait for."""
    ClinicSettings.objects.all().delete()
    LocationFactory()  # the token row, as on any database with a location
    has_read, may_commit = threading.Event(), threading.Event()
    errors: list[BaseException] = []

    def first_reader() -> None:
        try:
            with transaction.atomic():
                ClinicSettings.load()
                has_read.set()
                may_commit.wait(timeout=30)
        except BaseException as error:  # reported by the main thread
            errors.append(error)
        finally:
            has_read.set()
            connection.close()

    other = threading.Thread(target=first_reader)
    other.start()
    try:
        assert has_read.wait(timeout=30)
        with transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL lock_timeout = '2s'")  # a wait fails, never hangs
            second = ClinicSettings.load()
    finally:
        may_commit.set()
        other.join(timeout=30)
    assert errors == []
    assert values(second) == model_defaults()


@pytest.mark.django_db(transaction=True)
def test_migrating_creates_the_waitlist_settings_row_with_its_model_defaults():
    WaitlistSettings.objects.all().delete()
    call_command("migrate", "scheduling", "0013", verbosity=0)
    call_command("migrate", "scheduling", verbosity=0)
    row = WaitlistSettings.objects.get(pk=1)
    assert (row.hold_minutes, row.care_plan_patients_first) == (30, False)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_managers_saving_the_missing_settings_row_at_once_both_save(monkeypatch):
    """A flushed database (no row): both saves read no row before either inserts it (the first
    insert waits for the second read), so both insert, one after the other (the second waits on
    the first's lock of the rules token);
    the later insert is refused by the first one's row and becomes an update, as two saves of
    an existing row are, and neither is a 500."""
    ClinicSettings.objects.all().delete()
    managers = [make_staff_user(f"manager-{n}", roles.MANAGER) for n in range(2)]
    start_together = threading.Barrier(2)
    real_load, real_insert = ClinicSettings.load.__func__, ClinicSettings._do_insert
    reads, inserts = [], []
    both_read = threading.Event()

    def counted_load(cls):
        found = real_load(cls)
        reads.append(found.pk if not found._state.adding else None)
        if len(reads) == 2:
            both_read.set()
        return found

    def insert_once_both_read(self, *args, **kwargs):
        assert both_read.wait(timeout=10), "the second save never read the settings"
        inserts.append(1)
        return real_insert(self, *args, **kwargs)

    monkeypatch.setattr(ClinicSettings, "load", classmethod(counted_load))
    monkeypatch.setattr(ClinicSettings, "_do_insert", insert_once_both_read)
    answers: list[int] = []

    def save(manager, name: str) -> None:
        client = client_for(manager)
        start_together.wait(timeout=10)
        try:
            response = client.patch("/api/v1/clinic-settings/", {"name": name}, format="json")
            answers.append(response.status_code)
        except Exception as exc:  # a crash in the view: the 500 it would be
            answers.append(repr(exc))
        finally:
            connection.close()

    threads = [
        threading.Thread(target=save, args=(m, f"Saved by {n}")) for n, m in enumerate(managers)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert answers == [200, 200]
    assert reads == [None, None], "both saves read no row"
    assert len(inserts) == 2, "both saves inserted it"
    assert ClinicSettings.objects.get().name in {"Saved by 0", "Saved by 1"}
