"""Red team of the busy-time cache (``scheduling.busy_time``, migration 0015): its triggers take
the provider's calendar-version row lock in every write of their calendar. Two writes of one
provider's calendar at different times must both go through, whatever order their statements
interleave in; a warm search shows what a cold one shows."""

import datetime
import threading
import time

import pytest
from django.db import connection, connections, transaction

from clinic.errors import ConflictProblem
from scheduling import busy_time
from scheduling.models import Appointment, WaitlistEntry, WaitlistOffer
from scheduling.services import book_appointment, waitlist_claim
from scheduling.services.lifecycle import reschedule_appointment
from tests.factories.patients import PatientFactory
from tests.factories.providers import ensure_scope_catalog
from tests.factories.scheduling import held_time, waiting_entry
from tests.scheduling.conftest import local
from tests.scheduling.test_busy_cache import book

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

DAY = datetime.date(2027, 1, 12)  # a Tuesday
NOW = local(datetime.date(2027, 1, 4), "08:00")


@pytest.fixture(autouse=True)
def catalog(transactional_db):
    ensure_scope_catalog()
    busy_time.clear()
    yield
    busy_time.clear()


def held_entry(provider, service, location, hh_mm: str) -> WaitlistEntry:
    entry = waiting_entry(provider, service, location, DAY)
    held_time(entry, provider, local(DAY, hh_mm), 60, NOW)
    return entry


def in_thread(run, results: dict, key: str) -> threading.Thread:
    def target() -> None:
        try:
            results[key] = run()
        except BaseException as error:
            results[key] = error
        finally:
            connections.close_all()

    thread = threading.Thread(target=target)
    thread.start()
    return thread


def race_with_claim(monkeypatch, entry, other_write) -> dict:
    """The claim ends its hold (an UPDATE of the offer), then books. ``other_write`` starts on
    another connection between the two statements, and the claim's booking goes on half a
    second later (while the other write waits on whatever the claim holds)."""
    hold_ended, other_started = threading.Event(), threading.Event()
    real_book = waitlist_claim.book_appointment

    def book_after_the_other_write(**kwargs):
        hold_ended.set()
        assert other_started.wait(10)
        time.sleep(0.5)
        return real_book(**kwargs)

    monkeypatch.setattr(waitlist_claim, "book_appointment", book_after_the_other_write)
    results: dict = {}

    def other() -> object:
        assert hold_ended.wait(10)
        other_started.set()
        return other_write()

    threads = [
        in_thread(
            lambda: waitlist_claim.claim_offer(
                entry,
                patient_details={"date_of_birth": datetime.date(1980, 1, 1)},
                reason="Knee",
                now=NOW,
            ),
            results,
            "claim",
        ),
        in_thread(other, results, "other"),
    ]
    for thread in threads:
        thread.join(30)
    return results


def test_a_claim_and_a_booking_of_another_time_of_the_same_provider_both_book(
    monkeypatch, physio, assessment, location
):
    """Before 0015 these took one lock (the provider's advisory lock, in the hold guard); the
    version row lock is taken before it by the offer's UPDATE and after it by an appointment's
    INSERT, so the two deadlock and one is refused as if its time were taken."""
    entry = held_entry(physio, assessment, location, "13:00")
    results = race_with_claim(
        monkeypatch, entry, lambda: book(assessment, location, physio, "10:00")
    )
    assert isinstance(results["claim"], Appointment), results["claim"]
    assert isinstance(results["other"], Appointment), results["other"]


def test_a_reschedule_racing_a_claim_of_the_same_provider_never_fails_with_a_500(
    monkeypatch, physio, assessment, location
):
    """The reschedule catches IntegrityError only: a deadlock there is a 500."""
    visit = book(assessment, location, physio, "09:00")
    entry = held_entry(physio, assessment, location, "13:00")
    results = race_with_claim(
        monkeypatch,
        entry,
        lambda: reschedule_appointment(visit, start=local(DAY, "15:00"), now=NOW),
    )
    for key in ("claim", "other"):
        assert not isinstance(results[key], Exception) or isinstance(
            results[key], ConflictProblem
        ), (key, repr(results[key]))
    assert isinstance(results["claim"], Appointment), results["claim"]
    assert isinstance(results["other"], Appointment), results["other"]


def _hold(entry, provider, hh_mm: str) -> WaitlistOffer:
    return held_time(entry, provider, local(DAY, hh_mm), 60, NOW)


def test_a_new_hold_and_a_booking_of_other_times_of_one_provider_both_go_through(
    physio, assessment, location
):
    """A hold's INSERT took the version row (its trigger sorts first), then the provider's
    exclusive advisory lock (the hold guard); an appointment's INSERT takes the shared advisory
    lock first (its hold guard sorts first), then the version row. With a third write of the
    calendar in progress (a cancellation: the version row only), both queue on the version row;
    when it commits the hold gets the row and waits for the booking's advisory lock, the
    booking waits for the row: a deadlock, and one of two writes of free time is refused."""
    cancelled = book(assessment, location, physio, "16:00")
    entry = waiting_entry(physio, assessment, location, DAY)
    cancelling, release = threading.Event(), threading.Event()

    def cancellation() -> None:
        with transaction.atomic():
            Appointment.objects.filter(pk=cancelled.pk).update(
                status=Appointment.Status.CANCELLED, cancelled_at=NOW
            )
            cancelling.set()
            assert release.wait(10)

    def new_hold() -> WaitlistOffer:
        with transaction.atomic():
            return _hold(entry, physio, "13:00")

    results: dict = {}
    threads = [in_thread(cancellation, results, "cancellation")]
    assert cancelling.wait(10)
    threads.append(in_thread(new_hold, results, "hold"))
    time.sleep(0.4)  # the hold queues on the version row first
    threads.append(
        in_thread(lambda: book(assessment, location, physio, "10:00"), results, "booking")
    )
    time.sleep(0.4)
    release.set()
    for thread in threads:
        thread.join(30)
    assert isinstance(results["hold"], WaitlistOffer), repr(results["hold"])
    assert isinstance(results["booking"], Appointment), repr(results["booking"])


# --- staleness: warm searches (the cache) against searches inside a transaction (the rows) ---

FUZZ_DAYS = (datetime.date(2027, 3, 14), datetime.date(2027, 3, 15))  # Toronto's spring forward
FUZZ_NOW = local(datetime.date(2027, 3, 8), "08:00")


def _found(found) -> list[tuple]:
    return [
        (slot.start, slot.provider_id, getattr(slot, "spots_left", None)) for slot in found.slots
    ]


def _searches(services, location, providers, ignore_id):
    from scheduling.availability import search

    for service in services:
        for pids in (None, *([p.pk] for p in providers)):
            for ignored in (None, ignore_id):
                yield (
                    (service.code, pids, ignored),
                    lambda s=service, p=pids, i=ignored: _found(
                        search(
                            service=s,
                            location=location,
                            start_date=FUZZ_DAYS[0],
                            end_date=FUZZ_DAYS[1],
                            provider_ids=p,
                            now=FUZZ_NOW,
                            ignore_appointment_id=i,
                        )
                    ),
                )


def test_every_write_of_a_calendar_shows_on_the_next_warm_search(physio, assessment, location):
    """Random writes by services, querysets and raw SQL; after each, every search outside a
    transaction (the cache, kept from the searches before) shows what one inside a
    transaction (the rows) shows."""
    import random

    from clinic.errors import DomainError
    from scheduling.services import cancel_appointment
    from scheduling.services.lifecycle import change_status
    from tests.factories.clinic import RoomFactory
    from tests.factories.scheduling import ServiceFactory, offer
    from tests.scheduling.conftest import make_physio

    colleague = make_physio(location, assessment, "Colin Colleague")
    group = ServiceFactory(code="pilates", name="Pilates", acts=["diagnose"], capacity=3)
    treatment = ServiceFactory(
        code="physio-treatment", name="Treatment", acts=["diagnose"], room_kind="treatment"
    )
    rooms = [RoomFactory(location=location, name=f"Room {n}", kind="treatment") for n in (1, 2)]
    providers = [physio, colleague]
    for provider in providers:
        offer(provider, group, location)
        offer(provider, treatment, location)
    services = [assessment, group, treatment]
    entry = WaitlistEntry.objects.create(
        patient=PatientFactory(),
        service=assessment,
        location=location,
        provider=physio,
        earliest_date=FUZZ_DAYS[0],
        latest_date=FUZZ_DAYS[1],
    )
    rng = random.Random(20270314)
    appointments: list[Appointment] = []
    holds: list[WaitlistOffer] = []

    def when():
        return local(rng.choice(FUZZ_DAYS), f"{rng.randint(9, 15):02d}:{rng.choice((0, 30)):02d}")

    def op_book():
        appointments.append(
            book_appointment(
                service=rng.choice(services),
                location=location,
                start=when(),
                patient=PatientFactory(),
                provider=rng.choice([*providers, None]),
                now=FUZZ_NOW,
            )
        )

    def op_cancel():
        cancel_appointment(rng.choice(appointments), reason="x", now=FUZZ_NOW)

    def op_reschedule():
        reschedule_appointment(
            rng.choice(appointments), start=when(), provider=rng.choice(providers), now=FUZZ_NOW
        )

    def op_status():
        change_status(
            rng.choice(appointments),
            rng.choice(["confirm", "arrive", "complete", "no_show"]),
            now=rng.choice(FUZZ_DAYS) and local(FUZZ_DAYS[1], "17:30"),
        )

    def op_update():
        visit = rng.choice(appointments)
        change = rng.choice(
            [
                {"status": rng.choice(list(Appointment.Status.values))},
                {"provider_id": rng.choice(providers).pk},
                {"room_id": rng.choice([None, *(r.pk for r in rooms)])},
            ]
        )
        with transaction.atomic():
            Appointment.objects.filter(pk=visit.pk).update(**change)

    def op_delete():
        visit = appointments.pop(rng.randrange(len(appointments)))
        Appointment.objects.filter(pk=visit.pk).delete()

    def op_hold():
        holds.append(held_time(entry, rng.choice(providers), when(), 30, FUZZ_NOW))

    def op_end_hold():
        hold = rng.choice(holds)
        WaitlistOffer.objects.filter(pk=hold.pk).update(
            status=rng.choice([WaitlistOffer.Status.EXPIRED, WaitlistOffer.Status.OFFERED])
        )

    def op_rollback():
        try:
            with transaction.atomic():
                op_book()
                raise RuntimeError
        except RuntimeError:
            appointments.pop()

    ops = [op_book] * 4 + [op_cancel, op_reschedule, op_reschedule, op_status, op_update]
    ops += [op_update, op_delete, op_hold, op_end_hold, op_rollback]
    compared = applied = 0
    for step in range(70):
        op = rng.choice(ops)
        if op not in (op_book, op_hold, op_rollback) and not (
            appointments if op is not op_end_hold else holds
        ):
            op = op_book
        try:
            op()
            applied += 1
        except (DomainError, Exception) as error:
            if not isinstance(error, DomainError) and "IntegrityError" not in type(error).__name__:
                raise
        ignore_id = rng.choice(appointments).pk if appointments else None
        for key, run in _searches(services, location, providers, ignore_id):
            warm = run()
            with transaction.atomic():
                cold = run()
            assert warm == cold, (step, op.__name__, key)
            compared += 1
    print(f"fuzz: {applied} writes applied, {compared} warm/cold comparisons")
    assert applied > 30


def test_parallel_writes_of_two_calendars_are_refused_cleanly_or_go_through(
    physio, assessment, location
):
    """Threads with their own connections book (named and any provider), reschedule across
    the two providers (A to B racing B to A), cancel, hold and end holds, with a searcher
    warming the cache all along: every refusal is a DomainError (a 409/422 problem, never a
    500), nothing overlaps, and the warm search then equals the rows."""
    import random

    from clinic.errors import DomainError
    from scheduling.availability import search
    from scheduling.services import cancel_appointment
    from tests.scheduling.conftest import make_physio

    colleague = make_physio(location, assessment, "Colin Colleague")
    providers = [physio, colleague]
    entry = waiting_entry(physio, assessment, location, DAY)
    patients = {seed: [PatientFactory() for _ in range(25)] for seed in range(6)}
    failures: list[str] = []
    counts = {"ok": 0, "refused": 0, "searches": 0}
    lock = threading.Lock()
    done = threading.Event()

    def when(rng):
        return local(DAY, f"{rng.randint(9, 15):02d}:{rng.choice((0, 30)):02d}")

    def worker(seed: int) -> None:
        rng = random.Random(seed)
        try:
            for _ in range(25):
                mine = list(
                    Appointment.objects.filter(status=Appointment.Status.BOOKED).order_by("?")[:1]
                )
                kind = rng.choice(["book", "book", "any", "move", "move", "cancel", "hold", "end"])
                try:
                    if kind in ("book", "any"):
                        book_appointment(
                            service=assessment,
                            location=location,
                            start=when(rng),
                            patient=patients[seed].pop(),  # made here: factory sequences race
                            provider=None if kind == "any" else rng.choice(providers),
                            now=NOW,
                        )
                    elif kind == "move" and mine:
                        other = colleague if mine[0].provider_id == physio.pk else physio
                        reschedule_appointment(mine[0], start=when(rng), provider=other, now=NOW)
                    elif kind == "cancel" and mine:
                        cancel_appointment(mine[0], reason="x", now=NOW)
                    elif kind == "hold":
                        with transaction.atomic():
                            held_time(entry, rng.choice(providers), when(rng), 30, NOW)
                    elif kind == "end":
                        WaitlistOffer.objects.filter(
                            pk__in=WaitlistOffer.objects.filter(
                                status=WaitlistOffer.Status.OFFERED
                            ).values("pk")[:1]
                        ).update(status=WaitlistOffer.Status.EXPIRED)
                    with lock:
                        counts["ok"] += 1
                except DomainError:
                    with lock:
                        counts["refused"] += 1
                except Exception as error:
                    if kind == "hold" and "IntegrityError" in type(error).__name__:
                        continue  # the holds' own exclusion constraint: the test's raw insert
                    with lock:
                        failures.append(f"{kind}: {type(error).__name__}: {error}"[:300])
        finally:
            connections.close_all()

    def searcher() -> None:
        try:
            while not done.is_set():
                search(service=assessment, location=location, start_date=DAY, end_date=DAY, now=NOW)
                counts["searches"] += 1
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker, args=(seed,)) for seed in range(6)]
    threads.append(threading.Thread(target=searcher))
    for thread in threads:
        thread.start()
    for thread in threads[:-1]:
        thread.join(120)
    done.set()
    threads[-1].join(30)
    print("parallel:", counts, len(failures), "failures", failures[:3])
    assert not failures, failures[:5]
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM scheduling_appointment a JOIN scheduling_appointment b "
            "ON a.provider_id = b.provider_id AND a.id < b.id "
            "AND a.status IN ('booked','confirmed','arrived') "
            "AND b.status IN ('booked','confirmed','arrived') "
            "AND tstzrange(a.blocked_start, a.blocked_end)"
            " && tstzrange(b.blocked_start, b.blocked_end)"
        )
        assert cursor.fetchone()[0] == 0
    for pids in (None, [physio.pk], [colleague.pk]):

        def run(p=pids):
            return _found(
                search(
                    service=assessment,
                    location=location,
                    start_date=DAY,
                    end_date=DAY,
                    provider_ids=p,
                    now=NOW,
                )
            )

        warm = run()
        with transaction.atomic():
            assert warm == run()


# --- memory: the public search chooses the cache's keys (any start date, up to 63 days) ---


def _fill_from_the_public_search(api_client, assessment, location, physio, requests: int):
    from tests.scheduling.conftest import next_week

    day = next_week()
    for hh_mm in ("09:00", "11:00", "13:00", "15:00"):  # four separate busy stretches
        book_appointment(
            service=assessment,
            location=location,
            start=local(day, hh_mm),
            patient=PatientFactory(),
            provider=physio,
        )
    for back in range(requests):  # a new key each: the range starts a day earlier
        response = api_client.get(
            "/api/v1/public/availability/",
            {
                "service": assessment.pk,
                "location": location.pk,
                "start": (day - datetime.timedelta(days=back)).isoformat(),
                "end": day.isoformat(),
            },
        )
        assert response.status_code == 200, response.content


def test_an_anonymous_caller_cannot_grow_the_cache_past_its_entries(
    monkeypatch, api_client, physio, assessment, location
):
    monkeypatch.setattr(busy_time, "MAX_ENTRIES", 10)
    _fill_from_the_public_search(api_client, assessment, location, physio, 30)
    assert 0 < len(busy_time._entries) <= 10


def test_an_anonymous_caller_cannot_grow_the_cache_past_its_spans(
    monkeypatch, api_client, physio, assessment, location
):
    """The bound in entries alone let 20,000 entries of up to 63 days each be held: a busy
    provider's 63 days are ~500 spans, 65 KB as Python tuples, 1.3 GB per process."""
    monkeypatch.setattr(busy_time, "MAX_SPANS", 12, raising=False)
    _fill_from_the_public_search(api_client, assessment, location, physio, 30)
    held = sum(len(spans) for spans, _ in busy_time._entries.values())
    assert 0 < held <= 12
    assert busy_time._held[0] == held
