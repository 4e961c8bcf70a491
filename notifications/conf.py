"""Tunables of the sender. Each comes from a Django setting, else the environment, else a default,
so a worker started by a test can be given short leases and back-off through its environment."""

import os

from django.conf import settings

DEFAULTS = {
    # A claimed row stays ``sending`` this long; after that any worker may take it over.
    "NOTIFICATIONS_LEASE_SECONDS": 300.0,
    # A worker whose heartbeat is older than this counts as gone (notifications.holders): an
    # expired lease is taken over only then. Less than the lease; heartbeats every sixth of it.
    "NOTIFICATIONS_HOLDER_TIMEOUT_SECONDS": 60.0,
    # Back-off after the n-th failed attempt: base * 2**(n-1), capped.
    "NOTIFICATIONS_RETRY_BASE_SECONDS": 60.0,
    "NOTIFICATIONS_RETRY_MAX_SECONDS": 3600.0,
    "NOTIFICATIONS_MAX_ATTEMPTS": 5,
    # Rows due sooner than this get a task message of their own and go out on time. Later ones
    # (reminders; confirmations and change notices behind their grace period, 3 minutes by
    # default) are claimed in batches by the sweep of every minute, at most that minute late:
    # a message of their own would wait in a worker's memory for the whole delay, one per
    # booking, and cost every booking a publish.
    "NOTIFICATIONS_TASK_WINDOW_SECONDS": 60.0,
    # Most rows one sweep task handles before it queues a fresh sweep task.
    "NOTIFICATIONS_SWEEP_LIMIT": 500,
    # Most rows one worker claims in one statement and sends over its one SMTP session.
    "NOTIFICATIONS_BATCH_SIZE": 50,
    # A batch's consent and subject reads are made again for the rows left once this old, so
    # consent is never judged on a read older than this however slow the SMTP server is.
    "NOTIFICATIONS_BATCH_READ_SECONDS": 2.0,
    # Sweep tasks a backlog is shared among (the first sweep to find one queues the others).
    "NOTIFICATIONS_SWEEP_PARALLEL": 4,
    # A file holding a clock offset in seconds (tests and rehearsals move time with it).
    "NOTIFICATIONS_CLOCK_FILE": "",
}


def _value(name: str):
    value = getattr(settings, name, None)
    if value is None:
        value = os.environ.get(name)
    if value is None:
        return DEFAULTS[name]
    return type(DEFAULTS[name])(value)


def lease_seconds() -> float:
    return _value("NOTIFICATIONS_LEASE_SECONDS")


def holder_timeout_seconds() -> float:
    return _value("NOTIFICATIONS_HOLDER_TIMEOUT_SECONDS")


def retry_base_seconds() -> float:
    return _value("NOTIFICATIONS_RETRY_BASE_SECONDS")


def retry_max_seconds() -> float:
    return _value("NOTIFICATIONS_RETRY_MAX_SECONDS")


def max_attempts() -> int:
    return _value("NOTIFICATIONS_MAX_ATTEMPTS")


def task_window_seconds() -> float:
    return _value("NOTIFICATIONS_TASK_WINDOW_SECONDS")


def sweep_limit() -> int:
    return _value("NOTIFICATIONS_SWEEP_LIMIT")


def clock_file() -> str:
    return _value("NOTIFICATIONS_CLOCK_FILE")


def batch_size() -> int:
    return max(_value("NOTIFICATIONS_BATCH_SIZE"), 1)


def batch_read_seconds() -> float:
    return _value("NOTIFICATIONS_BATCH_READ_SECONDS")


def sweep_parallel() -> int:
    return max(_value("NOTIFICATIONS_SWEEP_PARALLEL"), 1)
