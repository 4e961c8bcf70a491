"""The bench's SMTP sink counts every message's Message-ID exactly once, over one session,
whatever the body holds (dot-stuffed lines, a body larger than one read, no Message-ID)."""

import smtplib

from bench.reminders import SMTPSink


def _message(message_id: str | None, body: str) -> bytes:
    head = f"Message-ID: {message_id}\r\n" if message_id else ""
    return f"{head}Subject: hello\r\n\r\n{body}".encode()


def test_the_sink_counts_each_message_id_of_one_session_once():
    with SMTPSink() as sink, smtplib.SMTP("127.0.0.1", sink.port, timeout=10) as client:
        client.sendmail("a@example.com", ["b@example.com"], _message("<1@x>", "hi\r\n"))
        # smtplib doubles a line's leading dot; the message ends only at CRLF . CRLF.
        dotted = ".\r\n..\r\n.Message-ID: <fake@x>\r\nend\r\n"
        client.sendmail("a@example.com", ["b@example.com"], _message("<2@x>", dotted))
        big = ("x" * 70 + "\r\n") * 20_000
        client.sendmail("a@example.com", ["b@example.com"], _message("<3@x>", big))
        client.sendmail("a@example.com", ["b@example.com"], _message(None, "none"))
        client.sendmail("a@example.com", ["b@example.com"], _message("<1@x>", "again"))
        assert client.noop()[0] == 250
    assert sink.received == 5
    assert dict(sink.ids) == {"<1@x>": 2, "<2@x>": 1, "<3@x>": 1, "(none)": 1}
