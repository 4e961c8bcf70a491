"""Busy time merged by PostgreSQL, for the availability search.

A provider's busy time is the union of their blocking appointments and waitlist holds; the
sweep only needs that union and the number of appointments (the "least busy" pick). Reading every
appointment to merge them in Python cost a third of a large search (13,800 rows for fifty
providers over eight weeks); PostgreSQL merges them with ``range_agg`` and sends one row per
provider: the starts and ends of its busy stretches as whole epoch seconds, in two arrays (read
in C, not row by row). Appointments that must be seen one by one (in a room of the needed kind,
or a session of the group service searched) are not merged here; ``availability`` reads those
apart. SQLite, the development database, has no ranges and keeps the Python merge.
"""

from collections import defaultdict

from django.db import connections
from django.db.models import QuerySet

Span = tuple[int, int]  # whole seconds since the epoch, half-open

_MERGE = """
WITH merged AS (
    SELECT provider_id, SUM(counted) AS appointments,
           range_agg(tstzrange(blocked_start, blocked_end)) AS busy
    FROM (
        SELECT provider_id, 1 AS counted, blocked_start, blocked_end FROM ({appointments}) a
        UNION ALL
        SELECT provider_id, 0, blocked_start, blocked_end FROM ({holds}) h
    ) spans
    GROUP BY provider_id
)
SELECT provider_id, appointments,
       ARRAY(SELECT floor(EXTRACT(EPOCH FROM lower(r)))::bigint FROM unnest(busy) r),
       ARRAY(SELECT ceil(EXTRACT(EPOCH FROM upper(r)))::bigint FROM unnest(busy) r)
FROM merged
"""


def merges_in_database(alias: str) -> bool:
    """Whether the database behind ``alias`` can merge busy time (PostgreSQL 14+ multiranges)."""
    connection = connections[alias]
    return connection.vendor == "postgresql" and connection.pg_version >= 140000


def merged_busy(appointments: QuerySet, holds: QuerySet) -> tuple[dict[int, list[Span]], dict]:
    """Per provider the merged busy spans of ``appointments`` and ``holds`` (querysets with
    ``provider_id``, ``blocked_start`` and ``blocked_end``), rounded outwards to whole seconds
    as the Python path rounds each appointment, and per provider the number of appointments
    (none for a provider with holds only). One query."""
    columns = ("provider_id", "blocked_start", "blocked_end")
    appointments_sql, appointments_params = (
        appointments.order_by().values_list(*columns).query.sql_with_params()
    )
    holds_sql, holds_params = holds.order_by().values_list(*columns).query.sql_with_params()
    busy: dict[int, list[Span]] = defaultdict(list)
    counts: dict[int, int] = {}
    with connections[appointments.db].cursor() as cursor:
        cursor.execute(
            _MERGE.format(appointments=appointments_sql, holds=holds_sql),
            [*appointments_params, *holds_params],
        )
        for pid, count, starts, ends in cursor.fetchall():
            if count:
                counts[pid] = int(count)
            busy[pid] = list(zip(starts, ends, strict=True))
    return busy, counts
