"""iCalendar attachments for e-mails, built with the ``icalendar`` library.

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
    ``cancelled``."""
    cal = icalendar.Calendar()
    cal.add("prodid", PRODID)
    cal.add("version", "2.0")
    cal.add("method", "CANCEL" if cancelled else "REQUEST")
    cal.add_component(event(cancelled=cancelled, **fields))
    return cal.to_ical()


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
