"""Red team of issue 22's booking and search paths: a new person's limits under real
concurrency (the new insert path skips their lock and limits query), a lost race leaves nothing
half-written, and hostile search parameters are 4xx problems."""

import threading
from collections import Counter
from urllib.parse import urlencode

import pytest
from django.db import connection, connections, transaction
from rest_framework.test import APIClient

from notifications.models import Notification
from patients.models import Consent, Patient
from scheduling.models import Appointment, WeeklyAvailability
from tests.factories.providers import ProviderFactory
from tests.factories.scheduling import ServiceFactory, offer, weekly_hours
from tests.scheduling.conftest import local, next_week
from tests.scheduling.test_races import PROBLEM, booking, clinic, run_in_parallel  # noqa: F401
from tests.services import wait_until

THREADS = 12


def assert_one_booking_won(bodies: list[dict]) -> None:
    """Post the bodies at once: one 201, no 500, one appointment in the database."""
    results = run_in_parallel(bodies)
    codes = Counter(code for code, _ in results)
    assert codes[201] == 1, results
    assert 500 not in codes, results
    assert Appointment.objects.count() == 1


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_one_new_person_racing_free_consults_at_different_times_gets_one(clinic):  # noqa: F811
    location, _, physio = clinic
    consult = ServiceFactory(
        code="free-consult", is_free_consult=True, price="0.00", acts=["free_consult"]
    )
    offer(physio, consult, location)
    day = next_week()
    bodies = [
        booking(
            consult,
            location,
            local(day, f"{9 + i // 2:02d}:{30 * (i % 2):02d}"),
            physio,
            email=("Same@Example.org" if i % 2 else "same@example.org"),
        )
        for i in range(THREADS)
    ]
    assert_one_booking_won(bodies)
    assert Patient.objects.count() == 1


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_one_new_person_racing_overlapping_times_with_two_providers_gets_one(clinic):  # noqa: F811
    location, service, physio = clinic
    other = ProviderFactory(display_name="Second Physio", locations=[location])
    offer(other, service, location)
    weekly_hours(other, location)
    day = next_week()
    bodies = [
        booking(
            service,
            location,
            local(day, "14:00" if i % 2 else "14:15"),
            physio if i % 2 else other,
            email="over@example.org",
        )
        for i in range(THREADS)
    ]
    assert_one_booking_won(bodies)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_new_people_losing_the_race_for_one_slot_leave_no_person_consent_or_email(clinic):  # noqa: F811
    location, service, physio = clinic
    start = local(next_week(), "11:00")
    bodies = [
        booking(service, location, start, physio, email=f"loser{i}@example.org")
        for i in range(THREADS)
    ]
    results = run_in_parallel(bodies)
    assert Counter(code for code, _ in results) == {201: 1, 409: THREADS - 1}
    winner = Appointment.objects.get()
    assert list(Patient.objects.values_list("pk", flat=True)) == [winner.patient_id]
    assert set(Consent.objects.values_list("patient_id", flat=True)) == {winner.patient_id}
    assert Notification.objects.exclude(subject_id=winner.pk).count() == 0


HOSTILE = [
    "9" * 30,
    "-" + "9" * 30,
    "9" * 5000,
    "1\x00",
    "\ud800",
    "1e3",
    "[]",
    "0x1",
]


@pytest.mark.django_db
@pytest.mark.parametrize("name", ["service", "location", "provider"])
@pytest.mark.parametrize("value", HOSTILE)
def test_hostile_ids_in_an_availability_search_are_a_400_naming_the_field(
    api_client, physio, assessment, location, name, value
):
    day = next_week()
    params = {
        "service": assessment.pk,
        "location": location.pk,
        "provider": physio.pk,
        "start": day.isoformat(),
        "end": day.isoformat(),
        name: value,
    }
    query = urlencode(params, errors="surrogatepass")
    response = api_client.get(f"/api/v1/public/availability/?{query}")
    assert response.status_code == 400, (value, response.content[:300])
    assert response["Content-Type"].startswith("application/problem+json")
    assert name in response.content.decode()


@pytest.mark.django_db
@pytest.mark.parametrize("value", ["2027-03-14\x00", "\ud800", "9" * 5000, "99999-01-01", ""])
def test_hostile_dates_in_an_availability_search_are_a_400_naming_the_field(
    api_client, physio, assessment, location, value
):
    params = {
        "service": assessment.pk,
        "location": location.pk,
        "start": value,
        "end": next_week().isoformat(),
    }
    query = urlencode(params, errors="surrogatepass")
    response = api_client.get(f"/api/v1/public/availability/?{query}")
    assert response.status_code == 400, (value, response.content[:300])
    assert "start" in response.content.decode()


def _waiting_on_a_lock() -> bool:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
            " AND datname = current_database()"
        )
        return cursor.fetchone()[0] > 0


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_booking_that_waited_for_the_persons_lock_judges_by_the_hours_after_the_wait(clinic):  # noqa: F811
    """The person's lock serialises their bookings; rules changed while a booking waited for it
    (here: the provider's weekly hours removed) are the rules it judges by, not the rules cache
    entry of the token it read before the wait."""
    location, service, physio = clinic
    day = next_week()
    for warm in ("09:00", "10:00"):  # the second under the token the first left: cached rules
        earlier = APIClient().post(
            "/api/v1/public/bookings/",
            booking(service, location, local(day, warm), physio, email="wait@example.org"),
            format="json",
        )
        assert earlier.status_code == 201, earlier.content
    patient = Patient.objects.get()
    locked, release, outcome = threading.Event(), threading.Event(), {}

    def hold_the_persons_lock() -> None:
        try:
            with transaction.atomic():
                Patient.objects.select_for_update().get(pk=patient.pk)
                locked.set()
                release.wait(20)
        finally:
            connections.close_all()

    def book_while_locked() -> None:
        try:
            response = APIClient().post(
                "/api/v1/public/bookings/",
                booking(service, location, local(day, "13:00"), physio, email="wait@example.org"),
                format="json",
            )
            outcome["status"] = response.status_code
            outcome["type"] = response.json().get("type", "").removeprefix(PROBLEM)
        finally:
            connections.close_all()

    holder = threading.Thread(target=hold_the_persons_lock)
    holder.start()
    assert locked.wait(10)
    booker = threading.Thread(target=book_while_locked)
    booker.start()
    wait_until(_waiting_on_a_lock, what="the booking to wait for the person's lock")
    WeeklyAvailability.objects.filter(provider=physio).delete()
    release.set()
    holder.join(20)
    booker.join(20)
    assert outcome["status"] == 422, outcome
    assert Appointment.objects.count() == 2
