"""iCalendar attachments for e-mails, built with the ``icalendar`` library or, for the one-event
invitation of every appointment e-mail, written directly in the same bytes (``_invitation``).

E-mail invitations are written in UTC, which every calendar client reads without a VTIMEZONE
block (the e-mail text carries the location's local time); the providers' calendar feeds are
written in the location's zone with its VTIMEZONE. The UID stays the same for the life of the
subject and SEQUENCE grows with each change, so clients update the event instead of adding one.
"""

from datetime import UTC, datetime, timedelta
from email.mime.text import MIMEText
from zoneinfo import ZoneInfo

import icalendar

PRODID = "-//Clinic practice management//Notifications//EN"


def event(
    *,
    uid: str,
    sequence: int,
    start: datetime,
    end: datetime,
    summary: str,
    description: str = "",
    location: str = "",
    url: str = "",
    organizer_email: str = "",
    organizer_name: str = "",
    attendee_email: str = "",
    cancelled: bool = False,
    stamp: datetime | None = None,
    zone: ZoneInfo | None = None,
) -> icalendar.Event:
    """One VEVENT: the invitation's and the calendar feed's, so both carry the same UID and
    SEQUENCE. Times are UTC unless ``zone`` is given (then local, with a TZID; the calendar
    holding the event needs that zone's VTIMEZONE, see ``feed_calendar``)."""
    item = icalendar.Event()
    item.add("uid", uid)
    item.add("sequence", sequence)
    item.add("dtstamp", (stamp or datetime.now(UTC)).astimezone(UTC))
    item.add("dtstart", start.astimezone(zone or UTC))
    item.add("dtend", end.astimezone(zone or UTC))
    item.add("summary", summary)
    item.add("status", "CANCELLED" if cancelled else "CONFIRMED")
    if description:
        item.add("description", description)
    if location:
        item.add("location", location)
    if url:
        item.add("url", url)
    if organizer_email:
        organizer = icalendar.vCalAddress(f"mailto:{organizer_email}")
        if organizer_name:
            organizer.params["cn"] = icalendar.vText(organizer_name)
        item.add("organizer", organizer)
    if attendee_email:
        attendee = icalendar.vCalAddress(f"mailto:{attendee_email}")
        attendee.params["role"] = icalendar.vText("REQ-PARTICIPANT")
        attendee.params["partstat"] = icalendar.vText("ACCEPTED")
        item.add("attendee", attendee)
    return item


def event_calendar(*, cancelled: bool = False, **fields) -> bytes:
    """One VEVENT (see ``event``) in a VCALENDAR with METHOD:REQUEST, or METHOD:CANCEL when
    ``cancelled``. Written by ``_invitation`` where it can be (in UTC, a plain organizer name):
    the library's generic objects and per-character line folding were a quarter of a reminder's
    CPU. Both give the same bytes (tests/notifications/test_ical_invitation.py)."""
    text = _invitation(cancelled=cancelled, **fields)
    if text is not None:
        return text
    return _library_event_calendar(cancelled=cancelled, **fields)


def _library_event_calendar(*, cancelled: bool = False, **fields) -> bytes:
    """``event_calendar`` through the ``icalendar`` library, for any fields."""
    cal = icalendar.Calendar()
    cal.add("prodid", PRODID)
    cal.add("version", "2.0")
    cal.add("method", "CANCEL" if cancelled else "REQUEST")
    cal.add_component(event(cancelled=cancelled, **fields))
    return cal.to_ical()


# What the library does to a TEXT value (RFC 5545 3.3.11), in its order.
def _text(value: str) -> str:
    return (
        value.replace(r"\N", "\n")
        .replace("\\", "\\\\")
        .replace(";", r"\;")
        .replace(",", r"\,")
        .replace("\r\n", r"\n")
        .replace("\n", r"\n")
        .replace("\r", r"\n")
    )


def _utc(moment: datetime) -> str:
    moment = moment.astimezone(UTC)
    return (
        f"{moment.year:04d}{moment.month:02d}{moment.day:02d}"
        f"T{moment.hour:02d}{moment.minute:02d}{moment.second:02d}Z"
    )


# A CN the library would quote (RFC 5545 3.2 and its own choice for CN), and characters it would
# escape by RFC 6868 (left to the library).
_CN_QUOTED = frozenset(",;:\u2019 '")
_CN_ESCAPED = frozenset('^"\r\n')
_BREAKS = frozenset("\r\n")
_FOLD_AFTER = 74  # octets per line: the library folds before the 75th
_ESCAPES = "\\^"


def _fold(line: str) -> str:
    """The library's folding (``icalendar.parser.string._foldline``): a line is cut before the
    octet that would make it 75 long, never right after a backslash or caret (the escape moves
    to the next line with what it escapes), and continued after CRLF and a space."""
    if line.isascii():
        if len(line) <= _FOLD_AFTER:
            return line
        parts, start = [], 0
        while len(line) - start > _FOLD_AFTER:
            end = start + _FOLD_AFTER
            if line[end - 1] in _ESCAPES:
                end -= 1
            parts.append(line[start:end])
            start = end
        parts.append(line[start:])
        return "\r\n ".join(parts)
    parts, current, count = [], [], 0
    for char in line:
        size = len(char.encode("utf-8"))
        if current and count + size > _FOLD_AFTER:
            if len(current) > 1 and current[-1] in _ESCAPES:
                carried = current.pop()
                parts.append("".join(current))
                current, count = [carried], len(carried.encode("utf-8"))
            else:
                parts.append("".join(current))
                current, count = [], 0
        current.append(char)
        count += size
    if current:
        parts.append("".join(current))
    return "\r\n ".join(parts)


def _invitation(
    *,
    uid: str,
    sequence: int,
    start: datetime,
    end: datetime,
    summary: str,
    description: str = "",
    location: str = "",
    url: str = "",
    organizer_email: str = "",
    organizer_name: str = "",
    attendee_email: str = "",
    cancelled: bool = False,
    stamp: datetime | None = None,
    zone: ZoneInfo | None = None,
) -> bytes | None:
    """``event_calendar``'s bytes as the library writes them (its property order: the VEVENT's
    canonical ones, then the rest by name), or None for what is left to the library: local
    times (``zone``), an organizer name that needs RFC 6868 escapes, and a line break in an
    address or URL (which the library refuses)."""
    if zone is not None or _CN_ESCAPED.intersection(organizer_name):
        return None
    if _BREAKS.intersection(organizer_email + attendee_email + url):
        return None
    lines = [
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        f"PRODID:{_text(PRODID)}",
        f"METHOD:{'CANCEL' if cancelled else 'REQUEST'}",
        "BEGIN:VEVENT",
        f"SUMMARY:{_text(summary)}",
        f"DTSTART:{_utc(start)}",
        f"DTEND:{_utc(end)}",
        f"DTSTAMP:{_utc(stamp or datetime.now(UTC))}",
        f"UID:{_text(uid)}",
        f"SEQUENCE:{int(sequence)}",
    ]
    if attendee_email:
        lines.append(f"ATTENDEE;PARTSTAT=ACCEPTED;ROLE=REQ-PARTICIPANT:mailto:{attendee_email}")
    if description:
        lines.append(f"DESCRIPTION:{_text(description)}")
    if location:
        lines.append(f"LOCATION:{_text(location)}")
    if organizer_email:
        if not organizer_name:
            lines.append(f"ORGANIZER:mailto:{organizer_email}")
        elif _CN_QUOTED.intersection(organizer_name):
            lines.append(f'ORGANIZER;CN="{organizer_name}":mailto:{organizer_email}')
        else:
            lines.append(f"ORGANIZER;CN={organizer_name}:mailto:{organizer_email}")
    lines.append(f"STATUS:{'CANCELLED' if cancelled else 'CONFIRMED'}")
    if url:
        lines.append(f"URL:{url}")
    lines += ["END:VEVENT", "END:VCALENDAR", ""]
    return "\r\n".join(_fold(line) for line in lines).encode("utf-8")


def feed_calendar(events: list[icalendar.Event], *, name: str, refresh_minutes: int = 60) -> bytes:
    """A subscribable calendar (METHOD:PUBLISH) with a VTIMEZONE for every zone its events
    use, generated from the zoneinfo database by the icalendar library."""
    cal = icalendar.Calendar()
    cal.add("prodid", PRODID)
    cal.add("version", "2.0")
    cal.add("method", "PUBLISH")
    cal.add("x-wr-calname", name)
    cal.add(
        "refresh-interval", timedelta(minutes=refresh_minutes), parameters={"VALUE": "DURATION"}
    )
    cal.add("x-published-ttl", timedelta(minutes=refresh_minutes))
    for item in events:
        cal.add_component(item)
    cal.add_missing_timezones()
    return cal.to_ical()


def _method(ics: bytes) -> str:
    """The calendar's METHOD, read off its lines: a property of the VCALENDAR, so it comes
    before the first component. Parsing the whole calendar back for it cost more than building
    the calendar did."""
    for line in ics.splitlines():
        name, _, value = line.partition(b":")
        name = name.split(b";", 1)[0].upper()
        if name == b"BEGIN" and value.strip().upper() != b"VCALENDAR":
            break
        if name == b"METHOD":
            return value.strip().decode("utf-8")
    return "PUBLISH"


def attachment(ics: bytes, filename: str = "appointment.ics") -> MIMEText:
    """A ``text/calendar`` MIME part whose ``method`` parameter matches the calendar's METHOD."""
    part = MIMEText(ics.decode("utf-8"), "calendar", "utf-8")
    part.set_param("method", _method(ics))
    part.add_header("Content-Disposition", "attachment", filename=filename)
    return part
