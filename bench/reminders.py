"""The reminder pipeline: due reminders through Redis and Celery workers to a local SMTP server.

Set-up (not timed): two reminders (the clinic's 24 h and 2 h offsets) for each of the first
appointments of the bench clinic, written straight into the ledger as the planner would, except
that they are due now (``next_attempt_at`` in the past): a backlog, as after an outage of the
mail relay. Every other ledger row is removed first so that only these are sent.

Timed, in one of two modes (``BENCH_REMINDER_MODE``):

- ``sweep`` (the default, the path reminders take): one ``notifications.sweep`` task is queued,
  as beat queues it every minute. A reminder is planned hours or days ahead, beyond the window
  in which a row gets a task message of its own (``NOTIFICATIONS_TASK_WINDOW_SECONDS``), so the
  sweep is what sends it. The sweep claims batches (``notifications.batches``) and, finding a
  backlog, shares it with ``NOTIFICATIONS_SWEEP_PARALLEL - 1`` more sweeps.
- ``tasks``: one ``notifications.send`` task per row is queued on Redis, as
  ``notifications.services`` queues a row due within that window (a waitlist offer, a
  confirmation where the clinic has no grace period); each task sends its one row. Queueing is
  timed on its own: it happens in the web processes as rows are planned.

Then ``celery -A clinic worker`` processes start and drain the queue: claim, render (templates,
consent check, unsubscribe link) and send each one over SMTP.
The rate is e-mails between the first and the last one the SMTP server received (the workers'
start-up is reported apart). Every Message-ID is counted: a duplicate is a Message-ID received
twice, a lost one is a row whose Message-ID never arrived.

Workers: one ``celery worker`` with a prefork pool of 4 (``run.py``'s sizes), as a clinic would run
it on a 2-core host: one process per core would leave the cores idle while a send waits on
PostgreSQL or the SMTP server, and one worker keeps a single broker connection. Measured on 3,000
reminders (2026-12-01, load 4-5 from other work) it was the fastest: prefork(2) close behind,
prefork(6) and two or three ``--pool=solo`` workers (one process per core) well behind. The
project's settings stay as they are (``acks_late`` with a prefetch multiplier of 1: a task is
acknowledged only once the ledger recorded it, and a killed worker's message goes back to the
queue).

``.venv/bin/python -m bench --only reminders`` runs this phase alone.
"""

import asyncio
import os
import re
import subprocess
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import timedelta

from bench import env
from bench.server import free_port

# This run's workers, told apart from those of another bench run on the same machine (their CPU
# would otherwise be counted as ours).
WORKER_TAG = f"bench-{os.getpid()}-"
MESSAGE_ID = re.compile(rb"^Message-ID:\s*(<[^>\r\n]+>)", re.IGNORECASE | re.MULTILINE)


class _Session(asyncio.Protocol):
    """One client's SMTP conversation: every command accepted, a message's header block scanned
    for its Message-ID, the rest of it skipped. Commands are read off the buffer as whole
    lines and a message as everything up to its terminating ``CRLF . CRLF``, so a message costs
    a few buffer searches rather than aiosmtpd's per-line reading and checking."""

    def __init__(self, sink: "SMTPSink"):
        self.sink = sink
        self.buffer = b""
        self.in_data = False
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport) -> None:
        self.transport = transport
        transport.write(b"220 bench sink ESMTP\r\n")

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while self.transport is not None and not self.transport.is_closing():
            if self.in_data and not self._message():
                return
            if not self.in_data and not self._command():
                return

    def _message(self) -> bool:
        if self.buffer.startswith(b".\r\n"):
            content, self.buffer = b"", self.buffer[3:]
        else:
            end = self.buffer.find(b"\r\n.\r\n")
            if end < 0:
                return False
            content, self.buffer = self.buffer[: end + 2], self.buffer[end + 5 :]
        self.in_data = False
        self.sink.received_message(content)
        self.transport.write(b"250 OK\r\n")
        return True

    def _command(self) -> bool:
        end = self.buffer.find(b"\r\n")
        if end < 0:
            return False
        line, self.buffer = self.buffer[:end], self.buffer[end + 2 :]
        verb = line[:4].upper()
        if verb == b"EHLO":
            self.transport.write(b"250-bench sink\r\n250 8BITMIME\r\n")
        elif verb == b"DATA":
            self.in_data = True
            self.transport.write(b"354 End data with <CR><LF>.<CR><LF>\r\n")
        elif verb == b"QUIT":
            self.transport.write(b"221 Bye\r\n")
            self.transport.close()
        else:  # HELO, MAIL, RCPT, RSET, NOOP: accepted
            self.transport.write(b"250 OK\r\n")
        return True


@dataclass
class SMTPSink:
    """Accepts everything and keeps only each message's Message-ID, found in its header block
    (the message is never parsed: that would make the server, not the sender, the bottleneck).
    A minimal SMTP server of the bench's own on an asyncio loop in a thread of this process:
    aiosmtpd's line-by-line reading had cost about as much CPU per e-mail as PostgreSQL."""

    port: int = field(default_factory=free_port)
    ids: Counter = field(default_factory=Counter)
    received: int = 0
    first_at: float = 0.0
    last_at: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock)
    loop: asyncio.AbstractEventLoop | None = None
    thread: threading.Thread | None = None

    def received_message(self, content: bytes) -> None:
        head = content.split(b"\r\n\r\n", 1)[0]
        match = MESSAGE_ID.search(head)
        with self.lock:
            self.ids[match.group(1).decode() if match else "(none)"] += 1
            self.received += 1
            self.last_at = time.perf_counter()
            self.first_at = self.first_at or self.last_at

    def __enter__(self) -> "SMTPSink":
        self.loop = asyncio.new_event_loop()
        server = self.loop.run_until_complete(
            self.loop.create_server(lambda: _Session(self), "127.0.0.1", self.port)
        )
        self.thread = threading.Thread(
            target=self._serve, args=(server,), name="smtp-sink", daemon=True
        )
        self.thread.start()
        return self

    def _serve(self, server: asyncio.Server) -> None:
        asyncio.set_event_loop(self.loop)
        try:
            self.loop.run_forever()
        finally:
            server.close()
            self.loop.run_until_complete(server.wait_closed())
            self.loop.close()

    def __exit__(self, *exc) -> None:
        if self.loop is not None and self.thread is not None:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(timeout=10)


def plan_backlog(count: int) -> list[str]:
    """Write ``count`` due reminders; returns their Message-IDs."""
    from django.db import transaction
    from django.utils import timezone

    from notifications.models import Notification
    from notifications.services import new_message_id
    from patients.selectors import consent_column
    from scheduling.models import Appointment
    from scheduling.notifications import REMINDER

    now = timezone.now()
    # Only patients who agreed to reminders: earlier phases book people who did not (the bare
    # inserts, some mixed-load bookings), and their reminders would be skipped, not sent.
    appointments = list(
        Appointment.objects.filter(
            status=Appointment.Status.BOOKED, start__gt=now + timedelta(days=1)
        )
        .annotate(reminders_agreed=consent_column("reminders"))
        .filter(reminders_agreed=True)
        .order_by("start", "id")
        .values_list("pk", "start", "patient__email")[: (count + 1) // 2]
    )
    rows = []
    for pk, start, email in appointments:
        for offset in (24 * 60, 2 * 60):
            rows.append(
                Notification(
                    subject_type="scheduling.appointment",
                    subject_id=pk,
                    kind=REMINDER,
                    planned_for=start - timedelta(minutes=offset),
                    recipient=email,
                    next_attempt_at=now - timedelta(minutes=1),
                    message_id=new_message_id(),
                    context={"start": start.isoformat(), "offset_minutes": offset},
                )
            )
    rows = rows[:count]
    with transaction.atomic():
        Notification.objects.all().delete()
        Notification.objects.bulk_create(rows, batch_size=2000)
    return [row.message_id for row in rows]


def start_workers(
    processes: int, concurrency: int, smtp_port: int, node: str = WORKER_TAG
) -> list[subprocess.Popen]:
    """``processes`` workers named ``<node><n>@<host>``, each its own process group."""
    worker_env = {
        **env.app_env(),
        "EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend",
        "EMAIL_HOST": "127.0.0.1",
        "EMAIL_PORT": str(smtp_port),
        "EMAIL_USE_TLS": "0",
    }
    workers = []
    for n in range(processes):
        log = (env.OUT_DIR / f"worker-{n}.log").open("w")
        workers.append(
            subprocess.Popen(
                [
                    str(env.VENV_BIN / "celery"),
                    "-A",
                    "clinic",
                    "worker",
                    "--pool=prefork",
                    f"--concurrency={concurrency}",
                    "--without-gossip",
                    "--without-mingle",
                    "--without-heartbeat",
                    "--loglevel=WARNING",
                    f"--hostname={node}{n}@%h",
                ],
                cwd=env.ROOT,
                env=worker_env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group, as on a host of its own
            )
        )
    return workers


def stop_workers(workers: list[subprocess.Popen]) -> None:
    for worker in workers:
        worker.terminate()
    for worker in workers:
        try:
            worker.wait(timeout=30)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait()


MODES = ("sweep", "tasks")


@dataclass
class PipelineResult:
    mode: str
    rows: int
    seconds: float
    enqueue_seconds: float
    drain_seconds: float
    received: int
    unique: int
    duplicates: int
    lost: int
    foreign: int
    statuses: dict
    cpu_ms: dict

    @property
    def rate(self) -> float:
        return (self.unique - 1) / self.seconds if self.seconds else 0.0


def run(
    count: int,
    processes: int,
    concurrency: int,
    timeout: float = 600,
    node: str = WORKER_TAG,
    mode: str = "",
) -> PipelineResult:
    from clinic.celery import app
    from notifications.models import Notification
    from notifications.tasks import send_notification, sweep

    mode = mode or os.environ.get("BENCH_REMINDER_MODE", "sweep")
    if mode not in MODES:
        raise ValueError(f"BENCH_REMINDER_MODE must be one of {MODES}, not {mode!r}")
    message_ids = plan_backlog(count)
    row_ids = list(Notification.objects.order_by("id").values_list("pk", flat=True))
    app.control.purge()
    started = time.perf_counter()
    with app.producer_or_acquire() as producer:
        if mode == "sweep":
            sweep.apply_async(producer=producer)
        else:
            for row_id in row_ids:
                send_notification.apply_async((row_id,), producer=producer)
    enqueued = time.perf_counter() - started
    with SMTPSink() as sink:
        launched = time.perf_counter()
        workers = start_workers(processes, concurrency, sink.port, node)
        try:
            deadline = time.monotonic() + timeout
            first = None  # CPU counters at the first e-mail: worker start-up is not counted
            while time.monotonic() < deadline:
                if any(w.poll() is not None for w in workers):
                    raise RuntimeError("a Celery worker exited; see bench/out/worker-*.log")
                with sink.lock:
                    received = len(sink.ids)
                if first is None and received:
                    first = (received, _cpu(node))
                if received >= len(message_ids):
                    break
                time.sleep(0.05)
            cpu_ms = _cpu_per_email(first, received, _cpu(node))
            time.sleep(2)  # anything sent twice would arrive now
        finally:
            stop_workers(workers)
    expected = set(message_ids)
    with sink.lock:
        ids = Counter(sink.ids)
    statuses = dict(Counter(Notification.objects.values_list("status", flat=True)).most_common())
    return PipelineResult(
        mode=mode,
        rows=len(message_ids),
        seconds=sink.last_at - sink.first_at,
        enqueue_seconds=enqueued,
        drain_seconds=sink.last_at - launched,
        received=sum(ids.values()),
        unique=len(set(ids) & expected),
        duplicates=sum(n - 1 for n in ids.values() if n > 1),
        lost=len(expected - set(ids)),
        foreign=len(set(ids) - expected),
        statuses=statuses,
        cpu_ms=cpu_ms,
    )


def _cpu(node: str) -> dict[str, float]:
    """CPU seconds so far of the bench's Celery workers, the database backends serving them and
    this process (the SMTP server runs in it)."""
    import resource

    from bench import cpu

    own = resource.getrusage(resource.RUSAGE_SELF)
    return {
        "workers": cpu.cpu_seconds(
            lambda command: "celery" in command and f"--hostname={node}" in command
        ),
        "database": cpu.cpu_seconds(cpu.database_backends(env.DB_NAME)),
        "smtp server and bench": own.ru_utime + own.ru_stime,
    }


def _cpu_per_email(first, received: int, last: dict[str, float]) -> dict[str, float]:
    if first is None or received <= first[0]:
        return {}
    emails = received - first[0]
    return {name: 1000 * (last[name] - first[1][name]) / emails for name in last}
