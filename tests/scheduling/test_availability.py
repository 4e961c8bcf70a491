"""The availability search: hours, local time and daylight saving, policy, closures, exceptions,
buffers, rooms, group places, scope at each slot's time, and a query count that does not grow."""

import datetime

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from clinic import rules_cache
from clinic.errors import RuleProblem
from clinic.models import ClinicSettings, Room
from patients.models import Patient
from scheduling.availability import search
from scheduling.models import (
    Appointment,
    AvailabilityException,
    BookingPolicyOverride,
    WeeklyAvailability,
)
from scheduling.services import book_appointment
from tests.factories.clinic import RoomFactory
from tests.factories.patients import PatientFactory
from tests.factories.providers import CredentialFactory, ProviderFactory
from tests.factories.scheduling import ClosureFactory, ServiceFactory, offer, weekly_hours
from tests.scheduling.conftest import TORONTO, local, make_physio

pytestmark = pytest.mark.django_db

DAY = datetime.date(2027, 1, 12)  # a Tuesday
EARLY = local(datetime.date(2026, 12, 1), "08:00")  # "now" well before DAY


def starts(result, zone=TORONTO) -> list[str]:
    return [s.start.astimezone(zone).strftime("%H:%M%z") for s in result.slots]


def find(service, location, day=DAY, now=EARLY, **kwargs):
    return search(
        service=service, location=location, start_date=day, end_date=day, now=now, **kwargs
    )


def test_slots_follow_weekly_hours_in_the_locations_zone(physio, assessment, location):
    result = find(assessment, location)
    assert starts(result)[0] == "09:00-0500"
    assert starts(result)[-1] == "16:00-0500"  # a 60-minute slot must end by 17:00
    assert len(result.slots) == 29  # every 15 minutes from 09:00 to 16:00
    assert all(s.start.utcoffset() == datetime.timedelta(0) for s in result.slots)


def test_spring_forward_day_has_its_real_hours_none_lost_none_doubled(physio, assessment, location):
    day = datetime.date(2026, 3, 8)
    now = local(datetime.date(2026, 3, 1), "08:00")
    WeeklyAvailability.objects.filter(provider=physio).update(
        start_time=datetime.time(0, 0), end_time=datetime.time(6, 0)
    )
    result = find(assessment, location, day=day, now=now)
    times = starts(result)
    # 00:00-06:00 local is five real hours that day: 60-minute slots start 00:00 .. 05:00 local.
    assert times[0] == "00:00-0500"
    assert "01:45-0500" in times
    assert "03:00-0400" in times
    assert not any(t.startswith("02:") for t in times)
    assert times[-1] == "05:00-0400"
    assert len(times) == 17
    assert len({s.start for s in result.slots}) == len(times)


def test_fall_back_day_has_25_hours_and_the_repeated_hour_twice(physio, assessment, location):
    day = datetime.date(2026, 11, 1)
    now = local(datetime.date(2026, 10, 20), "08:00")
    WeeklyAvailability.objects.filter(provider=physio).update(
        start_time=datetime.time(0, 0), end_time=datetime.time(6, 0)
    )
    result = find(assessment, location, day=day, now=now)
    times = starts(result)
    assert times.count("01:15-0400") == 1
    assert times.count("01:15-0500") == 1
    assert len(times) == 25  # seven real hours: starts over six hours, every 15 minutes
    assert len({s.start for s in result.slots}) == 25


def test_daytime_slots_on_daylight_saving_days_keep_their_local_times(physio, assessment, location):
    spring = find(
        assessment,
        location,
        day=datetime.date(2026, 3, 8),
        now=local(datetime.date(2026, 3, 1), "08:00"),
    )
    fall = find(
        assessment,
        location,
        day=datetime.date(2026, 11, 1),
        now=local(datetime.date(2026, 10, 20), "08:00"),
    )
    assert starts(spring)[0] == "09:00-0400"
    assert len(spring.slots) == 29
    assert starts(fall)[0] == "09:00-0500"
    assert len(fall.slots) == 29


def test_minimum_notice_hides_slots_too_soon(physio, assessment, location):
    now = local(DAY, "08:00")  # default notice: 120 minutes
    assert starts(find(assessment, location, now=now))[0] == "10:00-0500"


def test_same_day_booking_off_hides_today(physio, assessment, location):
    ClinicSettings.objects.update_or_create(pk=1, defaults={"same_day_booking": False})
    now = local(DAY, "06:00")
    assert find(assessment, location, now=now).slots == []
    tomorrow = find(assessment, location, day=DAY + datetime.timedelta(days=1), now=now)
    assert len(tomorrow.slots) == 29


def test_horizon_per_service_override_wins_over_clinic_default(physio, assessment, location):
    now = local(DAY - datetime.timedelta(days=10), "08:00")
    assert find(assessment, location, now=now).slots
    BookingPolicyOverride.objects.create(location=location, booking_horizon_days=30)
    BookingPolicyOverride.objects.create(service=assessment, booking_horizon_days=9)
    assert find(assessment, location, now=now).slots == []


def test_staff_search_ignores_notice_and_horizon_but_not_the_past(physio, assessment, location):
    now = local(DAY, "12:10")
    staff = find(assessment, location, now=now, online=False)
    assert starts(staff)[0] == "12:15-0500"
    far = find(assessment, location, day=DAY + datetime.timedelta(days=200), now=now, online=False)
    assert far.slots


def test_closed_location_has_no_slots(physio, assessment, location):
    ClosureFactory(location=location, start_date=DAY, end_date=DAY, reason="Family Day")
    assert find(assessment, location).slots == []
    assert find(assessment, location, day=DAY + datetime.timedelta(days=1)).slots


def test_time_off_removes_hours_and_extra_hours_add_them(physio, assessment, location):
    AvailabilityException.objects.create(
        provider=physio, kind="time_off", start=local(DAY, "09:00"), end=local(DAY, "13:00")
    )
    AvailabilityException.objects.create(
        provider=physio,
        location=location,
        kind="extra_hours",
        start=local(DAY, "18:00"),
        end=local(DAY, "20:00"),
    )
    times = starts(find(assessment, location))
    assert times[0] == "13:00-0500"
    assert "18:00-0500" in times
    assert "19:00-0500" in times
    assert "19:15-0500" not in times
    assert "16:30-0500" not in times


def test_weekly_hours_apply_only_inside_their_validity_dates(physio, assessment, location):
    WeeklyAvailability.objects.filter(provider=physio).update(valid_until=DAY)
    assert find(assessment, location).slots
    assert find(assessment, location, day=DAY + datetime.timedelta(days=1)).slots == []


def test_existing_appointment_blocks_its_time_plus_both_buffers(physio, location):
    massage = ServiceFactory(
        code="massage-60",
        acts=["manual_therapy"],
        duration_minutes=60,
        buffer_before_minutes=15,
        buffer_after_minutes=15,
    )
    offer(physio, massage, location)
    book_appointment(
        service=massage,
        location=location,
        start=local(DAY, "11:00"),
        patient=PatientFactory(),
        provider=physio,
        now=EARLY,
    )
    times = starts(find(massage, location))
    # Booked 11:00-12:00 holds 10:45-12:15. A new one needs 15 minutes before and after too.
    assert "09:30-0500" in times
    assert "09:45-0500" not in times
    assert "12:15-0500" not in times
    assert "12:30-0500" in times


def test_cancelled_appointment_frees_its_slot(physio, assessment, location):
    from scheduling.services import cancel_appointment

    appointment = book_appointment(
        service=assessment,
        location=location,
        start=local(DAY, "10:00"),
        patient=PatientFactory(),
        provider=physio,
        now=EARLY,
    )
    assert "10:00-0500" not in starts(find(assessment, location))
    cancel_appointment(appointment, reason="Feeling better", now=EARLY)
    assert "10:00-0500" in starts(find(assessment, location))


def test_room_capacity_limits_providers_sharing_one_room(location):
    service = ServiceFactory(code="massage-room", acts=["manual_therapy"], room_kind="massage")
    room = RoomFactory(location=location, name="Massage room", kind=Room.Kind.MASSAGE)
    first = make_physio(location, service, "First Physio")
    second = make_physio(location, service, "Second Physio")
    appointment = book_appointment(
        service=service,
        location=location,
        start=local(DAY, "10:00"),
        patient=PatientFactory(),
        provider=first,
        now=EARLY,
    )
    assert appointment.room == room
    at_ten = [s for s in find(service, location).slots if s.start == local(DAY, "10:00")]
    assert at_ten == []
    at_eleven = [
        s.provider_id for s in find(service, location).slots if s.start == local(DAY, "11:00")
    ]
    assert sorted(at_eleven) == sorted([first.pk, second.pk])


def test_group_class_shows_spots_left(location):
    group = ServiceFactory(
        code="group-class", acts=["fitness_training"], capacity=3, duration_minutes=60
    )
    trainer = ProviderFactory(
        display_name="Tess Trainer",
        discipline__code="personal_trainer",
        locations=[location],
        credentials__kind="certification",
    )
    offer(trainer, group, location)
    weekly_hours(trainer, location)
    start = local(DAY, "10:00")
    for _ in range(2):
        book_appointment(
            service=group, location=location, start=start, patient=PatientFactory(), now=EARLY
        )
    slots = {s.start: s for s in find(group, location).slots}
    assert slots[start].spots_left == 1
    assert slots[local(DAY, "12:00")].spots_left == 3
    assert local(DAY, "10:30") not in slots  # overlaps the running session
    book_appointment(
        service=group, location=location, start=start, patient=PatientFactory(), now=EARLY
    )
    assert start not in {s.start for s in find(group, location).slots}


def test_scope_is_judged_at_each_slot_licence_expiring_mid_range(physio, assessment, location):
    physio.credentials.update(valid_until=DAY)
    result = search(
        service=assessment,
        location=location,
        start_date=DAY,
        end_date=DAY + datetime.timedelta(days=1),
        now=EARLY,
    )
    days = {s.start.astimezone(TORONTO).date() for s in result.slots}
    assert days == {DAY}


def _query_count(service, location) -> int:
    rules_cache.clear()  # the cold count: every rule read from the database
    with CaptureQueriesContext(connection) as ctx:
        search(
            service=service,
            location=location,
            start_date=DAY,
            end_date=DAY + datetime.timedelta(days=30),
            now=EARLY,
        )
    return len(ctx.captured_queries)


def test_query_count_is_the_same_for_1_and_20_providers(physio, assessment, location):
    RoomFactory(location=location, kind=Room.Kind.TREATMENT)
    one = _query_count(assessment, location)
    for n in range(19):
        provider = make_physio(location, assessment, f"Physio {n}")
        CredentialFactory(provider=provider, number=f"X-{n}")
        book_appointment(
            service=assessment,
            location=location,
            start=local(DAY + datetime.timedelta(days=n), "10:00"),
            patient=PatientFactory(),
            provider=provider,
            now=EARLY,
        )
    assert _query_count(assessment, location) == one
    assert Patient.objects.count() == 19


def test_any_provider_lists_each_time_once_with_the_places_left(physio, assessment, location):
    from scheduling.selectors import public_slots

    other = make_physio(location, assessment, "Second Physio")
    book_appointment(
        service=assessment,
        location=location,
        start=local(DAY, "10:00"),
        patient=PatientFactory(),
        provider=physio,
        now=EARLY,
    )
    slots = {
        s.start: s
        for s in public_slots(
            service=assessment, location=location, start_date=DAY, end_date=DAY, now=EARLY
        )
    }
    assert len(slots) == 29
    assert slots[local(DAY, "10:00")].spots_left == 1
    assert slots[local(DAY, "10:00")].provider_id == other.pk
    assert slots[local(DAY, "15:00")].spots_left == 2
    # The least busy provider is offered first.
    assert slots[local(DAY, "15:00")].provider_id == other.pk


def test_public_availability_query_count_does_not_grow_with_providers(
    api_client, physio, assessment, location
):
    params = {
        "service": assessment.pk,
        "location": location.pk,
        "start": DAY + datetime.timedelta(days=-30),
        "end": DAY,
    }

    def count() -> int:
        with CaptureQueriesContext(connection) as ctx:
            assert api_client.get("/api/v1/public/availability/", params).status_code == 200
        return len(ctx.captured_queries)

    one = count()
    for n in range(19):
        make_physio(location, assessment, f"Physio {n}")
    assert count() == one


def test_same_day_booking_off_refuses_an_online_booking_for_today(physio, assessment, location):
    """The widget is told why (the policy, 422), not that the slot is taken; staff may still
    book the same day."""
    ClinicSettings.objects.update_or_create(pk=1, defaults={"same_day_booking": False})
    now, start = local(DAY, "06:00"), local(DAY, "15:00")
    with pytest.raises(RuleProblem) as refused:
        book_appointment(
            service=assessment,
            location=location,
            start=start,
            patient=PatientFactory(),
            source=Appointment.Source.ONLINE,
            now=now,
        )
    assert refused.value.slug == "outside-booking-policy"
    assert [e.code for e in refused.value.errors] == ["same_day"]
    staff = book_appointment(
        service=assessment, location=location, start=start, patient=PatientFactory(), now=now
    )
    assert staff.start == start
