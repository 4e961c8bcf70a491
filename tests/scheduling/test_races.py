"""No double booking under real concurrency (PostgreSQL): many threads, each with its own
database connection, call the public API at the same instant. Exactly the bookings that fit are
made, every other request gets ``409 slot-unavailable``, and none gets a 500."""

import threading
import time
from collections import Counter

import pytest
from django.db import IntegrityError, connection, transaction
from rest_framework.test import APIClient

from clinic.errors import ConflictProblem
from clinic.models import AuditEvent, ClinicSettings, Room
from notifications.models import Notification
from patients.models import Consent, Patient
from scheduling.models import Appointment, AppointmentEvent
from scheduling.services import book_appointment
from tests.factories.clinic import LocationFactory, RoomFactory
from tests.factories.patients import PatientFactory
from tests.factories.providers import ProviderFactory, ensure_scope_catalog
from tests.factories.scheduling import ServiceFactory, offer, weekly_hours
from tests.scheduling.conftest import local, next_week

THREADS = 20
PROBLEM = "https://clinic-backend.dev/problems/"


def booking(service, location, start, provider=None, email="racer@example.org") -> dict:
    data = {
        "service": service.pk,
        "location": location.pk,
        "start": start.isoformat(),
        "patient": {
            "first_name": "Race",
            "last_name": "Runner",
            "email": email,
            "phone": "+1 905 555 0100",
            "date_of_birth": "1985-02-03",
        },
        "consent": {"reminders": True},
        "reason": "Shoulder pain",
    }
    if provider is not None:
        data["provider"] = provider.pk
    return data


def run_in_parallel(bodies: list[dict]) -> list[tuple[int, str]]:
    """POST every body at once, one thread and one connection each; (status, problem slug)."""
    barrier = threading.Barrier(len(bodies))
    results: list[tuple[int, str]] = []
    lock = threading.Lock()

    def worker(body: dict) -> None:
        client = APIClient()
        try:
            barrier.wait()
            response = client.post("/api/v1/public/bookings/", body, format="json")
            slug = response.json().get("type", "").removeprefix(PROBLEM)
            outcome = (response.status_code, slug)
        except Exception as exc:  # a crash inside the view: count it as the 500 it would be
            outcome = (500, repr(exc))
        finally:
            connection.close()
        with lock:
            results.append(outcome)

    threads = [threading.Thread(target=worker, args=(b,)) for b in bodies]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return results


@pytest.fixture
def clinic():
    ensure_scope_catalog()
    # The settings row as migration 0011 leaves it (a flushed database has none: see
    # test_racers_without_the_settings_row_book_the_slot_once).
    ClinicSettings.objects.get_or_create(pk=1)
    location = LocationFactory(slug="pickering", name="Pickering")
    service = ServiceFactory(code="assessment", acts=["diagnose"])
    physio = ProviderFactory(display_name="Race Physio", locations=[location])
    offer(physio, service, location)
    weekly_hours(physio, location)
    return location, service, physio


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_twenty_parallel_bookings_of_one_slot_exactly_one_wins(clinic):
    location, service, physio = clinic
    start = local(next_week(), "10:00")
    bodies = [
        booking(service, location, start, physio, email=f"p{i}@example.org") for i in range(THREADS)
    ]
    results = run_in_parallel(bodies)
    assert len(results) == THREADS
    assert Counter(code for code, _ in results) == {201: 1, 409: THREADS - 1}
    assert {slug for code, slug in results if code == 409} == {"slot-unavailable"}
    assert Appointment.objects.count() == 1


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_racers_without_the_settings_row_book_the_slot_once(clinic):
    """The CI failure's database (flushed, no settings row): the racers read the defaults
    without writing the row, so none waits on another's insert of it (and its rules token)."""
    ClinicSettings.objects.all().delete()
    location, service, physio = clinic
    start = local(next_week(), "10:00")
    bodies = [
        booking(service, location, start, physio, email=f"n{i}@example.org") for i in range(THREADS)
    ]
    results = run_in_parallel(bodies)
    assert Counter(code for code, _ in results) == {201: 1, 409: THREADS - 1}
    assert not ClinicSettings.objects.exists()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_any_provider_race_fills_each_provider_once(clinic):
    location, service, physio = clinic
    other = ProviderFactory(display_name="Second Physio", locations=[location])
    offer(other, service, location)
    weekly_hours(other, location)
    start = local(next_week(), "11:00")
    bodies = [booking(service, location, start, email=f"a{i}@example.org") for i in range(THREADS)]
    results = run_in_parallel(bodies)
    assert Counter(code for code, _ in results) == {201: 2, 409: THREADS - 2}
    assert sorted(Appointment.objects.values_list("provider_id", flat=True)) == sorted(
        [physio.pk, other.pk]
    )


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_last_spot_of_a_group_class_goes_to_exactly_one(clinic):
    location, _, _ = clinic
    group = ServiceFactory(code="group-class", acts=["fitness_training"], capacity=4)
    trainer = ProviderFactory(
        display_name="Group Trainer",
        discipline__code="personal_trainer",
        locations=[location],
        credentials__kind="certification",
    )
    offer(trainer, group, location)
    weekly_hours(trainer, location)
    start = local(next_week(), "12:00")
    for _ in range(3):
        book_appointment(service=group, location=location, start=start, patient=PatientFactory())
    bodies = [
        booking(group, location, start, trainer, email=f"g{i}@example.org") for i in range(THREADS)
    ]
    results = run_in_parallel(bodies)
    assert Counter(code for code, _ in results) == {201: 1, 409: THREADS - 1}
    assert Appointment.objects.filter(service=group).count() == 4


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_one_patient_booking_two_providers_at_once_gets_one(clinic):
    location, service, physio = clinic
    other = ProviderFactory(display_name="Second Physio", locations=[location])
    offer(other, service, location)
    weekly_hours(other, location)
    start = local(next_week(), "14:00")
    bodies = [
        booking(service, location, start, physio if i % 2 else other, email="same@example.org")
        for i in range(THREADS)
    ]
    results = run_in_parallel(bodies)
    assert Counter(code for code, _ in results) == {201: 1, 409: THREADS - 1}
    assert {slug for code, slug in results if code == 409} == {"slot-unavailable"}
    assert Appointment.objects.count() == 1


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_one_new_person_booking_three_times_at_once_is_one_patient_with_every_row(clinic):
    """The person's insert comes first: one request's insert wins, the others wait for its
    commit, find the person and book as a matched one. Each booking has its own history and
    ledger rows; the person one creation audit and the consent of the form that created them."""
    location, service, physio = clinic
    starts = [local(next_week(), hh_mm) for hh_mm in ("09:00", "11:00", "13:00")]
    results = run_in_parallel(
        [booking(service, location, start, physio, email="once@example.org") for start in starts]
    )
    assert Counter(code for code, _ in results) == {201: 3}
    patient = Patient.objects.get(email="once@example.org")
    appointments = list(Appointment.objects.filter(patient=patient))
    assert len(appointments) == 3
    for appointment in appointments:
        assert AppointmentEvent.objects.filter(appointment=appointment).count() == 1
        assert Notification.objects.filter(
            subject_id=appointment.pk, kind="appointment.confirmation"
        ).exists()
    created = AuditEvent.objects.filter(object_type="patients.Patient", action="create")
    assert list(created.values_list("object_id", flat=True)) == [str(patient.pk)]
    assert list(Consent.objects.values_list("patient_id", "purpose", "granted")) == [
        (patient.pk, "reminders", True)
    ]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_one_room_is_never_double_booked_by_two_providers(clinic):
    location, _, physio = clinic
    service = ServiceFactory(code="in-room", acts=["manual_therapy"], room_kind=Room.Kind.MASSAGE)
    RoomFactory(location=location, name="Only room", kind=Room.Kind.MASSAGE)
    other = ProviderFactory(display_name="Second Physio", locations=[location])
    weekly_hours(other, location)
    offer(physio, service, location)
    offer(other, service, location)
    start = local(next_week(), "15:00")
    bodies = [
        booking(service, location, start, physio if i % 2 else other, email=f"r{i}@example.org")
        for i in range(THREADS)
    ]
    results = run_in_parallel(bodies)
    assert Counter(code for code, _ in results) == {201: 1, 409: THREADS - 1}
    assert Appointment.objects.count() == 1


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_idempotent_retries_in_parallel_book_once(clinic):
    location, service, physio = clinic
    start = local(next_week(), "16:00")
    body = booking(service, location, start, physio)
    barrier = threading.Barrier(8)
    references: list = []

    def worker() -> None:
        client = APIClient()
        try:
            barrier.wait()
            response = client.post(
                "/api/v1/public/bookings/", body, format="json", HTTP_IDEMPOTENCY_KEY="retry-1"
            )
            references.append((response.status_code, response.json().get("reference")))
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert {code for code, _ in references} == {201}
    assert len({ref for _, ref in references}) == 1
    assert Appointment.objects.count() == 1


@pytest.mark.postgres
@pytest.mark.django_db
def test_database_refuses_overlap_even_without_the_application_check(clinic):
    location, service, physio = clinic
    start = local(next_week(), "10:00")
    first = book_appointment(
        service=service, location=location, start=start, patient=PatientFactory(), provider=physio
    )
    twin = Appointment.objects.get(pk=first.pk)
    twin.pk, twin.reference, twin.ical_uid = None, "TWIN0001", "twin@clinic"
    twin.slot_key = "one:TWIN0001"
    twin.patient = PatientFactory()
    with pytest.raises(IntegrityError), transaction.atomic():
        twin.save(force_insert=True)
    same_patient = Appointment.objects.get(pk=first.pk)
    same_patient.pk, same_patient.reference, same_patient.ical_uid = None, "TWIN0002", "t2@clinic"
    same_patient.slot_key = "one:TWIN0002"
    same_patient.provider = ProviderFactory(display_name="Elsewhere", locations=[location])
    with pytest.raises(IntegrityError), transaction.atomic():
        same_patient.save(force_insert=True)
    Appointment.objects.filter(pk=first.pk).update(status="cancelled", cancelled_at=start)
    twin.save(force_insert=True)  # a cancelled appointment no longer holds the time


def _waiting_for_a_lock(pid: int) -> bool:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT EXISTS (SELECT 1 FROM pg_locks WHERE pid = %s AND NOT granted)", [pid]
        )
        return cursor.fetchone()[0]


def _until_waiting(pid: int) -> None:
    deadline = time.monotonic() + 30
    while not _waiting_for_a_lock(pid):
        assert time.monotonic() < deadline, f"backend {pid} never waited for a lock"
        time.sleep(0.01)


def _in_thread(body, pids: dict, outcomes: dict, name: str) -> threading.Thread:
    """Run ``body`` on its own connection; its backend's pid and its result (or error)."""
    started = threading.Event()

    def run() -> None:
        try:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_backend_pid()")
                pids[name] = cursor.fetchone()[0]
            started.set()
            outcomes[name] = body()
        except Exception as error:
            outcomes[name] = error
        finally:
            started.set()
            connection.close()

    thread = threading.Thread(target=run)
    thread.start()
    assert started.wait(timeout=30)
    return thread


def deadlock_in_the_insert(*, booked_provider, racing_provider, service, location, start):
    """Book ``service`` at ``start`` (``booked_provider``, or "any provider" when None) while
    another transaction makes PostgreSQL's deadlock detector abort the booking in its INSERT,
    in this order: this thread holds the room the booking locks, so the booking waits there
    holding its patient's row; the other transaction inserts an overlapping appointment for
    ``racing_provider`` and waits for that patient's row; this thread lets the room go, the
    booking's INSERT waits on the other's uncommitted row (the exclusion check), and the
    detector, run by the booking (the other waits with a long ``deadlock_timeout``), aborts it
    with SQLSTATE 40P01. Returns the booking's outcome and the other's."""
    patient, other_patient = PatientFactory(), PatientFactory()
    plain = ServiceFactory(code="racing-assessment", acts=["diagnose"])
    offer(racing_provider, plain, location)
    pids: dict = {}
    outcomes: dict = {}

    def book():
        return book_appointment(
            service=service,
            location=location,
            start=start,
            patient=patient,
            provider=booked_provider,
        )

    def race():
        with transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL deadlock_timeout = '60s'")
            appointment = book_appointment(
                service=plain,
                location=location,
                start=start,
                patient=other_patient,
                provider=racing_provider,
            )
            Patient.objects.select_for_update().get(pk=patient.pk)
            return appointment

    with transaction.atomic():
        list(Room.objects.select_for_update().filter(location=location))
        booking = _in_thread(book, pids, outcomes, "booking")
        _until_waiting(pids["booking"])
        racing = _in_thread(race, pids, outcomes, "racing")
        _until_waiting(pids["racing"])
    booking.join(timeout=60)
    racing.join(timeout=60)
    return outcomes["booking"], outcomes["racing"]


@pytest.fixture
def room_service(clinic):
    location, _, physio = clinic
    service = ServiceFactory(code="in-room", acts=["manual_therapy"], room_kind=Room.Kind.MASSAGE)
    RoomFactory(location=location, name="Only room", kind=Room.Kind.MASSAGE)
    offer(physio, service, location)
    return service


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_booking_the_deadlock_detector_aborts_in_its_insert_lost_the_race(clinic, room_service):
    location, _, physio = clinic
    start = local(next_week(), "15:00")
    outcome, racing = deadlock_in_the_insert(
        booked_provider=physio,
        racing_provider=physio,
        service=room_service,
        location=location,
        start=start,
    )
    assert isinstance(outcome, ConflictProblem), outcome
    assert (outcome.status, outcome.slug) == (409, "slot-unavailable")
    assert isinstance(racing, Appointment), racing
    assert list(Appointment.objects.values_list("pk", flat=True)) == [racing.pk]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_any_provider_booking_aborted_by_a_deadlock_takes_the_next_provider(clinic, room_service):
    location, service, physio = clinic
    other = ProviderFactory(display_name="Second Physio", locations=[location])
    offer(other, service, location)
    offer(other, room_service, location)
    weekly_hours(other, location)
    day = next_week()
    # The second physio is the busier, so the booking tries the first one first.
    book_appointment(
        service=service,
        location=location,
        start=local(day, "09:00"),
        patient=PatientFactory(),
        provider=other,
    )
    outcome, racing = deadlock_in_the_insert(
        booked_provider=None,
        racing_provider=physio,
        service=room_service,
        location=location,
        start=local(day, "15:00"),
    )
    assert isinstance(outcome, Appointment), outcome
    assert outcome.provider_id == other.pk
    assert isinstance(racing, Appointment), racing
    assert racing.provider_id == physio.pk
