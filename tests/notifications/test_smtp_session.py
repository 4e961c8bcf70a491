"""One SMTP session per worker process, kept across sends, against a real aiosmtpd server that
counts sessions and can drop them the way servers drop idle connections. In one process: the
rows are sent with ``services.deliver``, as the Celery task does."""

import asyncio
import email
import email.policy
import threading
from collections import Counter
from datetime import timedelta
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from celery import signals

from notifications import clock, mailer, registry, services
from notifications.models import Notification
from notifications.registry import Email
from tests.services import free_port

pytestmark = pytest.mark.django_db
Status = Notification.Status
KIND = "tests.smtp_session"


class _Handler:
    def __init__(self, server: "SessionServer"):
        self.server = server

    async def handle_EHLO(self, server, session, envelope, hostname, responses):
        session.host_name = hostname
        with self.server.lock:
            self.server.greetings += 1
            self.server.sessions.append(server)
        return responses

    async def handle_MAIL(self, server, session, envelope, address, mail_options):
        if self.server.take_mode("421_at_mail"):
            # Like a server closing a connection it will not serve any longer (idle, or shutting
            # down): it answers the next command with 421 and closes.
            asyncio.get_running_loop().call_soon(server.transport.close)
            return "421 4.4.2 Closing the connection for the test"
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        with self.server.lock:
            self.server.message_ids.append(message["Message-ID"])
            self.server.peers.append(session.peer)
        if self.server.take_mode("drop_in_data"):
            # The message is in, but the client never hears so.
            server.transport.close()
        if self.server.mode == "reject":
            return "554 5.7.1 Message rejected for the test"
        return "250 Message accepted for delivery"

    async def handle_QUIT(self, server, session, envelope):
        with self.server.lock:
            self.server.quits += 1
        return "221 Bye"


class SessionServer:
    """Counts SMTP sessions (EHLO greetings), the messages received and the QUITs."""

    def __init__(self):
        self.port = free_port()
        self.lock = threading.Lock()
        self.mode = "accept"
        self.greetings = 0
        self.quits = 0
        self.sessions: list = []
        self.message_ids: list[str] = []
        self.peers: list[tuple] = []
        self.controller = Controller(_Handler(self), hostname="127.0.0.1", port=self.port)

    def take_mode(self, mode: str) -> bool:
        """Whether ``mode`` is set; a one-shot mode goes back to accepting once taken."""
        with self.lock:
            if self.mode != mode:
                return False
            self.mode = "accept"
            return True

    def drop(self) -> None:
        """Close every open session from the server's side, without a word, as after idling."""

        async def close_all() -> None:
            for session in self.sessions:
                session.transport.close()
            await asyncio.sleep(0.05)

        asyncio.run_coroutine_threadsafe(close_all(), self.controller.loop).result(5)


@pytest.fixture
def server(settings, monkeypatch):
    smtp = SessionServer()
    smtp.controller.start()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", smtp.port
    settings.EMAIL_USE_TLS, settings.EMAIL_TIMEOUT = False, 5
    monkeypatch.setattr(services, "_enqueue", lambda pk, countdown: None)
    yield smtp
    mailer.close()
    smtp.controller.stop()


@pytest.fixture(autouse=True)
def kind(monkeypatch):
    def render(row: Notification, now) -> Email:
        return Email(subject=f"Note {row.subject_id}", text="Hello.")

    monkeypatch.setitem(registry._KINDS, KIND, registry.Kind(key=KIND, render=render))


def due_rows(count: int) -> list[Notification]:
    now = clock.now()
    return [
        Notification.objects.create(
            subject_type="tests.thing",
            subject_id=n,
            kind=KIND,
            planned_for=now,
            next_attempt_at=now - timedelta(minutes=1),
            recipient=f"patient{n}@example.org",
            message_id=services.new_message_id(),
        )
        for n in range(count)
    ]


def sent_once_each(server: SessionServer, rows: list[Notification]) -> bool:
    return Counter(server.message_ids) == Counter(row.message_id for row in rows)


def test_e_mails_sent_in_a_row_by_one_process_share_one_smtp_session(server):
    rows = due_rows(5)
    for row in rows:
        assert services.deliver(row.pk) == Status.SENT
    assert sent_once_each(server, rows)
    assert server.greetings == 1
    assert len(set(server.peers)) == 1, "one TCP connection"
    assert server.quits == 0, "the session stays open between sends"


@pytest.mark.parametrize("how", ["closed_silently", "421_at_mail"])
def test_after_the_server_drops_the_session_the_next_e_mail_goes_out_once_in_the_same_attempt(
    server, how
):
    first, second, third = due_rows(3)
    assert services.deliver(first.pk) == Status.SENT
    if how == "closed_silently":
        server.drop()
    else:
        server.mode = how
    assert services.deliver(second.pk) == Status.SENT
    assert services.deliver(third.pk) == Status.SENT

    second.refresh_from_db()
    assert (second.attempts, second.last_error) == (1, "")
    assert sent_once_each(server, [first, second, third])
    assert server.greetings == 2, "reconnected once, then kept the new session"


def test_a_session_idle_past_the_limit_is_hung_up_and_a_new_one_opened_before_sending(
    server, monkeypatch, caplog
):
    """Hung up without QUIT, which a server that silently vanished would never answer."""
    first, second = due_rows(2)
    assert services.deliver(first.pk) == Status.SENT
    monkeypatch.setattr(mailer, "MAX_IDLE_SECONDS", 0.0)
    with caplog.at_level("INFO", logger="notifications.mailer"):
        assert services.deliver(second.pk) == Status.SENT
    assert "had closed the session" not in caplog.text, "not tried on the old session first"
    assert sent_once_each(server, [first, second])
    assert (server.greetings, server.quits) == (2, 0)


def test_a_session_lost_inside_data_is_left_to_the_ledger_back_off_not_sent_again_at_once(server):
    """The server may hold the message already: re-sending at once could duplicate it."""
    first, second = due_rows(2)
    assert services.deliver(first.pk) == Status.SENT
    server.mode = "drop_in_data"
    assert services.deliver(second.pk) == Status.PENDING

    second.refresh_from_db()
    assert second.attempts == 1
    assert "SMTPServerDisconnected" in second.last_error
    assert server.message_ids == [first.message_id, second.message_id], "no second DATA"


def test_any_send_error_closes_the_session_and_the_next_send_opens_a_new_one(server):
    first, second, third = due_rows(3)
    assert services.deliver(first.pk) == Status.SENT
    server.mode = "reject"
    assert services.deliver(second.pk) == Status.PENDING
    assert server.quits == 1
    server.mode = "accept"
    assert services.deliver(third.pk) == Status.SENT
    assert server.greetings == 2


def test_worker_shutdown_closes_the_session_with_quit(server):
    [row] = due_rows(1)
    assert services.deliver(row.pk) == Status.SENT
    signals.worker_process_shutdown.send(sender=None, pid=0, exitcode=0)
    assert server.quits == 1


def test_the_file_backend_still_writes_every_e_mail_once(settings, tmp_path: Path):
    """Development's file backend gets no kept session. Django names its files by the second and
    the backend object's id, so two e-mails may share a file; each is written exactly once."""
    settings.EMAIL_BACKEND = "django.core.mail.backends.filebased.EmailBackend"
    settings.EMAIL_FILE_PATH = tmp_path
    rows = due_rows(2)
    for row in rows:
        assert services.deliver(row.pk) == Status.SENT
    written = [
        line.split(": ", 1)[1]
        for path in tmp_path.iterdir()
        for line in path.read_text().splitlines()
        if line.startswith("Message-ID: ")
    ]
    assert sorted(written) == sorted(row.message_id for row in rows)
