"""A live server over the demo clinic, seeded once for many tests.

``seed_demo`` takes tens of seconds. pytest-django's ``live_server`` asks for
``transactional_db``, which empties the database after every test, so every browser or fuzz test
would seed again. This server is seeded once per package (browser tests) or module (fuzz) and,
when it stops, puts the database back exactly as it found it (including rows that data
migrations load), so the tests that run later are unaffected. Tests that share it must not depend
on each other's changes; each test runs with ``db``, which rolls back what the test thread writes.
"""

from collections.abc import Iterator
from contextlib import contextmanager

from django.apps import apps
from django.core.management import call_command
from django.core.management.color import no_style
from django.db import DEFAULT_DB_ALIAS, connection, connections
from pytest_django.live_server_helper import LiveServer


@contextmanager
def seeded_live_server(django_db_blocker) -> Iterator[LiveServer]:
    with django_db_blocker.unblock():
        before = connection.creation.serialize_db_to_string()
        call_command("seed_demo", verbosity=0)
    # The server's request threads must not keep persistent connections open past each request
    # (a browser or HTTP client holding a keep-alive socket would keep them past the tests).
    database = connections.settings[DEFAULT_DB_ALIAS]
    max_age = database["CONN_MAX_AGE"]
    database["CONN_MAX_AGE"] = 0
    server = LiveServer("localhost")
    server._live_server_modified_settings.enable()
    try:
        yield server
    finally:
        server._live_server_modified_settings.disable()
        server.stop()
        database["CONN_MAX_AGE"] = max_age
        with django_db_blocker.unblock():
            call_command("flush", interactive=False, verbosity=0, inhibit_post_migrate=True)
            connection.creation.deserialize_db_from_string(before)
            reset_sequences()
            # Opened while a browser's event loop ran, this connection may not be the one the
            # test database's teardown closes; close it here so the database can be dropped.
            connections.close_all()


def reset_sequences() -> None:
    """Rows came back with their ids; the next insert must not reuse one (as loaddata does)."""
    statements = connection.ops.sequence_reset_sql(no_style(), apps.get_models())
    with connection.cursor() as cursor:
        for sql in statements:
            cursor.execute(sql)
