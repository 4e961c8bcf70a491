"""Planning, withdrawing and sending ledger rows: the guarantees of DOMAIN.md section 7.

Exactly once per subject, kind and planned time rests on three things:

- the unique constraint on (subject type, subject id, kind, planned time): planning is idempotent;
- claiming: a worker takes a due row with ``SELECT ... FOR UPDATE SKIP LOCKED`` and marks it
  ``sending`` with a lease (a token and an expiry) in the same short transaction, so duplicate task
  deliveries and racing workers find nothing left to take;
- finishing only under the lease token: a worker whose lease was taken over records nothing;
- taking a ``sending`` row over only when its lease expired and the worker that claimed it stopped
  beating (its heartbeat, on the database's clock, ``notifications.holders``): a slow worker
  keeps its row.

The one window left open is a crash after the SMTP server accepted a message (its 250 after DATA)
and before the row was marked ``sent``: the row is then sent again, with the same Message-ID. That
window is one statement wide: the statement that marks the row sent is built before the message is
handed over and runs as soon as the 250 arrives (``send_claimed``). See docs/NOTIFICATIONS.md.
"""

import functools
import logging
import smtplib
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import (
    BooleanField,
    DateTimeField,
    DurationField,
    ExpressionWrapper,
    Model,
    Q,
    QuerySet,
)
from django.db.models.expressions import RawSQL, Value
from django.db.models.functions import Now
from django.db.models.sql import UpdateQuery
from django.utils import timezone

from clinic import deferred_inserts
from clinic.celery import app as celery_app
from clinic.errors import ConflictProblem
from notifications import clock, conf, holders, mailer, registry
from notifications.models import Notification
from notifications.registry import Email, Skip
from notifications.rendering import build_message

logger = logging.getLogger(__name__)

Status = Notification.Status
SEND_TASK = "notifications.send"  # the task in ``notifications.tasks``, queued here by name


def subject_key(subject: Model) -> tuple[str, int]:
    return subject._meta.label_lower, subject.pk


def new_message_id() -> str:
    domain = settings.DEFAULT_FROM_EMAIL.rsplit("@", 1)[-1].strip(" >") or "clinic.example"
    return f"<notification.{uuid.uuid4().hex}@{domain}>"


def _key(subject: Model, kind: str, planned_for: datetime) -> dict:
    """What makes a row unique (the database's constraint), for a kind that has a renderer."""
    if registry.get(kind) is None:
        raise ValueError(f"No renderer registered for notification kind {kind!r}.")
    subject_type, subject_id = subject_key(subject)
    return {
        "subject_type": subject_type,
        "subject_id": subject_id,
        "kind": kind,
        "planned_for": planned_for,
    }


def _fresh(planned_for: datetime, recipient: str, context: dict | None) -> dict:
    """A row's state when it is planned (or planned again): pending, due at its planned time."""
    return {
        "recipient": recipient,
        "context": context or {},
        "next_attempt_at": planned_for,
        "status": Status.PENDING,
        "reason": "",
    }


def plan(
    subject: Model,
    kind: str,
    planned_for: datetime,
    recipient: str,
    *,
    context: dict | None = None,
) -> Notification:
    """Plan one e-mail; planning the same subject, kind and time again returns the same row.

    A row withdrawn earlier (``cancelled``) is planned again when the same time comes back (an
    appointment moved away and back); a row already sent, skipped or failed is left as it is, so
    nothing is sent twice for one planned time. Sending is queued after the caller's commit.
    """
    key = _key(subject, kind, planned_for)
    fresh = _fresh(planned_for, recipient, context)
    with transaction.atomic():
        row = Notification.objects.select_for_update().filter(**key).first()
        if row is None:
            try:
                with transaction.atomic():
                    row = Notification.objects.create(**key, **fresh, message_id=new_message_id())
            except IntegrityError:
                row = Notification.objects.select_for_update().get(**key)
        elif row.status == Status.CANCELLED:
            for name, value in fresh.items():
                setattr(row, name, value)
            row.save(update_fields=[*fresh, "updated_at"])
        elif row.status == Status.PENDING and (row.context, row.recipient) != (
            fresh["context"],
            recipient,
        ):
            # The same time planned for another reason (a reminder offset of the moved
            # appointment now falls where another offset's reminder was): the row says why now.
            row.context, row.recipient = fresh["context"], recipient
            row.save(update_fields=["context", "recipient", "updated_at"])
    if row.status == Status.PENDING:
        enqueue_after_commit(row)
    return row


@dataclass(frozen=True)
class Planned:
    """One e-mail to plan: what ``plan`` takes, for ``plan_first``."""

    kind: str
    planned_for: datetime
    recipient: str
    context: dict | None = None


def plan_first(
    subject: Model, items: list[Planned], *, created_here: bool = False
) -> list[Notification] | None:
    """Plan a new subject's first e-mails in one INSERT: a subject just created has no rows, so
    the per-row read and lock of ``plan`` buy nothing. ``None``, with nothing written, when the
    constraint finds a row already there (the subject was announced before): the caller then
    plans as for any change. ``created_here``: the caller's open transaction inserted the
    subject, so no row can name it yet and the INSERT needs no savepoint (a conflict fails the
    caller's transaction, as any other error there); inside ``deferred_inserts.collecting`` the
    rows are written with the transaction's other append-only rows, and get their ids and their
    after-commit task then."""
    rows = [
        Notification(
            **_key(subject, item.kind, item.planned_for),
            **_fresh(item.planned_for, item.recipient, item.context),
            message_id=new_message_id(),
        )
        for item in items
    ]
    if created_here and deferred_inserts.defer(rows, after=lambda: _enqueue_each(rows)):
        return rows
    try:
        with transaction.atomic(savepoint=not created_here):
            Notification.objects.bulk_create(rows)
    except IntegrityError:
        if created_here:
            raise
        return None
    _enqueue_each(rows)
    return rows


def _enqueue_each(rows: list[Notification]) -> None:
    for row in rows:
        enqueue_after_commit(row)


def withdraw(
    subject: Model,
    kinds: list[str] | tuple[str, ...],
    reason: str,
    *,
    keep_planned_for: list[datetime] | tuple[datetime, ...] = (),
) -> int:
    """Cancel the subject's pending rows of these kinds (except at ``keep_planned_for``).

    Rows already being sent are not touched: their renderer looks at the subject at send time and
    skips what no longer applies.
    """
    subject_type, subject_id = subject_key(subject)
    return (
        Notification.objects.filter(
            subject_type=subject_type,
            subject_id=subject_id,
            kind__in=kinds,
            status=Status.PENDING,
        )
        .exclude(planned_for__in=list(keep_planned_for))
        .update(status=Status.CANCELLED, reason=reason)
    )


def rows_for(
    subject: Model, kinds: list[str] | tuple[str, ...] | None = None
) -> QuerySet[Notification]:
    subject_type, subject_id = subject_key(subject)
    rows = Notification.objects.filter(subject_type=subject_type, subject_id=subject_id)
    return rows.filter(kind__in=kinds) if kinds else rows


def last_told(subject: Model, kinds: list[str] | tuple[str, ...]) -> dict | None:
    """What the most recent sent e-mail of these kinds told the recipient, or ``None``."""
    row = (
        rows_for(subject, kinds)
        .filter(status=Status.SENT)
        .order_by("-sent_at", "-id")
        .only("told")
        .first()
    )
    return row.told if row else None


def _own_message(delay: float) -> bool:
    """Whether a row due in ``delay`` seconds gets a task message of its own; a later one is
    the minute sweep's (``NOTIFICATIONS_TASK_WINDOW_SECONDS``)."""
    return delay <= conf.task_window_seconds()


def enqueue_after_commit(row: Notification) -> None:
    """Queue a task for a row due soon; later rows are left to the beat sweep."""
    delay = (row.next_attempt_at - clock.now()).total_seconds()
    if not _own_message(delay):
        return
    row_id = row.pk
    transaction.on_commit(lambda: _enqueue(row_id, max(delay, 0.0)))


def _enqueue(row_id: int, countdown: float) -> None:
    """Publish the send task after commit. By name, so this module need not import the tasks
    module that imports it; with the argument text given (what Celery would ``saferepr``) and
    no countdown for a row already due (an ETA of now only makes the worker hold it on its
    timer first): every booking pays for this message."""
    try:
        celery_app.signature(SEND_TASK, args=(row_id,)).apply_async(
            countdown=countdown if countdown > 0 else None,
            argsrepr=f"({row_id},)",
            kwargsrepr="{}",
        )
    except Exception:
        # The sweep sends it within a minute; a broker hiccup must not fail the caller.
        logger.warning("Could not queue notification %s; the sweep will send it.", row_id)


@dataclass(frozen=True)
class Claim:
    notification: Notification
    token: uuid.UUID
    # When it was claimed, on ``holders.elapsed``: the heartbeat must not lapse from then on.
    since: float = field(default_factory=holders.elapsed)


def _due(now: datetime) -> Q:
    """Rows that need a worker: pending and due, or ``sending`` with an expired lease (taken
    over only once their holder is gone too, ``_abandoned``)."""
    return Q(status=Status.PENDING, next_attempt_at__lte=now) | Q(
        status=Status.SENDING, lease_expires_at__lte=now
    )


def _holder_gone() -> RawSQL:
    sql, params = holders.holder_gone_sql()
    return RawSQL(sql, params, output_field=BooleanField())  # noqa: S611


def _abandoned(now: datetime) -> Q:
    """``sending`` rows whose lease expired and whose worker is gone (``notifications.holders``)."""
    return Q(status=Status.SENDING, lease_expires_at__lte=now) & Q(_holder_gone())


def _claimable(now: datetime) -> Q:
    return Q(status=Status.PENDING, next_attempt_at__lte=now) | _abandoned(now)


LEASE_FIELDS = ["status", "lease_token", "lease_expires_at", "lease_holder"]


def _worn_out(row: Notification) -> bool:
    return row.attempts >= conf.max_attempts()


def _take(
    now: datetime, token: uuid.UUID, notification_id: int | None, limit: int = 1
) -> list[Notification]:
    """The common claim in one statement, its own transaction: ``UPDATE ... WHERE id IN (SELECT
    ... LIMIT n FOR UPDATE SKIP LOCKED) RETURNING``. The ORM's lock, update and commit were four
    round trips, a quarter of a send's time; a batch of ``limit`` rows is still one. Rows whose
    workers keep dying are left to ``claim``. The rows come back in the order they fell due."""
    table = connection.ops.quote_name(Notification._meta.db_table)
    fields = Notification._meta.concrete_fields
    column = {f.name: connection.ops.quote_name(f.column) for f in fields}

    def value(name: str, python_value):
        return Notification._meta.get_field(name).get_db_prep_value(python_value, connection)

    params = [
        value("status", Status.SENDING),
        value("lease_token", token),
        value("lease_expires_at", now + timedelta(seconds=conf.lease_seconds())),
        value("updated_at", timezone.now()),  # as auto_now would, not the ledger clock
        value("lease_holder", holders.current()),
        value("status", Status.PENDING),
        value("next_attempt_at", now),
        value("status", Status.SENDING),
        value("lease_expires_at", now),
        conf.max_attempts(),
    ]
    holder_gone, holder_params = holders.holder_gone_sql()
    params += holder_params
    only = ""
    if notification_id is not None:
        only = f"AND {column['id']} = %s"
        params.append(notification_id)
    params.append(limit)
    lock = ""
    if connection.features.has_select_for_update_skip_locked:
        lock = connection.ops.for_update_sql(skip_locked=True)
    # Names come from the model's meta, the holder SQL is constant, every value is a parameter.
    sql = f"""
        UPDATE {table} SET {column["status"]} = %s, {column["lease_token"]} = %s,
            {column["lease_expires_at"]} = %s, {column["attempts"]} = {column["attempts"]} + 1,
            {column["updated_at"]} = %s, {column["lease_holder"]} = %s
        WHERE {column["id"]} IN (
            SELECT {column["id"]} FROM {table}
            WHERE (
                ({column["status"]} = %s AND {column["next_attempt_at"]} <= %s)
                OR ({column["status"]} = %s AND {column["lease_expires_at"]} <= %s
                    AND {column["attempts"]} < %s AND {holder_gone})
            ) {only}
            ORDER BY {column["next_attempt_at"]}, {column["id"]} LIMIT %s {lock}
        )
        RETURNING {", ".join(column.values())}
    """  # noqa: S608
    rows = list(Notification.objects.raw(sql, params))
    return sorted(rows, key=lambda row: (row.next_attempt_at, row.pk))


def _fail_lost(row: Notification) -> None:
    """Its workers keep dying while sending it: stop, and let staff look at it."""
    row.status = Status.FAILED
    row.lease_token = row.lease_expires_at = row.lease_holder = None
    row.last_error = f"The worker was lost while sending, {row.attempts} times."
    row.save(update_fields=[*LEASE_FIELDS, "last_error", "updated_at"])


def fail_worn_out(now: datetime) -> int:
    """Fail every row whose lease ran out on its last attempt. The one-statement claim passes
    over such rows, so under a steady backlog only this (run by each sweep) fails them promptly."""
    with transaction.atomic():
        rows = list(
            Notification.objects.select_for_update(skip_locked=True).filter(
                _abandoned(now), attempts__gte=conf.max_attempts()
            )
        )
        for row in rows:
            _fail_lost(row)
    return len(rows)


def claim(now: datetime, notification_id: int | None = None) -> Claim | None:
    """Take one due row (or the given one, if due) under a fresh lease; ``None`` if none is free.

    ``_take`` claims in one statement; only when it finds nothing are rows whose workers keep
    dying looked for (and failed) here, so a backlog's claims stay one round trip each."""
    token = uuid.uuid4()
    # RETURNING needs PostgreSQL or SQLite 3.35+ (Django's flag for it); older SQLite takes the
    # ORM path below for every claim.
    if connection.features.can_return_columns_from_insert:
        taken = _take(now, token, notification_id)
        if taken:
            return Claim(taken[0], token)
    with transaction.atomic():
        rows = Notification.objects.select_for_update(skip_locked=True).filter(_claimable(now))
        if notification_id is not None:
            rows = rows.filter(pk=notification_id)
        row = rows.order_by("next_attempt_at", "id").first()
        while row is not None and row.status == Status.SENDING and _worn_out(row):
            _fail_lost(row)
            row = rows.order_by("next_attempt_at", "id").first()
        if row is None:
            return None
        row.status = Status.SENDING
        row.lease_token = token
        row.lease_expires_at = now + timedelta(seconds=conf.lease_seconds())
        row.attempts += 1
        row.lease_holder = holders.current()
        row.save(update_fields=[*LEASE_FIELDS, "attempts", "updated_at"])
    return Claim(row, token)


def claim_batch(now: datetime, limit: int) -> list[Claim]:
    """Take up to ``limit`` due rows in one statement, under one fresh lease token and in the
    order they fell due; ``[]`` if none is free. Without RETURNING (older SQLite) a batch is
    one row through the ORM path of ``claim``, as is the look for rows whose workers keep dying
    once the one-statement claim finds nothing."""
    if limit > 1 and connection.features.can_return_columns_from_insert:
        token = uuid.uuid4()
        taken = _take(now, token, None, limit)
        if taken:
            return [Claim(row, token) for row in taken]
    claimed = claim(now)
    return [claimed] if claimed is not None else []


def _outcome_update(claimed: Claim, changes: dict) -> tuple[str, tuple]:
    """The UPDATE recording an outcome under our lease token, compiled to SQL and parameters."""
    for name in ("lease_token", "lease_expires_at", "lease_holder"):
        changes.setdefault(name, None)
    query = Notification.objects.filter(
        pk=claimed.notification.pk, lease_token=claimed.token
    ).query.chain(UpdateQuery)
    query.add_update_values(changes)
    return query.get_compiler(connection=connection).as_sql()


# The columns the "sent" UPDATE sets, in the order ``_sent_update`` gives their values.
SENT_FIELDS = ("status", "sent_at", "recipient", "subject_line", "told", "last_error", "reason")


def _sent_at(offset: timedelta) -> ExpressionWrapper:
    """The database's clock plus the ledger's offset: ``sent_at`` stamped as the UPDATE runs."""
    return ExpressionWrapper(
        Now() + Value(offset, output_field=DurationField()), output_field=DateTimeField()
    )


def _sent_changes(claimed: Claim, email: Email, sent_at) -> dict:
    row = claimed.notification
    values = (
        Status.SENT,
        sent_at,
        email.to or row.recipient,
        email.subject[:200],
        email.told,
        "",
        "",
    )
    return dict(zip(SENT_FIELDS, values, strict=True))


@functools.lru_cache(maxsize=8)
def _sent_statement(vendor: str, offset: timedelta) -> tuple[str, tuple]:
    """The "sent" UPDATE's SQL and the parameters of its ``sent_at`` expression, compiled by the
    ORM once per database and clock offset; the SQL depends on nothing else."""
    claimed = Claim(Notification(pk=0, recipient=""), uuid.UUID(int=0))
    changes = _sent_changes(claimed, Email(subject="", text=""), _sent_at(offset))
    query = Notification.objects.filter(pk=0, lease_token=claimed.token).query.chain(UpdateQuery)
    query.add_update_values({**changes, **dict.fromkeys(LEASE_FIELDS[1:])})
    compiler = query.get_compiler(connection=connection)
    sql, _ = compiler.as_sql()
    sent_at = changes["sent_at"].resolve_expression(query, allow_joins=False, for_save=True)
    _, sent_at_params = compiler.compile(sent_at)
    return sql, tuple(sent_at_params)


def _sent_update(claimed: Claim, email: Email) -> tuple[str, tuple]:
    """``_outcome_update`` for a send the server accepted, with the SQL compiled once per process
    (``_sent_statement``) and only the row's values prepared per e-mail (the lease's columns are
    set to a literal NULL): the ORM's compile of this statement had been about a fifth of a
    send. tests/notifications/test_sent_statement.py holds it to ``_outcome_update``."""
    meta = Notification._meta
    sql, sent_at_params = _sent_statement(connection.vendor, clock.offset())
    params: list = []
    for name, value in _sent_changes(claimed, email, None).items():
        if name == "sent_at":
            params.extend(sent_at_params)
        else:
            params.append(meta.get_field(name).get_db_prep_save(value, connection=connection))
    # The WHERE of ``filter(pk=..., lease_token=...)``: Django orders keyword filters by name.
    params.append(meta.get_field("lease_token").get_db_prep_value(claimed.token, connection))
    params.append(meta.pk.get_db_prep_value(claimed.notification.pk, connection))
    return sql, tuple(params)


def _run_outcome(claimed: Claim, statement: tuple[str, tuple]) -> bool:
    with connection.cursor() as cursor:
        cursor.execute(*statement)
        done = cursor.rowcount
    if not done:
        logger.warning(
            "Lease on notification %s was taken over; outcome not recorded.",
            claimed.notification.pk,
        )
    return bool(done)


def _finish(claimed: Claim, **changes) -> bool:
    """Record the outcome only if the lease is still ours."""
    return _run_outcome(claimed, _outcome_update(claimed, changes))


def backoff(attempts: int) -> timedelta:
    seconds = conf.retry_base_seconds() * (2 ** max(attempts - 1, 0))
    return timedelta(seconds=min(seconds, conf.retry_max_seconds()))


def send_claimed(claimed: Claim, now: datetime) -> str:
    """Check consent, render, send and record. Returns the resulting status."""
    row = claimed.notification
    kind = registry.get(row.kind)
    if kind is None:
        _finish(claimed, status=Status.FAILED, last_error=f"No renderer for kind {row.kind!r}.")
        return Status.FAILED
    try:
        if kind.consent is not None and not kind.consent(row):
            raise Skip("no_consent")
        email = kind.render(row, now)
    except Skip as skip:
        _finish(claimed, status=Status.SKIPPED, reason=skip.reason[:200])
        return Status.SKIPPED
    except Exception as exc:
        return _failed_attempt(claimed, now, exc, f"Rendering failed: {exc!r}")
    message = build_message(row, email)
    # Built before the message is handed over, so that nothing but this one autocommitted
    # statement stands between the server's 250 and the ledger's "sent" (see the module
    # docstring): a crash in between is the one way an e-mail goes out twice. The database
    # stamps ``sent_at`` as it runs it, on the ledger's clock.
    record_sent = _sent_update(claimed, email)
    if not holders.confirmed(claimed.since) and not _renew(claimed):
        logger.warning("Lease on notification %s was taken over; not sent.", row.pk)
        return Status.SENDING
    try:
        mailer.send(message)
    except (smtplib.SMTPException, OSError) as exc:
        return _failed_attempt(claimed, now, exc, f"SMTP: {exc!r}")
    _run_outcome(claimed, record_sent)
    return Status.SENT


def _renew(claimed: Claim) -> bool:
    """A fresh lease under our token, if the row is still ours: after a lapse of this worker's
    heartbeat (``holders.confirmed``) another worker may have taken the row over. The lease is
    on the row itself, so a takeover running at the same moment waits for this statement and
    then finds the lease not expired; ``False`` when the row was taken over already."""
    expires = clock.now() + timedelta(seconds=conf.lease_seconds())
    return bool(
        Notification.objects.filter(
            pk=claimed.notification.pk, lease_token=claimed.token, status=Status.SENDING
        ).update(lease_expires_at=expires, lease_holder=holders.current())
    )


def _failed_attempt(claimed: Claim, now: datetime, exc: Exception, error: str) -> str:
    """Record ``error`` on the row for staff; the log names only the exception's class, since
    SMTP and template errors quote addresses and content (patient data stays out of logs)."""
    row = claimed.notification
    logger.warning(
        "Notification %s attempt %s failed: %s", row.pk, row.attempts, type(exc).__name__
    )
    if row.attempts >= conf.max_attempts():
        _finish(claimed, status=Status.FAILED, last_error=error)
        logger.error("Notification %s failed after %s attempts.", row.pk, row.attempts)
        return Status.FAILED
    next_at = now + backoff(row.attempts)
    delay = (next_at - now).total_seconds()
    recorded = _finish(claimed, status=Status.PENDING, next_attempt_at=next_at, last_error=error)
    # As for a planned row: a later retry is the sweep's, not an ETA message a worker holds for
    # up to an hour (one per failing row while the SMTP server is down).
    if recorded and _own_message(delay):
        _enqueue(row.pk, delay)
    return Status.PENDING


def deliver(notification_id: int) -> str:
    """Send one row if it is due and free; a duplicate delivery of its task finds nothing to do."""
    now = clock.now()
    claimed = claim(now, notification_id)
    if claimed is None:
        return "nothing_due"
    return send_claimed(claimed, now)


def sweep(limit: int | None = None, on_backlog: Callable[[], None] | None = None) -> int:
    """Send whatever is due, including rows whose lease expired, in batches
    (``notifications.batches``). Returns how many rows were handled; ``on_backlog`` is called
    once if a batch came back full (more is likely due than this sweep alone should send)."""
    from notifications import batches  # built on this module, so imported when first used

    return batches.sweep(limit, on_backlog)


def retry_now(notification: Notification) -> Notification:
    """A manager's "retry now" on a failed row: a fresh set of attempts, starting at once."""
    with transaction.atomic():
        row = Notification.objects.select_for_update().get(pk=notification.pk)
        if row.status != Status.FAILED:
            raise ConflictProblem(
                f"Only failed notifications can be retried; this one is {row.status}.",
                slug="invalid-transition",
                title="The notification is not in a state that allows this.",
            )
        row.status = Status.PENDING
        row.attempts = 0
        row.next_attempt_at = clock.now()
        row.save(update_fields=["status", "attempts", "next_attempt_at", "updated_at"])
        enqueue_after_commit(row)
    return row
