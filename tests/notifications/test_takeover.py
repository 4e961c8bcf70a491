"""A row left in ``sending`` is sent again only once its worker is gone (issue 14, item 10):
the lease must have run out and the worker thread that claimed it must have stopped beating,
judged on the database's clock (issue 22: not the database session, which a pooler in
transaction mode lends to one worker after another). And nothing but the one statement that
marks a row sent runs after the SMTP server's 250."""

import os
import socket
import threading
import uuid
from datetime import timedelta

import pytest
from django.core import mail
from django.db import connection, connections
from django.db.models.functions import Now
from django.utils import timezone

from notifications import clock, holders, registry, services
from notifications.models import LeaseHolder, Notification
from scheduling.notifications import CONFIRMATION
from tests.notifications.conftest import World
from tests.services import wait_until

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]
Status = Notification.Status
TIMEOUT = 1.5  # NOTIFICATIONS_HOLDER_TIMEOUT_SECONDS here: a heartbeat every quarter second


@pytest.fixture
def confirmation(transactional_db, monkeypatch, settings) -> Notification:
    if connection.vendor != "postgresql":
        pytest.skip("the holder of a lease is recorded on PostgreSQL only")
    monkeypatch.setattr(services, "_enqueue", lambda pk, countdown: None)
    settings.NOTIFICATIONS_LEASE_SECONDS = 60
    settings.NOTIFICATIONS_HOLDER_TIMEOUT_SECONDS = TIMEOUT
    world = World()
    appointment = world.book(timezone.now() + timedelta(days=2))
    return services.plan(appointment, CONFIRMATION, timezone.now(), world.patient.email)


class OtherWorker(threading.Thread):
    """Claims as a thread of its own (its own holder token and database session), then stays
    alive (as a worker still talking to the SMTP server does) until ``release`` is set."""

    def __init__(self, now):
        super().__init__(daemon=True)
        self.now, self.claimed = now, None
        self.ready, self.release = threading.Event(), threading.Event()

    def run(self) -> None:
        try:
            self.claimed = services.claim(self.now)
            self.ready.set()
            self.release.wait(30)
        finally:
            connections.close_all()
            self.ready.set()


def _holder(row: Notification) -> LeaseHolder | None:
    return LeaseHolder.objects.filter(token=row.lease_holder).first()


def test_an_expired_lease_is_not_taken_over_while_its_holder_beats_and_is_once_it_stops(
    confirmation,
):
    now = timezone.now()
    worker = OtherWorker(now)
    worker.start()
    worker.ready.wait(10)
    assert worker.claimed.notification.pk == confirmation.pk
    held = Notification.objects.get(pk=confirmation.pk)
    wait_until(lambda: _holder(held) is not None, 10, "the holder's first heartbeat")
    later = now + timedelta(seconds=61)  # the lease has run out
    try:
        for _ in range(3):  # for twice the timeout: the holder keeps beating
            assert services.claim(later, confirmation.pk) is None
            assert services.claim(later) is None
            assert services.fail_worn_out(later + timedelta(days=1)) == 0
            threading.Event().wait(TIMEOUT)
        assert Notification.objects.get(pk=confirmation.pk).status == Status.SENDING
    finally:
        worker.release.set()
        worker.join(10)

    # The worker is gone: its heartbeat stops, and once it is older than the timeout the row
    # is taken over.
    taken = wait_until(lambda: services.claim(later, confirmation.pk), 10, "the takeover")
    assert services.send_claimed(taken, later) == Status.SENT
    row = Notification.objects.get(pk=confirmation.pk)
    assert (row.status, row.attempts, len(mail.outbox)) == (Status.SENT, 2, 1)
    assert mail.outbox[0].extra_headers["Message-ID"] == row.message_id
    assert not services._finish(worker.claimed, status=Status.FAILED), "the old lease is void"


def test_a_claim_records_its_worker_thread_whose_heartbeat_names_the_process(confirmation):
    claimed = services.claim(timezone.now())
    row = Notification.objects.get(pk=claimed.notification.pk)
    assert row.lease_holder == holders.current() is not None
    holder = wait_until(lambda: _holder(row), 10, "the heartbeat")
    assert (holder.host, holder.pid) == (socket.gethostname(), os.getpid())
    with connection.cursor() as cursor:
        cursor.execute("SELECT now()")
        [database_now] = cursor.fetchone()
    assert abs(holder.heartbeat_at - database_now) < timedelta(seconds=TIMEOUT)
    services.send_claimed(claimed, timezone.now())
    row.refresh_from_db()
    assert (row.status, row.lease_holder) == (Status.SENT, None)


def test_a_host_whose_clock_runs_a_day_ahead_cannot_take_a_live_workers_row(confirmation):
    """The lease is judged on the claiming host's clock, liveness on the database's: a host
    that believes every lease expired still finds the holder's heartbeat fresh. Made old on
    the database's clock, it is gone."""
    worker = OtherWorker(timezone.now())
    worker.start()
    worker.ready.wait(10)
    try:
        held = Notification.objects.get(pk=confirmation.pk)
        wait_until(lambda: _holder(held) is not None, 10, "the holder's first heartbeat")
        a_day_ahead = timezone.now() + timedelta(days=1)
        assert services.claim(a_day_ahead, confirmation.pk) is None
    finally:
        worker.release.set()
        worker.join(10)
    threading.Event().wait(TIMEOUT / 2)  # a beat under way for the thread has landed
    # Its heartbeat a day old on the database's clock: the holder is gone.
    LeaseHolder.objects.filter(token=held.lease_holder).update(
        heartbeat_at=Now() - timedelta(days=1)
    )
    assert services.claim(a_day_ahead, confirmation.pk) is not None


def _paused(monkeypatch, seconds: float) -> None:
    """As if this process had been stopped (SIGSTOP) for ``seconds`` after its claim: its
    heartbeat wrote nothing meanwhile."""
    real, sender = holders.elapsed, threading.current_thread()

    def elapsed() -> float:  # the heartbeat thread keeps its own (real) time
        return real() + (seconds if threading.current_thread() is sender else 0)

    monkeypatch.setattr(holders, "elapsed", elapsed)


def test_a_worker_resuming_after_a_pause_renews_its_lease_before_it_sends(
    confirmation, monkeypatch, settings
):
    settings.NOTIFICATIONS_LEASE_SECONDS = 60
    claimed_at = timezone.now()
    claimed = services.claim(claimed_at)
    pk = claimed.notification.pk
    settings.NOTIFICATIONS_LEASE_SECONDS = 600  # so that the renewed lease shows
    leases = []
    real_send = services.mailer.send

    def send(message) -> None:
        leases.append(Notification.objects.get(pk=pk).lease_expires_at)
        real_send(message)

    monkeypatch.setattr(services.mailer, "send", send)
    _paused(monkeypatch, 10 * TIMEOUT)
    assert not holders.confirmed(claimed.since)
    assert services.send_claimed(claimed, claimed_at) == Status.SENT
    assert len(mail.outbox) == 1
    [lease] = leases
    assert lease - claimed.notification.lease_expires_at > timedelta(seconds=500), "renewed"


def test_a_worker_resuming_after_a_pause_sends_nothing_if_its_row_was_taken_over(
    confirmation, monkeypatch
):
    now = timezone.now()
    claimed = services.claim(now)
    # While it was paused, its heartbeat went stale and another worker took the row over.
    Notification.objects.filter(pk=claimed.notification.pk).update(lease_holder=uuid.uuid4())
    other = OtherWorker(now + timedelta(seconds=61))
    other.start()
    other.ready.wait(10)
    try:
        assert other.claimed is not None
        assert other.claimed.notification.pk == confirmation.pk
        _paused(monkeypatch, 10 * TIMEOUT)
        assert services.send_claimed(claimed, now) == Status.SENDING
        assert mail.outbox == [], "the paused worker sent an e-mail another worker now holds"
        row = Notification.objects.get(pk=confirmation.pk)
        assert (row.status, row.lease_token) == (Status.SENDING, other.claimed.token)
    finally:
        other.release.set()
        other.join(10)


def test_a_forked_worker_process_holds_leases_under_a_token_of_its_own(confirmation):
    parent = holders.current()
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: a Celery pool process, say
        os.write(write, holders.current().bytes)
        os._exit(0)
    os.close(write)
    child = uuid.UUID(bytes=os.read(read, 16))
    os.waitpid(pid, 0)
    os.close(read)
    assert child != parent
    assert holders.current() == parent


def test_nothing_but_marking_the_row_sent_runs_between_the_servers_250_and_the_commit(
    confirmation, monkeypatch
):
    """Before, the row's outcome was built after the send (the ledger clock read, the UPDATE
    compiled): a crash there sent the e-mail twice. Now the statement is ready beforehand."""
    now = timezone.now()
    claimed = services.claim(now)
    accepted = threading.Event()
    real_send = services.mailer.send

    def send(message) -> None:
        real_send(message)
        accepted.set()  # the server's 250 has arrived

    def not_after_the_250(original):
        def guarded(*args, **kwargs):
            assert not accepted.is_set(), f"{original.__name__} ran after the 250"
            return original(*args, **kwargs)

        return guarded

    monkeypatch.setattr(services.mailer, "send", send)
    for module, name in [
        (clock, "now"),
        (clock, "offset"),
        (registry, "get"),
        (services, "_outcome_update"),
        (services, "_sent_update"),
        (services, "build_message"),
    ]:
        monkeypatch.setattr(module, name, not_after_the_250(getattr(module, name)))
    after: list[str] = []

    def watch(execute, sql, params, many, context):
        if accepted.is_set():
            after.append(sql)
        return execute(sql, params, many, context)

    with connection.execute_wrapper(watch):
        assert services.send_claimed(claimed, now) == Status.SENT
    assert [sql.split()[0] for sql in after] == ["UPDATE"]
    row = Notification.objects.get(pk=claimed.notification.pk)
    assert row.status == Status.SENT
    assert abs(row.sent_at - timezone.now()) < timedelta(seconds=5)


def test_without_a_pause_a_send_needs_no_renewal(confirmation, monkeypatch):
    """The heartbeat thread confirms the worker alive, so a send costs no extra statement."""
    claimed = services.claim(timezone.now())
    monkeypatch.setattr(services, "_renew", lambda claimed: pytest.fail("renewed"))
    assert holders.confirmed(claimed.since)
    assert services.send_claimed(claimed, timezone.now()) == Status.SENT
