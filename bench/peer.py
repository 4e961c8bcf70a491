"""The peer, django-appointment from PyPI, in its own virtual environment under ``bench/out/``.

It is never added to the project's lock nor imported by the project: ``bench/peer_app/measure.py``
runs in the peer's interpreter against its own database and reports back as JSON.
"""

import json
import subprocess
import sys
from pathlib import Path

from bench import env
from bench.dataset import CELL_MINUTES, DAY_END, DAY_START, Clinic

PEER_PACKAGE = "django-appointment==3.12.0"
VENV = env.OUT_DIR / "peer-venv"
PYTHON = VENV / "bin" / "python"
# `python3 dev.py setup` installs uv into the project's venv; it need not be on PATH.
UV = str(env.VENV_BIN / "uv") if (env.VENV_BIN / "uv").exists() else "uv"


def install() -> str:
    """Create the peer's venv if missing; returns its django-appointment version."""
    if not PYTHON.exists():
        subprocess.run(
            [UV, "venv", "-q", "--python", f"{sys.version_info[0]}.{sys.version_info[1]}", VENV],
            check=True,
            capture_output=True,
            text=True,
        )
    subprocess.run(
        [UV, "pip", "install", "-q", "--python", PYTHON, PEER_PACKAGE, "psycopg[binary]"],
        check=True,
        capture_output=True,
        text=True,
    )
    return PEER_PACKAGE.split("==")[1]


def measure(clinic: Clinic, runs: int) -> dict:
    """The peer's time for the provider-month the project's "1 provider x month" case searches."""
    env.recreate_database(env.PEER_DB_NAME)
    first, last = clinic.month()
    spec = {
        "first_day": first.isoformat(),
        "days": (last - first).days + 1,
        "runs": runs,
        "duration_minutes": CELL_MINUTES,
        "step_minutes": 15,
        "day_start": DAY_START.isoformat(),
        "day_end": DAY_END.isoformat(),
        "weekdays": [0, 1, 2, 3, 4],
        "appointments": [
            (day, start)
            for day, start in clinic.peer_calendar["appointments"]
            if first.isoformat() <= day <= last.isoformat()
        ],
        "out": str(env.OUT_DIR / "peer-result.json"),
    }
    done = subprocess.run(
        [PYTHON, env.BENCH_DIR / "peer_app" / "measure.py"],
        input=json.dumps(spec),
        env={
            **env.pg_env(),
            "DJANGO_SETTINGS_MODULE": "peer_settings",
            "PEER_DATABASE_URL": env.database_url(env.PEER_DB_NAME),
        },
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"the peer failed:\n{done.stderr[-3000:]}")
    return json.loads(Path(spec["out"]).read_text())
