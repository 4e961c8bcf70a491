"""A connection whose prepared statements a schema change made stale is closed once handed back.

psycopg prepares what a connection runs often (``DB_PREPARE_THRESHOLD``, clinic/settings.py). A
migration that changes a column's type (a longer ``max_length``) changes the result type of
every statement prepared to read that column, and PostgreSQL refuses each further run of it on
that connection: "cached plan must not change result type" (SQLSTATE 0A000). Inside a
transaction the rollback clears psycopg's prepared statements; in autocommit (every read outside
``atomic``) nothing does, and the connection, healthy to ``SELECT 1``, would fail that read until
``CONN_MAX_AGE`` retires it. The query that meets the error still fails; the connection is
marked obsolete, so Django closes it when its request or task ends
(``close_if_unusable_or_obsolete``) and the next starts on a fresh one.
"""

from django.db import NotSupportedError

STALE_PLAN = "cached plan must not change result type"


def retire_on_stale_plan(execute, sql, params, many, context):
    """Execute wrapper: on a stale prepared statement, mark the connection obsolete."""
    try:
        return execute(sql, params, many, context)
    except NotSupportedError as error:
        if STALE_PLAN in str(error):
            context["connection"].close_at = 0  # past: closed when handed back
        raise


def install(sender, connection, **kwargs) -> None:
    """``connection_created`` receiver: wrap each PostgreSQL connection's queries once."""
    if (
        connection.vendor == "postgresql"
        and retire_on_stale_plan not in connection.execute_wrappers
    ):
        connection.execute_wrappers.append(retire_on_stale_plan)
