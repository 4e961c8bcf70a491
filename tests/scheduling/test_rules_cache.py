"""The rules cache (``clinic.rules_cache``): a change to the rules takes effect on the next
request, however it was made, and only when and where it is visible; every table a cold load
reads carries the token trigger."""

import datetime
import re

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from clinic import rules_cache
from clinic.models import ClinicSettings, RulesToken
from providers.models import Credential, ScopeRule
from scheduling.availability import load_rules, offered_providers, search
from scheduling.models import (
    AvailabilityException,
    BookingPolicyOverride,
    Offering,
    WeeklyAvailability,
)
from scheduling.schedule import schedule_for
from tests.factories.providers import ActFactory, ensure_scope_catalog
from tests.factories.scheduling import ClosureFactory
from tests.scheduling.conftest import committed_on_another_connection, local, next_week
from tests.scheduling.test_public_api import body, book, problem_type

pytestmark = pytest.mark.django_db

AVAILABILITY = "/api/v1/public/availability/"
TABLE = re.compile(r'(?:FROM|JOIN)\s+"?(\w+)"?', re.IGNORECASE)
FROM = re.compile(r'FROM\s+"?(\w+)"?', re.IGNORECASE)  # the table a statement is about


@pytest.fixture
def day():
    return next_week()


@pytest.fixture
def warm(api_client, physio, assessment, location, day):
    """The rules read once (availability and a booking), so the next request may use them."""
    assert slot_count(api_client, assessment, location, day) > 0
    response = book(api_client, body(assessment, location, local(day, "09:00"), physio))
    assert response.status_code == 201
    return rules_cache.read().token


def slot_count(client, service, location, day, provider=None) -> int:
    params = {"service": service.pk, "location": location.pk, "start": day, "end": day}
    if provider is not None:
        params["provider"] = provider.pk
    response = client.get(AVAILABILITY, params)
    assert response.status_code == 200
    return len(response.json()["slots"])


_emails = iter(f"person{n}@example.org" for n in range(10_000))


def book_at(client, service, location, day, provider, hh_mm="11:00"):
    return book(client, body(service, location, local(day, hh_mm), provider, email=next(_emails)))


def refusal_codes(response) -> list[str]:
    return [e["code"] for e in response.json().get("errors", [])]


def test_a_booking_and_a_search_change_no_rule_table(
    warm, api_client, physio, assessment, location, day
):
    """Hot paths never write to a table the token watches (or every booking would reload the
    rules, and queue behind each other on the token row)."""
    book_at(api_client, assessment, location, day, physio)
    slot_count(api_client, assessment, location, day)
    assert rules_cache.read().token == warm


def test_a_suspended_credential_takes_effect_on_the_next_request(
    warm, api_client, physio, assessment, location, day
):
    credential = physio.credentials.get()
    credential.status = Credential.Status.SUSPENDED
    credential.save()
    assert slot_count(api_client, assessment, location, day) == 0
    response = book_at(api_client, assessment, location, day, physio)
    assert response.status_code == 422
    assert refusal_codes(response) == ["credential_suspended"]


def test_an_expiry_date_edited_by_queryset_update_takes_effect_and_is_judged_per_date(
    warm, api_client, physio, assessment, location, day
):
    """The cached credential keeps its dates; each visit date is decided from them."""
    physio.credentials.update(valid_until=day)
    assert book_at(api_client, assessment, location, day, physio).status_code == 201
    next_day = day + datetime.timedelta(days=1)
    assert slot_count(api_client, assessment, location, next_day) == 0
    response = book_at(api_client, assessment, location, next_day, physio)
    assert refusal_codes(response) == ["credential_expired"]
    assert book_at(api_client, assessment, location, day, physio, "13:00").status_code == 201


def test_a_deactivated_offering_takes_effect_on_the_next_request(
    warm, api_client, physio, assessment, location, day
):
    Offering.objects.filter(provider=physio).update(is_active=False)
    assert slot_count(api_client, assessment, location, day) == 0
    assert slot_count(api_client, assessment, location, day, physio) == 0
    response = book_at(api_client, assessment, location, day, physio)
    assert refusal_codes(response) == ["not_offered"]


def test_a_removed_offering_takes_effect_on_the_next_request(
    warm, api_client, physio, assessment, location, day
):
    Offering.objects.get(provider=physio).delete()
    assert slot_count(api_client, assessment, location, day) == 0
    response = book(api_client, body(assessment, location, local(day, "11:00"), email="x@y.org"))
    assert response.status_code != 201


def test_a_changed_booking_policy_takes_effect_on_the_next_request(
    warm, api_client, physio, assessment, location, day
):
    BookingPolicyOverride.objects.create(location=location, booking_horizon_days=1)
    assert slot_count(api_client, assessment, location, day) == 0
    response = book_at(api_client, assessment, location, day, physio)
    assert problem_type(response) == "outside-booking-policy"
    assert refusal_codes(response) == ["horizon"]


@pytest.fixture
def settings_row():
    """The settings row as migration 0011 makes it (a flushed database has none)."""
    ClinicSettings.objects.get_or_create(pk=1)


def test_changed_clinic_settings_take_effect_on_the_next_request(
    settings_row, warm, api_client, physio, assessment, location, day
):
    ClinicSettings.objects.update(slot_step_minutes=120)
    assert (
        slot_count(api_client, assessment, location, day) == 3
    )  # 11:00, 13:00, 15:00 (09:00 taken)


def test_a_forbidding_scope_rule_takes_effect_on_the_next_request(
    warm, api_client, physio, assessment, location, day
):
    ScopeRule.objects.filter(discipline=physio.discipline, act__code="diagnose").update(
        allowed=False
    )
    assert slot_count(api_client, assessment, location, day) == 0
    response = book_at(api_client, assessment, location, day, physio)
    assert refusal_codes(response) == ["act_not_in_discipline"]


def test_a_changed_act_requirement_takes_effect_on_the_next_request(
    warm, api_client, physio, assessment, location, day
):
    assessment.required_acts.set([ActFactory(code="laser_surgery")])
    assert slot_count(api_client, assessment, location, day) == 0
    response = book_at(api_client, assessment, location, day, physio)
    assert response.status_code == 422
    assert problem_type(response) == "out-of-scope"


def test_changed_weekly_hours_take_effect_on_the_next_search_and_booking(
    warm, api_client, physio, assessment, location, day
):
    """Weekly hours are cached with the rules; ``queryset.update`` gives a new token."""
    before = slot_count(api_client, assessment, location, day)
    WeeklyAvailability.objects.filter(provider=physio).update(start_time=datetime.time(13))
    assert 0 < slot_count(api_client, assessment, location, day) < before
    response = book_at(api_client, assessment, location, day, physio, "11:00")
    assert response.status_code == 422
    assert refusal_codes(response) == ["not_a_start_time"]
    assert book_at(api_client, assessment, location, day, physio, "14:00").status_code == 201


def test_added_weekly_hours_take_effect_on_the_next_search(
    warm, api_client, physio, assessment, location, day
):
    WeeklyAvailability.objects.filter(provider=physio).delete()
    assert slot_count(api_client, assessment, location, day) == 0
    WeeklyAvailability.objects.create(
        provider=physio,
        location=location,
        weekday=day.weekday(),
        start_time=datetime.time(10),
        end_time=datetime.time(12),
        valid_from=day,
    )
    assert slot_count(api_client, assessment, location, day) > 0
    assert book_at(api_client, assessment, location, day, physio, "10:00").status_code == 201


def test_time_off_alone_takes_effect_on_the_next_search_and_booking(
    warm, api_client, physio, assessment, location, day
):
    """Time off is cached with the rules; booking it gives a new token."""
    before = slot_count(api_client, assessment, location, day)
    AvailabilityException.objects.create(
        provider=physio,
        kind=AvailabilityException.Kind.TIME_OFF,
        start=local(day, "10:00"),
        end=local(day, "12:00"),
    )
    assert slot_count(api_client, assessment, location, day) < before
    response = book_at(api_client, assessment, location, day, physio, "10:30")
    assert response.status_code == 422
    assert refusal_codes(response) == ["not_a_start_time"]  # time off: never a slot
    AvailabilityException.objects.filter(provider=physio).delete()
    assert slot_count(api_client, assessment, location, day) == before
    assert book_at(api_client, assessment, location, day, physio, "10:30").status_code == 201


def test_extra_hours_take_effect_on_the_next_search(
    warm, api_client, physio, assessment, location, day
):
    evening = [local(day, "18:00"), local(day, "19:00")]
    AvailabilityException.objects.create(
        provider=physio,
        kind=AvailabilityException.Kind.EXTRA_HOURS,
        location=location,
        start=evening[0],
        end=evening[1],
    )
    starts = {
        datetime.datetime.fromisoformat(slot["start"])
        for slot in api_client.get(
            AVAILABILITY,
            {"service": assessment.pk, "location": location.pk, "start": day, "end": day},
        ).json()["slots"]
    }
    assert evening[0] in starts
    assert book_at(api_client, assessment, location, day, physio, "18:00").status_code == 201


def test_a_search_reaching_back_before_the_cached_time_off_still_sees_it(
    warm, physio, assessment, location, day
):
    """The rules keep only time off ending after the day before they were read; a search of an
    earlier range (a "now" in the past) reads the time off of that range itself."""
    past = day - datetime.timedelta(days=28)
    then = local(past - datetime.timedelta(days=7), "08:00")
    slots = search(service=assessment, location=location, start_date=past, end_date=past, now=then)
    assert slots.slots, "the past day has hours"
    AvailabilityException.objects.create(
        provider=physio,
        kind=AvailabilityException.Kind.TIME_OFF,
        start=local(past, "00:00"),
        end=local(past + datetime.timedelta(days=1), "00:00"),
    )
    rules = load_rules(assessment, location, [physio.pk])
    assert rules.exceptions[physio.pk] == (), "ended before the cached window"
    found = search(
        service=assessment,
        location=location,
        start_date=past,
        end_date=past,
        now=then,
        rules=rules,
    )
    assert found.slots == []


def test_a_rolled_back_change_leaves_no_entry_another_change_could_reach(
    warm, api_client, physio, assessment, location, day
):
    """Inside the change's transaction the new rules apply; after its rollback the old ones do,
    and a later, different change is read afresh (a counter would have reused the token)."""
    change = transaction.savepoint()
    physio.credentials.update(status=Credential.Status.SUSPENDED)
    response = book_at(api_client, assessment, location, day, physio)
    assert refusal_codes(response) == ["credential_suspended"]
    transaction.savepoint_rollback(change)
    assert rules_cache.read().token == warm
    assert slot_count(api_client, assessment, location, day) > 0
    physio.credentials.update(valid_until=day - datetime.timedelta(days=1))
    response = book_at(api_client, assessment, location, day, physio)
    assert refusal_codes(response) == ["credential_expired"]


def test_each_change_in_one_transaction_gives_a_new_token(warm, physio):
    tokens = {warm}
    for status in (Credential.Status.SUSPENDED, Credential.Status.ACTIVE):
        physio.credentials.update(status=status)
        tokens.add(rules_cache.read().token)
    assert len(tokens) == 3


def test_without_a_token_row_nothing_is_cached_until_a_change_recreates_it(
    api_client, physio, assessment, location, day
):
    RulesToken.objects.all().delete()
    assert rules_cache.read().token is None
    assert slot_count(api_client, assessment, location, day) > 0
    physio.credentials.update(status=Credential.Status.SUSPENDED)
    assert rules_cache.read().token is not None
    assert slot_count(api_client, assessment, location, day) == 0


def test_a_warm_booking_runs_no_rule_query(warm, api_client, physio, assessment, location, day):
    with CaptureQueriesContext(connection) as queries:
        assert book_at(api_client, assessment, location, day, physio).status_code == 201
    watched = _tables_with_triggers()
    read = {t for q in queries.captured_queries for t in FROM.findall(q["sql"])}
    assert read & watched == set()


def _tables_with_triggers() -> set[str]:
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                "SELECT DISTINCT tgrelid::regclass::text FROM pg_trigger "
                "WHERE tgname LIKE 'rules_token%%' AND NOT tgisinternal"
            )
        else:
            cursor.execute(
                "SELECT DISTINCT tbl_name FROM sqlite_master "
                "WHERE type = 'trigger' AND name LIKE 'rules_token%'"
            )
        return {row[0] for row in cursor.fetchall()}


def _triggers_on(table: str) -> set[str]:
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                "SELECT tgname FROM pg_trigger WHERE tgrelid = %s::regclass AND NOT tgisinternal",
                [table],
            )
        else:
            cursor.execute(
                "SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = %s", [table]
            )
        return {row[0] for row in cursor.fetchall()}


def test_every_table_a_cold_load_reads_carries_the_token_trigger(
    monkeypatch, api_client, physio, assessment, location, day
):
    """Whatever a cached loader reads (now or after a future change to it) must give a new
    token when it changes: the SQL of every cold load, through the booking and the search."""
    loaded: list[str] = []
    original = rules_cache.RulesView.get

    def capturing(self, key, load):
        def load_and_capture():
            with CaptureQueriesContext(connection) as queries:
                value = load()
            loaded.extend(q["sql"] for q in queries.captured_queries)
            return value

        return original(self, key, load_and_capture)

    monkeypatch.setattr(rules_cache.RulesView, "get", capturing)
    rules_cache.clear()
    assert slot_count(api_client, assessment, location, day, physio) > 0
    rules_cache.clear()
    assert book_at(api_client, assessment, location, day, physio).status_code == 201
    rules_cache.clear()
    load_rules(assessment, location, offered_providers(assessment, location))
    rules_cache.clear()
    schedule_for(location=location, first=day, days=7, visits=True)
    tables = {table for sql in loaded for table in TABLE.findall(sql)}
    assert {"providers_credential", "scheduling_offering", "clinic_clinicsettings"} <= tables
    assert {"scheduling_closure", "providers_discipline"} <= tables
    for table in sorted(tables):
        assert set(rules_cache.trigger_names(table)) <= _triggers_on(table), table


@pytest.fixture
def catalog(transactional_db):
    ensure_scope_catalog()  # a transactional test starts from a flushed database


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_change_committed_on_another_connection_is_seen_by_the_next_request(
    catalog, api_client, physio, assessment, location, day
):
    """Two processes: this one serves requests with a warm cache; another connection (a
    manager in the admin) suspends the credential and commits."""
    assert slot_count(api_client, assessment, location, day) > 0
    assert book_at(api_client, assessment, location, day, physio).status_code == 201

    def suspend() -> None:
        Credential.objects.filter(provider=physio).update(status=Credential.Status.SUSPENDED)

    committed_on_another_connection(suspend)
    assert slot_count(api_client, assessment, location, day) == 0
    response = book_at(api_client, assessment, location, day, physio, "13:00")
    assert refusal_codes(response) == ["credential_suspended"]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_hours_and_time_off_changed_on_another_connection_are_seen_by_the_next_request(
    catalog, api_client, physio, assessment, location, day
):
    """A manager's other connection shortens the weekly hours and books time off, and commits:
    this process's next search and booking judge by both."""
    full = slot_count(api_client, assessment, location, day)
    assert book_at(api_client, assessment, location, day, physio, "09:00").status_code == 201

    def shorten_hours_and_book_time_off() -> None:
        WeeklyAvailability.objects.filter(provider=physio).update(end_time=datetime.time(15))
        AvailabilityException.objects.create(
            provider=physio,
            kind=AvailabilityException.Kind.TIME_OFF,
            start=local(day, "13:00"),
            end=local(day, "14:00"),
        )

    committed_on_another_connection(shorten_hours_and_book_time_off)
    assert 0 < slot_count(api_client, assessment, location, day) < full - 1
    for hh_mm in ("13:00", "15:00"):
        response = book_at(api_client, assessment, location, day, physio, hh_mm)
        assert response.status_code == 422, hh_mm
    assert book_at(api_client, assessment, location, day, physio, "11:00").status_code == 201


def _desk_column(location, day, name: str) -> dict | None:
    """The column of the provider named ``name`` in the desk's schedule of ``day``, if any."""
    (shown,) = schedule_for(location=location, first=day, visits=True).days
    if shown.closed:
        return {"closed": True}
    found = [c for c in shown.columns if c.provider.display_name == name]
    if not found:
        return None
    return {
        "working": [
            (
                a.astimezone(location.zone).strftime("%H:%M"),
                b.astimezone(location.zone).strftime("%H:%M"),
            )
            for a, b in found[0].working
        ],
        "time_off": len(found[0].time_off),
    }


def test_the_desk_schedule_sees_changed_rules_on_the_next_request(warm, physio, location, day):
    """The schedule reads hours, time off, providers and closures through the cache: each change
    shows on the next read, not only after the cache ages out."""
    name = physio.display_name
    assert _desk_column(location, day, name) == {"working": [("09:00", "17:00")], "time_off": 0}
    AvailabilityException.objects.create(
        provider=physio, kind="time_off", start=local(day, "12:00"), end=local(day, "13:00")
    )
    assert _desk_column(location, day, name) == {
        "working": [("09:00", "12:00"), ("13:00", "17:00")],
        "time_off": 1,
    }
    WeeklyAvailability.objects.filter(provider=physio).update(end_time=datetime.time(15, 0))
    assert _desk_column(location, day, name)["working"] == [("09:00", "12:00"), ("13:00", "15:00")]
    type(physio).objects.filter(pk=physio.pk).update(display_name="Priya Renamed")
    assert _desk_column(location, day, name) is None
    assert _desk_column(location, day, "Priya Renamed") is not None
    ClosureFactory(location=location, start_date=day, end_date=day, reason="Flood")
    assert _desk_column(location, day, "Priya Renamed") == {"closed": True}
