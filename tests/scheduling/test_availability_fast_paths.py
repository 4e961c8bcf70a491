"""The public availability's fast paths give exactly what the plain code gives: free time kept
as runs of starts (``availability.free_starts``) against judging every start one by one, "any
provider" merged on epoch seconds against the merge of the slots it was written for, the local
times written from epoch seconds (``LocalIso``) against ``isoformat``, and the JSON text
against the renderer's; on random calendars around both daylight-saving changes."""

import datetime
import json
import math
from types import SimpleNamespace
from zoneinfo import ZoneInfo

import pytest
from django.db import transaction
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from rest_framework.renderers import JSONRenderer

import scheduling.availability as availability
from providers.models import Credential
from scheduling.api.serializers import AvailabilityResponseSerializer, LocalIso, availability_json
from scheduling.availability import search
from scheduling.selectors import PublicSlot, public_slots, public_starts
from tests.scheduling.conftest import TORONTO, local
from tests.scheduling.test_availability_busy_merge import (
    DST_DAYS,
    _build,
    appointment,
    hold,
    time_off,
)

pytestmark = pytest.mark.django_db(transaction=False)

ZONES = [
    "America/Toronto",
    "America/St_Johns",  # -03:30, daylight saving
    "Australia/Lord_Howe",  # a half-hour change
    "Asia/Kolkata",
    "Europe/London",
    "UTC",
    "Pacific/Apia",  # skipped a whole day in 2011
    "America/Sao_Paulo",
]
TORONTO_CHANGES = [  # 02:00 local on the change days, as epoch seconds
    int(local(datetime.date(2027, 3, 14), "02:00").timestamp()),
    int(local(datetime.date(2027, 11, 7), "02:00").timestamp()),
]


def _one_by_one(**kwargs):
    """The search with every provider judged start by start (the detailed path)."""
    real = availability._needs_detail
    availability._needs_detail = lambda room_use, sessions: True
    try:
        result = search(**kwargs)
    finally:
        availability._needs_detail = real
    return result, _reference_any_provider(result, kwargs["service"])


def _reference_any_provider(result, service) -> list[PublicSlot]:
    """ "Any provider" as it was written on sorted slots: per start, a session's free place
    first, then the least busy provider; the places of all, never more than the rooms hold."""
    load, full = result.provider_load, service.capacity
    merged, best, best_rank, spots = [], None, (True, 0), 0

    def close(best, spots):
        if best.room_free is not None:
            spots = min(spots, best.room_free)
        return PublicSlot(best.start, best.end, best.provider_id, spots)

    for slot in result.slots:
        if best is not None and slot.start != best.start:
            merged.append(close(best, spots))
            best = None
        rank = (slot.spots_left == full, load.get(slot.provider_id, 0))
        if best is None:
            best, best_rank, spots = slot, rank, slot.spots_left
            continue
        spots += slot.spots_left
        if rank < best_rank:
            best, best_rank = slot, rank
    if best is not None:
        merged.append(close(best, spots))
    return merged


@settings(
    max_examples=50,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    kind=st.sampled_from(["plain", "plain", "room", "group"]),
    step=st.sampled_from([5, 15, 20, 60]),
    first=st.sampled_from(DST_DAYS),
    appointments=st.lists(appointment, max_size=25),
    offs=st.lists(time_off, max_size=3),
    holds=st.lists(hold, max_size=3),
    one_provider=st.booleans(),
)
@example(  # an hour's step over a 45-minute service: a run stops short of a short appointment
    kind="plain",
    step=60,
    first=DST_DAYS[1],
    appointments=[
        {
            "provider": 0,
            "day": 1,
            "minute": 11 * 60 + 50,
            "seconds": 0,
            "length": 5,
            "before": 0,
            "after": 0,
            "status": "booked",
            "searched_service": False,
            "in_room": False,
        }
    ],
    offs=[],
    holds=[],
    one_provider=False,
)
def test_runs_of_free_starts_and_the_integer_merge_give_exactly_the_one_by_one_slots(
    location, kind, step, first, appointments, offs, holds, one_provider
):
    with transaction.atomic():
        service, rows = _build(location, kind, step, first, appointments, offs, holds)
        provider_ids = [rows[0].provider_id] if one_provider and rows else None
        kwargs = {
            "service": service,
            "location": location,
            "start_date": first,
            "end_date": first + datetime.timedelta(days=2),
            "provider_ids": provider_ids,
            "now": local(first - datetime.timedelta(days=1), "08:00"),
        }
        slow, slow_any = _one_by_one(**kwargs)
        fast = search(**kwargs)
        assert fast.slots == slow.slots
        assert fast.provider_load == slow.provider_load
        if provider_ids is None:
            widget = public_slots(
                service=service,
                location=location,
                start_date=kwargs["start_date"],
                end_date=kwargs["end_date"],
                now=kwargs["now"],
            )
            assert widget == slow_any
        transaction.set_rollback(True)


@given(
    zone=st.sampled_from(ZONES),
    seconds=st.lists(
        st.sampled_from(TORONTO_CHANGES).flatmap(
            lambda change: st.integers(change - 2 * 86400, change + 2 * 86400)
        )
        | st.integers(
            int(datetime.datetime(2000, 1, 1, tzinfo=datetime.UTC).timestamp()),
            int(datetime.datetime(2100, 12, 31, tzinfo=datetime.UTC).timestamp()),
        ),
        min_size=1,
        max_size=40,
    ),
)
@example(zone="America/Toronto", seconds=[TORONTO_CHANGES[0] + 5 * 3600 - 1])  # 01:59:59 EST
@example(zone="America/Toronto", seconds=[TORONTO_CHANGES[1] + 5 * 3600, TORONTO_CHANGES[1]])
@example(zone="Pacific/Apia", seconds=[1325239200, 1325239199])  # the day Samoa skipped
def test_local_iso_writes_exactly_what_isoformat_writes(zone, seconds):
    tz = ZoneInfo(zone)
    iso = LocalIso(tz)  # one formatter for many times, as a request uses it
    for value in seconds:
        assert iso(value) == datetime.datetime.fromtimestamp(value, tz).isoformat()


def test_the_availability_json_text_is_what_the_renderer_writes(physio, assessment, location):
    day = datetime.date(2027, 3, 13)  # the day before the clocks go forward, and the change day
    found = public_starts(
        service=assessment,
        location=location,
        start_date=day,
        end_date=day + datetime.timedelta(days=1),
        now=local(day - datetime.timedelta(days=1), "08:00"),
    )
    assert found.starts
    answer = {"service": assessment, "location": location, "slots": found}
    rendered = JSONRenderer().render(AvailabilityResponseSerializer(answer).data)
    assert availability_json(assessment, location, found) == rendered
    starts = [slot["start"] for slot in json.loads(rendered)["slots"]]
    assert "2027-03-13T09:00:00-05:00" in starts
    assert "2027-03-14T09:00:00-04:00" in starts


def test_the_browsable_api_still_shows_the_availability(api_client, physio, assessment, location):
    day = datetime.datetime.now(TORONTO).date() + datetime.timedelta(days=7)
    query = {"service": assessment.pk, "location": location.pk, "start": day, "end": day}
    page = api_client.get("/api/v1/public/availability/", query, HTTP_ACCEPT="text/html")
    as_json = api_client.get("/api/v1/public/availability/", query)
    assert page.status_code == as_json.status_code == 200
    assert page["Content-Type"].startswith("text/html")
    first = as_json.json()["slots"][0]["start"]
    assert first in page.content.decode()


def _brute_force_starts(calendar, service, step_minutes):
    """The sweep's answer by its definition, start by start on each window's grid: inside an
    open window (hours less time off and closures), not before ``earliest``, in scope at the
    start, clear of every busy span with the buffers, then judged for rooms and sessions."""
    step, duration = step_minutes * 60, service.duration_minutes * 60
    before, after = service.buffer_before_minutes * 60, service.buffer_after_minutes * 60
    earliest = math.ceil(calendar.earliest.timestamp())
    range_end = math.floor(calendar.range_end.timestamp())
    found = []
    for pid in calendar.pids:
        holes = availability.merge(calendar.time_off[pid] + calendar.closed)
        windows = availability.subtract(availability.merge(calendar.windows[pid]), holes)
        sessions = {s: v for (p, s), v in calendar.sessions.items() if p == pid}
        session_ranges = [(s, v[2]) for s, v in sessions.items()]
        spans = calendar.scope[pid]
        for window_start, window_end in windows:
            start = math.ceil(window_start)
            while start <= math.floor(window_end) - duration:
                in_scope = [allowed for when, allowed in spans if when <= start][-1]
                clear = not any(
                    a < start + duration + after and b > start - before
                    for a, b in calendar.busy.get(pid, [])
                )
                if earliest <= start < range_end and in_scope and clear:
                    judged = (service.capacity, None, None)
                    if calendar.room_use or sessions:
                        judged = availability._slot(
                            start,
                            start - before,
                            start + duration + after,
                            service,
                            sessions,
                            session_ranges,
                            calendar.room_use,
                        )
                    if judged is not None:
                        found.append((start, pid, *judged))
                start += step
    return sorted(found)


def _flat(starts, capacity):
    """``FreeStarts`` as one sorted list of (start, provider, spots, room, room_free)."""
    found = [
        (start, pid, capacity, None, None)
        for pid, runs in starts.runs.items()
        for run in runs
        for start in run
    ]
    found.extend(
        (start, pid, *rest) for pid, rows in starts.detailed.items() for start, *rest in rows
    )
    return sorted(found)


@settings(
    max_examples=60,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    kind=st.sampled_from(["plain", "plain", "room", "group"]),
    step=st.sampled_from([5, 15, 20, 60]),
    first=st.sampled_from(DST_DAYS),
    appointments=st.lists(appointment, max_size=25),
    offs=st.lists(time_off, max_size=3),
    holds=st.lists(hold, max_size=3),
    expires=st.sampled_from([None, 0, 1, 2]),
    notice_hours=st.sampled_from([0, 30, 52]),
)
def test_the_sweep_gives_exactly_the_starts_its_definition_gives(
    location, kind, step, first, appointments, offs, holds, expires, notice_hours
):
    """``free_starts`` (forbidden stretches, jumps, shared windows) against checking every step
    of every window one by one, with credentials running out inside the range."""
    with transaction.atomic():
        service, _ = _build(location, kind, step, first, appointments, offs, holds)
        pids = sorted(availability.offered_providers(service, location))
        if expires is not None:
            Credential.objects.filter(provider_id=pids[1]).update(
                valid_until=first + datetime.timedelta(days=expires)
            )
        rules = availability.load_rules(service, location, pids)
        now = local(first, "08:00") - datetime.timedelta(hours=notice_hours)
        calendar = availability.load_calendar(
            service=service,
            location=location,
            start_date=first,
            end_date=first + datetime.timedelta(days=2),
            window=rules.policy.window(now, location, False),
            provider_ids=None,
            ignore_appointment_id=None,
            rules=rules,
        )
        starts = availability.free_starts(calendar, service, step)
        assert _flat(starts, service.capacity) == _brute_force_starts(calendar, service, step)
        transaction.set_rollback(True)


@settings(max_examples=300, deadline=None)
@given(
    zone=st.sampled_from(ZONES),
    first=st.dates(datetime.date(2010, 1, 1), datetime.date(2040, 12, 31))
    | st.sampled_from([*DST_DAYS, datetime.date(2011, 12, 29), datetime.date(2027, 4, 4)]),
    days=st.integers(0, 9),
    at=st.times() | st.sampled_from([datetime.time(0), datetime.time(2, 30), datetime.time(1, 30)]),
)
@example(zone="America/Sao_Paulo", first=datetime.date(2018, 11, 3), days=2, at=datetime.time(0))
@example(zone="Pacific/Apia", first=datetime.date(2011, 12, 29), days=2, at=datetime.time(12))
def test_wall_times_in_integer_arithmetic_are_the_instants_zoneinfo_gives(zone, first, days, at):
    """``LocalDays.at`` (local midnight plus seconds on days with one offset) against
    ``local_instant`` for every date of the range, through gaps and repeated hours."""
    place = SimpleNamespace(zone=ZoneInfo(zone))
    last = first + datetime.timedelta(days=days)
    local_days = availability.LocalDays(first, last, place)
    for day in local_days.midnights:
        expected = availability.local_instant(day, at, place).timestamp()
        assert local_days.at(day, at) == expected, day


@settings(max_examples=100, deadline=None)
@given(
    zone=st.sampled_from(ZONES),
    first=st.sampled_from([*DST_DAYS, datetime.date(2011, 12, 28), datetime.date(2027, 4, 1)]),
    rows=st.lists(
        st.tuples(
            st.integers(1, 4),
            st.integers(0, 6),
            st.times(),
            st.integers(1, 12 * 3600),
            st.integers(-3, 3),
            st.none() | st.integers(0, 6),
        ),
        max_size=12,
    ),
)
@example(  # Sunday 2027-03-14, the day Toronto's clocks go forward, and the Monday after it
    zone="America/Toronto",
    first=DST_DAYS[0],
    rows=[(1, 6, datetime.time(1, 30), 3 * 3600, 0, None), (1, 0, datetime.time(9), 3600, 0, 1)],
)
def test_weekly_hours_expand_to_the_windows_of_each_local_date(zone, first, rows):
    """The windows ``weekly_windows`` builds (shared between providers with the same hours)
    against each row's times on each date, one ``local_instant`` at a time."""
    place = SimpleNamespace(zone=ZoneInfo(zone))
    last = first + datetime.timedelta(days=6)
    hours = []
    for pid, weekday, start, length, from_days, until_days in rows:
        end_dt = datetime.datetime.combine(first, start) + datetime.timedelta(seconds=length)
        if end_dt.date() != first:
            continue
        valid_from = first + datetime.timedelta(days=from_days)
        valid_until = valid_from + datetime.timedelta(days=until_days) if until_days else None
        hours.append((pid, weekday, start, end_dt.time(), valid_from, valid_until))
    expected: dict[int, list] = {}
    for pid, weekday, start, end, valid_from, valid_until in hours:
        expected.setdefault(pid, [])
        for day in (first + datetime.timedelta(days=n) for n in range(7)):
            if day.weekday() == weekday and valid_from <= day and (valid_until or day) >= day:
                expected[pid].append(
                    (
                        availability.local_instant(day, start, place).timestamp(),
                        availability.local_instant(day, end, place).timestamp(),
                    )
                )
    windows = availability.weekly_windows(hours, first, last, place)
    assert {pid: windows[pid] for pid in expected} == {
        pid: availability.merge(spans) for pid, spans in expected.items()
    }
