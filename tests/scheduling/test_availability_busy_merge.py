"""PostgreSQL merges a provider's busy time for the search (``scheduling.busy_time``); the
slots, places, rooms and provider loads must be exactly those of the Python merge, on random
calendars: overlapping appointments, odd seconds, buffers, cancellations, time off, waitlist
holds, daylight-saving days, group sessions and shared rooms."""

import datetime

import pytest
from django.db import transaction
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

import scheduling.availability as availability
from clinic.models import Room
from scheduling.availability import search
from scheduling.models import (
    Appointment,
    AvailabilityException,
    BookingPolicyOverride,
    WaitlistEntry,
    WaitlistOffer,
)
from scheduling.services import book_appointment
from tests.factories.clinic import RoomFactory
from tests.factories.patients import PatientFactory
from tests.factories.providers import ProviderFactory
from tests.factories.scheduling import ServiceFactory, weekly_hours
from tests.scheduling.conftest import local, make_physio

pytestmark = pytest.mark.django_db(transaction=False)

NOW = local(datetime.date(2027, 1, 4), "08:00")
DST_DAYS = [datetime.date(2027, 3, 13), datetime.date(2027, 11, 6)]  # the day before each change
STATUSES = [status for status, _ in Appointment.Status.choices]

appointment = st.fixed_dictionaries(
    {
        "provider": st.integers(0, 3),  # 3: a provider who does not offer the service
        "day": st.integers(0, 2),
        "minute": st.integers(8 * 60, 18 * 60) | st.integers(0, 24 * 60 - 5),  # mostly hours
        "seconds": st.sampled_from([0, 0.5, 59.999999, 0.000001, -0.000001]),
        "length": st.integers(5, 150),
        "before": st.sampled_from([0, 0, 5, 10]),
        "after": st.sampled_from([0, 0, 10, 15]),
        "status": st.sampled_from(STATUSES),
        "searched_service": st.booleans(),
        "in_room": st.booleans(),
    }
)
time_off = st.tuples(
    st.integers(0, 2), st.integers(0, 2), st.integers(0, 24 * 60), st.integers(1, 600)
)
hold = st.tuples(st.integers(0, 2), st.integers(0, 2), st.integers(0, 24 * 60 - 60))


def _instant(first: datetime.date, day: int, minute: int, seconds: float = 0) -> datetime.datetime:
    """Minutes after local midnight in absolute time (a daylight-saving day has 23 or 25 hours)."""
    midnight = local(first + datetime.timedelta(days=day), "00:00").astimezone(datetime.UTC)
    return midnight + datetime.timedelta(minutes=minute, seconds=seconds)


def _python_and_database(**kwargs):
    real = availability.merges_in_database
    availability.merges_in_database = lambda alias: False
    try:
        python = search(**kwargs)
    finally:
        availability.merges_in_database = real
    return python, search(**kwargs)


def _build(location, kind: str, step: int, first: datetime.date, appointments, offs, holds):
    service = ServiceFactory(
        code=f"merge-{kind}",
        acts=["manual_therapy"],
        duration_minutes=45,
        buffer_before_minutes=5 if kind != "group" else 0,
        buffer_after_minutes=10,
        capacity=3 if kind == "group" else 1,
        room_kind="massage" if kind == "room" else "",
    )
    other = ServiceFactory(code="merge-other", acts=["manual_therapy"])
    BookingPolicyOverride.objects.create(service=service, slot_step_minutes=step)
    rooms = []
    if kind == "room":
        rooms = [
            RoomFactory(location=location, kind=Room.Kind.MASSAGE, capacity=capacity)
            for capacity in (1, 2)
        ]
    providers = [make_physio(location, service, f"Physio {n}") for n in range(3)]
    outsider = ProviderFactory(display_name="Outside Physio", locations=[location])
    weekly_hours(outsider, location)
    providers.append(outsider)
    blocked: dict[int, list[tuple[datetime.datetime, datetime.datetime]]] = {}
    rows = []
    for n, a in enumerate(appointments):
        provider = providers[a["provider"]]
        start = _instant(first, a["day"], a["minute"], a["seconds"])
        end = start + datetime.timedelta(minutes=a["length"])
        span = (
            start - datetime.timedelta(minutes=a["before"]),
            end + datetime.timedelta(minutes=a["after"]),
        )
        cancelled = a["status"] == Appointment.Status.CANCELLED
        rows.append(
            Appointment(
                patient=PatientFactory(),
                provider=provider,
                service=service if a["searched_service"] else other,
                location=location,
                room=rooms[n % 2] if rooms and a["in_room"] else None,
                start=start,
                end=end,
                blocked_start=span[0],
                blocked_end=span[1],
                slot_key=f"overlap-{provider.pk}",  # one key per provider: overlaps allowed
                status=a["status"],
                cancelled_at=NOW if cancelled else None,
            )
        )
        if a["status"] in availability.BLOCKING_STATUSES:
            blocked.setdefault(provider.pk, []).append(span)
    Appointment.objects.bulk_create(rows)
    for who, day, minute, length in offs:
        start = _instant(first, day, minute)
        AvailabilityException.objects.create(
            provider=providers[who],
            kind=AvailabilityException.Kind.TIME_OFF,
            start=start,
            end=start + datetime.timedelta(minutes=length),
        )
    for who, day, minute in {h[0]: h for h in holds}.values():  # one hold each
        provider = providers[who]
        start = _instant(first, day, minute)
        span = (start, start + datetime.timedelta(minutes=45))
        if any(a < span[1] and b > span[0] for a, b in blocked.get(provider.pk, [])):
            continue  # the database refuses a hold over booked time
        entry = WaitlistEntry.objects.create(
            patient=PatientFactory(),
            service=service,
            location=location,
            provider=provider,
            earliest_date=first,
            latest_date=first + datetime.timedelta(days=2),
        )
        WaitlistOffer.objects.create(
            entry=entry,
            provider=provider,
            start=span[0],
            end=span[1],
            blocked_start=span[0],
            blocked_end=span[1],
            offered_at=NOW,
            expires_at=NOW + datetime.timedelta(hours=2),
        )
    return service, rows


@pytest.mark.postgres  # the merge in the database is PostgreSQL's (range_agg)
@settings(
    max_examples=60,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    kind=st.sampled_from(["plain", "room", "group"]),
    step=st.sampled_from([5, 15, 20]),
    first=st.sampled_from(DST_DAYS),
    appointments=st.lists(appointment, min_size=1, max_size=25),
    offs=st.lists(time_off, max_size=3),
    holds=st.lists(hold, max_size=3),
    ignore=st.booleans(),
    one_provider=st.booleans(),
)
@example(  # ends half a second into the minute a slot's buffer starts: rounded up, it blocks
    kind="plain",
    step=5,
    first=DST_DAYS[0],
    appointments=[
        {
            "provider": 0,
            "day": 0,
            "minute": 10 * 60,
            "seconds": 0.5,
            "length": 50,
            "before": 0,
            "after": 0,
            "status": Appointment.Status.BOOKED,
            "searched_service": True,
            "in_room": False,
        }
    ],
    offs=[],
    holds=[],
    ignore=False,
    one_provider=False,
)
def test_database_merged_busy_time_gives_exactly_the_python_slots(
    location, kind, step, first, appointments, offs, holds, ignore, one_provider
):
    assert availability.merges_in_database("default")
    with transaction.atomic():
        service, rows = _build(location, kind, step, first, appointments, offs, holds)
        python, database = _python_and_database(
            service=service,
            location=location,
            start_date=first,
            end_date=first + datetime.timedelta(days=2),
            provider_ids=[rows[0].provider_id] if one_provider and rows else None,
            now=NOW,
            online=False,
            ignore_appointment_id=rows[0].pk if ignore and rows else None,
        )
        assert database.slots == python.slots
        assert database.provider_load == python.provider_load
        transaction.set_rollback(True)


def test_merged_busy_time_still_blocks_a_booked_and_a_held_time(physio, assessment, location):
    day = datetime.date(2027, 1, 12)
    book_appointment(
        service=assessment,
        location=location,
        start=local(day, "10:00"),
        patient=PatientFactory(),
        provider=physio,
        now=NOW,
    )
    entry = WaitlistEntry.objects.create(
        patient=PatientFactory(),
        service=assessment,
        location=location,
        provider=physio,
        earliest_date=day,
        latest_date=day,
    )
    WaitlistOffer.objects.create(
        entry=entry,
        provider=physio,
        start=local(day, "13:00"),
        end=local(day, "14:00"),
        blocked_start=local(day, "13:00"),
        blocked_end=local(day, "14:00"),
        offered_at=NOW,
        expires_at=NOW + datetime.timedelta(hours=2),
    )
    python, database = _python_and_database(
        service=assessment, location=location, start_date=day, end_date=day, now=NOW
    )
    starts = {s.start for s in database.slots}
    assert local(day, "10:00") not in starts
    assert local(day, "13:00") not in starts
    assert local(day, "11:00") in starts
    assert database.slots == python.slots
    assert database.provider_load == python.provider_load == {physio.pk: 1}
