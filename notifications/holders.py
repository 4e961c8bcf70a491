"""Who holds a lease: a worker thread that proves it is alive by a heartbeat in the database.

An expired lease alone does not prove that its worker is gone: a worker may still be inside a
slow SMTP conversation. Each claim therefore records its holder (``Notification.lease_holder``):
a random token for the claiming thread of the worker process, never reused. A background thread
of each worker process writes the heartbeat of all its claiming threads to ``LeaseHolder``
every sixth of ``NOTIFICATIONS_HOLDER_TIMEOUT_SECONDS``, and a row in ``sending`` is taken over
only when its lease has expired **and** its holder's heartbeat is older than that timeout (or
missing). The heartbeat is written and judged on the database's clock alone, so a host whose
clock is wrong cannot take a row from a live worker.

The holder is not the database session: behind a pooler in transaction mode the server
connection a worker uses changes from one transaction to the next, and a killed worker's server
connection lives on in the pool. A worker killed with SIGKILL stops beating with its process, so
its rows are free once their lease has run out and the timeout has passed; a worker still
talking to the SMTP server keeps beating (the heartbeat thread runs while the sending thread
waits on the socket), so it keeps its row however long the lease has been expired.

A holder also counts as gone when it is the thread asking: a thread sends one batch at a time
(``notifications.batches``) and claims again only once that batch is done, so while it claims
it is sending nothing. And a thread starts a send only if, since its claim, its heartbeat never
went half the timeout without reaching the database (``confirmed``); otherwise (the process was
paused by SIGSTOP or a frozen virtual machine, or cut off from the database) it may already
count as gone, and it first renews the row's lease under its token, which fails if the row was
taken over (``services.send_claimed``).

Other databases (SQLite, for development: one worker) record no holder: the lease alone decides.
"""

import logging
import os
import socket
import threading
import time
import uuid
import weakref
from collections import deque
from itertools import pairwise

from django.db import connection

from notifications import conf
from notifications.models import LeaseHolder, Notification

logger = logging.getLogger(__name__)

# Heartbeats per timeout: a worker is counted gone only after this many in a row failed.
BEATS_PER_TIMEOUT = 6
# Holders this long without a heartbeat are deleted (a missing holder counts as gone, as a
# stale one does; a process that comes back writes its row again).
FORGET_AFTER_SECONDS = 86400

BOOTTIME = getattr(time, "CLOCK_BOOTTIME", None)


def elapsed() -> float:
    """Seconds on this machine's clock that never jumps and, on Linux, also runs while the
    machine is suspended (a frozen virtual machine's pause counts)."""
    return time.clock_gettime(BOOTTIME) if BOOTTIME is not None else time.monotonic()


class _Registry:
    """This process's claiming threads, their tokens, and when each heartbeat was confirmed."""

    def __init__(self):
        self.lock = threading.Lock()
        self.local = threading.local()
        self.threads: weakref.WeakKeyDictionary[threading.Thread, uuid.UUID] = (
            weakref.WeakKeyDictionary()
        )
        # Per token, when each of its recent beats was issued (``elapsed``), if it was written.
        self.beats: dict[uuid.UUID, deque[float]] = {}
        self.heart: threading.Thread | None = None
        self.wake = threading.Event()  # a new thread registered: beat for it at once


_registry = _Registry()


def _reset_after_fork() -> None:
    """A forked child (a Celery pool process) is a new worker: its own tokens and heartbeat."""
    global _registry
    _registry = _Registry()


os.register_at_fork(after_in_child=_reset_after_fork)


def _postgres() -> bool:
    return connection.vendor == "postgresql"


def _timeout() -> float:
    return conf.holder_timeout_seconds()


def current() -> uuid.UUID | None:
    """This thread's holder token, to record on the rows it claims (``None`` off PostgreSQL).

    The first claim of a thread makes its token and starts the process's heartbeat; no round
    trip: until the first beat lands, the rows it claims are covered by their fresh lease. A
    later claim starts the heartbeat again if it ended, so a live claiming thread is never left
    without one."""
    if not _postgres():
        return None
    registry = _registry
    token = getattr(registry.local, "token", None)
    if token is not None:
        heart = registry.heart
        if heart is None or not heart.is_alive():  # it ended (an uncaught error): a new one
            with registry.lock:
                _start_heart(registry)
            registry.wake.set()
        return token
    token = uuid.uuid4()
    with registry.lock:
        registry.threads[threading.current_thread()] = token
        registry.beats[token] = deque(maxlen=64)
        _start_heart(registry)
    registry.local.token = token
    registry.wake.set()
    return token


def _start_heart(registry: _Registry) -> None:
    """Start the process's heartbeat thread unless it runs (the caller holds the lock)."""
    if registry.heart is None or not registry.heart.is_alive():
        registry.heart = threading.Thread(
            target=_beat_forever, args=(registry,), name="notifications-heartbeat", daemon=True
        )
        registry.heart.start()


def confirmed(since: float) -> bool:
    """This thread may start a send under a claim made at ``since`` (``elapsed``): from then
    to now its heartbeat never went half the timeout without reaching the database, so no
    other worker has counted it as gone. The claim itself counts as a beat: it gave its rows a
    fresh lease, which they keep far longer than half the timeout."""
    if not _postgres():
        return True
    registry = _registry
    token = getattr(registry.local, "token", None)
    with registry.lock:
        beats = [beat for beat in registry.beats.get(token, ()) if beat > since]
    moments = [since, *beats, elapsed()]
    half = _timeout() / 2
    return all(later - earlier < half for earlier, later in pairwise(moments))


def holder_gone_sql() -> tuple[str, list]:
    """A condition on a notification row, with its parameters: its holder is gone (no
    heartbeat within the timeout, on the database's clock), or is this thread."""
    if not _postgres():
        return "1 = 1", []
    quote = connection.ops.quote_name
    rows = quote(Notification._meta.db_table)
    holder = f"{rows}.{quote(Notification._meta.get_field('lease_holder').column)}"
    holders = quote(LeaseHolder._meta.db_table)
    token = quote(LeaseHolder._meta.get_field("token").column)
    beat = quote(LeaseHolder._meta.get_field("heartbeat_at").column)
    # Names from the models' meta; every value is a parameter.
    alive = (
        f"SELECT 1 FROM {holders} AS h WHERE h.{token} = {holder} "  # noqa: S608
        f"AND h.{beat} > now() - %s * interval '1 second'"
    )
    sql = f"({holder} IS NULL OR {holder} = %s OR NOT EXISTS ({alive}))"
    return sql, [current(), _timeout()]


def _live_tokens(registry: _Registry) -> list[uuid.UUID]:
    """Tokens of the threads still running; a thread that ended stops being beaten for."""
    with registry.lock:
        alive = {token for thread, token in registry.threads.items() if thread.is_alive()}
        for token in set(registry.beats) - alive:
            del registry.beats[token]
    return sorted(alive)


def _beat(tokens: list[uuid.UUID], forget: bool) -> None:
    """One statement writing every token's heartbeat at the database's ``now()``."""
    quote = connection.ops.quote_name
    meta = LeaseHolder._meta
    table = quote(meta.db_table)
    names = ["token", "host", "pid", "thread", "started_at", "heartbeat_at"]
    columns = {name: quote(meta.get_field(name).column) for name in names}
    host, pid = socket.gethostname()[:255], os.getpid()
    rows = ", ".join(["(%s, %s, %s, %s, now(), now())"] * len(tokens))
    params: list = []
    with _registry.lock:
        names_by_token = {token: thread.name for thread, token in _registry.threads.items()}
    for token in tokens:
        params += [token, host, pid, names_by_token.get(token, "")[:100]]
    # Names from the model's meta; every value is a parameter.
    sql = (
        f"INSERT INTO {table} ({', '.join(columns.values())}) VALUES {rows} "  # noqa: S608
        f"ON CONFLICT ({columns['token']}) DO UPDATE "
        f"SET {columns['heartbeat_at']} = EXCLUDED.{columns['heartbeat_at']}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        if forget:
            cursor.execute(
                f"DELETE FROM {table} WHERE {columns['heartbeat_at']} "  # noqa: S608
                "< now() - %s * interval '1 second'",
                [FORGET_AFTER_SECONDS],
            )


def _beat_forever(registry: _Registry) -> None:
    """The heartbeat thread: beat every sixth of the timeout, or at once when a new thread
    registers; after each beat close the connection (one idle server connection less per
    worker process, and nothing held between beats)."""
    failing, forget, last = False, True, float("-inf")
    while True:
        wait = last + _timeout() / BEATS_PER_TIMEOUT - elapsed()
        # Woken at least every second, so that a changed timeout takes effect.
        if wait > 0 and not registry.wake.wait(min(wait, 1.0)):
            continue
        registry.wake.clear()
        tokens = _live_tokens(registry)
        last = elapsed()
        try:
            if tokens:
                _beat(tokens, forget)
                forget = False
                with registry.lock:
                    for token in tokens:
                        if token in registry.beats:
                            registry.beats[token].append(last)
            if failing:
                logger.warning("Notification heartbeat restored.")
            failing = False
        except Exception as exc:
            if not failing:
                logger.warning("Notification heartbeat failed: %s", type(exc).__name__)
            failing = True
        finally:
            connection.close()
