"""PostgreSQL connections bind parameters on the server and prepare what they run often; a
pooler that cannot keep prepared statements gets none (``DB_PREPARE_THRESHOLD=off``)."""

import json
import os
import subprocess
import sys

import pytest
from django.db import connection

from tests.services import ROOT

postgres_only = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="prepared statements are PostgreSQL's"
)


def _prepared_statements() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_prepared_statements")
        return cursor.fetchone()[0]


@postgres_only
@pytest.mark.django_db
def test_a_statement_a_connection_runs_more_than_five_times_is_prepared_once():
    before = _prepared_statements()
    for _ in range(4):
        with connection.cursor() as cursor:
            cursor.execute("SELECT %s::int + 1", [1])
    assert _prepared_statements() == before, "not before its fifth run"
    for n in range(3):
        with connection.cursor() as cursor:
            cursor.execute("SELECT %s::int + 1", [n])
            assert cursor.fetchone() == (n + 1,)
    assert _prepared_statements() == before + 1


def _options(environ: dict[str, str]) -> dict:
    script = (
        "import json, django; from django.conf import settings; "
        "print(json.dumps(settings.DATABASES['default'].get('OPTIONS', {})))"
    )
    env = {k: v for k, v in os.environ.items() if k != "DB_PREPARE_THRESHOLD"}
    env.update({"DJANGO_SETTINGS_MODULE": "clinic.settings", **environ})
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize(
    ("setting", "threshold"), [(None, 5), ("2", 2), ("off", None), ("", None), ("OFF", None)]
)
def test_the_prepare_threshold_comes_from_the_environment_and_off_turns_it_off(setting, threshold):
    environ = {"DATABASE_URL": "postgres://postgres@127.0.0.1:5432/unused"}
    if setting is not None:  # None: unset, the default
        environ["DB_PREPARE_THRESHOLD"] = setting
    options = _options(environ)
    assert options["server_side_binding"] is True
    assert options["prepare_threshold"] == threshold


def test_sqlite_has_no_prepare_options():
    options = _options({"DATABASE_URL": "sqlite:///unused.sqlite3", "DB_PREPARE_THRESHOLD": "5"})
    assert "prepare_threshold" not in options
    assert "server_side_binding" not in options


def test_the_options_of_the_database_url_are_kept_beside_the_prepare_options():
    """``?sslmode=require`` in DATABASE_URL must still reach the driver: replacing the URL's
    options would connect without TLS, or without a ``statement_timeout``, and say nothing."""
    url = "postgres://postgres@127.0.0.1:5432/unused?sslmode=require&options=-c%20statement_timeout%3D5000"
    options = _options({"DATABASE_URL": url})
    assert options["sslmode"] == "require"
    assert options["options"] == "-c statement_timeout=5000"
    assert options["server_side_binding"] is True
    assert options["prepare_threshold"] == 5


@pytest.mark.parametrize("setting", ["false", "none", "-1", "5.5"])
def test_a_prepare_threshold_that_is_neither_a_count_nor_off_stops_the_start_naming_it(setting):
    env = {k: v for k, v in os.environ.items() if k != "DB_PREPARE_THRESHOLD"}
    env.update(
        DJANGO_SETTINGS_MODULE="clinic.settings",
        DATABASE_URL="postgres://postgres@127.0.0.1:5432/unused",
        DB_PREPARE_THRESHOLD=setting,
    )
    done = subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    assert done.returncode != 0
    assert "ImproperlyConfigured: DB_PREPARE_THRESHOLD must be a whole number" in done.stderr
