"""Append-only rows of one transaction written in one statement, just before it commits.

A booking writes several rows nobody reads back before it commits: audit rows, the visit's
history row, its e-mail ledger rows, consent records. Each INSERT is a round trip and its
share of ORM and driver CPU. Inside ``collecting()`` the writers that opt in hand such rows
to ``defer`` instead of saving them; the block writes them all when it closes, still inside
the caller's transaction: on PostgreSQL one statement (a data-modifying ``WITH`` of one
``INSERT ... RETURNING`` per model, its rows in one JSON parameter: ``clinic.insert_statements``),
elsewhere one bulk insert per model (Django's insert compiler). Field values are taken when
``defer`` is called (``pre_save``: an ``auto_now_add`` time is the moment of the call, as with
``save()``); primary keys are set on the objects when the block writes them, and ``after``
callbacks (e.g. queueing a task with a row's id after commit) run then.

Rules that keep this invisible to everyone else:

- Outside a block ``defer`` returns False and the caller saves as it always did.
- Inside a savepoint opened after the block, rows are not deferred (``defer`` returns False): a
  rollback to that savepoint must take the row with it.
- Only rows nobody reads within the transaction may be deferred: the block's owner vouches for
  that (``scheduling.services.booking.book_online``).
- A failing write (a constraint) raises from the block's exit and fails the transaction as a
  whole, as the row's own INSERT would have; a block left by an exception, or in a transaction
  already marked for rollback, writes nothing.
- No ``pre_save``/``post_save`` signal is sent for a deferred row (as with ``bulk_create``):
  only models nothing listens to are deferred.
"""

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field

from asgiref.local import Local
from django.db import DEFAULT_DB_ALIAS, connections
from django.db.models import Model
from django.db.models.sql import InsertQuery
from django.db.transaction import TransactionManagementError

from clinic import insert_statements

_blocks = Local()


@dataclass
class _Block:
    depth: int  # len(connection.savepoint_ids) when the block opened
    rows: dict[type[Model], list[Model]] = field(default_factory=dict)
    after: list[Callable[[], None]] = field(default_factory=list)


def _stack(using: str) -> list[_Block]:
    stacks = getattr(_blocks, "stacks", None)
    if stacks is None:
        stacks = _blocks.stacks = {}
    return stacks.setdefault(using, [])


@contextmanager
def collecting(using: str = DEFAULT_DB_ALIAS) -> Iterator[None]:
    """Defer the opted-in append-only inserts made in this block of the caller's open
    transaction, and write them in one statement when the block closes."""
    connection = connections[using]
    if not connection.in_atomic_block:
        raise TransactionManagementError("Deferred inserts belong to an open transaction.")
    block = _Block(depth=len(connection.savepoint_ids))
    stack = _stack(using)
    stack.append(block)
    try:
        yield
    finally:
        stack.pop()
    if connection.needs_rollback:
        return
    _write(connection, block.rows)
    for callback in block.after:
        callback()


def defer(
    objs: Sequence[Model], *, after: Callable[[], None] | None = None, using: str = DEFAULT_DB_ALIAS
) -> bool:
    """Hand ``objs`` (new rows of models with an auto primary key) to the innermost open block;
    False, with nothing taken, when there is none at this savepoint level: the caller then
    inserts them itself. ``after`` runs once the block has written them (their ids are set)."""
    stack = _stack(using)
    if not stack:
        return False
    block = stack[-1]
    connection = connections[using]
    if any(sid is not None for sid in connection.savepoint_ids[block.depth :]):
        return False
    for obj in objs:
        _prepare(obj)
        block.rows.setdefault(type(obj), []).append(obj)
    if after is not None:
        block.after.append(after)
    return True


def _prepare(obj: Model) -> None:
    """What ``save()`` does to a new row before its INSERT, done now: related ids taken from
    their objects, ``pre_save`` values (``auto_now_add``) fixed at this moment."""
    meta = obj._meta
    if meta.auto_field is None or obj.pk is not None or meta.parents:
        raise ValueError(f"{meta.label}: only new rows with an auto primary key are deferred.")
    obj._prepare_related_fields_for_save(operation_name="save")
    for f in insert_statements.columns(type(obj)):
        f.pre_save(obj, add=True)


def _compiler(connection, model: type[Model], objs: list[Model]):
    """Django's insert compiler for these rows, with their values as ``_prepare`` fixed them
    (``raw``: no second ``pre_save``), returning the primary key."""
    query = InsertQuery(model)
    query.insert_values(insert_statements.columns(model), objs, raw=True)
    compiler = query.get_compiler(connection=connection)
    compiler.returning_fields = [model._meta.pk]
    return compiler


def _write(connection, rows: dict[type[Model], list[Model]]) -> None:
    if not rows:
        return
    if connection.vendor == "postgresql":
        _write_in_one_statement(connection, rows)
    else:
        _write_per_model(connection, rows)
    for objs in rows.values():
        for obj in objs:
            obj._state.adding, obj._state.db = False, connection.alias


def _write_in_one_statement(connection, rows: dict[type[Model], list[Model]]) -> None:
    """``WITH i0 AS (INSERT ... RETURNING id), i1 AS (...) SELECT ARRAY(SELECT id FROM i0),
    ...``: each model's rows in one INSERT from one JSON parameter (``clinic.insert_statements``,
    built once per model), ids returned in the rows' order (as bulk_create's RETURNING)."""
    quote = connection.ops.quote_name
    ctes, arrays, params = [], [], []
    for n, (model, objs) in enumerate(rows.items()):
        ctes.append(f"i{n} AS ({insert_statements.recordset_sql(connection, model)})")
        pk = quote(model._meta.pk.column)
        arrays.append(f"ARRAY(SELECT {pk} FROM i{n})")  # noqa: S608  (a quoted column)
        params.append(insert_statements.recordset(connection, objs))
    with connection.cursor() as cursor:
        cursor.execute(f"WITH {', '.join(ctes)} SELECT {', '.join(arrays)}", params)
        ids = cursor.fetchone()
    for objs, model_ids in zip(rows.values(), ids, strict=True):
        for obj, pk in zip(objs, model_ids, strict=True):
            obj.pk = pk


def _write_per_model(connection, rows: dict[type[Model], list[Model]]) -> None:
    """One bulk insert per model (per batch the backend allows)."""
    for model, objs in rows.items():
        size = max(connection.ops.bulk_batch_size(insert_statements.columns(model), objs), 1)
        if not connection.features.can_return_rows_from_bulk_insert:
            size = 1
        for start in range(0, len(objs), size):
            batch = objs[start : start + size]
            returned = _compiler(connection, model, batch).execute_sql([model._meta.pk])
            for obj, (pk,) in zip(batch, returned, strict=True):
                obj.pk = pk
