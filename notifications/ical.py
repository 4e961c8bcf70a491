"""iCalendar attachments for e-mails, built with the ``icalendar`` library.

Times are written in UTC, which every calendar client reads without a VTIMEZONE block; the
e-mail text carries the location's local time. The UID stays the same for the life of the
subject and SEQUENCE grows with each change, so clients update the event instead of adding one.
"""

from datetime import UTC, datetime
from email.mime.text import MIMEText

import icalendar

PRODID = "-//Clinic practice management//Notifications//EN"


def event_calendar(
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
) -> bytes:
    """One VEVENT in a VCALENDAR with METHOD:REQUEST, or METHOD:CANCEL when ``cancelled``."""
    cal = icalendar.Calendar()
    cal.add("prodid", PRODID)
    cal.add("version", "2.0")
    cal.add("method", "CANCEL" if cancelled else "REQUEST")
    event = icalendar.Event()
    event.add("uid", uid)
    event.add("sequence", sequence)
    event.add("dtstamp", (stamp or datetime.now(UTC)).astimezone(UTC))
    event.add("dtstart", start.astimezone(UTC))
    event.add("dtend", end.astimezone(UTC))
    event.add("summary", summary)
    event.add("status", "CANCELLED" if cancelled else "CONFIRMED")
    if description:
        event.add("description", description)
    if location:
        event.add("location", location)
    if url:
        event.add("url", url)
    if organizer_email:
        organizer = icalendar.vCalAddress(f"mailto:{organizer_email}")
        if organizer_name:
            organizer.params["cn"] = icalendar.vText(organizer_name)
        event.add("organizer", organizer)
    if attendee_email:
        attendee = icalendar.vCalAddress(f"mailto:{attendee_email}")
        attendee.params["role"] = icalendar.vText("REQ-PARTICIPANT")
        attendee.params["partstat"] = icalendar.vText("ACCEPTED")
        event.add("attendee", attendee)
    cal.add_component(event)
    return cal.to_ical()


def attachment(ics: bytes, filename: str = "appointment.ics") -> MIMEText:
    """A ``text/calendar`` MIME part whose ``method`` parameter matches the calendar's METHOD."""
    method = icalendar.Calendar.from_ical(ics).get("method", "PUBLISH")
    part = MIMEText(ics.decode("utf-8"), "calendar", "utf-8")
    part.set_param("method", str(method))
    part.add_header("Content-Disposition", "attachment", filename=filename)
    return part
