"""A row left in ``sending`` is sent again only once its worker is gone (issue 14, item 10):
the lease must have run out and the database session that claimed it must have ended. And
nothing but the one statement that marks a row sent runs after the SMTP server's 250."""

import threading
from datetime import timedelta

import pytest
from django.core import mail
from django.db import connection, connections
from django.utils import timezone

from notifications import clock, registry, services
from notifications.models import Notification
from scheduling.notifications import CONFIRMATION
from tests.notifications.conftest import World

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]
Status = Notification.Status


@pytest.fixture
def confirmation(transactional_db, monkeypatch, settings) -> Notification:
    if connection.vendor != "postgresql":
        pytest.skip("the holder of a lease is a PostgreSQL session")
    monkeypatch.setattr(services, "_enqueue", lambda pk, countdown: None)
    settings.NOTIFICATIONS_LEASE_SECONDS = 60
    world = World()
    appointment = world.book(timezone.now() + timedelta(days=2))
    return services.plan(appointment, CONFIRMATION, timezone.now(), world.patient.email)


class OtherWorker(threading.Thread):
    """Claims on a database session of its own, then holds it open (as a worker still talking
    to the SMTP server does) until ``release`` is set."""

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


def test_an_expired_lease_is_not_taken_over_while_the_session_that_claimed_it_lives(confirmation):
    now = timezone.now()
    worker = OtherWorker(now)
    worker.start()
    worker.ready.wait(10)
    assert worker.claimed.notification.pk == confirmation.pk
    later = now + timedelta(seconds=61)  # the lease has run out
    try:
        assert services.claim(later, confirmation.pk) is None
        assert services.claim(later) is None
        assert services.fail_worn_out(later + timedelta(days=1)) == 0
        assert Notification.objects.get(pk=confirmation.pk).status == Status.SENDING
    finally:
        worker.release.set()
        worker.join(10)

    taken = services.claim(later, confirmation.pk)  # its session has ended: the worker is gone
    assert taken is not None
    assert services.send_claimed(taken, later) == Status.SENT
    row = Notification.objects.get(pk=confirmation.pk)
    assert (row.status, row.attempts, len(mail.outbox)) == (Status.SENT, 2, 1)
    assert mail.outbox[0].extra_headers["Message-ID"] == row.message_id
    assert not services._finish(worker.claimed, status=Status.FAILED), "the old lease is void"


def test_a_claim_records_the_database_session_that_holds_the_lease(confirmation):
    claimed = services.claim(timezone.now())
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pid, backend_start FROM pg_stat_activity WHERE pid = pg_backend_pid()"
        )
        session = cursor.fetchone()
    row = Notification.objects.get(pk=claimed.notification.pk)
    assert (row.lease_holder, row.lease_holder_since) == session
    services.send_claimed(claimed, timezone.now())
    row.refresh_from_db()
    assert (row.status, row.lease_holder, row.lease_holder_since) == (Status.SENT, None, None)


def test_a_live_session_that_reuses_the_holders_process_id_is_not_taken_for_it(confirmation):
    now = timezone.now()
    worker = OtherWorker(now)
    worker.start()
    worker.ready.wait(10)
    try:
        holder = Notification.objects.get(pk=confirmation.pk)
        Notification.objects.filter(pk=confirmation.pk).update(
            lease_holder_since=holder.lease_holder_since - timedelta(hours=1)
        )
        assert services.claim(now + timedelta(seconds=61), confirmation.pk) is not None
    finally:
        worker.release.set()
        worker.join(10)


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
