"""Red team: the schedule read through the rules cache (``scheduling.schedule.schedule_for``).

Each change of the rules must show on the next read exactly as an uncached computation (the
cache cleared) shows it (checked once, over 3,192 variants, against the code before the cache
too); no cached value handed to
one caller may be changed by it for the next; the API refuses hostile input with a 4xx problem
and its query count does not grow with providers or days."""

import datetime
from pathlib import Path
from urllib.parse import quote

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from clinic import roles, rules_cache
from providers.models import Discipline, Provider
from scheduling.models import AvailabilityException, Closure, WeeklyAvailability
from scheduling.schedule import BY_PROVIDER, BY_ROOM, schedule_for
from scheduling.services import book_appointment
from tests.conftest import client_for
from tests.factories.clinic import LocationFactory, RoomFactory
from tests.factories.patients import PatientFactory, clinician_user, staff_user
from tests.factories.providers import DisciplineFactory, ProviderFactory, ensure_scope_catalog
from tests.factories.scheduling import ClosureFactory, weekly_hours
from tests.scheduling.conftest import committed_on_another_connection, local, make_physio

DAY = datetime.date(2027, 3, 11)  # a Thursday; Sunday 2027-03-14 springs forward in Toronto
FALL_BACK = datetime.date(2027, 11, 7)
EARLY = local(datetime.date(2026, 12, 1), "08:00")
URL = "/api/v1/schedule/"
REPO = Path(__file__).resolve().parents[2]


def norm(schedule) -> tuple:
    """Everything a caller can see of a schedule, as plain values."""

    def col(c):
        return (
            c.provider and (c.provider.pk, c.provider.display_name, c.provider.discipline.name),
            c.room and (c.room.pk, c.room.name),
            tuple(c.working),
            tuple(c.time_off),
            tuple((e.appointment.pk, e.spots_taken, e.capacity) for e in c.entries),
        )

    return (
        tuple(
            (d.date, d.start, d.end, d.closed, d.closure_reason, tuple(col(c) for c in d.columns))
            for d in schedule.days
        ),
        tuple((p.pk, p.display_name, p.discipline.name) for p in schedule.providers),
    )


def book(service, location, provider, day, hh_mm):
    return book_appointment(
        service=service,
        location=location,
        start=local(day, hh_mm),
        patient=PatientFactory(),
        provider=provider,
        now=EARLY,
    )


def variants(
    location,
    providers,
    firsts=(DAY, FALL_BACK),
    day_counts=(1, 4, 7),
):
    for first in firsts:
        for days in day_counts:
            for provider in (None, *providers):
                for by in (BY_PROVIDER, BY_ROOM):
                    for visits in (True, False):
                        yield {
                            "location": location,
                            "first": first,
                            "days": days,
                            "provider": provider,
                            "by": by,
                            "visits": visits,
                        }


def assert_all_agree(location, providers) -> int:
    """Every variant read warm (cache as it is) and cold (cache cleared)."""
    compared = 0
    cases = list(variants(location, providers))
    warm = [norm(schedule_for(**kw)) for kw in cases]
    rules_cache.clear()
    cold = [norm(schedule_for(**kw)) for kw in cases]
    for kw, w, c in zip(cases, warm, cold, strict=True):
        assert w == c, kw
        compared += 1
    # and warm again, now that the cold pass filled the cache
    for kw, c in zip(cases, cold, strict=True):
        assert norm(schedule_for(**kw)) == c, kw
    return compared


@pytest.fixture
def clinic(physio, assessment, location):
    other_location = LocationFactory(slug="ajax", name="Ajax")
    colleague = make_physio(location, assessment, "Colin Colleague")
    visitor = ProviderFactory(display_name="Vera Visiting", locations=[location, other_location])
    weekly_hours(visitor, other_location)
    RoomFactory(location=location, name="Room A")
    book(assessment, location, physio, DAY, "10:00")
    book(assessment, location, colleague, DAY + datetime.timedelta(days=3), "11:00")
    return {"physio": physio, "colleague": colleague, "visitor": visitor, "other": other_location}


def _changes(clinic, location):
    physio, colleague, visitor = clinic["physio"], clinic["colleague"], clinic["visitor"]
    other = clinic["other"]

    def time_off_added():
        AvailabilityException.objects.create(
            provider=physio, kind="time_off", start=local(DAY, "12:00"), end=local(DAY, "13:00")
        )

    def time_off_moved_by_update():
        AvailabilityException.objects.filter(provider=physio, kind="time_off").update(
            start=local(DAY, "14:00"), end=local(DAY + datetime.timedelta(days=3), "10:00")
        )

    def time_off_at_other_location():
        AvailabilityException.objects.filter(provider=physio, kind="time_off").update(
            location=other
        )

    def time_off_removed():
        AvailabilityException.objects.filter(provider=physio, kind="time_off").delete()

    def extra_hours_elsewhere():
        AvailabilityException.objects.create(
            provider=visitor,
            location=other,
            kind="extra_hours",
            start=local(DAY, "08:00"),
            end=local(DAY, "12:00"),
        )

    def extra_hours_moved_here():
        AvailabilityException.objects.filter(provider=visitor, kind="extra_hours").update(
            location=location
        )

    def visitor_time_off_anywhere():
        AvailabilityException.objects.create(
            provider=visitor, kind="time_off", start=local(DAY, "09:00"), end=local(DAY, "10:00")
        )

    def extra_hours_across_dst():
        AvailabilityException.objects.create(
            provider=colleague,
            location=location,
            kind="extra_hours",
            start=local(datetime.date(2027, 3, 13), "22:00"),
            end=local(datetime.date(2027, 3, 14), "05:00"),
        )

    def hours_shortened():
        WeeklyAvailability.objects.filter(provider=physio, location=location).update(
            end_time=datetime.time(15)
        )

    def hours_end_mid_range():
        WeeklyAvailability.objects.filter(provider=colleague).update(
            valid_until=DAY + datetime.timedelta(days=1)
        )

    def hours_deleted_for_a_weekday():
        WeeklyAvailability.objects.filter(provider=physio, weekday=6).delete()

    def provider_renamed():
        Provider.objects.filter(pk=colleague.pk).update(display_name="Aaron Renamed")

    def provider_deactivated():
        Provider.objects.filter(pk=physio.pk).update(is_active=False)

    def discipline_renamed():
        Discipline.objects.filter(pk=physio.discipline_id).update(name="Physio (renamed)")

    def provider_changes_discipline():
        Provider.objects.filter(pk=colleague.pk).update(
            discipline=DisciplineFactory(code="chiropractor")
        )

    def closure_added():
        ClosureFactory(
            location=location,
            start_date=DAY + datetime.timedelta(days=1),
            end_date=DAY + datetime.timedelta(days=1),
        )
        ClosureFactory(
            location=location,
            start_date=DAY + datetime.timedelta(days=2),
            end_date=DAY + datetime.timedelta(days=4),
            reason="Flood",
        )

    def closure_elsewhere_and_edited():
        ClosureFactory(location=other, start_date=DAY, end_date=DAY, reason="Elsewhere")
        Closure.objects.filter(location=location, reason="Flood").update(reason="Burst pipe")

    def closure_removed():
        Closure.objects.filter(location=location).delete()

    return [
        time_off_added,
        time_off_moved_by_update,
        time_off_at_other_location,
        time_off_removed,
        extra_hours_elsewhere,
        extra_hours_moved_here,
        visitor_time_off_anywhere,
        extra_hours_across_dst,
        hours_shortened,
        hours_end_mid_range,
        hours_deleted_for_a_weekday,
        provider_renamed,
        provider_deactivated,
        discipline_renamed,
        provider_changes_discipline,
        closure_added,
        closure_elsewhere_and_edited,
        closure_removed,
    ]


def test_every_rules_change_shows_on_the_next_read_as_an_uncached_read_shows_it(clinic, location):
    providers = [clinic["physio"], clinic["colleague"], clinic["visitor"]]
    total = assert_all_agree(location, providers)
    for change in _changes(clinic, location):
        change()
        total += assert_all_agree(location, providers)
    assert total == 19 * 2 * 3 * 4 * 2 * 2


@pytest.fixture
def catalog(transactional_db):
    ensure_scope_catalog()  # a transactional test starts from a flushed database


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_rules_changes_committed_on_another_connection_show_on_the_next_read(
    catalog, physio, assessment, location
):
    other_location = LocationFactory(slug="ajax", name="Ajax")
    colleague = make_physio(location, assessment, "Colin Colleague")
    visitor = ProviderFactory(display_name="Vera Visiting", locations=[location, other_location])
    weekly_hours(visitor, other_location)
    clinic = {"physio": physio, "colleague": colleague, "visitor": visitor, "other": other_location}
    providers = [physio, colleague, visitor]
    some = {"firsts": (DAY,), "day_counts": (1, 7)}
    for change in _changes(clinic, location):
        for kw in variants(location, providers, **some):
            schedule_for(**kw)  # warm
        committed_on_another_connection(change)
        warm = [norm(schedule_for(**kw)) for kw in variants(location, providers, **some)]
        rules_cache.clear()
        cold = [norm(schedule_for(**kw)) for kw in variants(location, providers, **some)]
        assert warm == cold, change.__name__


def test_a_caller_changing_what_it_got_does_not_change_the_next_schedule(clinic, location):
    """Cached values are shared by the process: a request (the admin page, a template) setting
    attributes on its providers or their discipline must not change what the next one shows."""
    first = schedule_for(location=location, first=DAY, days=1, visits=True)
    expected = norm(schedule_for(location=location, first=DAY, days=1, visits=True))
    for provider in first.providers:
        provider.display_name = "Mallory"
        provider.discipline.name = "Mallory's discipline"
        provider.discipline.code = "mallory"
    for column in first.days[0].columns:
        column.provider.display_name = "Mallory"
    again = schedule_for(location=location, first=DAY, days=1, visits=True)
    assert norm(again) == expected
    assert all(p.discipline.name != "Mallory's discipline" for p in again.providers)


def test_a_clinicians_own_load_never_widens_the_desks_or_the_reverse(clinic, location):
    physio, colleague = clinic["physio"], clinic["colleague"]
    AvailabilityException.objects.create(
        provider=colleague, kind="time_off", start=local(DAY, "12:00"), end=local(DAY, "13:00")
    )
    own = client_for(clinician_user("priya-login", provider=physio))
    mate = client_for(clinician_user("colin-login", provider=colleague))
    desk = client_for(staff_user("desk-redteam", roles.FRONT_DESK))
    nobody = client_for(staff_user("no-role", None))
    flag_only = staff_user("staff-flag-no-role", None)
    flag_only.is_staff = True
    flag_only.save(update_fields=["is_staff"])
    flagged = client_for(flag_only)
    patient_role = client_for(staff_user("patient-ish", "patient"))
    requests = 0
    for order in ("desk first", "clinician first"):
        rules_cache.clear()
        for days in range(1, 8):
            params = {"location": location.pk, "date": DAY.isoformat(), "days": days}
            if order == "desk first":
                desk_body = desk.get(URL, params).json()
            for client, provider in ((own, physio), (mate, colleague)):
                body = client.get(URL, params).json()
                requests += 1
                for day in body["days"]:
                    assert {c["provider"]["id"] for c in day["columns"]} <= {provider.pk}
                for params_more in ({"provider": provider.pk}, {"columns": "room"}):
                    response = client.get(URL, {**params, **params_more})
                    requests += 1
                    assert response.status_code == 200
                    for day in response.json()["days"]:
                        for c in day["columns"]:
                            for a in c["appointments"]:
                                assert a["provider"] == provider.pk
                other = colleague if provider == physio else physio
                refused = client.get(URL, {**params, "provider": other.pk})
                requests += 1
                assert refused.status_code == 403
                assert refused["Content-Type"].startswith("application/problem+json")
            if order == "clinician first":
                desk_body = desk.get(URL, params).json()
            requests += 1
            names = {c["provider"]["name"] for d in desk_body["days"] for c in d["columns"]}
            assert {"Priya Physio", "Colin Colleague"} <= names
            for outsider in (nobody, flagged, patient_role):
                for more in ({}, {"provider": physio.pk}, {"columns": "room"}):
                    response = outsider.get(URL, {**params, **more})
                    requests += 1
                    assert response.status_code == 403
                    assert response["Content-Type"].startswith("application/problem+json")
            anonymous = APIClient().get(URL, params)
            requests += 1
            assert anonymous.status_code in (401, 403)
    assert requests > 100


HOSTILE = [
    {"days": "0"},
    {"days": "8"},
    {"days": "-1"},
    {"days": "99999999999999999999999999"},
    {"days": "1e3"},
    {"days": "NaN"},
    {"days": "\x00"},
    {"days": "1\x00"},
    {"date": "0001-01-01"},
    {"date": "9999-12-31"},
    {"date": "9999-12-31", "days": "7"},
    {"date": "1999-12-31"},
    {"date": "2027-02-30"},
    {"date": "2027-13-01"},
    {"date": "2027-03-14T02:30"},
    {"date": "\x00"},
    {"date": "2027-01-12\x00"},
    {"date": "\ud800"},
    {"date": "+2027-01-12"},
    {"date": "2027-1-1" * 1000},
    {"location": "abc"},
    {"location": "\x00"},
    {"location": "1\x00"},
    {"location": "-1"},
    {"location": "99999999999999999999999"},
    {"location": "1.5"},
    {"location": "\ud800"},
    {"location": "9" * 5000},
    {"provider": "abc"},
    {"provider": "\x00"},
    {"provider": "99999999999999999999999"},
    {"provider": "-5"},
    {"provider": "\udfff"},
    {"provider": "1e2"},
    {"columns": "rooms"},
    {"columns": "\x00"},
    {"columns": "\ud83d"},
]


def test_hostile_query_parameters_get_a_4xx_problem_never_a_500(clinic, location):
    desk = client_for(staff_user("desk-hostile", roles.FRONT_DESK))
    own = client_for(clinician_user("priya-hostile", provider=clinic["physio"]))
    tried, wrong = 0, []
    for client in (desk, own):
        for params in HOSTILE:
            query = {"location": str(location.pk), "date": DAY.isoformat(), **params}
            # surrogates as their (invalid) UTF-8 bytes: what a hostile client can send
            raw = "&".join(
                f"{k}={quote(v.encode('utf-8', 'surrogatepass'))}" for k, v in query.items()
            )
            response = client.get(f"{URL}?{raw}")
            tried += 1
            if not (
                400 <= response.status_code < 500
                and response["Content-Type"].startswith("application/problem+json")
            ):
                wrong.append((params, response.status_code))
        for edge in (
            {"date": "2100-12-31", "days": 7},
            {"date": "2000-01-01"},
            {"date": "20270112"},
            {"columns": ""},
        ):
            response = client.get(URL, {"location": location.pk, **edge})
            tried += 1
            assert response.status_code == 200, edge
        # raw, undecodable bytes in the query string
        for raw in ("days=%ff", "date=%ed%a0%80", "location=%c0%80", "provider=%00", "days=%"):
            response = client.get(f"{URL}?{raw}")
            tried += 1
            assert response.status_code in (200, 400, 403, 404), (raw, response.status_code)
            if response.status_code != 200:
                assert response["Content-Type"].startswith("application/problem+json"), raw
    assert wrong == []
    assert tried == 2 * (len(HOSTILE) + 9)


def test_the_query_count_does_not_grow_with_providers_or_days_cold_or_warm(
    physio, assessment, location, django_assert_num_queries
):
    desk = client_for(staff_user("desk-count", roles.FRONT_DESK))
    counts = {}
    for providers in (1, 6, 15):
        while Provider.objects.filter(weekly_hours__location=location).distinct().count() < (
            providers
        ):
            n = Provider.objects.count()
            p = make_physio(location, assessment, f"Physio {n:02d}")
            AvailabilityException.objects.create(
                provider=p, kind="time_off", start=local(DAY, "12:00"), end=local(DAY, "13:00")
            )
            book(assessment, location, p, DAY, "10:00")
        for days in (1, 7):
            for columns in ("provider", "room"):
                params = {
                    "location": location.pk,
                    "date": DAY.isoformat(),
                    "days": days,
                    "columns": columns,
                }
                rules_cache.clear()
                with CaptureQueriesContext(connection) as cold:
                    assert desk.get(URL, params).status_code == 200
                with CaptureQueriesContext(connection) as warm:
                    assert desk.get(URL, params).status_code == 200
                counts[providers, days, columns] = (len(cold), len(warm))
    print("query counts (cold, warm):", counts)
    for columns in ("provider", "room"):
        seen = {v for k, v in counts.items() if k[2] == columns}
        assert len(seen) == 1, counts
