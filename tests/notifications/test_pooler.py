"""Workers behind PgBouncer in transaction mode (issue 22, docs/SCALING.md): the server
connection a worker uses changes from one transaction to the next and outlives the worker, so
the lease holder must not be the database session (``notifications.holders``). Real Celery
workers, Redis, PostgreSQL and an SMTP server; the pooler has one server connection, so every
worker's statements run on the same PostgreSQL backend.

Skipped when the ``pgbouncer`` binary is missing (``apt-get install -y pgbouncer``)."""

import os
import pwd
import shutil
import socket
import subprocess
import sys
import tempfile
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from django.core import mail
from django.db import connection

from clinic.celery import app as celery_app
from notifications import services
from notifications.models import LeaseHolder, Notification
from scheduling.notifications import CONFIRMATION
from tests.notifications.test_delivery import GRACE, next_start, refreshed, run_sweep_async
from tests.notifications.test_faults import LEASE
from tests.services import ROOT, WORKER_SETTINGS, WorkerPool, free_port, wait_until

pytestmark = [
    pytest.mark.services,
    pytest.mark.postgres,
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True),
]
Status = Notification.Status
PGBOUNCER = shutil.which("pgbouncer")


@pytest.fixture
def pooler_url(transactional_db) -> Iterator[str]:
    """A PgBouncer in transaction mode in front of the test database, with one server
    connection; its URL."""
    if PGBOUNCER is None:
        pytest.skip("pgbouncer is not installed (apt-get install -y pgbouncer)")
    db = connection.settings_dict
    port = free_port()
    home = Path(tempfile.mkdtemp(prefix="pgbouncer-"))
    user = db.get("USER") or "postgres"
    (home / "users.txt").write_text(f'"{user}" ""\n')
    (home / "pgbouncer.ini").write_text(
        f"""[databases]
{db["NAME"]} = host={db.get("HOST") or "127.0.0.1"} port={db.get("PORT") or 5432} \
dbname={db["NAME"]} user={user} pool_size=1

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = {port}
unix_socket_dir =
auth_type = trust
auth_file = {home / "users.txt"}
pool_mode = transaction
max_client_conn = 200
logfile = {home / "pgbouncer.log"}
"""
    )
    command = [PGBOUNCER]
    if os.geteuid() == 0:  # PgBouncer will not run as root
        account = pwd.getpwnam("postgres" if _has_user("postgres") else "nobody")
        os.chown(home, account.pw_uid, account.pw_gid)
        for path in home.iterdir():
            os.chown(path, account.pw_uid, account.pw_gid)
        command += ["-u", account.pw_name]
    process = subprocess.Popen(
        [*command, str(home / "pgbouncer.ini")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
    )
    wait_until(lambda: _listening(port) or process.poll() is not None, 20, "pgbouncer to listen")
    if process.poll() is not None:
        log = home / "pgbouncer.log"
        pytest.fail(f"pgbouncer exited: {log.read_text() if log.exists() else ''}")
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    yield f"postgres://{user}{password}@127.0.0.1:{port}/{db['NAME']}"
    process.terminate()
    process.wait(10)
    shutil.rmtree(home, ignore_errors=True)


def _has_user(name: str) -> bool:
    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


@pytest.fixture
def pooled_workers(
    _worker_pool, pooler_url, smtp_server, service_clock, settings, tmp_path
) -> Iterator[WorkerPool]:
    """Celery workers (none running yet) whose database is the pooler; this test process
    still reaches PostgreSQL directly."""
    settings.NOTIFICATIONS_HOLDER_TIMEOUT_SECONDS = WORKER_SETTINGS[
        "NOTIFICATIONS_HOLDER_TIMEOUT_SECONDS"
    ]
    celery_app.control.purge()
    # PgBouncer 1.18 (Debian 12) cannot keep prepared statements in transaction mode.
    env = {**_worker_pool.env, "DATABASE_URL": pooler_url, "DB_PREPARE_THRESHOLD": "off"}
    pool = WorkerPool(env, tmp_path)
    yield pool
    pool.stop_all()
    celery_app.control.purge()


class SweepElsewhere:
    """A sweep in a process of its own through the pooler (its statements run on the very
    backend the worker's do), started ahead so that ``run()`` sweeps at once."""

    def __init__(self, pool: WorkerPool):
        script = "import django; django.setup(); from notifications import services; "
        script += "print('ready', flush=True); input(); print(services.sweep(), flush=True)"
        env = {**pool.env, "DJANGO_SETTINGS_MODULE": "clinic.settings"}
        self.process = subprocess.Popen(
            [sys.executable, "-c", script],
            cwd=ROOT,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.process.stdout.readline().strip() == "ready"

    def run(self) -> str:
        output, _ = self.process.communicate("\n", timeout=60)
        assert self.process.returncode == 0
        return output.strip()


def test_through_a_transaction_pooler_sends_are_recorded_once_and_a_live_worker_keeps_its_row(
    world, pooled_workers, smtp_server, service_clock
):
    worker = pooled_workers.start()
    for hours in range(3):
        world.book(next_start() + timedelta(hours=hours), patient=world.new_patient())
    service_clock.advance(GRACE)
    run_sweep_async()
    rows = Notification.objects.filter(kind=CONFIRMATION)
    wait_until(lambda: rows.filter(status=Status.SENT).count() == 3, 60, "the confirmations")
    assert Counter(smtp_server.message_ids()) == Counter(r.message_id for r in rows)
    assert set(rows.values_list("attempts", flat=True)) == {1}
    # The holder recorded is the worker process, not the pooled backend it happened to use.
    assert LeaseHolder.objects.filter(pid=worker.process.pid).exists()

    # A live worker inside a slow DATA past its lease keeps its row, though the sweep that
    # looks at it runs on the same PostgreSQL backend (before, that backend counted as "the
    # holder asking" and the row was sent again at once).
    smtp_server.clear()
    sweep = SweepElsewhere(pooled_workers)
    appointment = world.book(next_start(days=4), patient=world.new_patient())
    service_clock.advance(GRACE)
    smtp_server.delay = 4
    run_sweep_async()
    wait_until(lambda: smtp_server.started >= 1, 30, "the worker to be inside DATA")
    row = Notification.objects.get(
        kind=CONFIRMATION, subject_id=appointment.pk, status=Status.SENDING
    )
    service_clock.advance(LEASE)  # its lease has run out; its worker is alive and sending
    assert sweep.run() == "0", "the row was taken from a live worker"
    wait_until(lambda: refreshed(row).status == Status.SENT, 30, "the slow send to finish")
    assert smtp_server.message_ids() == [row.message_id]
    assert refreshed(row).attempts == 1


def test_through_a_transaction_pooler_a_killed_workers_row_is_taken_over(
    world, pooled_workers, smtp_server, service_clock
):
    worker = pooled_workers.start()
    world.book(next_start(), patient=world.new_patient())
    service_clock.advance(GRACE)
    smtp_server.delay = 3
    run_sweep_async()
    wait_until(lambda: smtp_server.in_flight > 0, 30, "a send in flight")
    worker.kill()
    row = Notification.objects.get(kind=CONFIRMATION, status=Status.SENDING)
    # Its server connection lives on in the pool; the worker's heartbeat stops with it.
    service_clock.advance(LEASE)
    wait_until(
        lambda: services.sweep() or refreshed(row).status == Status.SENT,
        60,
        "the killed worker's row to be taken over",
    )
    sent = refreshed(row)
    assert (sent.status, sent.attempts) == (Status.SENT, 2)
    # The takeover sent it from this process (its e-mail backend keeps it); the server may
    # have the killed worker's copy too: the one repeat a crash allows, same Message-ID.
    assert [m.extra_headers["Message-ID"] for m in mail.outbox] == [row.message_id]
    assert set(smtp_server.message_ids()) <= {row.message_id}
