"""Sending a backlog in batches: one statement claims up to ``NOTIFICATIONS_BATCH_SIZE`` due
rows, one read per kind loads what their consent checks and renderers need, and every e-mail
goes over the worker's one SMTP session (``notifications.mailer``).

A batch keeps the guarantee of docs/NOTIFICATIONS.md row by row, because each row is still sent
by ``services.send_claimed`` as if alone:

- consent is checked and the e-mail rendered right before that row's send, and the row is
  marked ``sent`` by its own statement right after its 250, never at the end of the batch; a
  worker killed mid-batch can repeat only the one row whose 250 was on its way;
- the rows claimed but not yet sent stay ``sending`` under the batch's lease and the worker's
  heartbeat: once the lease has run out and the heartbeat has stopped, a sweep takes them over
  (``services._take``, ``notifications.holders``); a live worker keeps them;
- a row is not started once half its lease has gone (a slow SMTP server), and the batch's reads
  are made again when older than ``NOTIFICATIONS_BATCH_READ_SECONDS``; rows left unstarted are
  handed back ``pending``, their attempt undone, for the next claim.
"""

import logging
import time
from collections import defaultdict
from collections.abc import Callable
from datetime import datetime, timedelta

from django.db import DatabaseError
from django.db.models import F

from notifications import clock, conf, registry, services
from notifications.models import Notification

logger = logging.getLogger(__name__)

Status = Notification.Status


def _prepare(claims: list[services.Claim]) -> None:
    """One read per kind for the rows left (``registry`` ``prepare``); a failed read leaves each
    row to its renderer's own read."""
    rows_by_kind: dict[str, list[Notification]] = defaultdict(list)
    for claimed in claims:
        rows_by_kind[claimed.notification.kind].append(claimed.notification)
    for key, rows in rows_by_kind.items():
        kind = registry.get(key)
        if kind is None or kind.prepare is None:
            continue
        try:
            kind.prepare(rows)
        except Exception as exc:
            logger.warning("Batch read for %s failed (%s); rows read one by one.", key, exc)


def _late(claimed: services.Claim, now: datetime) -> bool:
    """Half the lease has gone: too late to start a send that must end inside it."""
    half = timedelta(seconds=conf.lease_seconds() / 2)
    return now >= claimed.notification.lease_expires_at - half


def _hand_back(claims: list[services.Claim]) -> None:
    """Unstarted rows back to ``pending`` (still due, attempt undone), if still ours."""
    if not claims:
        return
    try:
        Notification.objects.filter(
            pk__in=[claimed.notification.pk for claimed in claims],
            lease_token=claims[0].token,
            status=Status.SENDING,
        ).update(
            status=Status.PENDING,
            lease_token=None,
            lease_expires_at=None,
            lease_holder=None,
            attempts=F("attempts") - 1,
        )
    except DatabaseError:
        # The lease covers them: once it runs out and this worker is gone they are taken over.
        logger.warning("Could not hand back %s unsent notifications.", len(claims))


def send_batch(claims: list[services.Claim]) -> list[str]:
    """Send the claimed rows one after the other; the statuses of those started, in order."""
    statuses: list[str] = []
    started = 0
    read_at = None
    try:
        for claimed in claims:
            now = clock.now()
            if _late(claimed, now):
                break
            if read_at is None or time.monotonic() - read_at > conf.batch_read_seconds():
                _prepare(claims[started:])
                read_at = time.monotonic()
            started += 1
            statuses.append(services.send_claimed(claimed, now))
    finally:
        # Never the row being sent when an error struck: the server may hold it already.
        _hand_back(claims[started:])
    return statuses


def sweep(limit: int | None = None, on_backlog: Callable[[], None] | None = None) -> int:
    """Fail the rows whose workers keep dying, then send due rows batch by batch, up to
    ``limit`` rows; ``on_backlog`` is called once, when a batch comes back full."""
    limit = limit or conf.sweep_limit()
    handled = services.fail_worn_out(clock.now())
    while handled < limit:
        size = min(conf.batch_size(), limit - handled)
        claims = services.claim_batch(clock.now(), size)
        if not claims:
            break
        if on_backlog is not None and len(claims) == size:
            on_backlog()
            on_backlog = None
        sent = send_batch(claims)
        if not sent:
            break
        handled += len(sent)
    return handled
