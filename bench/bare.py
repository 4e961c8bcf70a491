"""The bare-insert ceiling for booking: the real booking API against a plain Django view that
inserts one row into the same exclusion-constrained appointments table, served by the same
gunicorn set-up (2 sync workers, the project's settings and middleware) in the same run.

One gunicorn serves both (``bench.bare_settings``: the project's URLs plus ``bench.bare_urls``),
and the rounds alternate, API then bare, so both see the same machine and the same load. Each
booking is a distinct free slot of the 50-provider location: the API books a new person (as
``bench/booking.py`` does), the bare view a patient created beforehand (one per slot, so the
patient constraint never refuses one). The ratio API / bare says how much of the stack's own
floor the booking rule, person matching, consents and e-mail planning leave.

For ``docs/SCALING.md`` the API rounds also count the ledger and audit rows one booking writes.

``.venv/bin/python -m bench --only bare`` runs this phase alone.
"""

import os
import resource
import time
from statistics import median

from bench import booking, cpu, env, server
from bench.dataset import Clinic

SIZE = 50  # providers at the location booked into
BARE_PATH = "/bench/bare-booking/"  # routed only by bench.bare_urls


def _patients(count: int, tag: str) -> list[int]:
    from patients.models import Patient

    made = Patient.objects.bulk_create(
        Patient(
            first_name="Bare",
            last_name=f"{tag}-{n}",
            email=f"bare.{tag}.{n}@example.org",
            status=Patient.Status.ACTIVE,
        )
        for n in range(count)
    )
    return [patient.pk for patient in made]


def _bare_bodies(clinic: Clinic, slots, patients: list[int]) -> list[dict]:
    return [
        {
            "service": clinic.service_id,
            "location": clinic.locations[SIZE],
            "provider": provider,
            "start": start.isoformat(),
            "minutes": 45,
            "patient": patient,
        }
        for (provider, start), patient in zip(slots, patients, strict=True)
    ]


def table_rows() -> dict[str, int]:
    """Rows in the tables a booking writes to that grow without bound."""
    from clinic.models import AuditEvent
    from notifications.models import Notification
    from scheduling.models import Appointment, AppointmentEvent

    return {
        "appointments": Appointment.objects.count(),
        "events": AppointmentEvent.objects.count(),
        "ledger": Notification.objects.count(),
        "audit": AuditEvent.objects.count(),
    }


def _round(client, bodies: list[dict], path: str, threads: int) -> dict:
    backends = cpu.database_backends(env.DB_NAME)
    before = table_rows()
    own_before = resource.getrusage(resource.RUSAGE_SELF)
    workers = cpu.api_workers_on(client.port)
    api_before, db_before = cpu.cpu_seconds(workers), cpu.cpu_seconds(backends)
    outcome = booking.fire(client, bodies, threads, path)
    api_cpu = cpu.cpu_seconds(workers) - api_before
    db_cpu = cpu.cpu_seconds(backends) - db_before
    own_after = resource.getrusage(resource.RUSAGE_SELF)
    after = table_rows()
    made = max(outcome.statuses[201], 1)
    return {
        "bookings": len(bodies),
        "seconds": outcome.seconds,
        "rate": outcome.statuses[201] / outcome.seconds,
        "statuses": dict(outcome.statuses),
        "errors": sum(v for k, v in outcome.statuses.items() if k != 201),
        "created": after["appointments"] - before["appointments"],
        "failures": outcome.failures,
        "latency": outcome.latency.as_dict(),
        "api_cpu_ms": 1000 * api_cpu / made,
        "db_cpu_ms": 1000 * db_cpu / made,
        "client_cpu_share": (
            own_after.ru_utime - own_before.ru_utime + own_after.ru_stime - own_before.ru_stime
        )
        / outcome.seconds
        / (os.cpu_count() or 1),
        "ledger_rows_per_booking": (after["ledger"] - before["ledger"]) / made,
        "audit_rows_per_booking": (after["audit"] - before["audit"]) / made,
        "event_rows_per_booking": (after["events"] - before["events"]) / made,
    }


def measure(clinic: Clinic, rounds: int, per_round: int, threads: int) -> dict:
    """Alternating API and bare rounds of ``per_round`` bookings from ``threads`` clients."""
    slots = booking.bookable_slots(clinic, SIZE, 8)
    # Untimed first bookings of each kind: imports, connections, each worker's statements run
    # often enough to be prepared (DB_PREPARE_THRESHOLD), and above all each worker's rules
    # cache holding every provider of the location (a cold provider costs a booking a dozen
    # more statements): eight bookings per provider on average leave about one provider in
    # 250 cold in a worker. With 120 the API's rounds sped up from the first to the last, from
    # 30% to 45% of the bare rate, as the workers' caches filled.
    warm = 8 * SIZE
    need = 2 * (rounds * per_round + warm)
    if len(slots) < need:
        raise RuntimeError(f"only {len(slots)} free slots for {need} bookings")
    # Interleaved halves: both kinds book the same mix of days, times and providers.
    api_slots, bare_slots = slots[0:need:2], slots[1:need:2]
    patients = _patients(len(bare_slots), f"{time.time_ns()}")
    api_rounds, bare_rounds = [], []
    with server.gunicorn(workers=2, name="bare", settings="bench.bare_settings") as client:
        tag = f"warm-{time.time_ns()}"
        warm_api = [
            booking.body(clinic, SIZE, provider, start, f"{tag}-{i}")
            for i, (provider, start) in enumerate(api_slots[-warm:])
        ]
        booking.fire(client, warm_api, threads)
        booking.fire(
            client, _bare_bodies(clinic, bare_slots[-warm:], patients[-warm:]), threads, BARE_PATH
        )
        for n in range(rounds):
            part = slice(n * per_round, (n + 1) * per_round)
            tag = f"api{n}-{time.time_ns()}"
            bodies = [
                booking.body(clinic, SIZE, provider, start, f"{tag}-{i}")
                for i, (provider, start) in enumerate(api_slots[part])
            ]
            api_rounds.append(_round(client, bodies, booking.PATH, threads))
            bare = _bare_bodies(clinic, bare_slots[part], patients[part])
            bare_rounds.append(_round(client, bare, BARE_PATH, threads))
    api_rate = median(r["rate"] for r in api_rounds)
    bare_rate = median(r["rate"] for r in bare_rounds)
    return {
        "clients": threads,
        "api": api_rounds,
        "bare": bare_rounds,
        "api_rate": api_rate,
        "bare_rate": bare_rate,
        "ratio": paired_ratio(api_rounds, bare_rounds),
        "ratio_of_medians": api_rate / bare_rate if bare_rate else 0.0,
        "double_bookings": booking.double_bookings(),
    }


def paired_ratio(api_rounds: list[dict], bare_rounds: list[dict]) -> float:
    """The median over the rounds of API rate / bare rate, each API round against the bare round
    that ran right after it: the machine's speed drifts by a quarter within a minute here, and a
    pair sees the same machine, where the medians of the two kinds may come from different
    moments."""
    ratios = [
        api["rate"] / bare["rate"]
        for api, bare in zip(api_rounds, bare_rounds, strict=True)
        if bare["rate"]
    ]
    return median(ratios) if ratios else 0.0


def holds(result: dict) -> bool:
    """Every booking of both kinds made (201, one row each) and no double booking."""
    rounds = result.get("api", []) + result.get("bare", [])
    made = all(r["errors"] == 0 and r["created"] == r["bookings"] for r in rounds)
    return bool(rounds) and made and not any(result["double_bookings"].values())
