"""Real services for tests: an SMTP server, Celery worker processes and a movable clock.

Import the fixtures into a ``conftest.py`` (``from tests.services import *``). Tests that use
them are marked ``services`` and ``postgres`` and run with
``@pytest.mark.django_db(transaction=True)``: the worker is another process with its own
connection, so it only sees committed rows.

- ``smtp_server``: an aiosmtpd server on a free loopback port; ``messages`` holds what it received,
  parsed with the ``email`` package. ``stop()`` / ``start()`` take it down and bring it back on the
  same port; ``mode`` makes it accept, reject (554) or answer slowly.
- ``service_clock``: an offset file read by ``notifications.clock`` in this process and in the
  workers; ``advance(timedelta)`` moves time for both.
- ``celery_workers``: starts ``celery -A clinic worker`` subprocesses against Redis (``REDIS_URL``)
  and the pytest-django TEST database, with short leases and back-off. ``start()`` returns a
  handle with ``kill()`` (SIGKILL) and ``stop()``.
"""

import asyncio
import email
import email.policy
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email.message import EmailMessage
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from django.db import connection
from django.utils import timezone

from clinic.celery import app as celery_app

ROOT = Path(__file__).resolve().parent.parent
CELERY = Path(sys.executable).with_name("celery")

# Short enough that retries and lease take-overs happen within a test.
WORKER_SETTINGS = {
    "NOTIFICATIONS_LEASE_SECONDS": "30",
    "NOTIFICATIONS_RETRY_BASE_SECONDS": "0.5",
    "NOTIFICATIONS_RETRY_MAX_SECONDS": "2",
    "NOTIFICATIONS_MAX_ATTEMPTS": "4",
    # Small batches, so that a test's few dozen rows are shared by two workers and a worker
    # killed mid-batch leaves a batch behind while the other goes on.
    "NOTIFICATIONS_BATCH_SIZE": "5",
    # A killed worker counts as gone 5 s after its last heartbeat (one every 0.8 s); the test
    # process judges with the same bound (``celery_workers``).
    "NOTIFICATIONS_HOLDER_TIMEOUT_SECONDS": "5",
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until(predicate: Callable[[], object], timeout: float = 20, what: str = "") -> object:
    """Poll until ``predicate()`` is truthy; fail the test with ``what`` on timeout."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"Timed out after {timeout}s waiting for {what or predicate}")
        time.sleep(0.1)


class _Handler:
    def __init__(self, server: "SMTPServer"):
        self.server = server

    async def handle_DATA(self, server, session, envelope) -> str:
        with self.server.lock:
            self.server.started += 1
            self.server.in_flight += 1
        try:
            if self.server.mode == "reject":
                return "554 5.7.1 Message rejected for the test"
            if self.server.delay:
                await asyncio.sleep(self.server.delay)
            message = email.message_from_bytes(envelope.content, policy=email.policy.default)
            with self.server.lock:
                self.server.messages.append(message)
            return "250 Message accepted for delivery"
        finally:
            with self.server.lock:
                self.server.in_flight -= 1


@dataclass
class SMTPServer:
    port: int = field(default_factory=free_port)
    mode: str = "accept"
    delay: float = 0.0
    messages: list[EmailMessage] = field(default_factory=list)
    started: int = 0  # DATA commands begun, including one still being answered
    # DATA commands begun and not yet answered (nor cut off); unlike ``started``, ``clear()``
    # leaves it alone, since a message in flight then is still in flight after it.
    in_flight: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)
    controller: Controller | None = None

    def start(self) -> None:
        self.controller = Controller(_Handler(self), hostname="127.0.0.1", port=self.port)
        self.controller.start()

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None

    def clear(self) -> None:
        with self.lock:
            self.messages.clear()
            self.started = 0

    def received(self) -> list[EmailMessage]:
        with self.lock:
            return list(self.messages)

    def message_ids(self) -> list[str]:
        return [m["Message-ID"] for m in self.received()]

    def wait_for(self, count: int, timeout: float = 20) -> list[EmailMessage]:
        wait_until(lambda: len(self.received()) >= count, timeout, f"{count} e-mail(s)")
        return self.received()


class ServiceClock:
    """Moves ``notifications.clock.now()`` for this process and for the worker processes."""

    def __init__(self, path: Path):
        self.path = path
        self.seconds = 0.0
        self._write()

    def _write(self) -> None:
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(str(self.seconds))
        tmp.replace(self.path)

    def advance(self, delta: timedelta) -> None:
        self.seconds += delta.total_seconds()
        self._write()

    def move_to(self, moment: datetime) -> None:
        """Make ``notifications.clock.now()`` read ``moment`` (and run on from there)."""
        self.seconds = (moment - timezone.now()).total_seconds()
        self._write()


@dataclass
class Worker:
    name: str
    process: subprocess.Popen
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def kill(self) -> None:
        """SIGKILL: no warm shutdown, no acknowledgement, the row stays ``sending``."""
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        """Cold shutdown (SIGQUIT): quick, and the broker queue is purged after the test anyway."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGQUIT)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill()


class WorkerPool:
    def __init__(self, env: dict[str, str], log_dir: Path):
        self.env = env
        self.log_dir = log_dir
        self.workers: list[Worker] = []

    def start(self, count: int = 1) -> Worker:
        """Start ``count`` more workers side by side; returns the last once all are ready."""
        workers = [self._spawn() for _ in range(count)]
        for worker in workers:
            wait_until(
                lambda w=worker: " ready." in w.log() or w.process.poll() is not None,
                timeout=60,
                what=f"worker {worker.name} to start",
            )
            if worker.process.poll() is not None:
                pytest.fail(f"Celery worker exited at start:\n{worker.log()[-3000:]}")
        return workers[-1]

    def _spawn(self) -> Worker:
        name = f"notif-{uuid.uuid4().hex[:6]}"
        log_path = self.log_dir / f"{name}.log"
        command = [
            str(CELERY),
            "-A",
            "clinic",
            "worker",
            "--pool=solo",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
            "--loglevel=INFO",
            f"--hostname={name}@%h",
        ]
        with log_path.open("w") as log:
            process = subprocess.Popen(
                command,
                cwd=ROOT,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        worker = Worker(name, process, log_path)
        self.workers.append(worker)
        return worker

    def alive(self) -> list[Worker]:
        return [w for w in self.workers if w.process.poll() is None]

    def keep_one(self) -> None:
        """Kill every running worker but the oldest (SIGKILL: quick, the queue is purged)."""
        for worker in self.alive()[1:]:
            worker.kill()
        self.workers = self.alive()

    def stop_all(self) -> None:
        for worker in self.workers:
            worker.stop()
        self.workers = []


def test_database_url() -> str:
    """The pytest-django test database (``test_<name>``), as a URL for the worker processes."""
    db = connection.settings_dict
    user = db.get("USER") or "postgres"
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    host = db.get("HOST") or "127.0.0.1"
    port = db.get("PORT") or 5432
    return f"postgres://{user}{password}@{host}:{port}/{db['NAME']}"


# One of each per test session, however many conftests import these fixtures (each import makes
# a fixture of its own): a second worker on the same queue would take the other's tasks.
_SESSION: dict[str, object] = {}


@pytest.fixture(scope="session")
def _smtp_session() -> Iterator[SMTPServer]:
    if "smtp" not in _SESSION:
        logging.getLogger("mail.log").setLevel(logging.WARNING)
        server = SMTPServer()
        server.start()
        _SESSION["smtp"] = server
    yield _SESSION["smtp"]
    _SESSION["smtp"].stop()


@pytest.fixture
def smtp_server(_smtp_session: SMTPServer) -> SMTPServer:
    """The session's SMTP server, up, accepting at once and empty."""
    server = _smtp_session
    if server.controller is None:
        server.start()
    server.mode, server.delay = "accept", 0.0
    server.clear()
    return server


@pytest.fixture(scope="session")
def _clock_path(tmp_path_factory) -> Path:
    if "clock" not in _SESSION:
        _SESSION["clock"] = tmp_path_factory.mktemp("clock") / "offset"
    return _SESSION["clock"]


@pytest.fixture
def service_clock(_clock_path: Path, settings) -> ServiceClock:
    """Real time again at the start of each test, for this process and the workers."""
    settings.NOTIFICATIONS_CLOCK_FILE = str(_clock_path)
    return ServiceClock(_clock_path)


@pytest.fixture(scope="session")
def _worker_pool(
    django_db_setup, _smtp_session, _clock_path, tmp_path_factory
) -> Iterator[WorkerPool]:
    """One pool for the session: starting a worker costs seconds, so one is kept between tests."""
    if "pool" in _SESSION:
        yield _SESSION["pool"]
        _SESSION["pool"].stop_all()
        return
    env = {
        **os.environ,
        "DJANGO_ENV": "test",
        "DATABASE_URL": test_database_url(),
        "DB_CONN_MAX_AGE": "0",
        "EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend",
        "EMAIL_HOST": "127.0.0.1",
        "EMAIL_PORT": str(_smtp_session.port),
        "EMAIL_USE_TLS": "0",
        "EMAIL_TIMEOUT": "5",
        "NOTIFICATIONS_CLOCK_FILE": str(_clock_path),
        "PYTHONUNBUFFERED": "1",
        **WORKER_SETTINGS,
    }
    pool = WorkerPool(env, tmp_path_factory.mktemp("workers"))
    _SESSION["pool"] = pool
    yield pool
    pool.stop_all()


@pytest.fixture
def celery_workers(
    _worker_pool: WorkerPool, smtp_server, service_clock, transactional_db, settings
) -> Iterator[WorkerPool]:
    """One running worker on a clean broker queue; ``start()`` adds more. Every worker is
    stopped afterwards and the queue purged, so no test inherits another's task messages: a
    worker left running would take the tasks later tests queue (a cancellation queues the
    waitlist's matching) and read their database while pytest-django empties it, and the
    flush deadlocks."""
    settings.NOTIFICATIONS_HOLDER_TIMEOUT_SECONDS = WORKER_SETTINGS[
        "NOTIFICATIONS_HOLDER_TIMEOUT_SECONDS"
    ]
    celery_app.control.purge()
    _worker_pool.start()
    yield _worker_pool
    _worker_pool.stop_all()
    celery_app.control.purge()
