"""Scale-out check: two web "hosts" and two worker "hosts" sharing one PostgreSQL and one Redis.

Two gunicorn instances (2 sync workers each, their own ports and process groups) and two
``celery worker`` processes (their own process groups and node names) stand in for four
machines; all they share is the database and the broker, as behind a load balancer.

- Booking: parallel clients split across both web instances (each client thread is pinned to
  one), each booking a new person into a distinct free slot; then racers for one slot, half on
  each instance: exactly one 201, the rest 409, one live row in SQL.
- Reminders: a backlog queued on Redis and drained by both workers at once
  (``bench.reminders.run`` with two worker processes), Message-IDs counted at the bench's local SMTP
  server: 0 duplicates, 0 lost. Each worker's CPU is sampled while it runs, to show both shared
  the work.

On this 2-core machine four servers share the same two cores, so the rates say nothing about
capacity; the phase checks that nothing in the booking rule or the ledger relies on living in
one process or one host. ``.venv/bin/python -m bench --only scaleout`` runs it alone.
"""

import itertools
import threading
import time
from contextlib import ExitStack

from bench import booking, cpu, env, reminders, server
from bench.dataset import Clinic

SIZE = 50  # providers at the location booked into
HOSTS = ("host-a", "host-b")


class Spread:
    """Looks like one ``server.Client``: each client thread is pinned to one instance, in turn."""

    def __init__(self, clients: list[server.Client]):
        self.clients = clients
        self._turn = itertools.count()
        self._local = threading.local()

    def post(self, path: str, body: dict) -> server.Response:
        if not hasattr(self._local, "client"):
            self._local.client = self.clients[next(self._turn) % len(self.clients)]
        return self._local.client.post(path, body)


def _served(clients: list[server.Client], offsets: list[int]) -> list[int]:
    time.sleep(0.5)  # let the workers flush their access-log lines
    return [
        len(c.server_seconds(since, booking.PATH))
        for c, since in zip(clients, offsets, strict=True)
    ]


def _bookings(clients: list[server.Client], clinic: Clinic, count: int, threads: int) -> dict:
    slots = booking.bookable_slots(clinic, SIZE, 8)
    warm = 4 * threads  # untimed first bookings: each instance's imports, caches, connections
    booking.throughput(
        Spread(clients), clinic, slots[-warm:], SIZE, threads, f"warm-{time.time_ns()}"
    )
    slots = slots[:count]
    before = booking.online_bookings()
    offsets = [c.log_offset() for c in clients]
    outcome = booking.throughput(
        Spread(clients), clinic, slots, SIZE, threads, f"so-{time.time_ns()}"
    )
    return {
        "bookings": len(slots),
        "clients": threads,
        "seconds": outcome.seconds,
        "rate": outcome.statuses[201] / outcome.seconds,
        "statuses": dict(outcome.statuses),
        "errors": sum(v for k, v in outcome.statuses.items() if k != 201),
        "created": booking.online_bookings() - before,
        "per_host": _served(clients, offsets),
        "failures": outcome.failures,
        "latency": outcome.latency.as_dict(),
    }


def _race(clients: list[server.Client], clinic: Clinic, racers: int) -> dict:
    slot = booking.bookable_slots(clinic, SIZE, 8)[-1]
    offsets = [c.log_offset() for c in clients]
    outcome = booking.contention(Spread(clients), clinic, slot, SIZE, racers)
    return {
        "racers": racers,
        "seconds": outcome.seconds,
        "statuses": dict(outcome.statuses),
        "winners_in_sql": booking.online_bookings(slot[1], slot[0]),
        "per_host": _served(clients, offsets),
        "failures": outcome.failures,
    }


class _WorkerCPU(threading.Thread):
    """Samples each of our workers' CPU seconds (parent and pool children: same command line)
    until stopped; the last sample before the workers exit is what each one used."""

    def __init__(self, workers: int, node: str):
        super().__init__(daemon=True)
        self.names = [f"--hostname={node}{n}@" for n in range(workers)]
        self.seconds = [0.0] * workers
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.wait(0.25):
            sample = [cpu.cpu_seconds(lambda c, name=name: name in c) for name in self.names]
            self.seconds = [max(old, new) for old, new in zip(self.seconds, sample, strict=True)]


def measure(
    clinic: Clinic, bookings: int, threads: int, racers: int, emails: int, concurrency: int
) -> dict:
    """Both checks; figures and the invariants' counts."""
    with ExitStack() as stack:
        clients = [stack.enter_context(server.gunicorn(workers=2, name=name)) for name in HOSTS]
        booked = _bookings(clients, clinic, bookings, threads)
        race = _race(clients, clinic, racers)
    # Named after this run's database, so that workers of other bench runs on the machine are
    # not counted as ours.
    node = f"{env.DB_NAME}-host"
    sampler = _WorkerCPU(2, node)
    sampler.start()
    try:
        mail = reminders.run(emails, processes=2, concurrency=concurrency, node=node)
    finally:
        sampler.done.set()
        sampler.join()
    return {
        "hosts": {"web": len(HOSTS), "workers": 2},
        "booking": booked,
        "race": race,
        "double_bookings": booking.double_bookings(),
        "reminders": {
            "rows": mail.rows,
            "rate": mail.rate,
            "seconds": mail.seconds,
            "received": mail.received,
            "unique": mail.unique,
            "duplicates": mail.duplicates,
            "lost": mail.lost,
            "foreign": mail.foreign,
            "statuses": mail.statuses,
            "worker_cpu_seconds": sampler.seconds,
            "workers": f"2 x prefork({concurrency})",
        },
    }


def holds(result: dict) -> bool:
    """Every booking made, one winner per race, no double booking, every e-mail exactly once."""
    b, race, mail = result["booking"], result["race"], result["reminders"]
    statuses = {str(k): v for k, v in race["statuses"].items()}
    return (
        b["errors"] == 0
        and b["created"] == b["bookings"]
        and statuses.get("201", 0) == 1
        and statuses.get("409", 0) == race["racers"] - 1
        and race["winners_in_sql"] == 1
        and not any(result["double_bookings"].values())
        and mail["duplicates"] == 0
        and mail["lost"] == 0
    )
