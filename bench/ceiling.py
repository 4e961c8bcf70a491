"""The machine's ceiling: ``pgbench`` against the same PostgreSQL server, in a database of its
own, with as many clients as the booking run. Select-only is the cheapest round trip the server
can answer; TPC-B-like is five statements and one commit per transaction, the cheapest write
transaction worth comparing a booking with."""

import glob
import re
import shutil
import subprocess

from bench import env

TPS = re.compile(r"tps = ([0-9.]+) \((?:without|excluding) initial connection time\)")
LATENCY = re.compile(r"latency average = ([0-9.]+) ms")
FDATASYNC = re.compile(r"^\s+fdatasync\s+([0-9.]+) ops/sec", re.MULTILINE)


def available() -> str | None:
    """None when pgbench can run, else why not."""
    if shutil.which("pgbench") is None:
        return "pgbench is not installed (apt-get install postgresql-contrib)"
    return None


def initialise(scale: int) -> None:
    env.recreate_database(env.PGBENCH_DB_NAME)
    subprocess.run(
        ["pgbench", *env.pg_args(env.PGBENCH_DB_NAME), "-i", "-q", "-s", str(scale)],
        env=env.pg_env(),
        check=True,
        capture_output=True,
    )


def run(mode: str, clients: int, seconds: int) -> dict:
    """``mode`` is "select-only" or "tpcb-like"."""
    flags = ["-S"] if mode == "select-only" else []
    done = subprocess.run(
        [
            "pgbench",
            *env.pg_args(env.PGBENCH_DB_NAME),
            *flags,
            "-n",
            "-c",
            str(clients),
            "-j",
            "2",
            "-T",
            str(seconds),
        ],
        env=env.pg_env(),
        check=True,
        capture_output=True,
        text=True,
    )
    tps = TPS.search(done.stdout)
    latency = LATENCY.search(done.stdout)
    return {
        "mode": mode,
        "clients": clients,
        "seconds": seconds,
        "tps": float(tps.group(1)) if tps else float("nan"),
        "latency_ms": float(latency.group(1)) if latency else float("nan"),
    }


def fsync_rate() -> float | None:
    """Single 8 kB fdatasync calls per second on the disk under ``bench/out`` (one second of
    ``pg_test_fsync``): how often one session alone can commit, before group commit helps."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_test_fsync"))
    binary = shutil.which("pg_test_fsync") or (found[-1] if found else None)
    if binary is None:
        return None
    target = env.OUT_DIR / "pg_test_fsync.tmp"
    try:
        done = subprocess.run(
            [binary, "-s", "1", "-f", str(target)],
            capture_output=True,
            text=True,
            timeout=8,
            check=False,
        )
        output = done.stdout
    except subprocess.TimeoutExpired as exc:
        output = exc.stdout.decode() if isinstance(exc.stdout, bytes) else (exc.stdout or "")
    finally:
        target.unlink(missing_ok=True)
    match = FDATASYNC.search(output)
    return float(match.group(1)) if match else None
