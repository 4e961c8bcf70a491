"""Who holds a lease: the database session of the worker sending the row.

An expired lease alone does not prove that its worker is gone: a worker may still be inside a
slow SMTP conversation. Each claim therefore records the claiming session (PostgreSQL's backend
process id and the time that session began), and a row in ``sending`` is taken over only when
its lease has expired **and** that session has ended. A worker killed with SIGKILL loses its
connection at once (the kernel closes the socket and the backend exits), so its rows are free as
soon as their lease runs out; a worker still talking to the SMTP server keeps its row.

A session counts as gone when PostgreSQL no longer lists it, and also when it is the session
asking: a thread sends one batch at a time (``notifications.batches``) and claims again only
once that batch is done, so while it claims it is sending nothing. Sessions of
another database role are listed without their start time; workers connect as one role, and a
holder that cannot be seen is taken for gone (the lease alone decides, as on other databases).
Other databases (SQLite, for development) record no holder: the lease alone decides.
"""

from django.db import connection

from notifications.models import Notification


def _postgres() -> bool:
    return connection.vendor == "postgresql"


def _column(name: str) -> str:
    table = connection.ops.quote_name(Notification._meta.db_table)
    column = connection.ops.quote_name(Notification._meta.get_field(name).column)
    return f"{table}.{column}"


def holder_values_sql() -> tuple[str, str]:
    """SQL values for ``lease_holder`` and ``lease_holder_since``: the session running the
    statement (evaluated inside the claim itself, no round trip of its own)."""
    if not _postgres():
        return "NULL", "NULL"
    return (
        "pg_backend_pid()",
        "(SELECT backend_start FROM pg_stat_get_activity(pg_backend_pid()))",
    )


def holder_gone_sql() -> str:
    """A condition on a notification row: the session that claimed it has ended (or is us)."""
    if not _postgres():
        return "1 = 1"
    holder, since = _column("lease_holder"), _column("lease_holder_since")
    # Names from the model's meta; no value is interpolated.
    alive = f"SELECT 1 FROM pg_stat_get_activity({holder}) AS s WHERE s.backend_start = {since}"  # noqa: S608
    return f"({holder} IS NULL OR {holder} = pg_backend_pid() OR NOT EXISTS ({alive}))"


def current_holder() -> tuple[int | None, object]:
    """This session's process id and start, for the ORM claim path (``holder_values_sql`` is
    the one-statement path's)."""
    if not _postgres():
        return None, None
    pid_sql, since_sql = holder_values_sql()
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {pid_sql}, {since_sql}")
        pid, since = cursor.fetchone()
    return pid, since
