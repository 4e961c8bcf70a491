"""The e-mailed calendar part names the calendar's METHOD, which clients use to tell an
invitation (REQUEST) from a cancellation (CANCEL)."""

from datetime import UTC, datetime, timedelta

import icalendar
import pytest

from notifications import ical


@pytest.mark.parametrize(("cancelled", "method"), [(False, "REQUEST"), (True, "CANCEL")])
def test_the_attachment_carries_the_calendars_method_and_the_calendar_unchanged(cancelled, method):
    start = datetime(2026, 12, 3, 15, 0, tzinfo=UTC)
    ics = ical.event_calendar(
        uid="appointment-1@clinic.example",
        sequence=2,
        start=start,
        end=start + timedelta(minutes=45),
        summary="Physiotherapy follow-up with Dana Physio",
        description="METHOD:PUBLISH in a description is text, not the calendar's method",
        cancelled=cancelled,
    )
    part = ical.attachment(ics)
    assert part.get_content_type() == "text/calendar"
    assert part.get_param("method") == method
    assert icalendar.Calendar.from_ical(part.get_payload(decode=True)).get("method") == method


def test_a_calendar_without_a_method_is_published():
    feed = ical.feed_calendar([], name="Empty").replace(b"METHOD:PUBLISH\r\n", b"")
    assert ical.attachment(feed, "feed.ics").get_param("method") == "PUBLISH"
