"""The search reads appointment times as epoch seconds and skips blocked steps in one jump:
instants that are not whole seconds still block, and the slots match a step-by-step check."""

import datetime

import pytest

from patients.models import Patient
from scheduling.availability import search
from scheduling.models import Appointment, BookingPolicyOverride
from scheduling.services import book_appointment
from tests.factories.patients import PatientFactory
from tests.factories.scheduling import ServiceFactory, offer
from tests.scheduling.conftest import TORONTO, local

pytestmark = pytest.mark.django_db

DAY = datetime.date(2027, 1, 12)  # a Tuesday
EARLY = local(datetime.date(2026, 12, 1), "08:00")


def find(service, location, first=DAY, last=DAY):
    return search(service=service, location=location, start_date=first, end_date=last, now=EARLY)


def starts(result) -> list[str]:
    return [s.start.astimezone(TORONTO).strftime("%H:%M") for s in result.slots]


def book(service, location, provider, hh_mm: str) -> Appointment:
    patient: Patient = PatientFactory()
    return book_appointment(
        service=service,
        location=location,
        start=local(DAY, hh_mm),
        patient=patient,
        provider=provider,
        now=EARLY,
    )


def test_a_microsecond_of_busy_time_blocks_the_slot_next_to_it(physio, assessment, location):
    appointment = book(assessment, location, physio, "11:00")
    assert {"10:00", "12:00"} <= set(starts(find(assessment, location)))
    Appointment.objects.filter(pk=appointment.pk).update(
        blocked_start=local(DAY, "10:59:59.999999"),
        blocked_end=local(DAY, "12:00:00.000001"),
    )
    times = starts(find(assessment, location))
    assert "10:00" not in times
    assert "12:00" not in times
    assert {"09:45", "12:15"} <= set(times)


def test_slots_match_a_step_by_step_check_with_odd_times_and_buffers(physio, location):
    service = ServiceFactory(
        code="odd-45",
        acts=["manual_therapy"],
        duration_minutes=45,
        buffer_before_minutes=5,
        buffer_after_minutes=10,
    )
    offer(physio, service, location)
    BookingPolicyOverride.objects.create(service=service, slot_step_minutes=10)
    shifts = {
        "10:00": datetime.timedelta(minutes=7),
        "13:00": datetime.timedelta(minutes=-13, seconds=-20.5),
        "15:00": datetime.timedelta(microseconds=1),
    }
    blocked = []
    for hh_mm, shift in shifts.items():
        appointment = book(service, location, physio, hh_mm)
        ranges = (appointment.blocked_start + shift, appointment.blocked_end + shift)
        Appointment.objects.filter(pk=appointment.pk).update(
            start=appointment.start + shift,
            end=appointment.end + shift,
            blocked_start=ranges[0],
            blocked_end=ranges[1],
        )
        blocked.append(ranges)

    step, expected = datetime.timedelta(minutes=10), []
    start = local(DAY, "09:00")
    while start + datetime.timedelta(minutes=45) <= local(DAY, "17:00"):
        hold = (start - datetime.timedelta(minutes=5), start + datetime.timedelta(minutes=55))
        if not any(a < hold[1] and b > hold[0] for a, b in blocked):
            expected.append(start.strftime("%H:%M"))
        start += step
    assert starts(find(service, location)) == expected
    assert "11:00" not in expected  # free were the first appointment not moved
    assert "13:50" in expected  # busy were the second not moved


def test_slots_start_on_the_day_a_licence_becomes_valid(physio, assessment, location):
    physio.credentials.update(valid_from=DAY + datetime.timedelta(days=1))
    result = find(assessment, location, last=DAY + datetime.timedelta(days=1))
    days = {s.start.astimezone(TORONTO).date() for s in result.slots}
    assert days == {DAY + datetime.timedelta(days=1)}
    assert len(result.slots) == 29
