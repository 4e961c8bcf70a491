"""The busy-time cache (``scheduling.busy_time``): outside a transaction a search keeps each
provider's merged busy time under their calendar version, which triggers replace whenever that
provider's appointments or holds change. Every kind of change must show on the next search,
however it was written (a service, ``queryset.update()``, raw SQL, another connection, TRUNCATE);
nothing else may make the search merge again; a search inside a transaction reads the rows."""

import datetime

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from scheduling import busy_time
from scheduling.availability import search
from scheduling.models import Appointment, CalendarVersion, WaitlistOffer
from scheduling.services import book_appointment, cancel_appointment
from tests.factories.clinic import RoomFactory
from tests.factories.patients import PatientFactory
from tests.factories.providers import ensure_scope_catalog
from tests.factories.scheduling import ServiceFactory, held_time, offer, waiting_entry
from tests.scheduling.conftest import committed_on_another_connection, local, make_physio

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

DAY = datetime.date(2027, 1, 12)  # a Tuesday
NOW = local(datetime.date(2027, 1, 4), "08:00")


@pytest.fixture(autouse=True)
def catalog(transactional_db):
    ensure_scope_catalog()  # a transactional test starts from a flushed database
    busy_time.clear()
    yield
    busy_time.clear()


def starts(service, location, provider) -> list[str]:
    """The provider's start times on DAY, as local HH:MM, searched outside any transaction."""
    assert not connection.in_atomic_block
    found = search(
        service=service,
        location=location,
        start_date=DAY,
        end_date=DAY,
        provider_ids=[provider.pk],
        now=NOW,
    )
    return [slot.start.astimezone(location.zone).strftime("%H:%M") for slot in found.slots]


def merges(run) -> int:
    """How many busy merges ``run`` made PostgreSQL do."""
    with CaptureQueriesContext(connection) as queries:
        run()
    return sum("range_agg" in q["sql"] for q in queries.captured_queries)


def book(service, location, provider, hh_mm: str, day=DAY) -> Appointment:
    return book_appointment(
        service=service,
        location=location,
        start=local(day, hh_mm),
        patient=PatientFactory(),
        provider=provider,
        now=NOW,
    )


def test_a_warm_search_merges_no_busy_time_again(physio, assessment, location):
    book(assessment, location, physio, "10:00")
    assert merges(lambda: starts(assessment, location, physio)) == 1
    assert merges(lambda: starts(assessment, location, physio)) == 0


def test_a_booking_and_its_cancellation_show_on_the_next_search(physio, assessment, location):
    before = starts(assessment, location, physio)
    appointment = book(assessment, location, physio, "10:00")
    booked = starts(assessment, location, physio)
    assert "10:00" in before
    assert "10:00" not in booked
    cancel_appointment(appointment, reason="Unwell", now=NOW)
    assert starts(assessment, location, physio) == before


def test_writes_that_bypass_the_models_show_on_the_next_search(physio, assessment, location):
    """``queryset.update()`` and raw SQL fire no Django signal; the triggers still fire."""
    before = starts(assessment, location, physio)
    appointment = book(assessment, location, physio, "10:00")
    booked = starts(assessment, location, physio)
    Appointment.objects.filter(pk=appointment.pk).update(
        status=Appointment.Status.CANCELLED, cancelled_at=NOW
    )
    assert starts(assessment, location, physio) == before
    Appointment.objects.filter(pk=appointment.pk).update(
        status=Appointment.Status.BOOKED, cancelled_at=None
    )
    assert starts(assessment, location, physio) == booked
    shift = datetime.timedelta(hours=4)
    Appointment.objects.filter(pk=appointment.pk).update(
        start=appointment.start + shift,
        end=appointment.end + shift,
        blocked_start=appointment.blocked_start + shift,
        blocked_end=appointment.blocked_end + shift,
    )
    moved = starts(assessment, location, physio)
    assert "10:00" in moved
    assert "14:00" not in moved
    with connection.cursor() as cursor:
        cursor.execute(
            "DELETE FROM scheduling_appointmentevent WHERE appointment_id = %s", [appointment.pk]
        )
        cursor.execute("DELETE FROM scheduling_appointment WHERE id = %s", [appointment.pk])
    assert starts(assessment, location, physio) == before


def test_a_visit_moved_to_another_provider_changes_both_calendars(physio, assessment, location):
    colleague = make_physio(location, assessment, "Colin Colleague")
    appointment = book(assessment, location, physio, "10:00")
    assert "10:00" not in starts(assessment, location, physio)
    assert "10:00" in starts(assessment, location, colleague)
    Appointment.objects.filter(pk=appointment.pk).update(provider=colleague)
    assert "10:00" in starts(assessment, location, physio)
    assert "10:00" not in starts(assessment, location, colleague)


def test_a_waitlist_hold_blocks_the_time_and_its_end_frees_it(physio, assessment, location):
    before = starts(assessment, location, physio)
    entry = waiting_entry(physio, assessment, location, DAY)
    hold = held_time(entry, physio, local(DAY, "13:00"), 60, NOW)
    held = starts(assessment, location, physio)
    assert "13:00" in before
    assert "13:00" not in held
    WaitlistOffer.objects.filter(pk=hold.pk).update(status=WaitlistOffer.Status.EXPIRED)
    assert starts(assessment, location, physio) == before


def test_a_change_committed_on_another_connection_shows_on_the_next_search(
    physio, assessment, location
):
    before = starts(assessment, location, physio)
    committed_on_another_connection(lambda: book(assessment, location, physio, "10:00"))
    assert "10:00" in before
    assert "10:00" not in starts(assessment, location, physio)


def test_a_rolled_back_booking_changes_nothing_and_leaves_no_stale_entry(
    physio, assessment, location
):
    before = starts(assessment, location, physio)
    version = CalendarVersion.objects.filter(pk=physio.pk).values_list("value", flat=True)
    version_before = list(version)

    def book_then_give_up() -> None:
        with transaction.atomic():
            book(assessment, location, physio, "10:00")
            raise RuntimeError("the caller gave up")

    with pytest.raises(RuntimeError):
        book_then_give_up()
    assert starts(assessment, location, physio) == before
    assert list(version) == version_before
    book(assessment, location, physio, "11:00")
    assert "11:00" not in starts(assessment, location, physio)


def test_an_update_of_nothing_busy_time_is_made_of_keeps_the_entry(physio, assessment, location):
    appointment = book(assessment, location, physio, "10:00")
    starts(assessment, location, physio)
    Appointment.objects.filter(pk=appointment.pk).update(reason="Knee, not shoulder")
    assert merges(lambda: starts(assessment, location, physio)) == 0


def test_truncating_the_appointments_replaces_every_version(physio, assessment, location):
    book(assessment, location, physio, "10:00")
    assert "10:00" not in starts(assessment, location, physio)
    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE scheduling_appointment CASCADE")
    assert "10:00" in starts(assessment, location, physio)


def test_a_search_inside_a_transaction_reads_the_rows(physio, assessment, location):
    book(assessment, location, physio, "10:00")
    starts(assessment, location, physio)  # warm
    with transaction.atomic():
        found = merges(
            lambda: search(
                service=assessment,
                location=location,
                start_date=DAY,
                end_date=DAY,
                provider_ids=[physio.pk],
                now=NOW,
            )
        )
    assert found == 1


def test_a_room_search_never_changes_the_cached_busy_time(physio, assessment, location):
    """A search for a service with a room reads the room's appointments one by one and adds
    them to the provider's merged spans: on its own copy, never on the cached lists."""
    treatment = ServiceFactory(
        code="physio-treatment", name="Treatment", acts=["manual_therapy"], room_kind="treatment"
    )
    offer(physio, treatment, location)
    RoomFactory(location=location, name="Room 1", kind="treatment")
    book(assessment, location, physio, "09:00")
    book(treatment, location, physio, "11:00")
    found = starts(treatment, location, physio)
    cached = {key: (list(spans), count) for key, (spans, count) in busy_time._entries.items()}
    assert cached, "the room search keeps the merged busy time too"
    for _ in range(2):
        assert starts(treatment, location, physio) == found
    assert {key: (list(spans), n) for key, (spans, n) in busy_time._entries.items()} == cached
