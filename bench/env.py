"""Where the benchmark runs: its own PostgreSQL databases and Redis db, set before Django loads.

Everything here can be overridden from the environment, so the same command runs on a developer's
machine, in CI or in Docker Compose. The bench never touches the databases of the tests or the demo.
"""

import gc
import os
import secrets
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlparse

ROOT = Path(__file__).resolve().parent.parent
BENCH_DIR = ROOT / "bench"
OUT_DIR = BENCH_DIR / "out"
VENV_BIN = Path(sys.executable).parent

PG_URL = os.environ.get("BENCH_PG_URL", "postgres://postgres@127.0.0.1:5432")
DB_NAME = os.environ.get("BENCH_DB", "clinic_bench")
PEER_DB_NAME = os.environ.get("BENCH_PEER_DB", "clinic_bench_peer")
PGBENCH_DB_NAME = os.environ.get("BENCH_PGBENCH_DB", "clinic_bench_pg")
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/8")


def database_url(name: str = DB_NAME) -> str:
    return f"{PG_URL.rstrip('/')}/{name}"


def pg_args(name: str = "postgres") -> list[str]:
    """libpq connection arguments for psql, createdb and pgbench."""
    url = urlparse(PG_URL)
    args = ["-h", url.hostname or "127.0.0.1", "-p", str(url.port or 5432)]
    args += ["-U", url.username or "postgres"]
    return [*args, "-d", name] if name else args


def pg_env() -> dict[str, str]:
    env = dict(os.environ)
    password = urlparse(PG_URL).password
    if password:
        env["PGPASSWORD"] = password
    return env


def app_env() -> dict[str, str]:
    """The environment of every process running the project: the API server, the Celery workers
    and this process. Throttles are lifted because every simulated patient comes from one address,
    and DEBUG is off so that Django does not keep every query in memory."""
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "clinic.settings",
        "DJANGO_ENV": "development",
        "DEBUG": "0",
        "SECRET_KEY": os.environ.get("SECRET_KEY", secrets.token_urlsafe(50)),
        "DATABASE_URL": database_url(),
        "DB_CONN_MAX_AGE": "600",
        "REDIS_URL": REDIS_URL,
        "CELERY_BROKER_URL": REDIS_URL,
        "THROTTLE_PUBLIC_READ": "10000000/min",
        "THROTTLE_PUBLIC_WRITE": "10000000/min",
        "LOG_LEVEL": "WARNING",
        "AXES_ENABLED": "0",
        "CLINIC_VAR_DIR": str(OUT_DIR / "var"),
        "PYTHONUNBUFFERED": "1",
    }


def setup_django() -> None:
    """Point this process at the bench database and start Django."""
    os.environ.update(app_env())
    import django

    django.setup()
    # What gunicorn.conf.py's post_worker_init does in a web worker, so that in-process timings
    # are a worker's.
    gc.freeze()


def psql(sql: str, db: str = "postgres") -> str:
    done = subprocess.run(
        ["psql", *pg_args(db), "-v", "ON_ERROR_STOP=1", "-qAtc", sql],
        env=pg_env(),
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.strip()


def recreate_database(name: str) -> None:
    psql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    psql(f'CREATE DATABASE "{name}"')
