#!/usr/bin/env python3
"""Set up and run the clinic, or its tests, from a fresh clone with nothing but Python 3.11.

    python3 dev.py up      # web (API + admin), Celery worker and beat, demo data
    python3 dev.py test    # the test suite (extra arguments go to pytest)

Both create ``.venv`` and install the locked dependencies (``uv.lock``) first. Everything runs on
embedded defaults (SQLite, a filesystem Celery broker, e-mails written to ``var/mail``) unless
``DATABASE_URL``, ``REDIS_URL`` and ``EMAIL_*`` say otherwise. Standard library only.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PYTHON = BIN / "python"
UV_VERSION = "0.13.9"


def run(cmd: list[str | Path], **kwargs) -> None:
    print("+", " ".join(str(c) for c in cmd), flush=True)
    subprocess.run([str(c) for c in cmd], check=True, cwd=ROOT, **kwargs)


def bootstrap() -> None:
    """Create the virtual environment and install exactly what ``uv.lock`` pins."""
    if sys.version_info[:2] != (3, 11):
        sys.exit(f"Python 3.11 is required (this is {sys.version.split()[0]}).")
    if not PYTHON.exists():
        print(f"Creating {VENV} ...", flush=True)
        venv.EnvBuilder(with_pip=True).create(VENV)
    uv = BIN / "uv"
    if not uv.exists():
        # uv itself is pinned in the lock's dev group, so ``uv sync`` keeps it in the venv.
        if subprocess.call([str(PYTHON), "-c", "import pip"], stderr=subprocess.DEVNULL) != 0:
            run([PYTHON, "-m", "ensurepip", "--default-pip"])
        run(
            [
                PYTHON,
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
                f"uv=={UV_VERSION}",
            ]
        )
    env = {**os.environ, "UV_PROJECT_ENVIRONMENT": str(VENV)}
    run([uv, "sync", "--locked", "--quiet"], env=env)


def manage(*args: str, env: dict[str, str] | None = None) -> None:
    run([PYTHON, "manage.py", *args], env=env)


def up() -> int:
    """Migrate, seed the demo clinic, then run web, worker and beat until Ctrl-C."""
    bootstrap()
    env = dict(os.environ)
    port = env.get("PORT", "8000")
    env.setdefault("PUBLIC_BASE_URL", f"http://127.0.0.1:{port}")
    manage("migrate", "--no-input", env=env)
    manage("seed_demo", env=env)
    processes = {
        "web": [
            BIN / "gunicorn",
            "--config",
            "gunicorn.conf.py",
            "clinic.wsgi:application",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            env.get("WEB_CONCURRENCY", "2"),
            "--access-logfile",
            "-",
        ],
        "worker": [
            BIN / "celery",
            "-A",
            "clinic",
            "worker",
            "--loglevel",
            "INFO",
            "--concurrency",
            env.get("CELERY_CONCURRENCY", "2"),
        ],
        "beat": [BIN / "celery", "-A", "clinic", "beat", "--loglevel", "INFO"],
    }
    children = {
        name: subprocess.Popen([str(c) for c in cmd], cwd=ROOT, env=env)
        for name, cmd in processes.items()
    }
    base = f"http://127.0.0.1:{port}"
    print(
        f"\nThe clinic is running:\n  admin     {base}/admin/\n  API docs  {base}/api/docs/\n"
        f"  widget    {base}/book/\n  health    {base}/readyz\n"
        f"  e-mails   {ROOT / 'var' / 'mail'} (unless EMAIL_BACKEND says otherwise)\n"
        "Demo logins are listed above. Ctrl-C stops everything.\n",
        flush=True,
    )
    stopping = False

    def stop(*_args: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    exit_code = 0
    while not stopping:
        for name, child in children.items():
            if child.poll() is not None:
                print(f"{name} exited with {child.returncode}; stopping the rest.", flush=True)
                exit_code = child.returncode or 1
                stopping = True
        time.sleep(0.5)
    for child in children.values():
        if child.poll() is None:
            child.terminate()
    for child in children.values():
        try:
            child.wait(timeout=15)
        except subprocess.TimeoutExpired:
            child.kill()
    return exit_code


def test(pytest_args: list[str]) -> int:
    bootstrap()
    env = {**os.environ, "DJANGO_ENV": "test"}
    return subprocess.call([str(PYTHON), "-m", "pytest", *pytest_args], cwd=ROOT, env=env)


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in {"up", "test", "setup"}:
        print(__doc__)
        return 2
    if argv[0] == "up":
        return up()
    if argv[0] == "setup":
        bootstrap()
        return 0
    return test(argv[1:])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
