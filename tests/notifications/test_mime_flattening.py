"""The worker flattens each e-mail with ``mailer.as_bytes`` rather than Django's
``message.as_bytes``; the bytes on the wire must be the same (same headers, folding, encodings and
parts), given the same random boundaries."""

import random
from datetime import UTC, datetime, timedelta
from unittest import mock

import pytest
from django.core.mail import EmailMultiAlternatives
from django.core.mail.message import sanitize_address
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from notifications import ical, mailer

_words = st.text(
    alphabet=st.one_of(
        st.characters(min_codepoint=32, max_codepoint=126),
        st.sampled_from(list(" \t=?éü€😀-")),
    ),
    max_size=160,
)
_ascii_line = st.text(alphabet=st.characters(min_codepoint=33, max_codepoint=126), max_size=120)


def _message(subject, body, html, name, address, extra, with_calendar) -> EmailMultiAlternatives:
    message = EmailMultiAlternatives(
        subject=subject.replace("\n", " ").replace("\r", " "),
        body=body,
        from_email=f'"{name}" <desk@clinic.example>' if name else "desk@clinic.example",
        to=[address],
        headers={
            "Message-ID": "<notification-42.abc@clinic.example>",
            "Date": "Thu, 03 Dec 2026 15:00:00 -0000",
            "List-Unsubscribe": f"<https://clinic.example/u/{extra}>",
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
        },
    )
    if html:
        message.attach_alternative(html, "text/html")
    if with_calendar:
        start = datetime(2026, 12, 3, 15, tzinfo=UTC)
        ics = ical.event_calendar(
            uid="appointment-1@clinic.example",
            sequence=1,
            start=start,
            end=start + timedelta(minutes=30),
            summary=body[:80] or "visit",
        )
        message.attach(ical.attachment(ics))
    return message


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    subject=_words,
    body=_words,
    html=_words,
    name=st.text(alphabet=st.characters(min_codepoint=65, max_codepoint=0x24F), max_size=30),
    address=st.emails(),
    extra=_ascii_line,
    with_calendar=st.booleans(),
    seed=st.integers(0, 2**32),
)
@example(
    subject="Reminder: Physiotherapy tomorrow, Thursday December 3, 2026 at 10:00 AM EST, Main",
    body="Hello Pat,\n\n" + "a long line " * 20,
    html="<p>Hello</p>",
    name="Clinic Nörth",
    address="pat@example.com",
    extra="x" * 70,
    with_calendar=True,
    seed=1,
)
def test_the_flattened_message_is_djangos_byte_for_byte(
    subject, body, html, name, address, extra, with_calendar, seed
):
    email = _message(subject, body, html, name, address, extra, with_calendar)
    # Two messages: flattening one sets its boundaries, which the second flattening would reuse.
    random.seed(seed)
    django_bytes = email.message().as_bytes(linesep="\r\n")
    random.seed(seed)
    assert mailer.as_bytes(email.message()) == django_bytes


def test_a_boundary_found_in_the_text_is_drawn_again(monkeypatch):
    tokens = iter([7, 8])
    monkeypatch.setattr(mailer.random, "randrange", lambda _: next(tokens))
    taken = "=" * 15 + f"{7:019d}" + "=="
    message = _message("s", f"--{taken}\n", "<p>", "", "p@example.com", "x", False).message()
    assert f"{8:019d}".encode() in mailer.as_bytes(message).split(b"\r\n\r\n", 1)[0]


_atext = st.characters(codec="ascii", categories=["L", "N", "P", "S"])
_addresses = st.one_of(
    st.emails(),
    st.builds(
        "{}@{}".format,
        st.text(alphabet=_atext, min_size=1, max_size=20),
        st.text(alphabet=st.sampled_from("abcXYZ019-."), min_size=1, max_size=70),
    ),
    st.text(max_size=40),
)


@settings(max_examples=500, deadline=None)
@given(address=_addresses)
@example(address="a..b@example.com")
@example(address="x/y=z?@example.com")
@example(address=f"p@{'a' * 64}.example")
@example(address="Pat <pat@example.com>")
@example(address="pat@exämple.com")
@example(address="")
def test_a_recipient_is_given_to_smtp_as_djangos_check_gives_it(address):
    """The plain-address fast path returns what ``sanitize_address`` returns, and raises where
    it raises."""
    try:
        expected = sanitize_address(address, "utf-8")
    except Exception as exc:  # ValueError, UnicodeError, and AttributeError for "" (stdlib)
        with pytest.raises(type(exc)):
            mailer.recipient(address, "utf-8")
    else:
        assert mailer.recipient(address, "utf-8") == expected


_ascii_words = st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=90)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    subject=st.one_of(_ascii_words, _words),
    body=st.one_of(_words, _words.map(lambda text: text + "\n"), st.just("x" * 999)),
    html=st.one_of(_words, st.just("")),
    name=st.one_of(
        st.just(""),
        st.text(alphabet=st.characters(min_codepoint=65, max_codepoint=0x24F), max_size=30),
    ),
    address=st.emails(),
    extra=_ascii_line,
    with_calendar=st.booleans(),
    with_date=st.booleans(),
    seed=st.integers(0, 2**32),
)
@example(
    subject="Reminder: Physiotherapy on Thu Dec 3, 10:00 EST",
    body="Hello Pat,\n\nA reminder.\n",
    html="<p>Hello</p>\n",
    name="Clinic",
    address="pat@example.com",
    extra="x" * 20,
    with_calendar=True,
    with_date=True,
    seed=1,
)
def test_the_message_written_directly_is_djangos_byte_for_byte(
    subject, body, html, name, address, extra, with_calendar, with_date, seed
):
    """``message_bytes`` (written directly where it can, else built and flattened) gives the
    bytes of Django's own message, for the same random boundaries."""
    email = _message(subject, body, html, name, address, extra, with_calendar)
    if not with_date:
        del email.extra_headers["Date"]
    with (
        mock.patch.object(mailer, "formatdate", return_value="Thu, 03 Dec 2026 15:00:00 -0000"),
        mock.patch(
            "django.core.mail.message.formatdate", return_value="Thu, 03 Dec 2026 15:00:00 -0000"
        ),
    ):
        random.seed(seed)
        django_bytes = email.message().as_bytes(linesep="\r\n")
        random.seed(seed)
        assert mailer.message_bytes(email) == django_bytes


def test_a_reminder_shaped_message_is_written_without_the_mime_classes(monkeypatch):
    """The ledger's e-mails (ASCII headers, a text body, an HTML alternative and a calendar
    part) take the direct path: Django's ``message()`` is never called for them."""
    email = _message(
        "Reminder: Physio on Thu Dec 3",
        "Hello Pat,\n",
        "<p>Hi</p>",
        "Clinic",
        "p@example.com",
        "t" * 80,
        True,
    )
    monkeypatch.setattr(type(email), "message", lambda self: pytest.fail("built by Django"))
    assert mailer.message_bytes(email).startswith(b"Content-Type: multipart/mixed;")
