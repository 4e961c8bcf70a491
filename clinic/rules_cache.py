"""The booking rules, cached across requests in this process, valid for one "rules token".

Every booking and availability request judges by the same rules: the booking policy, the
service's acts, the scope index of the providers (their credentials, the scope rules and
credential requirements), who offers the service where, the service and the location. They
change when a manager edits them, a few times a day; reading them is most of a booking's SQL.

The token is one row (``clinic_rulestoken``). Database triggers on every table those rules are
read from replace its value with a new random one whenever the table changes (PostgreSQL: per
statement, including TRUNCATE, before it runs, so that rule edits queue on the token row rather
than deadlock; SQLite: per row), in the changing transaction. So a change made by
the API, the admin, ``queryset.update()``, ``bulk_create`` or raw SQL gives a new token, visible
exactly when the change is: to the changing transaction at once, to others when it commits. A
random value, not a counter: a counter bumped in a transaction that rolls back would be bumped
again by another transaction to the same value over different data.

A request reads the token first (``read()``, one indexed one-row query), then takes each entry
stored under that token or loads it and stores it under the token. Data loaded after the token
was read is at least as new as the token, so an entry is never older than its token (a change
committed in between only costs a reload on the next token). An entry stored under a token that
never commits (a rolled-back change) is under a value no other transaction can read. Without a
token row (a flushed test database) nothing is cached; the next change's trigger creates it.

What is cached is data, never a decision: scope is still decided per visit date from the cached
credentials. Cached values are shared by every thread of the process, so they are treated as
read-only (model instances are handed out as copies). Entries are bounded (least recently used
first out); a new token leaves the old entries to age out.

``triggers(*tables)`` is the migration operation each app adds for the tables it owns that the
rules are read from; ``tests/test_rules_cache.py`` checks that every table a cold load reads
carries one.
"""

import copy
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import TypeVar

from django.db import connection, migrations

T = TypeVar("T")

MAX_ENTRIES = 2048
TRIGGER_PREFIX = "rules_token"

_entries: OrderedDict[tuple[str, Hashable], object] = OrderedDict()
_lock = threading.Lock()


class RulesView:
    """One request's read of the rules: the entries stored under the token it read first.
    Hand it down instead of reading the token again; open a new one after changing rules."""

    __slots__ = ("token",)

    def __init__(self, token: str | None):
        self.token = token

    def get(self, key: Hashable, load: Callable[[], T]) -> T:
        """The entry for ``key`` under this view's token, loaded (and stored) if missing."""
        if self.token is None:
            return load()
        full = (self.token, key)
        with _lock:
            if full in _entries:
                _entries.move_to_end(full)
                return _entries[full]  # type: ignore[return-value]
        value = load()
        with _lock:
            _entries[full] = value
            while len(_entries) > MAX_ENTRIES:
                _entries.popitem(last=False)
        return value

    def instance(self, key: Hashable, load: Callable[[], T]) -> T:
        """A cached model instance (or None), as this caller's own copy: callers may set
        attributes and relation caches on what they get without other requests seeing them."""
        found = self.get(key, load)
        return copy.copy(found) if found is not None else found


def read() -> RulesView:
    """The current token (this transaction's view of it), as a view to read the rules with."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT value FROM clinic_rulestoken WHERE id = 1")
        row = cursor.fetchone()
    return RulesView(row[0] if row else None)


def view_or_read(view: RulesView | None) -> RulesView:
    """The caller's view, or a fresh read when it has none."""
    return view if view is not None else read()


def clear() -> None:
    """Forget every entry (tests that count a cold load's queries)."""
    with _lock:
        _entries.clear()


# The triggers. One function per backend replaces the token (creating the row if a flush took
# it); each table gets its own trigger(s) named rules_token_<table>.

PG_FUNCTION = """
CREATE OR REPLACE FUNCTION rules_token_bump() RETURNS trigger AS $$
BEGIN
    INSERT INTO clinic_rulestoken (id, value) VALUES (1, gen_random_uuid()::text)
        ON CONFLICT (id) DO UPDATE SET value = EXCLUDED.value;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;
"""
SQLITE_BUMP = (
    "INSERT INTO clinic_rulestoken (id, value) VALUES (1, lower(hex(randomblob(16)))) "
    "ON CONFLICT (id) DO UPDATE SET value = excluded.value;"
)


def trigger_names(table: str) -> list[str]:
    """The triggers a table carries, per backend (the test checks them by name)."""
    if connection.vendor == "postgresql":
        return [f"{TRIGGER_PREFIX}_{table}", f"{TRIGGER_PREFIX}_{table}_truncate"]
    return [f"{TRIGGER_PREFIX}_{table}_{op}" for op in ("insert", "update", "delete")]


def _create(schema_editor, tables: tuple[str, ...]) -> None:
    vendor = schema_editor.connection.vendor
    for table in tables:
        if vendor == "postgresql":
            name = f"{TRIGGER_PREFIX}_{table}"
            # BEFORE the statement: a transaction takes the token row's lock before the row
            # locks of its first change to the rules, so two changes queue on the token instead
            # of deadlocking (one holding the token, the other a row the first then changes).
            schema_editor.execute(
                f"CREATE TRIGGER {name} BEFORE INSERT OR UPDATE OR DELETE ON {table} "
                f"FOR EACH STATEMENT EXECUTE FUNCTION {TRIGGER_PREFIX}_bump();"
                f"CREATE TRIGGER {name}_truncate BEFORE TRUNCATE ON {table} "
                f"FOR EACH STATEMENT EXECUTE FUNCTION {TRIGGER_PREFIX}_bump();",
                params=None,
            )
        elif vendor == "sqlite":
            for op in ("insert", "update", "delete"):
                schema_editor.execute(
                    f"CREATE TRIGGER IF NOT EXISTS {TRIGGER_PREFIX}_{table}_{op} "
                    f"AFTER {op.upper()} ON {table} BEGIN {SQLITE_BUMP} END;"
                )


def _drop(schema_editor, tables: tuple[str, ...]) -> None:
    vendor = schema_editor.connection.vendor
    for table in tables:
        if vendor == "postgresql":
            name = f"{TRIGGER_PREFIX}_{table}"
            schema_editor.execute(
                f"DROP TRIGGER IF EXISTS {name} ON {table};"
                f"DROP TRIGGER IF EXISTS {name}_truncate ON {table};",
                params=None,
            )
        elif vendor == "sqlite":
            for op in ("insert", "update", "delete"):
                schema_editor.execute(f"DROP TRIGGER IF EXISTS {TRIGGER_PREFIX}_{table}_{op};")


def token_function() -> migrations.RunPython:
    """The migration operation creating the token row and PostgreSQL's trigger function."""

    def forward(apps, schema_editor) -> None:
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.execute(PG_FUNCTION, params=None)
            schema_editor.execute(
                "INSERT INTO clinic_rulestoken (id, value) VALUES (1, gen_random_uuid()::text) "
                "ON CONFLICT (id) DO NOTHING;"
            )
        else:
            schema_editor.execute(
                "INSERT OR IGNORE INTO clinic_rulestoken (id, value) "
                "VALUES (1, lower(hex(randomblob(16))));"
            )

    def backward(apps, schema_editor) -> None:
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.execute(f"DROP FUNCTION IF EXISTS {TRIGGER_PREFIX}_bump();", params=None)

    return migrations.RunPython(forward, backward)


def triggers_before(*tables: str) -> migrations.RunPython:
    """The migration operation replacing the first triggers (PostgreSQL: AFTER the statement,
    so a transaction locked the token only after its rows, and two rule edits could deadlock)
    by the current ones (BEFORE it); SQLite's per-row triggers are kept as they are."""

    def forward(apps, schema_editor) -> None:
        if schema_editor.connection.vendor == "postgresql":
            _drop(schema_editor, tables)
        _create(schema_editor, tables)

    return migrations.RunPython(forward, migrations.RunPython.noop)


def triggers(*tables: str) -> migrations.RunPython:
    """The migration operation giving ``tables`` the token triggers (reversible)."""
    return migrations.RunPython(
        lambda apps, schema_editor: _create(schema_editor, tables),
        lambda apps, schema_editor: _drop(schema_editor, tables),
    )
