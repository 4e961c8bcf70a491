"""Run every benchmark and write ``bench/RESULTS.md``.

    .venv/bin/python -m bench            # the recorded run (about 9-11 minutes on 2 cores)
    .venv/bin/python -m bench --quick    # small sizes, to check the harness (about 4 minutes)
    .venv/bin/python -m bench --only reminders   # one phase alone, figures on stdout
                                                 # (reminders, bare, mixed, scaleout, notes,
                                                 # fhir or feed)

Needs PostgreSQL (``BENCH_PG_URL``, default postgres://postgres@127.0.0.1:5432; the bench drops
and re-creates its own databases ``clinic_bench``, ``clinic_bench_peer`` and ``clinic_bench_pg``),
Redis (``BENCH_REDIS_URL``, default db 8, which it purges), ``pgbench``, and ``uv`` to build the
peer's virtual environment under ``bench/out/``. Raw figures also go to ``bench/out/results.json``.
"""

import argparse
import json
import math
import os
import platform
import resource
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime

from bench import env


@dataclass(frozen=True)
class Sizes:
    availability_runs: int
    http_runs: int
    scaling_runs: int
    peer_runs: int
    booking_rounds: int
    bookings_per_round: int
    booking_clients: int
    contention_rounds: int
    racers: int
    pgbench_seconds: int
    reminders: int
    worker_processes: int
    worker_concurrency: int
    bare_rounds: int
    bare_per_round: int  # the 50-provider location's free slots hold 2 x (5 x 450 + warm-up)
    mixed_clients: int
    mixed_seconds: int
    scaleout_bookings: int
    scaleout_reminders: int
    notes_runs: int
    fhir_runs: int
    feed_runs: int


FULL = Sizes(
    availability_runs=40,
    http_runs=40,
    scaling_runs=10,
    peer_runs=10,
    booking_rounds=3,
    bookings_per_round=600,
    booking_clients=8,
    contention_rounds=3,
    racers=200,
    pgbench_seconds=10,
    reminders=10_000,
    worker_processes=1,
    worker_concurrency=4,
    bare_rounds=5,
    bare_per_round=450,
    mixed_clients=16,
    mixed_seconds=60,
    scaleout_bookings=600,
    scaleout_reminders=4000,
    notes_runs=20,
    fhir_runs=20,
    feed_runs=10,
)
QUICK = Sizes(
    availability_runs=5,
    http_runs=5,
    scaling_runs=2,
    peer_runs=2,
    booking_rounds=1,
    bookings_per_round=40,
    booking_clients=4,
    contention_rounds=1,
    racers=30,
    pgbench_seconds=2,
    reminders=200,
    worker_processes=1,
    worker_concurrency=2,
    bare_rounds=1,
    bare_per_round=40,
    mixed_clients=16,
    mixed_seconds=10,
    scaleout_bookings=40,
    scaleout_reminders=200,
    notes_runs=5,
    fhir_runs=5,
    feed_runs=3,
)


def machine() -> dict:
    def first_line(command: list[str]) -> str:
        try:
            done = subprocess.run(command, capture_output=True, text=True, check=False)
        except OSError:
            return "unknown"
        return (done.stdout.strip().splitlines() or ["unknown"])[0]

    cpu = "unknown"
    with open("/proc/cpuinfo") as info:
        for line in info:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    with open("/proc/meminfo") as info:
        mem_kb = int(next(line for line in info if line.startswith("MemTotal")).split()[1])
    return {
        "nproc": os.cpu_count(),
        "cpu": cpu,
        "memory_gib": round(mem_kb / 1024 / 1024, 1),
        "python": platform.python_version(),
        "postgres": env.psql("SHOW server_version"),
        "redis": first_line(["redis-server", "--version"]),
        "kernel": platform.release(),
        "python_loop_seconds": python_loop_seconds(),
    }


def python_loop_seconds(tries: int = 3) -> float:
    """CPU seconds for ten million additions in a plain loop (best of ``tries``): how fast this
    machine runs Python, so runs on machines of one kind that differ in speed (seen here: 2.5x
    between two mornings, 1.9x within one hour) can be told apart."""
    best = math.inf
    for _ in range(tries):
        started = time.process_time()
        total = 0
        for n in range(10_000_000):
            total += n
        best = min(best, time.process_time() - started)
    return round(best, 3)


def git_commit() -> str:
    def git(*args: str) -> str:
        return subprocess.run(
            ["git", *args], cwd=env.ROOT, capture_output=True, text=True, check=False
        ).stdout.strip()

    commit = git("rev-parse", "--short", "HEAD")
    dirty = git("status", "--porcelain", "--untracked-files=no")
    return f"{commit}{' (with uncommitted changes)' if dirty else ''}"


def load() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def _phase_start(results: dict, phase: str) -> None:
    """The load average and the machine's speed (one Python loop) as a phase starts: the speed
    of these 2-core machines moves within minutes, and a phase's figures move with it."""
    results["phase_load"][phase] = load()
    results.setdefault("phase_loop_seconds", {})[phase] = python_loop_seconds(tries=1)


def log(message: str) -> None:
    print(f"[{datetime.now(UTC):%H:%M:%S}] {message}", flush=True)


def fresh_database() -> None:
    """The bench database dropped, migrated afresh, and this process's Django set up on it."""
    env.OUT_DIR.mkdir(parents=True, exist_ok=True)
    env.recreate_database(env.DB_NAME)
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "-v0"],
        cwd=env.ROOT,
        env=env.app_env(),
        check=True,
    )
    env.setup_django()


def prepare() -> "object":
    from bench import dataset, planner

    fresh_database()
    clinic = dataset.build()
    planner.analyze()
    clinic.save(env.OUT_DIR / "clinic.json")
    return clinic


def run_availability(results: dict, clinic, sizes: Sizes, client) -> None:
    from bench import availability

    headline = availability.headline_cases(clinic)
    rows = availability.measure_in_process(clinic, headline, sizes.availability_runs, True)
    http = availability.measure_http(clinic, headline, client, sizes.http_runs)
    for row in rows:
        row["http"], row["http_server"] = http[row["case"]]
    results["availability"] = rows
    results["scaling"] = availability.measure_in_process(
        clinic, availability.scaling_cases(clinic), sizes.scaling_runs, False
    )


def our_slot_starts(clinic) -> list[str]:
    """Our "1 provider x month" slots as naive local times, to compare with the peer's."""
    from django.test import Client

    from bench import availability

    case = availability.headline_cases(clinic)[0]
    slots = Client().get(case.url(clinic)).json()["slots"]
    return [datetime.fromisoformat(s["start"]).replace(tzinfo=None).isoformat() for s in slots]


def run_peer(results: dict, clinic, sizes: Sizes) -> None:
    from bench import peer

    try:
        version = peer.install()
        measured = peer.measure(clinic, sizes.peer_runs)
    except (subprocess.CalledProcessError, RuntimeError, OSError) as exc:
        detail = getattr(exc, "stderr", "") or str(exc)
        results["peer"] = {"error": f"{type(exc).__name__}: {str(detail)[-1500:]}"}
        return
    ours = our_slot_starts(clinic)
    results["peer"] = {
        "package": f"django-appointment {version}",
        "django": measured["django"],
        "slots": len(measured["slots"]),
        "same_slots": measured["slots"] == ours,
        "queries": measured["queries"],
        "month": asdict_summary(measured["seconds"]),
    }


def asdict_summary(seconds: list[float]) -> dict:
    from bench.stats import summarize

    return summarize(seconds).as_dict()


def run_booking(results: dict, clinic, sizes: Sizes, client) -> None:
    from bench import booking, cpu

    backends = cpu.database_backends(env.DB_NAME)

    slots = booking.bookable_slots(clinic, 50, 8)
    need = sizes.booking_rounds * sizes.bookings_per_round
    if len(slots) < need:
        raise RuntimeError(f"only {len(slots)} free slots for {need} bookings")
    rounds = []
    for n in range(sizes.booking_rounds):
        chunk = slots[n * sizes.bookings_per_round : (n + 1) * sizes.bookings_per_round]
        before_rows = booking.online_bookings()
        cpu_before = resource.getrusage(resource.RUSAGE_SELF)
        api_before, db_before = cpu.cpu_seconds(cpu.api_workers), cpu.cpu_seconds(backends)
        outcome = booking.throughput(
            client, clinic, chunk, 50, sizes.booking_clients, tag=f"r{n}-{time.time_ns()}"
        )
        cpu_after = resource.getrusage(resource.RUSAGE_SELF)
        api_cpu = cpu.cpu_seconds(cpu.api_workers) - api_before
        db_cpu = cpu.cpu_seconds(backends) - db_before
        client_cpu = (cpu_after.ru_utime - cpu_before.ru_utime) + (
            cpu_after.ru_stime - cpu_before.ru_stime
        )
        created = booking.online_bookings() - before_rows
        rounds.append(
            {
                "bookings": len(chunk),
                "seconds": outcome.seconds,
                "rate": outcome.statuses[201] / outcome.seconds,
                "created": created,
                "statuses": dict(outcome.statuses),
                "errors": sum(v for k, v in outcome.statuses.items() if k != 201),
                "failures": outcome.failures,
                "latency": outcome.latency.as_dict(),
                "client_cpu_share": client_cpu / outcome.seconds / (os.cpu_count() or 1),
                "api_cpu_ms": 1000 * api_cpu / max(outcome.statuses[201], 1),
                "db_cpu_ms": 1000 * db_cpu / max(outcome.statuses[201], 1),
            }
        )
    results["booking"] = {
        "clients": sizes.booking_clients,
        "rounds": rounds,
        "double_bookings": booking.double_bookings(),
    }
    races = []
    spare = booking.bookable_slots(clinic, 20, 8)
    for n in range(sizes.contention_rounds):
        slot = spare[n * 37]
        outcome = booking.contention(client, clinic, slot, 20, sizes.racers)
        races.append(
            {
                "racers": sizes.racers,
                "seconds": outcome.seconds,
                "statuses": dict(outcome.statuses),
                "winners_in_sql": booking.online_bookings(slot[1], slot[0]),
                "failures": outcome.failures,
                "latency": outcome.latency.as_dict(),
            }
        )
    results["contention"] = races
    results["double_bookings_after_contention"] = booking.double_bookings()


def run_ceiling(results: dict, sizes: Sizes) -> None:
    from bench import ceiling

    why_not = ceiling.available()
    if why_not:
        results["pgbench"] = {"error": why_not}
        return
    ceiling.initialise(scale=10)
    results["pgbench"] = {
        "fsync_per_s": ceiling.fsync_rate(),
        "scale": 10,
        "runs": [
            ceiling.run(mode, sizes.booking_clients, sizes.pgbench_seconds)
            for mode in ("select-only", "tpcb-like")
        ],
    }


def run_reminders(results: dict, sizes: Sizes) -> None:
    from bench import reminders

    outcome = reminders.run(sizes.reminders, sizes.worker_processes, sizes.worker_concurrency)
    results["reminders"] = {
        **asdict(outcome),
        "rate": outcome.rate,
        "workers": f"{sizes.worker_processes} x prefork({sizes.worker_concurrency})",
    }


def run_bare(results: dict, clinic, sizes: Sizes) -> None:
    from bench import bare

    results["bare"] = bare.measure(
        clinic, sizes.bare_rounds, sizes.bare_per_round, sizes.booking_clients
    )


def run_mixed(results: dict, clinic, sizes: Sizes, client) -> None:
    from bench import mixed

    results["mixed"] = mixed.measure(client, clinic, sizes.mixed_clients, sizes.mixed_seconds)


def run_scaleout(results: dict, clinic, sizes: Sizes) -> None:
    from bench import scaleout

    results["scaleout"] = scaleout.measure(
        clinic,
        sizes.scaleout_bookings,
        sizes.booking_clients,
        sizes.racers,
        sizes.scaleout_reminders,
        sizes.worker_concurrency,
    )


def run_notes(results: dict, sizes: Sizes) -> None:
    from bench import notes

    results["visit_notes"] = notes.measure(notes.populate(sizes.notes_runs), sizes.notes_runs)


def run_fhir(results: dict, sizes: Sizes) -> None:
    from bench import fhir

    results["fhir"] = fhir.measure(fhir.populate(), sizes.fhir_runs)


def run_feed(results: dict, sizes: Sizes) -> None:
    from bench import calendar_feed

    results["calendar_feed"] = calendar_feed.measure(calendar_feed.populate(), sizes.feed_runs)


PHASES = (
    "availability",
    "schedule",
    "booking",
    "reminders",
    "bare",
    "mixed",
    "scaleout",
    "notes",
    "fhir",
    "feed",
)
SERVED = ("availability", "booking", "mixed")  # phases run against the run's gunicorn
IN_PROCESS = {"notes": run_notes, "fhir": run_fhir, "feed": run_feed}


def run_only(phase: str, sizes: Sizes) -> int:
    """One phase alone against a fresh clinic, to measure a change without the whole run;
    prints its figures, non-zero if one of its invariants broke."""
    from bench import report_scale

    results: dict = {"load_start": load(), "loop_seconds": python_loop_seconds(tries=1)}
    if phase in IN_PROCESS:  # their own clinics, built by the phase: no scaled clinic needed
        fresh_database()
        clinic = None
    else:
        clinic = prepare()
    log(f"{phase}; load average {load()}")
    if phase == "reminders":
        run_reminders(results, sizes)
    elif phase in IN_PROCESS:
        IN_PROCESS[phase](results, sizes)
    elif phase == "bare":
        run_bare(results, clinic, sizes)
    elif phase == "schedule":
        from bench import schedule

        results["schedule"] = schedule.measure(clinic, sizes.availability_runs)
    elif phase in SERVED:
        from bench import server

        served = {"availability": run_availability, "booking": run_booking, "mixed": run_mixed}
        with server.gunicorn(workers=2) as client:
            served[phase](results, clinic, sizes, client)
        if phase == "availability":
            run_peer(results, clinic, sizes)
    else:
        run_scaleout(results, clinic, sizes)
    results["load_end"] = load()
    print(json.dumps(results, indent=2, default=_plain))
    plain = json.loads(json.dumps(results, default=_plain))
    if phase == "reminders":
        return 0 if plain["reminders"]["duplicates"] == plain["reminders"]["lost"] == 0 else 1
    from bench import report

    if phase in IN_PROCESS:
        return 0 if report.interop_invariants_hold(plain) else 1
    if phase == "booking":
        return 0 if report.booking_invariants_hold(plain) else 1
    if phase == "availability":
        return 0 if plain["peer"].get("same_slots") is not False else 1
    return 0 if report_scale.invariants_hold(plain) else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes (harness check)")
    parser.add_argument(
        "--output", default=str(env.BENCH_DIR / "RESULTS.md"), help="where to write the report"
    )
    parser.add_argument(
        "--render",
        action="store_true",
        help="only re-write the report from bench/out/results.json (after editing FINDINGS.md)",
    )
    parser.add_argument(
        "--only",
        choices=PHASES,
        help="build the clinic and run this phase alone; prints its figures, writes no report",
    )
    args = parser.parse_args(argv)
    if args.only:
        return run_only(args.only, QUICK if args.quick else FULL)
    if args.render:
        from bench import report

        results = json.loads((env.OUT_DIR / "results.json").read_text())
        report.write(results, args.output)
        return 0 if report.invariants_hold(results) else 1
    sizes = QUICK if args.quick else FULL
    started = time.monotonic()
    results: dict = {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "commit": git_commit(),
        "machine": machine(),
        "load_start": load(),
        "sizes": asdict(sizes),
        "quick": args.quick,
        "phase_load": {},
    }
    log(f"load average {results['load_start']}; building the bench clinic")
    clinic = prepare()
    results["clinic"] = {
        "appointments": clinic.appointments,
        "first_day": clinic.first_day.isoformat(),
    }
    from bench import server

    with server.gunicorn(workers=2) as client:
        log("availability (in-process, HTTP, scaling)")
        _phase_start(results, "availability")
        run_availability(results, clinic, sizes, client)
        log("schedule API")
        _phase_start(results, "schedule")
        from bench import schedule

        results["schedule"] = schedule.measure(clinic, sizes.availability_runs)
        log("peer")
        _phase_start(results, "peer")
        run_peer(results, clinic, sizes)
        log("booking throughput and contention")
        _phase_start(results, "booking")
        run_booking(results, clinic, sizes, client)
        log("mixed load")
        _phase_start(results, "mixed")
        run_mixed(results, clinic, sizes, client)
    log("bare-insert ceiling for booking")
    _phase_start(results, "bare")
    run_bare(results, clinic, sizes)
    log("pgbench")
    _phase_start(results, "pgbench")
    run_ceiling(results, sizes)
    log("reminder pipeline")
    _phase_start(results, "reminders")
    run_reminders(results, sizes)
    log("scale-out: two web and two worker hosts")
    _phase_start(results, "scaleout")
    run_scaleout(results, clinic, sizes)
    log("waitlist: matching cost and cancellation to offer e-mail")
    _phase_start(results, "waitlist")
    from bench import waitlist

    results["waitlist"] = waitlist.measure(runs=3 if args.quick else 10)
    log("series: preview and booking of 24 visits")
    _phase_start(results, "series")
    from bench import planner, series

    world = series.populate()
    planner.analyze()
    results["series"] = series.measure(world, runs=3 if args.quick else 10)
    log("visit notes: write, sign, amend; a patient's notes list")
    _phase_start(results, "visit_notes")
    run_notes(results, sizes)
    log("FHIR R4 reads and searches")
    _phase_start(results, "fhir")
    run_fhir(results, sizes)
    log("calendar feed over its full window")
    _phase_start(results, "feed")
    run_feed(results, sizes)
    results["load_end"] = load()
    results["wall_seconds"] = round(time.monotonic() - started)
    raw = env.OUT_DIR / "results.json"
    raw.write_text(json.dumps(results, indent=2, default=_plain))
    from bench import report

    report.write(results, args.output)
    log(f"done in {results['wall_seconds']} s; wrote {args.output} and {raw}")
    return 0 if report.invariants_hold(results) else 1


def _plain(value):
    if hasattr(value, "as_dict"):
        return value.as_dict()
    return str(value)


if __name__ == "__main__":
    sys.exit(main())
