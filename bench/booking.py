"""Booking over HTTP: throughput with parallel clients on distinct slots, and 200 clients racing
for one slot. Every booking is a new person (``POST /api/v1/public/bookings/`` with patient
details and consent), as a widget sends it; the checks afterwards are done in SQL.
"""

import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime

from bench.dataset import Clinic
from bench.stats import Summary, summarize

PATH = "/api/v1/public/bookings/"


def bookable_slots(clinic: Clinic, size: int, weeks: int) -> list[tuple[int, datetime]]:
    """Free (provider, start) pairs at the location of ``size`` providers, no two of one provider
    overlapping, so that every one of them can be booked."""
    from clinic.models import Location
    from scheduling.availability import search
    from scheduling.models import Service

    service = Service.objects.get(pk=clinic.service_id)
    first, last = clinic.days(weeks)
    result = search(
        service=service,
        location=Location.objects.get(pk=clinic.locations[size]),
        start_date=first,
        end_date=last,
    )
    taken_until: dict[int, datetime] = {}
    chosen = []
    for slot in sorted(result.slots, key=lambda s: (s.provider_id, s.start)):
        if slot.start >= taken_until.get(slot.provider_id, slot.start):
            chosen.append((slot.provider_id, slot.start))
            taken_until[slot.provider_id] = slot.end
    # Interleave providers and days, so parallel clients do not queue on one provider's rows.
    chosen.sort(key=lambda pair: (pair[1].time(), pair[1].date(), pair[0]))
    return chosen


def body(clinic: Clinic, size: int, provider: int, start: datetime, who: str) -> dict:
    return {
        "service": clinic.service_id,
        "location": clinic.locations[size],
        "provider": provider,
        "start": start.isoformat(),
        "patient": {
            "first_name": "Bench",
            "last_name": who,
            "email": f"{who}@bench.example.org",
            "phone": "+1 416 555 0100",
            "date_of_birth": "1988-04-02",
        },
        "consent": {"reminders": True, "care_plans": False, "marketing": False},
        "reason": "Sore shoulder after swimming",
    }


@dataclass
class Outcome:
    statuses: Counter = field(default_factory=Counter)
    latencies: list[float] = field(default_factory=list)
    seconds: float = 0.0
    failures: list[str] = field(default_factory=list)

    @property
    def latency(self) -> Summary:
        return summarize(self.latencies)


def fire(client, bodies: list[dict], threads: int, path: str = PATH) -> Outcome:
    """POST ``bodies`` to ``path`` from ``threads`` parallel clients, all released at once."""
    outcome = Outcome()
    lock = threading.Lock()
    gate = threading.Barrier(threads + 1)
    chunks = [bodies[i::threads] for i in range(threads)]

    def work(chunk: list[dict]) -> None:
        gate.wait()
        for payload in chunk:
            try:
                response = client.post(path, payload)
                status, seconds = response.status, response.seconds
                detail = response.body[:300].decode(errors="replace")
            except OSError as exc:
                status, seconds, detail = 0, 0.0, repr(exc)
            with lock:
                outcome.statuses[status] += 1
                outcome.latencies.append(seconds)
                if status not in (201, 409) and len(outcome.failures) < 5:
                    outcome.failures.append(f"{status}: {detail}")

    workers = [threading.Thread(target=work, args=(chunk,)) for chunk in chunks]
    for worker in workers:
        worker.start()
    gate.wait()
    started = time.perf_counter()
    for worker in workers:
        worker.join()
    outcome.seconds = time.perf_counter() - started
    return outcome


def throughput(client, clinic: Clinic, slots, size: int, threads: int, tag: str) -> Outcome:
    bodies = [
        body(clinic, size, provider, start, f"{tag}-{n}")
        for n, (provider, start) in enumerate(slots)
    ]
    return fire(client, bodies, threads)


def contention(client, clinic: Clinic, slot, size: int, racers: int) -> Outcome:
    provider, start = slot
    bodies = [body(clinic, size, provider, start, f"race-{n}") for n in range(racers)]
    return fire(client, bodies, racers)


def double_bookings() -> dict[str, int]:
    """Overlapping live appointments of one provider or one patient, counted by PostgreSQL."""
    from django.db import connection

    overlap = """
        SELECT count(*) FROM scheduling_appointment a
        JOIN scheduling_appointment b ON a.{col} = b.{col} AND a.id < b.id
        WHERE a.status <> 'cancelled' AND b.status <> 'cancelled'
          AND tstzrange(a.blocked_start, a.blocked_end) && tstzrange(b.blocked_start, b.blocked_end)
    """
    counts = {}
    with connection.cursor() as cursor:
        for col in ("provider_id", "patient_id"):
            cursor.execute(overlap.format(col=col))
            counts[col.removesuffix("_id")] = cursor.fetchone()[0]
    return counts


def online_bookings(start: datetime | None = None, provider: int | None = None) -> int:
    from scheduling.models import Appointment

    rows = Appointment.objects.filter(source=Appointment.Source.ONLINE).exclude(
        status=Appointment.Status.CANCELLED
    )
    if start is not None:
        rows = rows.filter(start=start, provider_id=provider)
    return rows.count()
