"""A series racing a single booking for one of its times (PostgreSQL, real parallel
connections): the time is booked exactly once, the loser gets a clear 409, and a refused series
leaves nothing half-written."""

import datetime
import threading
import time
from zoneinfo import ZoneInfo

import pytest
from django.db import connection

from clinic import roles
from scheduling.models import Appointment
from scheduling.series_models import Series
from tests.conftest import client_for, make_staff_user
from tests.factories.clinic import LocationFactory
from tests.factories.patients import PatientFactory
from tests.factories.providers import ProviderFactory, ensure_scope_catalog
from tests.factories.scheduling import ServiceFactory, offer, weekly_hours

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

TORONTO = ZoneInfo("America/Toronto")
PROBLEM = "https://clinic-backend.dev/problems/"
# The single booking leaves the barrier this much later in each round, so the rounds cover the
# single winning outright, arriving while the series' transaction holds the time uncommitted
# (it waits on the exclusion constraint, then loses), and arriving after the series committed.
DELAYS = (0.0, 0.1, 0.2, 0.35, 0.6, 1.2)


@pytest.fixture
def clinic():
    ensure_scope_catalog()
    location = LocationFactory(slug="pickering", name="Pickering")
    service = ServiceFactory(code="series-race", acts=["diagnose"])
    physio = ProviderFactory(display_name="Race Physio", locations=[location])
    offer(physio, service, location)
    weekly_hours(physio, location)
    desk = make_staff_user("race-desk", roles.FRONT_DESK)
    return location, service, physio, desk


def race(requests: list[tuple[str, dict, float]], user) -> list[tuple[int, dict]]:
    """POST every (path, body) from one barrier (then after its delay), one thread and
    connection each."""
    barrier = threading.Barrier(len(requests))
    results: list[tuple[int, dict] | None] = [None] * len(requests)

    def worker(index: int, path: str, body: dict, delay: float) -> None:
        client = client_for(user)
        try:
            barrier.wait()
            time.sleep(delay)
            response = client.post(path, body, format="json")
            results[index] = (response.status_code, response.json())
        except Exception as exc:  # a crash inside the view: the 500 it would be
            results[index] = (500, {"error": repr(exc)})
        finally:
            connection.close()

    threads = [
        threading.Thread(target=worker, args=(i, *request)) for i, request in enumerate(requests)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return results


def bodies(service, location, physio, monday: datetime.date, on_conflict: str):
    start = datetime.datetime.combine(monday, datetime.time(10), tzinfo=TORONTO)
    contested = start + datetime.timedelta(days=7)  # the series' third visit (Mon, Thu, Mon)
    series = {
        "service": service.pk,
        "location": location.pk,
        "provider": physio.pk,
        "patient": PatientFactory().pk,
        "start": start.isoformat(),
        "rule": {"freq": "weekly", "by_weekday": ["MO", "TH"], "count": 4},
        "preview": False,
        "on_conflict": on_conflict,
    }
    single = {
        "service": service.pk,
        "location": location.pk,
        "provider": physio.pk,
        "patient": PatientFactory().pk,
        "start": contested.isoformat(),
    }
    return series, single, contested


@pytest.mark.parametrize("on_conflict", ["refuse", "skip"])
def test_a_series_racing_a_single_booking_books_the_contested_time_once(clinic, on_conflict):
    location, service, physio, desk = clinic
    first_monday = datetime.date(2027, 4, 5)
    outcomes = []
    for round_, delay in enumerate(DELAYS):
        monday = first_monday + datetime.timedelta(weeks=3 * round_)
        series, single, contested = bodies(service, location, physio, monday, on_conflict)
        (series_status, series_body), (single_status, single_body) = race(
            [
                ("/api/v1/appointments/series/", series, 0.0),
                ("/api/v1/appointments/", single, delay),
            ],
            desk,
        )
        outcomes.append("single" if single_status == 201 else "series")
        assert 500 not in (series_status, single_status), (series_body, single_body)
        holders = Appointment.objects.filter(provider=physio, start=contested)
        assert holders.count() == 1, f"never a double booking (won so far: {outcomes})"
        if single_status == 201:
            holder = holders.get()
            assert holder.series_id is None
            if on_conflict == "refuse":
                assert series_status == 409
                assert series_body["type"].removeprefix(PROBLEM) in {
                    "series-conflict",
                    "slot-unavailable",
                }
                assert not Appointment.objects.filter(patient_id=series["patient"]).exists()
            else:
                assert series_status == 201
                assert [v["index"] for v in series_body["skipped"]] == [2]
                assert len(series_body["appointments"]) == 3
        else:
            assert series_status == 201
            assert single_status == 409
            assert single_body["type"] == f"{PROBLEM}slot-unavailable"
            assert len(series_body["appointments"]) == 4
    refused_series = Series.objects.filter(appointments__isnull=True)
    assert not refused_series.exists(), "a refused series leaves no row behind"
