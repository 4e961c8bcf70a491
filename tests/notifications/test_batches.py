"""A backlog sent in batches (``notifications.batches``), in one process against a real SMTP
server: one claim for the batch, one read per kind, one SMTP session, and each row recorded
right after its own 250, so the batch keeps the one-row guarantee of docs/NOTIFICATIONS.md.
Everything here but the race also runs on SQLite (the development database)."""

import threading
from collections import Counter
from datetime import timedelta

import pytest
from aiosmtpd.controller import Controller
from django.core import mail
from django.db import connection, connections
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from notifications import batches, clock, conf, mailer, registry, services
from notifications.models import Notification
from notifications.registry import Email
from patients.services import withdraw_consent
from scheduling.notifications import REMINDER
from tests.factories.patients import grant_consents
from tests.notifications.conftest import World
from tests.services import free_port

pytestmark = pytest.mark.django_db
Status = Notification.Status
KIND = "tests.batch"


@pytest.fixture
def queued(monkeypatch) -> list[tuple[int, float]]:
    """Task messages the ledger would queue (retries), recorded instead of sent to a broker."""
    calls: list[tuple[int, float]] = []
    monkeypatch.setattr(services, "_enqueue", lambda pk, countdown: calls.append((pk, countdown)))
    return calls


class Prepared:
    """A kind whose batch read (``prepare``) brings what its consent check and renderer use:
    here the row's own ``context`` read afresh, ``{"consent": false}`` meaning withdrawn."""

    def __init__(self):
        self.reads = 0

    def prepare(self, rows: list[Notification]) -> None:
        self.reads += 1
        fresh = dict(
            Notification.objects.filter(pk__in=[r.pk for r in rows]).values_list("pk", "context")
        )
        for row in rows:
            row._fresh = fresh[row.pk]

    @staticmethod
    def consent(row: Notification) -> bool:
        return row._fresh.get("consent", True)

    @staticmethod
    def render(row: Notification, now) -> Email:
        if not hasattr(row, "_fresh"):
            raise AssertionError("rendered without the batch's read")
        return Email(subject=f"Note {row.subject_id}", text="Hello.", to=row.recipient)


@pytest.fixture
def kind(monkeypatch) -> Prepared:
    prepared = Prepared()
    monkeypatch.setitem(
        registry._KINDS,
        KIND,
        registry.Kind(
            key=KIND,
            render=prepared.render,
            consent=prepared.consent,
            prepare=prepared.prepare,
        ),
    )
    return prepared


def due_rows(count: int, start: int = 0) -> list[Notification]:
    now = clock.now()
    return [
        Notification.objects.create(
            subject_type="tests.thing",
            subject_id=n,
            kind=KIND,
            planned_for=now + timedelta(seconds=n),
            next_attempt_at=now - timedelta(minutes=1) + timedelta(milliseconds=n),
            recipient=f"patient{n}@example.org",
            message_id=services.new_message_id(),
        )
        for n in range(start, start + count)
    ]


def statuses(rows: list[Notification]) -> list[str]:
    found = Notification.objects.filter(pk__in=[r.pk for r in rows])
    by_pk = dict(found.values_list("pk", "status"))
    return [by_pk[row.pk] for row in rows]


class _Refuser:
    def __init__(self, server: "RefusingServer"):
        self.server = server

    async def handle_EHLO(self, server, session, envelope, hostname, responses):
        session.host_name = hostname
        self.server.greetings += 1
        return responses

    async def handle_DATA(self, server, session, envelope):
        if set(envelope.rcpt_tos) & self.server.refused:
            return "554 5.7.1 Message rejected for the test"
        self.server.accepted.extend(envelope.rcpt_tos)
        return "250 Message accepted for delivery"


class RefusingServer:
    """Accepts every message but those to ``refused``; counts sessions (EHLO greetings)."""

    def __init__(self):
        self.port = free_port()
        self.refused: set[str] = set()
        self.accepted: list[str] = []
        self.greetings = 0
        self.controller = Controller(_Refuser(self), hostname="127.0.0.1", port=self.port)


@pytest.fixture
def smtp(settings):
    server = RefusingServer()
    server.controller.start()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", server.port
    settings.EMAIL_USE_TLS, settings.EMAIL_TIMEOUT = False, 5
    yield server
    mailer.close()
    server.controller.stop()


def test_a_batch_is_one_claim_one_smtp_session_and_each_row_is_marked_sent_right_after_its_250(
    kind, smtp, queued, monkeypatch
):
    rows = due_rows(5)
    seen_before_each_send: list[list[str]] = []
    real_send = mailer.send

    def send(message) -> None:
        seen_before_each_send.append(statuses(rows))
        real_send(message)

    monkeypatch.setattr(mailer, "send", send)
    with CaptureQueriesContext(connection) as queries:
        claims = services.claim_batch(clock.now(), 10)
    assert [q["sql"].split()[0] for q in queries] == ["UPDATE"], "one statement claims them"
    assert [c.notification.pk for c in claims] == [r.pk for r in rows], "in the order they fell due"
    assert len({c.token for c in claims}) == 1

    assert batches.send_batch(claims) == [Status.SENT] * 5
    # Before the k-th send the k rows before it are already recorded sent, the rest still held.
    assert seen_before_each_send == [
        [Status.SENT] * k + [Status.SENDING] * (5 - k) for k in range(5)
    ]
    assert smtp.accepted == [r.recipient for r in rows]
    assert smtp.greetings == 1, "one SMTP session for the batch"
    assert kind.reads == 1


def test_a_batchs_reads_do_not_grow_with_its_size_only_each_rows_own_sent_statement_does(kind):
    def run(count: int, start: int) -> list[str]:
        due_rows(count, start)
        with CaptureQueriesContext(connection) as queries:
            assert (
                batches.send_batch(services.claim_batch(clock.now(), count))
                == [Status.SENT] * count
            )
        return [q["sql"].split()[0] for q in queries]

    assert run(3, 0) == ["UPDATE", "SELECT", *["UPDATE"] * 3]
    assert run(12, 100) == ["UPDATE", "SELECT", *["UPDATE"] * 12]
    assert len(mail.outbox) == 15


def test_a_reminder_whose_consent_was_withdrawn_after_the_claim_is_skipped_and_the_rest_sent(
    db, queued, django_capture_on_commit_callbacks, monkeypatch
):
    """Consent is judged per row at its send, not when the batch was claimed."""
    world = World()
    base = (timezone.now() + timedelta(days=3)).replace(minute=0, second=0, microsecond=0)
    with django_capture_on_commit_callbacks(execute=True):
        appointments = [
            world.book(base + timedelta(hours=i), patient=world.new_patient()) for i in range(3)
        ]
    for appointment in appointments:
        grant_consents(appointment.patient, "reminders")
    at = base + timedelta(hours=2) - timedelta(hours=24)  # the three day-before reminders due
    monkeypatch.setattr(clock, "now", lambda: at)
    claims = [
        c for c in services.claim_batch(at, 20) if c.notification.kind == REMINDER
    ]  # the confirmations, due too, come along
    assert len(claims) == 3
    withdrawn = appointments[1].patient
    assert withdraw_consent(withdrawn, "reminders", source="unsubscribe_link")

    assert batches.send_batch(claims) == [Status.SENT, Status.SKIPPED, Status.SENT]
    row = Notification.objects.get(pk=claims[1].notification.pk)
    assert (row.status, row.reason) == (Status.SKIPPED, "no_consent")
    assert sorted(m.to[0] for m in mail.outbox) == sorted(
        a.patient.email for a in appointments if a.patient != withdrawn
    )


def test_consent_withdrawn_during_a_batch_is_seen_once_the_batch_read_is_older_than_allowed(
    kind, settings, monkeypatch
):
    settings.NOTIFICATIONS_BATCH_READ_SECONDS = 0.0  # every row reads afresh
    rows = due_rows(3)
    real_send = mailer.send

    def send(message) -> None:
        real_send(message)
        if len(mail.outbox) == 1:  # the patient of the third row unsubscribes meanwhile
            Notification.objects.filter(pk=rows[2].pk).update(context={"consent": False})

    monkeypatch.setattr(mailer, "send", send)
    claims = services.claim_batch(clock.now(), 3)
    assert batches.send_batch(claims) == [Status.SENT, Status.SENT, Status.SKIPPED]
    assert kind.reads == 3


def test_an_smtp_refusal_mid_batch_backs_that_row_off_and_the_rest_of_the_batch_is_sent(
    kind, smtp, queued
):
    rows = due_rows(5)
    smtp.refused = {rows[2].recipient}
    now = clock.now()
    claims = services.claim_batch(now, 5)

    assert (
        batches.send_batch(claims) == [Status.SENT, Status.SENT, Status.PENDING] + [Status.SENT] * 2
    )
    refused = Notification.objects.get(pk=rows[2].pk)
    assert refused.attempts == 1
    assert "SMTPDataError" in refused.last_error
    assert refused.lease_token is None
    backoff = services.backoff(1)
    assert abs(refused.next_attempt_at - (now + backoff)) < timedelta(seconds=5)
    assert queued == [(refused.pk, pytest.approx(backoff.total_seconds(), abs=5))]
    assert smtp.accepted == [r.recipient for r in rows if r != rows[2]]
    assert statuses(rows) == [Status.SENT, Status.SENT, Status.PENDING, Status.SENT, Status.SENT]


def test_rows_a_batch_has_not_started_when_half_its_lease_is_gone_are_handed_back_due(
    kind, monkeypatch
):
    """A slow server must not keep a batch sending past its lease: the rest go back to
    ``pending``, still due and with their attempt undone, for the next claim."""
    rows = due_rows(4)
    start = clock.now()
    claims = services.claim_batch(start, 4)
    real_send = mailer.send
    half_lease = timedelta(seconds=conf.lease_seconds() / 2)

    def slow_send(message) -> None:
        real_send(message)
        monkeypatch.setattr(clock, "now", lambda: start + half_lease)

    monkeypatch.setattr(mailer, "send", slow_send)
    assert batches.send_batch(claims) == [Status.SENT]
    left = Notification.objects.filter(pk__in=[r.pk for r in rows[1:]])
    assert {(r.status, r.attempts, r.lease_token) for r in left} == {(Status.PENDING, 0, None)}
    monkeypatch.setattr(clock, "now", lambda: start + half_lease)
    assert services.sweep() == 3
    assert statuses(rows) == [Status.SENT] * 4


def test_an_error_mid_batch_hands_back_only_the_rows_not_yet_started(kind, monkeypatch):
    """The row being sent when the error struck may be at the server already: it stays with the
    lease (taken over only once the lease ran out), never handed straight back."""
    rows = due_rows(4)
    claims = services.claim_batch(clock.now(), 4)
    real_send = mailer.send

    def send(message) -> None:
        if len(mail.outbox) == 1:
            raise RuntimeError("the worker's code broke after the message went out")
        real_send(message)

    monkeypatch.setattr(mailer, "send", send)
    with pytest.raises(RuntimeError):
        batches.send_batch(claims)
    assert statuses(rows) == [Status.SENT, Status.SENDING, Status.PENDING, Status.PENDING]


def test_the_sweep_sends_a_backlog_batch_by_batch_and_reports_the_backlog_once(kind, settings):
    settings.NOTIFICATIONS_BATCH_SIZE = 3
    rows = due_rows(7)
    backlog: list[int] = []
    assert services.sweep(on_backlog=lambda: backlog.append(1)) == 7
    assert backlog == [1]
    assert kind.reads == 3, "one read per batch: 3 + 3 + 1 rows"
    assert statuses(rows) == [Status.SENT] * 7


def test_without_returning_a_batch_is_one_row_claimed_through_the_orm_and_all_are_sent(
    kind, monkeypatch
):
    """SQLite before 3.35 has no RETURNING: each batch is one row through the locking ORM path."""
    rows = due_rows(3)
    monkeypatch.setattr(connection.features, "can_return_columns_from_insert", False)

    def no_returning(*args, **kwargs):
        raise AssertionError("UPDATE ... RETURNING used where the database has no RETURNING")

    monkeypatch.setattr(services, "_take", no_returning)
    claims = services.claim_batch(clock.now(), 3)
    assert [c.notification.pk for c in claims] == [rows[0].pk]
    assert batches.send_batch(claims) == [Status.SENT]
    assert services.sweep() == 2
    assert statuses(rows) == [Status.SENT] * 3
    assert Counter(m.to[0] for m in mail.outbox) == Counter(r.recipient for r in rows)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_workers_claiming_batches_at_once_take_disjoint_rows(kind):
    rows = due_rows(8)
    barrier = threading.Barrier(2)
    taken: list[list[int]] = []

    def worker() -> None:
        try:
            barrier.wait(5)
            claims = services.claim_batch(clock.now(), 5)
            taken.append([c.notification.pk for c in claims])
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    together = [pk for batch in taken for pk in batch]
    assert len(together) == len(set(together)) == 8, taken
    assert sorted(len(batch) for batch in taken) == [3, 5]
    assert set(together) == {r.pk for r in rows}


def test_a_batch_of_reminders_reads_its_appointments_and_consents_once_whatever_its_size(
    db, queued, django_capture_on_commit_callbacks, monkeypatch
):
    world = World()
    base = (timezone.now() + timedelta(days=3)).replace(minute=0, second=0, microsecond=0)

    def statements_for(count: int, day: int) -> list[str]:
        start = base + timedelta(days=day)
        with django_capture_on_commit_callbacks(execute=True):
            appointments = [
                world.book(start + timedelta(hours=i), patient=world.new_patient())
                for i in range(count)
            ]
        at = start + timedelta(hours=count) - timedelta(hours=24)
        monkeypatch.setattr(clock, "now", lambda: at)
        ours = {a.pk for a in appointments}
        claims = [
            c
            for c in services.claim_batch(at, 50)
            if c.notification.kind == REMINDER and c.notification.subject_id in ours
        ]
        with CaptureQueriesContext(connection) as queries:
            statuses = batches.send_batch(claims)
        assert statuses == [Status.SENT] * count
        assert {m.to[0] for m in mail.outbox} >= {a.patient.email for a in appointments}
        return [q["sql"] for q in queries]

    for count, day in [(2, 0), (6, 10)]:
        sql = statements_for(count, day)
        assert len([s for s in sql if 'FROM "scheduling_appointment"' in s]) == 1
        assert [s.split()[0] for s in sql] == ["SELECT", *["UPDATE"] * count]


def test_a_retry_backed_off_beyond_the_task_window_is_left_to_the_sweep(kind, smtp, queued):
    """A back-off longer than NOTIFICATIONS_TASK_WINDOW_SECONDS gets no ETA message of its
    own (a worker would hold it the whole back-off, one per failing row during an SMTP
    outage); the sweep claims it once due, exactly once."""
    [row] = due_rows(1)
    Notification.objects.filter(pk=row.pk).update(attempts=1)  # its second attempt: 120 s
    smtp.refused = {row.recipient}
    now = clock.now()
    assert batches.send_batch(services.claim_batch(now, 1)) == [Status.PENDING]
    row.refresh_from_db()
    assert row.attempts == 2
    assert services.backoff(2).total_seconds() > conf.task_window_seconds()
    assert queued == []
    assert services.claim_batch(now + services.backoff(2) - timedelta(seconds=5), 1) == []
    smtp.refused = set()
    later = now + services.backoff(2) + timedelta(seconds=1)
    assert [c.notification.pk for c in services.claim_batch(later, 5)] == [row.pk]
