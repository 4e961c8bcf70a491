"""INSERT statements for new rows, built once per model and kept per process.

Django's insert compiler rebuilds its statement on every save: the quoted names, the
placeholders, on PostgreSQL the ``UNNEST`` form's column types for several rows. In an online
booking that was as much CPU as everything else its writes cost in Python. The rows a booking
writes without ``save()`` (the new person, the appointment, the deferred append-only rows of
``clinic.deferred_inserts``) use a statement built here once per model; the values are what
``save()`` sends, each field's ``get_db_prep_save``: one row with its values as parameters
(``insert``), or any number of rows as one JSON parameter (``recordset``). Plain concrete
columns only: a model with a generated column, a column with its own placeholder, a multi-table
parent or a value that is an SQL expression is refused, not approximated.
``tests/test_insert_statements.py`` holds the rows written here to the ORM's own.
"""

import ipaddress
import json
import uuid
from collections.abc import Sequence
from datetime import date, datetime, time
from decimal import Decimal
from functools import cache

from django.db import DEFAULT_DB_ALIAS, connections
from django.db.models import Field, Model
from django.db.models.signals import post_save, pre_save
from psycopg.types.json import Jsonb


@cache
def columns(model: type[Model]) -> tuple[Field, ...]:
    """The fields an insert of a new ``model`` row writes: every concrete one but the auto key."""
    meta = model._meta
    if meta.parents or meta.db_returning_fields != [meta.pk]:
        raise ValueError(f"{meta.label}: rows that return more than their key; use the ORM.")
    fields = tuple(f for f in meta.concrete_fields if f is not meta.auto_field)
    for f in fields:
        if f.generated or hasattr(f, "get_placeholder"):
            raise ValueError(f"{meta.label}.{f.name}: not a plain column; use the ORM.")
    return fields


_statements: dict[tuple, str] = {}


def _values(connection, obj: Model, *, raw: bool):
    """``obj``'s values in ``columns`` order, as ``save()`` would send them. ``raw``: take each
    attribute as it is (its ``pre_save`` already ran), else run ``pre_save`` now (an
    ``auto_now_add`` time is this moment)."""
    for f in columns(type(obj)):
        value = getattr(obj, f.attname) if raw else f.pre_save(obj, add=True)
        if hasattr(value, "resolve_expression"):
            raise ValueError(f"{obj._meta.label}.{f.name}: an SQL expression; use the ORM.")
        yield f, f.get_db_prep_save(value, connection=connection)


def _row_sql(connection, model: type[Model], ignore_conflicts: bool) -> str:
    """``INSERT INTO ... VALUES (...) [ON CONFLICT DO NOTHING] RETURNING <key>``."""
    key = (connection.vendor, model, ignore_conflicts)
    statement = _statements.get(key)
    if statement is None:
        quote = connection.ops.quote_name
        names = ", ".join(quote(f.column) for f in columns(model))
        marks = ", ".join(["%s"] * len(columns(model)))
        conflict = " ON CONFLICT DO NOTHING" if ignore_conflicts else ""
        statement = _statements[key] = (
            f"INSERT INTO {quote(model._meta.db_table)} ({names}) VALUES ({marks})"  # noqa: S608
            f"{conflict} RETURNING {quote(model._meta.pk.column)}"
        )
    return statement


def insert(obj: Model, *, ignore_conflicts: bool = False, using: str = DEFAULT_DB_ALIAS) -> bool:
    """Insert ``obj``, a new row, as ``save()`` would and set its key; False, with nothing
    written, when ``ignore_conflicts`` skipped it. No ``pre_save``/``post_save`` signal is sent,
    so a model something listens to is refused: it needs ``save()``."""
    model = type(obj)
    if pre_save.has_listeners(model) or post_save.has_listeners(model):
        raise ValueError(f"{model._meta.label}: save() signals have receivers; use save().")
    connection = connections[using]
    obj._prepare_related_fields_for_save(operation_name="save")
    values = [value for _, value in _values(connection, obj, raw=False)]
    with connection.cursor() as cursor:
        cursor.execute(_row_sql(connection, model, ignore_conflicts), values)
        row = cursor.fetchone()
    if row is None:
        return False
    (obj.pk,) = row
    obj._state.adding, obj._state.db = False, using
    return True


def recordset_sql(connection, model: type[Model]) -> str:
    """``INSERT INTO t (...) SELECT ... FROM jsonb_populate_recordset(NULL::t, %s) RETURNING
    <key>``: any number of new rows in one parameter (``recordset``), keys in the rows' order.
    Used where several models' rows go in one statement: psycopg caches the parsing of a
    statement of at most 50 parameters only, and dumps each parameter on its own."""
    key = (connection.vendor, model, "recordset")
    statement = _statements.get(key)
    if statement is None:
        quote = connection.ops.quote_name
        table, names = (
            quote(model._meta.db_table),
            ", ".join(quote(f.column) for f in columns(model)),
        )
        statement = _statements[key] = (
            f"INSERT INTO {table} ({names}) SELECT {names} "  # noqa: S608
            f"FROM jsonb_populate_recordset(NULL::{table}, %s) "
            f"RETURNING {quote(model._meta.pk.column)}"
        )
    return statement


def recordset(connection, objs: Sequence[Model]) -> Jsonb:
    """``objs`` (new rows of one model whose ``pre_save`` already ran) as the JSON array
    ``recordset_sql`` reads: each column's value as ``save()`` would send it, in the text
    PostgreSQL reads back into the column's type (times in ISO 8601 with their offset)."""
    rows = [
        {f.column: _as_json(v, f) for f, v in _values(connection, obj, raw=True)} for obj in objs
    ]
    return Jsonb(rows)


def _as_json(value, f: Field):
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, uuid.UUID | Decimal | ipaddress.IPv4Address | ipaddress.IPv6Address):
        return str(value)
    if isinstance(value, Jsonb):  # a JSONField's value, written as its own encoder writes it
        return (
            value.obj if value.dumps in (None, json.dumps) else json.loads(value.dumps(value.obj))
        )
    raise ValueError(f"{f.model._meta.label}.{f.name}: no JSON form for {type(value).__name__}.")
