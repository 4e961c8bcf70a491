"""Busy time merged by PostgreSQL, for the availability search.

A provider's busy time is the union of their blocking appointments and waitlist holds; the
sweep only needs that union and the number of appointments (the "least busy" pick). Reading every
appointment to merge them in Python cost a third of a large search (13,800 rows for fifty
providers over eight weeks); PostgreSQL merges them with ``range_agg`` and sends one row per
provider: the starts and ends of its busy stretches as whole epoch seconds, in two arrays (read
in C, not row by row). Appointments that must be seen one by one (in a room of the needed kind,
or a session of the group service searched) are not merged here; ``availability`` reads those
apart. SQLite, the development database, has no ranges and keeps the Python merge.

The statement is written here rather than built by the ORM: compiling two querysets (and
quoting a hundred ``IN`` parameters) cost as much of the search's CPU as PostgreSQL's work, and
a booking runs this search too. ``date_part`` returns a double, which is exact for microsecond
timestamps and cheaper than ``EXTRACT``'s numeric.

Between requests each provider's merged busy time is kept in this process under their calendar
version (``CalendarVersion``: a random value database triggers replace, in the writing
transaction, whenever that provider's appointments or holds change), so a search reads the
versions (one query) and merges again only the providers whose version moved. An entry is
loaded after the version was read, so it is never older than its version. Only a search outside
a transaction uses the cache: inside one, the transaction may have written the calendar itself
(its own writes replace the version too, but its reads of the cache would then see entries
another transaction stored under a value this one no longer shows), and a booking's search must
judge by the rows as they are.
"""

import threading
from collections import OrderedDict, defaultdict
from collections.abc import Hashable
from datetime import datetime

from django.db import connections

from scheduling.models import BLOCKING_STATUSES, WaitlistOffer

Span = tuple[int, int]  # whole seconds since the epoch, half-open

# Left out of the merge: the appointment being rescheduled (``ignored``), those in a room of the
# kind searched (``rooms``) and the sessions of the group service searched (``service``); 0 and
# an empty array leave nothing out (ids start at 1).
_MERGE = """
WITH merged AS (
    SELECT provider_id, SUM(counted) AS appointments,
           range_agg(tstzrange(blocked_start, blocked_end)) AS busy
    FROM (
        SELECT provider_id, 1 AS counted, blocked_start, blocked_end FROM scheduling_appointment
        WHERE provider_id = ANY(%(pids)s::bigint[]) AND status = ANY(%(statuses)s::text[])
          AND blocked_start < %(end)s AND blocked_end > %(start)s
          AND id <> %(ignored)s AND service_id <> %(service)s
          AND (room_id IS NULL OR room_id <> ALL(%(rooms)s::bigint[]))
        UNION ALL
        SELECT provider_id, 0, blocked_start, blocked_end FROM scheduling_waitlistoffer
        WHERE provider_id = ANY(%(pids)s::bigint[]) AND status = %(offered)s
          AND blocked_start < %(end)s AND blocked_end > %(start)s
    ) spans
    GROUP BY provider_id
)
SELECT provider_id, appointments,
       ARRAY(SELECT floor(date_part('epoch', lower(r)))::bigint FROM unnest(busy) r),
       ARRAY(SELECT ceil(date_part('epoch', upper(r)))::bigint FROM unnest(busy) r)
FROM merged
"""


def merges_in_database(alias: str) -> bool:
    """Whether the database behind ``alias`` can merge busy time (PostgreSQL 14+ multiranges)."""
    connection = connections[alias]
    return connection.vendor == "postgresql" and connection.pg_version >= 140000


def merged_busy(
    alias: str,
    *,
    provider_ids: list[int],
    start: datetime,
    end: datetime,
    ignored: int | None = None,
    rooms: list[int] | tuple[int, ...] = (),
    sessions_of: int | None = None,
) -> tuple[dict[int, list[Span]], dict[int, int]]:
    """Per provider the merged busy spans of their blocking appointments and waitlist holds
    overlapping [``start``, ``end``), rounded outwards to whole seconds as the Python path
    rounds each appointment, and per provider the number of appointments (none for a provider
    with holds only). Leaves out appointment ``ignored``, those in ``rooms`` and the sessions of
    service ``sessions_of``. Outside a transaction, two queries at most (the versions, then the
    providers whose version moved); inside one, one."""
    if connections[alias].in_atomic_block:
        return _merge(alias, provider_ids, start, end, ignored, rooms, sessions_of)
    shape = (alias, start, end, ignored or 0, tuple(rooms), sessions_of or 0)
    versions = _versions(alias, provider_ids)
    busy: dict[int, list[Span]] = defaultdict(list)
    counts: dict[int, int] = {}
    stale: list[int] = []
    with _lock:
        for pid in provider_ids:
            version = versions.get(pid)
            found = _entries.get((pid, version, shape)) if version is not None else None
            if found is None:
                stale.append(pid)
                continue
            _entries.move_to_end((pid, version, shape))
            spans, count = found
            if spans:
                busy[pid] = spans  # shared: read-only for callers, as the rules cache's values
            if count:
                counts[pid] = count
    if not stale:
        return busy, counts
    loaded, loaded_counts = _merge(alias, stale, start, end, ignored, rooms, sessions_of)
    with _lock:
        for pid in stale:
            spans, count = loaded.get(pid, []), loaded_counts.get(pid, 0)
            if spans:
                busy[pid] = spans
            if count:
                counts[pid] = count
            if pid in versions:
                _store((pid, versions[pid], shape), spans, count)
        while len(_entries) > MAX_ENTRIES or _held[0] > MAX_SPANS:
            _held[0] -= len(_entries.popitem(last=False)[1][0])
    return busy, counts


def _store(key: tuple, spans: list[Span], count: int) -> None:
    """Keep an entry (under ``_lock``), counting the spans held."""
    replaced = _entries.get(key)
    if replaced is not None:  # two searches merged the same provider at once
        _held[0] -= len(replaced[0])
    _entries[key] = (spans, count)
    _held[0] += len(spans)


def clear() -> None:
    """Forget every entry (tests and the benchmark's uncached timings)."""
    with _lock:
        _entries.clear()
        _held[0] = 0


# Bounded in entries and in spans held (about 128 bytes each as Python tuples): the public
# search lets anyone choose the range (any start date, up to 63 days), and a busy provider's
# 63 days are some 500 spans. 250,000 spans are about 32 MB per process; the bench's fifty
# providers over eight weeks hold 6,000.
MAX_ENTRIES = 2_000
MAX_SPANS = 250_000
_held = [0]  # spans in ``_entries``
_entries: OrderedDict[tuple[int, int, Hashable], tuple[list[Span], int]] = OrderedDict()
_lock = threading.Lock()

_VERSIONS = "SELECT provider_id, value FROM scheduling_calendarversion WHERE provider_id = ANY(%s)"


def _versions(alias: str, provider_ids: list[int]) -> dict[int, int]:
    """The providers' calendar versions; a provider without one (no appointment or hold
    written since the table was made or emptied) is not cached."""
    with connections[alias].cursor() as cursor:
        cursor.execute(_VERSIONS, [list(provider_ids)])
        return dict(cursor.fetchall())


def _merge(
    alias: str,
    provider_ids: list[int],
    start: datetime,
    end: datetime,
    ignored: int | None,
    rooms: list[int] | tuple[int, ...],
    sessions_of: int | None,
) -> tuple[dict[int, list[Span]], dict[int, int]]:
    """The busy merge itself, one query."""
    params = {
        "pids": list(provider_ids),
        "statuses": [str(status) for status in BLOCKING_STATUSES],
        "offered": str(WaitlistOffer.Status.OFFERED),
        "start": start,
        "end": end,
        "ignored": ignored or 0,
        "service": sessions_of or 0,
        "rooms": list(rooms),
    }
    busy: dict[int, list[Span]] = defaultdict(list)
    counts: dict[int, int] = {}
    with connections[alias].cursor() as cursor:
        cursor.execute(_MERGE, params)
        for pid, count, starts, ends in cursor.fetchall():
            if count:
                counts[pid] = int(count)
            busy[pid] = list(zip(starts, ends, strict=True))
    return busy, counts
