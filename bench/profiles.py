"""Profiles behind ``bench/FINDINGS.md``, against the clinic the last bench run built.

    .venv/bin/python -m bench.profiles availability|booking|reminder|timestamps

Each prints the CPU and wall time per operation, the SQL statements it ran and a pyinstrument
profile (also written to ``bench/out/profile-<name>.txt``). ``timestamps`` times reading the
20-provider month's appointment rows as ``timestamptz`` values versus epoch seconds.
"""

import random
import sys
import time
from collections.abc import Callable

from bench import env
from bench.stats import counting_queries


def _clinic():
    from bench.dataset import Clinic

    return Clinic.load(env.OUT_DIR / "clinic.json")


def _measure(name: str, operations: list[Callable[[], object]], warmup: int = 3) -> None:
    from pyinstrument import Profiler

    for operation in operations[:warmup]:
        operation()
    rest = operations[warmup:]
    half = len(rest) // 2
    cpu, wall = time.process_time(), time.perf_counter()
    for operation in rest[:half]:
        operation()
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    print(f"{name}: {cpu * 1000 / half:.1f} ms CPU, {wall * 1000 / half:.1f} ms wall per operation")
    with counting_queries() as captured:
        rest[half]()
    print(f"{len(captured)} SQL statements:")
    for query in captured.captured_queries:
        print(f"  {query['sql'][:110]}")
    profiler = Profiler(interval=0.0005)
    profiler.start()
    for operation in rest[half + 1 :]:
        operation()
    profiler.stop()
    text = profiler.output_text(unicode=False, color=False)
    (env.OUT_DIR / f"profile-{name}.txt").write_text(text)
    print(text)


def availability() -> None:
    from django.test import Client

    from bench.availability import headline_cases

    clinic = _clinic()
    client = Client()
    url = headline_cases(clinic)[1].url(clinic)
    _measure("availability", [lambda: client.get(url)] * 40)


def booking() -> None:
    from django.test import Client

    from bench.booking import PATH, body, bookable_slots

    clinic = _clinic()
    client = Client()
    slots = bookable_slots(clinic, 5, 8)
    random.Random(len(slots)).shuffle(slots)
    tag = f"profile-{time.time_ns()}"

    def book(n: int, provider: int, start) -> Callable[[], object]:
        payload = body(clinic, 5, provider, start, f"{tag}-{n}")
        return lambda: client.post(PATH, payload, content_type="application/json")

    _measure("booking", [book(n, p, s) for n, (p, s) in enumerate(slots[:60])])


def reminder() -> None:
    from bench.reminders import SMTPSink, plan_backlog

    with SMTPSink() as sink:
        from django.conf import settings

        settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
        settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", sink.port
        from notifications.models import Notification
        from notifications.services import deliver

        plan_backlog(120)
        rows = list(Notification.objects.order_by("id").values_list("pk", flat=True))
        _measure("reminder", [lambda pk=pk: deliver(pk) for pk in rows])


def timestamps() -> None:
    from datetime import UTC, datetime

    from django.db.models import FloatField
    from django.db.models.functions import Cast, Extract

    from scheduling.models import Appointment

    clinic = _clinic()
    first, last = clinic.month()
    rows = Appointment.objects.filter(
        provider_id__in=clinic.providers[20],
        start__date__gte=first,
        start__date__lte=last,
    )
    columns = ("provider_id", "room_id", "service_id")

    def as_datetimes():
        return list(rows.values_list(*columns, "start", "blocked_start", "blocked_end"))

    def as_epoch():
        times = ("start", "blocked_start", "blocked_end")
        epoch = [Cast(Extract(name, "epoch"), FloatField()) for name in times]
        return [
            (p, r, s, *(datetime.fromtimestamp(t, UTC) for t in ts))
            for p, r, s, *ts in rows.values_list(*columns, *epoch)
        ]

    assert as_datetimes() == as_epoch()
    print(f"{len(as_datetimes())} appointment rows, 3 timestamptz columns each")
    for fn in (as_datetimes, as_epoch) * 2:
        cpu, wall = time.process_time(), time.perf_counter()
        for _ in range(20):
            fn()
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        print(f"  {fn.__name__}: {cpu * 50:.1f} ms CPU, {wall * 50:.1f} ms wall per read")


TARGETS = {
    "availability": availability,
    "booking": booking,
    "reminder": reminder,
    "timestamps": timestamps,
}


def main() -> int:
    if len(sys.argv) != 2 or sys.argv[1] not in TARGETS:
        print(__doc__)
        return 2
    env.setup_django()
    TARGETS[sys.argv[1]]()
    return 0


if __name__ == "__main__":
    sys.exit(main())
