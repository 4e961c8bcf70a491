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
"""

from collections import defaultdict
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
    service ``sessions_of``. One query."""
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
