"""One SMTP session per worker process (per thread, where a pool uses threads), kept across sends.

Opening a connection (TCP, greeting, EHLO, and STARTTLS and AUTH where configured) was a fifth of a
send in the bench profile. The session is opened lazily by the first send, reused by later ones,
and closed and forgotten on any error, so the next send starts afresh; the ledger's retries and
back-off see the same failures as before.

Over a kept session the message goes to ``smtplib`` as Django's backend would send it: the
ledger's e-mails written to bytes directly (``message_bytes``), anything else flattened by a
generator that skips two generic costs of ``email.generator`` (a regular expression compiled
for every multipart boundary, and the ``Header`` machinery for header lines that need no folding);
the bytes are the same (tests/notifications/test_mime_flattening.py). The sender's address is
checked and formatted once per process rather than once per e-mail, and a plain recipient's
address is passed as it is (what Django's check would make of it).

Only the SMTP backend is kept open. Console, file and locmem (development and tests) have no
session worth keeping, and the file backend starts a new file per session, so they get a fresh
backend per e-mail from ``get_connection()`` as before.
"""

import functools
import io
import logging
import os
import random
import re
import smtplib
import sys
import threading
import time
import traceback
from email.generator import BytesGenerator
from email.message import Message
from email.mime.base import MIMEBase
from email.policy import Compat32
from email.utils import formatdate

from django.conf import settings
from django.core.mail import EmailMessage, get_connection
from django.core.mail.backends.base import BaseEmailBackend
from django.core.mail.backends.smtp import EmailBackend as SMTPBackend
from django.core.mail.message import RFC5322_EMAIL_LINE_LENGTH_LIMIT, sanitize_address

logger = logging.getLogger(__name__)

# A change to any of these (tests and the bench switch backends and ports) starts a new session.
SESSION_SETTINGS = (
    "EMAIL_BACKEND",
    "EMAIL_HOST",
    "EMAIL_PORT",
    "EMAIL_HOST_USER",
    "EMAIL_HOST_PASSWORD",
    "EMAIL_USE_TLS",
    "EMAIL_USE_SSL",
    "EMAIL_TIMEOUT",
    "EMAIL_SSL_CERTFILE",
    "EMAIL_SSL_KEYFILE",
)


# A session idle longer than this is hung up before use rather than tried: servers drop idle
# connections after a few minutes, and where a firewall drops one silently, MAIL FROM (or QUIT)
# would wait EMAIL_TIMEOUT for an answer that never comes.
MAX_IDLE_SECONDS = 60.0


class _Local(threading.local):
    backend: SMTPBackend | None = None
    key: tuple = ()
    used_at: float = 0.0


_local = _Local()


def _settings_key() -> tuple:
    return tuple(getattr(settings, name, None) for name in SESSION_SETTINGS)


def _backend() -> tuple[BaseEmailBackend, bool]:
    """This thread's SMTP session, opened if need be, and whether it was open already; any other
    backend fresh (never open already)."""
    key = _settings_key()
    now = time.monotonic()
    if _local.backend is not None and now - _local.used_at > MAX_IDLE_SECONDS:
        _hang_up()
    if _local.backend is not None and _local.key != key:
        close()
    _local.used_at = now
    if _local.backend is None:
        backend = get_connection(fail_silently=False)
        if not isinstance(backend, SMTPBackend):
            return backend, False
        _local.backend, _local.key = backend, key
    # Opened here rather than by ``send_messages``, which closes a connection it opened itself.
    opened = _local.backend.open()
    return _local.backend, not opened


class _Policy(Compat32):
    """Django's messages' policy (``compat32``); a header line that fits, in printable ASCII, is
    written as it is, which is what ``Header.encode`` makes of it."""

    def _fold(self, name: str, value, sanitize: bool) -> str:
        if (
            isinstance(value, str)
            and value.isascii()
            and value.isprintable()
            and len(name) + len(value) + 2 <= (self.max_line_length or sys.maxsize)
        ):
            return f"{name}: {value}{self.linesep}"
        return super()._fold(name, value, sanitize)


_POLICY = _Policy()
_BOUNDARY_DIGITS = len(repr(sys.maxsize - 1))


class _Generator(BytesGenerator):
    """``BytesGenerator`` whose boundaries are checked against the parts' text with a substring
    test, stricter than the stdlib's per-boundary regular expression (``^--boundary(--)?$``), so
    a boundary it keeps is one the stdlib would have kept."""

    @classmethod
    def _make_boundary(cls, text: bytes | None = None) -> str:
        while True:
            boundary = "=" * 15 + f"{random.randrange(sys.maxsize):0{_BOUNDARY_DIGITS}d}" + "=="
            if text is None or b"--" + boundary.encode("ascii") not in text:
                return boundary


def as_bytes(message: Message) -> bytes:
    """``message.as_bytes(linesep="\\r\\n")`` as Django's SMTP backend flattens it."""
    out = io.BytesIO()
    _Generator(out, mangle_from_=False, policy=_POLICY).flatten(message, linesep="\r\n")
    return out.getvalue()


_NEWLINES = re.compile(r"\r\n|\r|\n")
_FOLDS = re.compile(r"[ ;,]")  # where ``email.header.Header`` may fold a line of ASCII
# Headers Django sets itself: an extra header of one of these names takes the generic path.
_OWN_HEADERS = frozenset(
    {"subject", "from", "to", "cc", "reply-to", "content-type", "mime-version"}
    | {"content-transfer-encoding"}
)


def _header(name: str, value: str, *, fold: bool = True) -> bytes | None:
    """``name: value`` as the generator writes a header in printable ASCII that fits on its
    line, or (``fold``) one too long that has nowhere to be folded (no space, ``;`` or ``,``,
    like a signed link): compat32 moves that whole to a continuation line. ``None`` for any
    other."""
    if not (value.isascii() and value.isprintable()):
        return None
    if len(name) + len(value) + 2 <= 78:
        return f"{name}: {value}\r\n".encode("ascii")
    if fold and not _FOLDS.search(value):
        return f"{name}: \r\n {value}\r\n".encode("ascii")
    return None


def _text_part(text: str, subtype: str) -> bytes | None:
    """A ``SafeMIMEText(text, subtype, "utf-8")`` flattened; ``None`` where Django would encode
    it quoted-printable (a line over 998 bytes) or cannot encode it."""
    try:
        body = text.encode("utf-8")
    except UnicodeEncodeError:
        return None
    if any(len(line) > RFC5322_EMAIL_LINE_LENGTH_LIMIT for line in body.splitlines()):
        return None
    content_type = _header("Content-Type", f'text/{subtype}; charset="utf-8"')
    if content_type is None:
        return None
    cte = "7bit" if text.isascii() else "8bit"
    head = f"MIME-Version: 1.0\r\nContent-Transfer-Encoding: {cte}\r\n\r\n".encode("ascii")
    return content_type + head + _NEWLINES.sub("\r\n", text).encode("utf-8")


def _multipart(subtype: str, parts: list[bytes]) -> bytes:
    """A multipart of flattened ``parts``, its boundary drawn as the generator draws it."""
    boundary = _Generator._make_boundary(b"\r\n".join(parts))
    separator = f"\r\n--{boundary}\r\n".encode("ascii")
    content_type = f'multipart/{subtype}; boundary="{boundary}"'
    header = _header("Content-Type", content_type)
    if header is None:  # multipart/alternative: folded at the parameter, as compat32 folds it
        header = f'Content-Type: multipart/{subtype};\r\n boundary="{boundary}"\r\n'.encode()
    return (
        header
        + b"MIME-Version: 1.0\r\n\r\n"
        + separator[2:]
        + separator.join(parts)
        + f"\r\n--{boundary}--\r\n".encode("ascii")
    )


def _direct_bytes(message: EmailMessage) -> bytes | None:
    """What ``as_bytes(message.message())`` gives, written directly for the messages the ledger
    sends: a UTF-8 text body, text alternatives, attachments that are MIME parts already, and
    header lines in printable ASCII that fit on one line. ``None`` for anything else."""
    encoding = message.encoding or settings.DEFAULT_CHARSET
    names = {name.lower() for name in message.extra_headers}
    if (
        encoding != "utf-8"
        or not message.body
        or message.content_subtype != "plain"
        or message.cc
        or message.reply_to
        or names & _OWN_HEADERS
        or getattr(message, "mixed_subtype", "mixed") != "mixed"
        or getattr(message, "alternative_subtype", "alternative") != "alternative"
    ):
        return None
    headers = [("Subject", message.subject), ("From", message.from_email)]
    if message.to:
        headers.append(("To", ", ".join(str(address) for address in message.to)))
    if "date" not in names:
        headers.append(("Date", formatdate(localtime=settings.EMAIL_USE_LOCALTIME)))
    if "message-id" not in names:
        return None
    headers += message.extra_headers.items()
    lines = []
    for name, value in headers:
        subject = name == "Subject"
        line = _header(name, value, fold=not subject) if isinstance(value, str) else None
        # Django folds a subject through ``Header``, which keeps a single-spaced one as it is.
        if line is None or (subject and value != " ".join(value.split())):
            return None
        lines.append(line)
    part = _text_part(message.body, "plain")
    alternatives = getattr(message, "alternatives", [])
    if part is None or any(not mimetype.startswith("text/") for _, mimetype in alternatives):
        return None
    if alternatives:
        parts = [part]
        for content, mimetype in alternatives:
            if not isinstance(content, str):
                return None
            parts.append(_text_part(content, mimetype.split("/", 1)[1]))
            if parts[-1] is None:
                return None
        part = _multipart("alternative", parts)
    if message.attachments:
        if not all(isinstance(item, MIMEBase) for item in message.attachments):
            return None
        part = _multipart("mixed", [part, *(as_bytes(item) for item in message.attachments)])
    own, _, body = part.partition(b"\r\n\r\n")
    return own + b"\r\n" + b"".join(lines) + b"\r\n" + body


def message_bytes(message: EmailMessage) -> bytes:
    """The bytes Django's SMTP backend would send for ``message``: written directly where
    ``_direct_bytes`` can (the MIME objects' construction and flattening had been about 40% of
    a send), else built and flattened. tests/notifications/test_mime_flattening.py holds both
    to Django's bytes."""
    direct = _direct_bytes(message)
    return direct if direct is not None else as_bytes(message.message())


# An address ``sanitize_address`` gives back as it is: a dot-atom local part without the
# characters ``Address.addr_spec`` quotes (``/ = ?``) at an ASCII host of labels of 1-63
# characters (longer ones make ``punycode`` raise, so they take the slow path and raise there).
_ATOM = r"[A-Za-z0-9!#$%&'*+^_`{|}~-]+"
_LABEL = r"[A-Za-z0-9-]{1,63}"
_PLAIN_ADDRESS = re.compile(rf"{_ATOM}(?:\.{_ATOM})*@{_LABEL}(?:\.{_LABEL})*")


def recipient(address: str, encoding: str) -> str:
    """``sanitize_address(address, encoding)``, without its header parser for a plain address
    (per e-mail it had cost about a tenth of a send); tests hold the two equal."""
    if _PLAIN_ADDRESS.fullmatch(address):
        return address
    return sanitize_address(address, encoding)


@functools.lru_cache(maxsize=16)
def _sender(address: str, encoding: str) -> str:
    return sanitize_address(address, encoding)


def _send_over(backend: BaseEmailBackend, message: EmailMessage) -> None:
    """What ``SMTPBackend.send_messages`` does for one message on an open session, with the
    flattening above; any other backend sends it itself."""
    if not isinstance(backend, SMTPBackend) or backend.connection is None:
        message.send(fail_silently=False)
        return
    recipients = message.recipients()
    if not recipients:
        return
    encoding = message.encoding or settings.DEFAULT_CHARSET
    backend.connection.sendmail(
        _sender(message.from_email, encoding),
        [recipient(address, encoding) for address in recipients],
        message_bytes(message),
    )


def _dropped_before_data(exc: Exception) -> bool:
    """Whether a kept session turned out closed before the message was handed over.

    A server that drops an idle connection, or says 421 and closes it, makes the next MAIL FROM or
    RCPT TO fail: the message was not sent and may be sent again at once. A failure anywhere inside
    DATA is never taken for one, since the server may already hold the message.
    """
    dropped = isinstance(exc, smtplib.SMTPServerDisconnected) or (
        isinstance(exc, smtplib.SMTPSenderRefused) and exc.smtp_code == 421
    )
    frames = traceback.walk_tb(exc.__traceback__)
    return dropped and not any(frame.f_code.co_name == "data" for frame, _ in frames)


def send(message: EmailMessage) -> None:
    """Send ``message`` over this thread's session; on any error close it and raise.

    A kept session the server had dropped is reopened and the message sent once more, within the
    same attempt (see ``_dropped_before_data``); a fresh session that fails is not retried here.
    """
    kept = False
    try:
        message.connection, kept = _backend()
        _send_over(message.connection, message)
        return
    except Exception as exc:
        close()
        if not (kept and _dropped_before_data(exc)):
            raise
        logger.info("The SMTP server had closed the session (%s); reopening.", type(exc).__name__)
    try:
        message.connection, _ = _backend()
        _send_over(message.connection, message)
    except Exception:
        close()
        raise


def close() -> None:
    """Close and forget this thread's session (at worker shutdown, after an error)."""
    backend, _local.backend = _local.backend, None
    if backend is None:
        return
    try:
        backend.close()
    except (smtplib.SMTPException, OSError):
        logger.info("Closing the SMTP session failed; it is dropped anyway.")


def _hang_up() -> None:
    """Forget this thread's session, closing its socket without QUIT (the server may be gone)."""
    backend, _local.backend = _local.backend, None
    if backend is not None and backend.connection is not None:
        backend.connection.close()


def _forget_after_fork() -> None:
    """A forked child must not talk on its parent's socket: drop the session unclosed."""
    _local.backend = None


os.register_at_fork(after_in_child=_forget_after_fork)
