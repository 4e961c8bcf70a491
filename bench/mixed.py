"""Mixed load over HTTP: what a clinic's web tier sees on a busy morning, all kinds at once.

``clients`` threads (16) for ``seconds`` (60) against one gunicorn, each drawing its next request
at random: 80% public availability GETs (the widget's month and week searches), 15% public
bookings (a new person into a free slot of the 20-provider location) and 5% staff schedule GETs
(``GET /api/v1/schedule/``, a manager's day, with a DRF token as another front end would send
it). One booking in ten goes to a slot that another booking also takes, the two queued back to
back so that two clients send them at nearly the same moment: exactly one must win.

Reported per kind: count, statuses, p50/p95 latency (the client's wait). Invariants: no error
(a 5xx, or any status but 200 for the GETs, 201 for a booking and 409 for the loser of a
planned collision), exactly one live appointment for each collided slot, and no double booking
counted in SQL.

``.venv/bin/python -m bench --only mixed`` runs this phase alone.
"""

import random
import threading
import time
from collections import Counter, deque
from dataclasses import dataclass, field
from datetime import timedelta
from urllib.parse import urlencode

from bench import availability, booking, cpu, env, schedule
from bench.dataset import Clinic
from bench.stats import summarize

SIZE = 20  # providers at the location booked into
SHARES = (("availability", 0.80), ("booking", 0.15), ("schedule", 0.05))
COLLIDE_EVERY = 10
SEED = 20261202


def _staff_token() -> str:
    """A manager's API token (the schedule API is staff only)."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group
    from rest_framework.authtoken.models import Token

    from clinic import roles

    user, _ = get_user_model().objects.get_or_create(
        username="bench-manager", defaults={"is_staff": True}
    )
    user.groups.add(Group.objects.get(name=roles.MANAGER))
    return Token.objects.get_or_create(user=user)[0].key


def _availability_urls(clinic: Clinic) -> list[str]:
    cases = [
        *availability.headline_cases(clinic),
        availability.Case("5 providers x 4 wk", 5, 4),
        availability.Case("50 providers x 1 wk", 50, 1),
    ]
    return [case.url(clinic) for case in cases]


def _schedule_urls(clinic: Clinic) -> list[str]:
    """A manager's day at the 20-provider location, over the first two weeks."""
    return [
        f"{schedule.PATH}?"
        + urlencode(
            {
                "location": clinic.locations[SIZE],
                "date": (clinic.first_day + timedelta(days=n)).isoformat(),
                "days": 1,
            }
        )
        for n in range(14)
    ]


@dataclass
class _Job:
    body: dict
    slot: tuple[int, object]
    collides: bool


@dataclass
class _Tally:
    statuses: dict[str, Counter] = field(default_factory=dict)
    latencies: dict[str, list[float]] = field(default_factory=dict)
    errors: int = 0
    failures: list[str] = field(default_factory=list)
    collided: dict = field(default_factory=dict)  # slot -> statuses of its two bookings


def _jobs(clinic: Clinic, count: int) -> deque:
    """Booking jobs; every ``COLLIDE_EVERY``-th slot is queued twice, back to back."""
    slots = booking.bookable_slots(clinic, SIZE, 8)[:count]
    tag = f"mix-{time.time_ns()}"
    jobs: deque = deque()
    for n, (provider, start) in enumerate(slots):
        collides = n % COLLIDE_EVERY == 0
        for copy in range(2 if collides else 1):
            who = f"{tag}-{n}-{copy}"
            jobs.append(
                _Job(booking.body(clinic, SIZE, provider, start, who), (provider, start), collides)
            )
    return jobs


def measure(client, clinic: Clinic, clients: int, seconds: float) -> dict:
    """Run the mix; figures per kind, the invariants' counts and the overall request rate."""
    token = _staff_token()
    staff = {"Authorization": f"Token {token}"}
    reads, schedules = _availability_urls(clinic), _schedule_urls(clinic)
    jobs = _jobs(clinic, 3000)
    for _ in range(2):  # untimed, so that a fresh server's imports and caches are not counted
        for url in reads:
            client.get(url)
        client.get(schedules[0], headers=staff)
        client.post(booking.PATH, jobs.pop().body)
    tally = _Tally()
    lock = threading.Lock()
    gate = threading.Barrier(clients + 1)
    stop_at = [0.0]

    def record(kind: str, status: int, waited: float, ok: bool, detail: str) -> None:
        with lock:
            tally.statuses.setdefault(kind, Counter())[status] += 1
            tally.latencies.setdefault(kind, []).append(waited)
            if not ok:
                tally.errors += 1
                if len(tally.failures) < 5:
                    tally.failures.append(f"{kind} {status}: {detail}")

    def one(rng: random.Random) -> None:
        draw, kind = rng.random(), "availability"
        if draw >= SHARES[0][1]:
            kind = "booking" if draw < SHARES[0][1] + SHARES[1][1] else "schedule"
        job = None
        if kind == "booking":
            with lock:
                job = jobs.popleft() if jobs else None
            if job is None:
                raise RuntimeError("the mixed run used up its free slots")
        try:
            if kind == "availability":
                response = client.get(rng.choice(reads))
            elif kind == "schedule":
                response = client.get(rng.choice(schedules), headers=staff)
            else:
                response = client.post(booking.PATH, job.body)
            status, waited, detail = response.status, response.seconds, response.body[:200]
        except OSError as exc:
            status, waited, detail = 0, 0.0, repr(exc).encode()
        if kind == "booking":
            ok = status == 201 or (status == 409 and job.collides)
            if job.collides:
                with lock:
                    tally.collided.setdefault(job.slot, []).append(status)
        else:
            ok = status == 200
        record(kind, status, waited, ok, detail.decode(errors="replace"))

    def work(n: int) -> None:
        rng = random.Random(f"{SEED}:{n}")
        gate.wait()
        while time.perf_counter() < stop_at[0]:
            one(rng)

    from bench.bare import table_rows

    backends, workers = cpu.database_backends(env.DB_NAME), cpu.api_workers_on(client.port)
    rows_before = table_rows()
    cpu_before = cpu.cpu_seconds(workers), cpu.cpu_seconds(backends)
    threads = [threading.Thread(target=work, args=(n,)) for n in range(clients)]
    for thread in threads:
        thread.start()
    started = time.perf_counter()
    stop_at[0] = started + seconds
    gate.wait()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    cpu_after = cpu.cpu_seconds(workers), cpu.cpu_seconds(backends)
    rows_after = table_rows()
    result = _result(tally, clients, elapsed)
    result["rows_written"] = {k: rows_after[k] - rows_before[k] for k in rows_after}
    result["cpu_ms_per_request"] = {
        name: 1000 * (after - before) / max(result["requests"], 1)
        for name, before, after in zip(("api", "database"), cpu_before, cpu_after, strict=True)
    }
    return result


def _result(tally: _Tally, clients: int, elapsed: float) -> dict:
    from scheduling.models import Appointment

    winners = {}
    for (provider, start), statuses in tally.collided.items():
        live = (
            Appointment.objects.filter(provider_id=provider, start=start)
            .exclude(status=Appointment.Status.CANCELLED)
            .count()
        )
        winners[f"{provider}@{start.isoformat()}"] = (live, sorted(statuses))
    # A pair whose second half was never sent (the run ended between them) has one status.
    pairs = [w for w in winners.values() if len(w[1]) == 2]
    requests = sum(sum(c.values()) for c in tally.statuses.values())
    return {
        "clients": clients,
        "seconds": elapsed,
        "requests": requests,
        "rate": requests / elapsed,
        "kinds": {
            kind: {
                "count": sum(tally.statuses[kind].values()),
                "statuses": dict(tally.statuses[kind]),
                "latency": summarize(tally.latencies[kind]).as_dict(),
            }
            for kind, _ in SHARES
            if kind in tally.statuses
        },
        "errors": tally.errors,
        "failures": tally.failures,
        "collisions": len(pairs),
        "collisions_one_winner": sum(1 for live, st in pairs if live == 1 and st == [201, 409]),
        "collided_slots_live": sorted({live for live, _ in winners.values()}),
        "double_bookings": booking.double_bookings(),
    }


def holds(result: dict) -> bool:
    """No error, one winner per collided slot, no double booking."""
    return (
        result["errors"] == 0
        and result["collisions_one_winner"] == result["collisions"]
        and result["collided_slots_live"] in ([], [1])
        and not any(result["double_bookings"].values())
    )
