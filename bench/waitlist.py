"""The waitlist: from a cancellation to the offer e-mail, and what matching costs.

Set-up (not timed): a Toronto location, one physiotherapist working 10:00-11:00 every day, a
60-minute service, and waiting entries written in bulk: all but one want afternoons (they are
read and judged, and none fits), the last one joined wants mornings, so the matcher walks every
entry before it finds the one to offer.

Timed:

1. ``match_opening`` in-process for an opening over the freed hour, with 100, 1,000 and 10,000
   waiting entries: wall time and SQL queries (which must not grow with the entries);
2. end to end: ``cancel_appointment`` commits, the signal records the opening and queues the
   match on Redis, a real ``celery -A clinic worker`` matches it, plans the offer in the ledger
   and sends it over SMTP to the bench's local SMTP sink; the time from the cancellation's commit to
   the server receiving the offer, repeated (a fresh booking and entry each time), with the
   number of offers received per cancellation (must be exactly one).

Run alone with ``.venv/bin/python -m bench.waitlist`` (database ``BENCH_DB``, default
``clinic_bench_waitlist``, dropped and migrated afresh; Redis ``BENCH_REDIS_URL``).
"""

import gc
import os
import subprocess
import sys
import time
from datetime import UTC, date, datetime, timedelta
from datetime import time as clock_time

from bench.stats import counting_queries

SIZES = (100, 1_000, 10_000)


def _build(entries: int) -> dict:
    """The clinic and ``entries`` waiting entries (the matching one last)."""
    from zoneinfo import ZoneInfo

    from clinic.models import Location
    from patients.models import Patient
    from providers.models import Provider
    from scheduling.models import Service, WaitlistEntry, WeeklyAvailability
    from scheduling.services import create_offering

    location, _ = Location.objects.get_or_create(
        slug="bench-waitlist",
        defaults={
            "name": "Waitlist bench",
            "timezone": "America/Toronto",
            "jurisdiction": "CA-ON",
            "region": "ON",
            "country": "CA",
            "phone": "+1 905 555 0100",
        },
    )
    service = Service.objects.filter(code="bench-waitlist").first()
    provider = Provider.objects.filter(display_name="Bench Waitlist Physio").first()
    if service is None:
        from providers.models import Act

        service = Service.objects.create(
            code="bench-waitlist", name="Assessment", duration_minutes=60
        )
        service.required_acts.set(Act.objects.filter(code="diagnose"))
        provider = _provider(location)
        create_offering(provider=provider, service=service, location=location)
        for weekday in range(7):
            WeeklyAvailability.objects.create(
                provider=provider,
                location=location,
                weekday=weekday,
                start_time=clock_time(10),
                end_time=clock_time(11),
                valid_from=date(2020, 1, 1),
            )
    zone = ZoneInfo("America/Toronto")
    day = datetime.now(zone).date() + timedelta(days=7)
    WaitlistEntry.objects.all().delete()
    stamp = time.time_ns()
    patients = Patient.objects.bulk_create(
        Patient(first_name="Wait", last_name=f"N{i}", email=f"w{stamp}.{i}@example.org")
        for i in range(entries)
    )
    WaitlistEntry.objects.bulk_create(
        WaitlistEntry(
            patient=patient,
            service=service,
            location=location,
            earliest_date=day - timedelta(days=1),
            latest_date=day + timedelta(days=3),
            windows=[{"weekday": None, "from": "13:00", "to": "17:00"}]
            if i < entries - 1
            else [{"weekday": None, "from": "08:00", "to": "12:00"}],
            confirmed_at=datetime.now(UTC),  # only confirmed entries are matched
        )
        for i, patient in enumerate(patients)
    )
    start = datetime.combine(day, clock_time(10), tzinfo=zone)
    return {"location": location, "service": service, "provider": provider, "start": start}


def _provider(location):
    from providers.models import Credential, Discipline, Provider

    discipline = Discipline.objects.get(code="physiotherapist")
    provider = Provider.objects.create(display_name="Bench Waitlist Physio", discipline=discipline)
    provider.locations.add(location)
    Credential.objects.create(
        provider=provider,
        kind=Credential.Kind.LICENCE,
        number="BENCH-1",
        issuing_body="College of Physiotherapists of Ontario",
        jurisdiction=location.jurisdiction,
        valid_from=date(2020, 1, 1),
    )
    return provider


def _opening(world: dict):
    from scheduling.models import WaitlistEntry, WaitlistOffer, WaitlistOpening

    WaitlistOffer.objects.all().delete()
    # Only the entry offered last run: updating every row would leave thousands of dead rows
    # per run, and each later match would scan them.
    WaitlistEntry.objects.exclude(status=WaitlistEntry.Status.WAITING).update(
        status=WaitlistEntry.Status.WAITING
    )
    return WaitlistOpening.objects.create(
        location=world["location"],
        provider=world["provider"],
        start=world["start"],
        end=world["start"] + timedelta(hours=1),
        reason="cancelled",
        created_at=world["start"] - timedelta(days=7),
    )


def measure_matching(sizes=SIZES, runs: int = 7) -> list[dict]:
    """Per size: SQL queries of one ``match_opening``, its time over ``runs`` runs (ms) and the
    CPU it costs (this process's p50, and the database backend's mean from ``/proc``): on a
    shared machine the CPU tells a change from the neighbours' load."""

    from bench import env, planner
    from bench.cpu import cpu_seconds, database_backends
    from bench.stats import summarize
    from scheduling.services.waitlist_matching import match_opening

    rows = []
    for size in sizes:
        world = _build(size)
        planner.analyze()
        # Like a Celery worker (gc.freeze, clinic/celery.py): no full collection over bench objects.
        gc.collect()
        gc.freeze()
        match_opening(_opening(world).pk)  # warm the process (settings, scope catalog)
        opening = _opening(world)
        with counting_queries() as captured:
            offers = match_opening(opening.pk)
        assert len(offers) == 1, "the one fitting entry must be offered"
        seconds, process, database = [], [], 0.0
        backends = database_backends(env.DB_NAME)
        for _ in range(runs):
            opening = _opening(world)
            db_before, cpu_before = cpu_seconds(backends), time.process_time()
            started = time.perf_counter()
            match_opening(opening.pk)
            seconds.append(time.perf_counter() - started)
            process.append(time.process_time() - cpu_before)
            database += cpu_seconds(backends) - db_before
        rows.append(
            {
                "case": f"{size} waiting entries",
                "entries": size,
                "queries": len(captured),
                "ms": summarize(seconds).as_dict(),
                "cpu_ms": {
                    "process_p50": summarize(process).as_dict()["p50"],
                    "database_mean": database / runs * 1000,
                },
            }
        )
    return rows


def _worker(smtp_port: int) -> subprocess.Popen:
    from bench import env

    worker_env = {
        **env.app_env(),
        "EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend",
        "EMAIL_HOST": "127.0.0.1",
        "EMAIL_PORT": str(smtp_port),
        "EMAIL_USE_TLS": "0",
    }
    env.OUT_DIR.mkdir(parents=True, exist_ok=True)
    log = (env.OUT_DIR / "waitlist-worker.log").open("w")
    return subprocess.Popen(
        [
            str(env.VENV_BIN / "celery"),
            "-A",
            "clinic",
            "worker",
            "--pool=solo",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
            "--loglevel=WARNING",
            "--hostname=benchwaitlist@%h",
        ],
        cwd=env.ROOT,
        env=worker_env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )


def measure_latency(runs: int = 10, entries: int = 1_000) -> dict:
    """Cancellation committed -> offer e-mail received, with a real worker and SMTP server."""
    from bench.reminders import SMTPSink
    from bench.stats import summarize
    from clinic.celery import app
    from patients.models import Patient
    from scheduling.services import book_appointment, cancel_appointment

    world = _build(entries)
    app.control.purge()
    seconds, per_cancellation = [], []
    with SMTPSink() as sink:
        worker = _worker(sink.port)
        try:
            _wait_for_worker()  # the worker's start-up is not what is measured
            for n in range(runs):
                start = world["start"] + timedelta(days=n % 3)
                patient = Patient.objects.create(
                    first_name="Booked", last_name=f"N{n}", email=f"booked{time.time_ns()}@x.org"
                )
                appointment = book_appointment(
                    service=world["service"],
                    location=world["location"],
                    start=start,
                    patient=patient,
                    provider=world["provider"],
                )
                _build_fitting_entry(world)
                with sink.lock:
                    before = sink.received
                began = time.perf_counter()
                cancel_appointment(appointment, reason="bench")
                deadline = time.monotonic() + 60
                while time.monotonic() < deadline:
                    with sink.lock:
                        if sink.received > before:
                            break
                    time.sleep(0.005)
                seconds.append(time.perf_counter() - began)
                time.sleep(0.5)  # a second offer for this cancellation would arrive now
                with sink.lock:
                    per_cancellation.append(sink.received - before)
                _release(world)
        finally:
            worker.terminate()
            worker.wait(timeout=30)
    return {
        "runs": runs,
        "entries": entries,
        "seconds": summarize(seconds).as_dict(),
        "offers_per_cancellation": sorted(set(per_cancellation)),
    }


def _wait_for_worker(seconds: float = 180) -> None:
    """Until the worker answers a ping: on a loaded machine its start-up takes longer than any
    fixed sleep, and a first cancellation timed to a worker still booting would count its
    start-up and put its late offer on the next run."""
    from clinic.celery import app

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if app.control.ping(timeout=1.0):
            return
    raise RuntimeError("The Celery worker did not start.")


def _build_fitting_entry(world: dict) -> None:
    from patients.models import Patient
    from scheduling.models import WaitlistEntry

    patient = Patient.objects.create(
        first_name="Fits", last_name="Now", email=f"fits{time.time_ns()}@example.org"
    )
    WaitlistEntry.objects.create(
        patient=patient,
        service=world["service"],
        location=world["location"],
        earliest_date=world["start"].date() - timedelta(days=1),
        latest_date=world["start"].date() + timedelta(days=3),
        windows=[{"weekday": None, "from": "08:00", "to": "12:00"}],
        confirmed_at=datetime.now(UTC),
    )


def _release(world: dict) -> None:
    """End the run's hold so the next run's cancellation frees a time nobody holds."""
    from scheduling.models import WaitlistEntry, WaitlistOffer

    WaitlistOffer.objects.filter(status="offered").update(status="withdrawn")
    WaitlistEntry.objects.filter(status="offered").update(status="withdrawn")


def measure(runs: int = 10) -> dict:
    """Both figures, for ``bench/run.py`` (Django set up on the bench database)."""
    return {"matching": measure_matching(), "latency": measure_latency(runs)}


def main() -> int:
    os.environ.setdefault("BENCH_DB", "clinic_bench_waitlist")
    from bench import env

    env.recreate_database(env.DB_NAME)
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "-v0"],
        cwd=env.ROOT,
        env=env.app_env(),
        check=True,
    )
    env.setup_django()
    result = measure()
    for row in result["matching"]:
        ms = row["ms"]
        print(
            f"match_opening, {row['case']}: {row['queries']} queries, "
            f"p50 {ms['p50']:.1f} ms (min {ms['min']:.1f}, max {ms['max']:.1f}, n {ms['n']}); "
            f"CPU {row['cpu_ms']['process_p50']:.1f} ms here + "
            f"{row['cpu_ms']['database_mean']:.1f} ms database"
        )
    latency = result["latency"]
    ms = latency["seconds"]
    print(
        f"cancellation -> offer e-mail ({latency['runs']} runs, {latency['entries']} entries): "
        f"p50 {ms['p50']:.0f} ms, p95 {ms['p95']:.0f} ms, max {ms['max']:.0f} ms; "
        f"offers per cancellation {latency['offers_per_cancellation']}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
