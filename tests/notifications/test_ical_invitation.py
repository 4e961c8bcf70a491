"""The appointment e-mails' calendar part is written without the ``icalendar`` library's objects
(``ical._invitation``); it must stay the library's bytes exactly, so that clients see the same
UID, SEQUENCE, times, escapes and line folding as before."""

from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from icalendar.parser.string import _foldline

from notifications import ical

# Text that exercises the escapes (\ ; , newlines, "\N"), the CN quoting and RFC 6868 characters,
# multi-byte characters on the folding boundary and lines well past 75 octets.
_tricky = st.text(
    alphabet=st.one_of(
        st.sampled_from(list("\\;,:^\"' \r\nN\u2019éü€😀a")),
        st.characters(codec="utf-8", exclude_categories=("Cs",)),
    ),
    max_size=200,
)
_moments = st.datetimes(
    min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30), timezones=st.just(UTC)
) | st.datetimes(
    min_value=datetime(1900, 1, 2),
    max_value=datetime(2100, 12, 30),
    timezones=st.sampled_from([ZoneInfo("America/New_York"), timezone(timedelta(hours=5))]),
)
_fields = st.fixed_dictionaries(
    {
        "uid": _tricky,
        "sequence": st.integers(min_value=-5, max_value=10**9),
        "start": _moments,
        "end": _moments,
        "summary": _tricky,
        "stamp": _moments,
        "cancelled": st.booleans(),
    },
    optional={
        "description": _tricky,
        "location": _tricky,
        "url": st.text(max_size=120),
        "organizer_email": st.emails() | _tricky,
        "organizer_name": _tricky,
        "attendee_email": st.emails() | _tricky,
    },
)


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(fields=_fields)
@example(
    fields={
        "uid": "appointment-7@clinic.example",
        "sequence": 3,
        "start": datetime(2026, 3, 8, 15, tzinfo=UTC),
        "end": datetime(2026, 3, 8, 15, 45, tzinfo=UTC),
        "summary": "Physiotherapy with Dana, PT; room \\ 2",
        "description": "Reference ABC123. Manage: https://clinic.example/b/A?token=" + "x" * 60,
        "location": "Main St 5, Springfield",
        "url": "https://clinic.example/b/ABC123?token=" + "x" * 60,
        "organizer_email": "desk@clinic.example",
        "organizer_name": "Clinic: North, Ltd",
        "attendee_email": "pat@example.com",
        "stamp": datetime(2026, 3, 1, 9, 0, 0, 123456, tzinfo=UTC),
        "cancelled": False,
    }
)
def test_the_written_invitation_is_the_librarys_calendar_byte_for_byte(fields):
    written = ical._invitation(**fields)
    if written is None:
        # Left to the library: an organizer name that needs RFC 6868 escapes, a line break in
        # an address or the URL.
        others = "".join(fields.get(k, "") for k in ("organizer_email", "attendee_email", "url"))
        assert set(fields.get("organizer_name", "")) & set('^"\r\n') or set(others) & {"\r", "\n"}
        return
    assert written == ical._library_event_calendar(**fields)


@settings(max_examples=1500, deadline=None)
@given(line=_tricky.map(lambda text: text.replace("\r", "").replace("\n", "")))
@example(line="a" * 73 + "\\n" + "b" * 80)
@example(line="é" * 40 + "^" * 40)
def test_lines_are_folded_where_the_library_folds_them(line):
    assert ical._fold(line) == _foldline(line)


def test_local_times_are_left_to_the_library():
    start = datetime(2026, 3, 8, 10, tzinfo=ZoneInfo("America/New_York"))
    fields = {"uid": "u", "sequence": 0, "start": start, "end": start, "summary": "s"}
    assert ical._invitation(**fields, zone=ZoneInfo("America/New_York")) is None
    assert b"TZID=America/New_York" in ical.event_calendar(
        **fields, zone=ZoneInfo("America/New_York")
    )
