"""No double booking on the SQLite default: there are no exclusion constraints, so the guarantee
rests on the settings serialising writers (``transaction_mode=IMMEDIATE``) and the booking
service's check inside that write transaction. Proven with real processes, each with its own
connection to one SQLite file, whatever database the rest of the run uses (CI: PostgreSQL)."""

import json
import os
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from django.conf import settings

PROCESSES = 8


def _env(tmp_path: Path) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL")
    }
    env.update(
        DATABASE_URL=f"sqlite:///{tmp_path / 'clinic.sqlite3'}",
        DJANGO_SETTINGS_MODULE="clinic.settings",
        DJANGO_ENV="test",
        CLINIC_VAR_DIR=str(tmp_path / "var"),
    )
    return env


def _run(env: dict[str, str], *args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "tests.scheduling.sqlite_race", *args],
        cwd=settings.BASE_DIR,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _output(process: subprocess.Popen) -> dict:
    out, err = process.communicate(timeout=180)
    assert process.returncode == 0, err
    return json.loads(out.strip().splitlines()[-1])


@pytest.mark.slow
def test_parallel_processes_on_one_sqlite_file_book_a_slot_exactly_once(tmp_path):
    env = _env(tmp_path)
    db_file = str(tmp_path / "clinic.sqlite3")
    body = _output(_run(env, "setup", db_file))
    go = tmp_path / "go"
    bookers = [
        _run(env, "book", db_file, json.dumps(body), str(n), str(go)) for n in range(PROCESSES)
    ]
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not all(
        Path(f"{go}.{n}.ready").exists() for n in range(PROCESSES)
    ):
        time.sleep(0.05)
    go.touch()
    results = [_output(b) for b in bookers]

    assert Counter(r["status"] for r in results) == {201: 1, 409: PROCESSES - 1}, results
    assert {r["slug"] for r in results if r["status"] == 409} == {"slot-unavailable"}
    with sqlite3.connect(db_file) as db:
        (rows,) = db.execute("SELECT count(*) FROM scheduling_appointment").fetchone()
    assert rows == 1
