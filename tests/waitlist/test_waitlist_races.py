"""The hold under real concurrency (PostgreSQL): threads with their own connections start
together at a barrier. One offer claimed twenty times books once; a public booking racing the
claim for the held time is refused; two openings matched at once give an entry one offer; and
the database itself refuses a booking over a hold, and a hold over a booking."""

import datetime
import threading
from collections import Counter

import pytest
from django.db import IntegrityError, connection, transaction
from rest_framework.test import APIClient

from scheduling.models import Appointment, WaitlistOffer, WaitlistOpening
from scheduling.services.waitlist_matching import match_opening
from tests.scheduling.conftest import make_physio
from tests.waitlist.conftest import CLAIM_DETAILS, PROBLEM, Clinic

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def postgres_only():
    if connection.vendor != "postgresql":
        pytest.skip("exclusion constraints and triggers are PostgreSQL's")


@pytest.fixture(autouse=True)
def no_throttles(settings):
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": dict.fromkeys(
            settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], "100000/min"
        ),
    }


@pytest.fixture
def clinic(transactional_db) -> Clinic:
    return Clinic()


def in_parallel(calls: list) -> list:
    """Run every call at once, one thread and one database connection each."""
    barrier = threading.Barrier(len(calls))
    results: list = [None] * len(calls)

    def run(i: int, call) -> None:
        try:
            barrier.wait()
            results[i] = call()
        except Exception as exc:  # a crash counts as the 500 it would be
            results[i] = ("crash", repr(exc))
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i, c)) for i, c in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return results


def post(path: str, body: dict):
    def call():
        response = APIClient().post(path, body, format="json")
        return response.status_code, response.json().get("type", "").removeprefix(PROBLEM)

    return call


def offered(clinic: Clinic, name: str = "First"):
    """An entry holding the 10:00 time its cancellation freed."""
    booked = clinic.book()
    entry = clinic.wait(clinic.patient(name))
    Appointment.objects.filter(pk=booked.pk).update(
        status=Appointment.Status.CANCELLED, cancelled_at=clinic.start - datetime.timedelta(days=7)
    )
    opening = WaitlistOpening.objects.create(
        location=clinic.location,
        provider=clinic.physio,
        start=clinic.start,
        end=clinic.start + datetime.timedelta(hours=1),
        reason="cancelled",
        created_at=clinic.start - datetime.timedelta(days=7),
    )
    [offer] = match_opening(opening.pk)
    assert offer.entry_id == entry.pk
    return entry, offer


def public_booking(clinic: Clinic, n: int) -> dict:
    return {
        "service": clinic.service.pk,
        "location": clinic.location.pk,
        "start": clinic.start.isoformat(),
        "patient": {
            "first_name": "Racer",
            "last_name": f"N{n}",
            "email": f"racer{n}@example.org",
            "date_of_birth": "1990-01-01",
        },
        "reason": "Knee",
    }


def test_twenty_claims_of_one_offer_make_one_appointment_and_nineteen_clean_409s(clinic):
    entry, _ = offered(clinic)
    claim = post(
        f"/api/v1/public/waitlist/{entry.pk}/claim/", {"token": entry.token, **CLAIM_DETAILS}
    )
    results = Counter(in_parallel([claim] * 20))
    assert results == Counter({(201, ""): 1, (409, "offer-expired"): 19}), results
    assert Appointment.objects.filter(patient=entry.patient).count() == 1


def test_public_bookings_racing_the_claim_for_the_held_time_are_refused(clinic):
    entry, _ = offered(clinic)
    claim = post(
        f"/api/v1/public/waitlist/{entry.pk}/claim/", {"token": entry.token, **CLAIM_DETAILS}
    )
    bookings = [post("/api/v1/public/bookings/", public_booking(clinic, n)) for n in range(9)]
    results = in_parallel([claim, *bookings])
    assert results[0] == (201, ""), results
    assert Counter(results[1:]) == Counter({(409, "slot-unavailable"): 9}), results
    [appointment] = Appointment.objects.exclude(status=Appointment.Status.CANCELLED)
    assert appointment.patient == entry.patient


def test_two_openings_matched_at_once_give_an_entry_one_offer(clinic):
    colleague = make_physio(clinic.location, clinic.service, "Colleague")
    entry = clinic.wait(clinic.patient("Only"))
    openings = [
        WaitlistOpening.objects.create(
            location=clinic.location,
            provider=provider,
            start=clinic.start,
            end=clinic.start + datetime.timedelta(hours=1),
            reason="cancelled",
            created_at=clinic.start - datetime.timedelta(days=7),
        )
        for provider in (clinic.physio, colleague)
    ]
    for _ in range(5):
        WaitlistOffer.objects.all().delete()
        WaitlistOpening.objects.update(matched_at=None)
        entry.__class__.objects.filter(pk=entry.pk).update(status="waiting")
        results = in_parallel([lambda o=o: len(match_opening(o.pk)) for o in openings])
        assert sorted(results) == [0, 1], results
        assert WaitlistOffer.objects.filter(entry=entry, status="offered").count() == 1


def test_the_database_refuses_a_booking_over_a_hold_even_past_the_service(clinic):
    _, offer = offered(clinic)
    other = clinic.patient("Sneaky")
    with pytest.raises(IntegrityError), transaction.atomic():
        Appointment.objects.create(
            patient=other,
            provider=clinic.physio,
            service=clinic.service,
            location=clinic.location,
            start=offer.start,
            end=offer.end,
            blocked_start=offer.blocked_start,
            blocked_end=offer.blocked_end,
            slot_key="one:sneaky",
        )


def test_the_database_refuses_a_hold_over_a_booking_and_a_second_hold(clinic):
    entry, offer = offered(clinic)
    second = clinic.wait(clinic.patient("Second"))
    fields = {
        "provider": clinic.physio,
        "start": offer.start,
        "end": offer.end,
        "blocked_start": offer.blocked_start,
        "blocked_end": offer.blocked_end,
        "offered_at": offer.offered_at,
        "expires_at": offer.expires_at,
    }
    with pytest.raises(IntegrityError), transaction.atomic():
        WaitlistOffer.objects.create(entry=second, **fields)  # the same time held twice
    day = datetime.timedelta(days=1)
    later = {
        **fields,
        **{name: fields[name] + day for name in ("start", "end", "blocked_start", "blocked_end")},
    }
    with pytest.raises(IntegrityError), transaction.atomic():
        WaitlistOffer.objects.create(entry=entry, **later)  # one open offer per entry
    WaitlistOffer.objects.filter(pk=offer.pk).update(status="expired")
    clinic.book(clinic.patient("Booked again"))
    with pytest.raises(IntegrityError), transaction.atomic():
        WaitlistOffer.objects.create(entry=second, **fields)  # over a booked visit


def test_a_hold_and_a_booking_inserted_at_once_never_both_stand(clinic):
    entry = clinic.wait(clinic.patient("Held"))
    others = [clinic.patient(f"Other{i}") for i in range(6)]

    def hold():
        with transaction.atomic():
            WaitlistOffer.objects.create(
                entry=entry,
                provider=clinic.physio,
                start=clinic.start,
                end=clinic.start + datetime.timedelta(hours=1),
                blocked_start=clinic.start,
                blocked_end=clinic.start + datetime.timedelta(hours=1),
                offered_at=clinic.start - datetime.timedelta(days=1),
                expires_at=clinic.start,
            )
        return "held"

    def book(patient):
        return lambda: clinic.book(patient) and "booked"

    for patient in others:
        WaitlistOffer.objects.all().delete()
        Appointment.objects.all().delete()
        results = in_parallel([hold, book(patient)])
        standing = WaitlistOffer.objects.count() + Appointment.objects.count()
        assert standing == 1, results
        assert sum(r in ("held", "booked") for r in results) == 1, results
