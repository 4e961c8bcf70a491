"""The public availability's fast paths give exactly what the plain code gives: free time kept
as runs of starts (``availability.free_starts``) against judging every start one by one, "any
provider" merged on epoch seconds against the merge of the slots it was written for, the local
times written from epoch seconds (``LocalIso``) against ``isoformat``, and the JSON text
against the renderer's; on random calendars around both daylight-saving changes."""

import datetime
import json
from zoneinfo import ZoneInfo

import pytest
from django.db import transaction
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from rest_framework.renderers import JSONRenderer

import scheduling.availability as availability
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
