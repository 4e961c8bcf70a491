"""CPU time other processes spent during a phase, read from Linux's ``/proc``.

Throughput on 2 shared cores is bounded by the CPU one operation costs in every process it
touches: the API workers and the database backends serving them. Measuring both says what a
figure is limited by, and what the best this code could reach on this machine is.
"""

import os
from collections.abc import Callable
from pathlib import Path

TICKS = os.sysconf("SC_CLK_TCK")


def _processes() -> list[tuple[str, list[str]]]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            stat = (entry / "stat").read_text()
        except OSError:  # the process ended while we looked
            continue
        found.append((command, stat.rsplit(")", 1)[1].split()))
    return found


def cpu_seconds(matches: Callable[[str], bool]) -> float:
    """User and system CPU seconds of the live processes whose command line ``matches``."""
    ticks = 0
    for command, fields in _processes():
        if matches(command):
            ticks += int(fields[11]) + int(fields[12])  # utime, stime (stat fields 14, 15)
    return ticks / TICKS


def api_workers(command: str) -> bool:
    return "gunicorn" in command and "clinic.wsgi" in command


def api_workers_on(port: int) -> Callable[[str], bool]:
    """The gunicorn master and workers bound to ``port`` only (other bench runs on the machine
    start gunicorns of their own)."""
    return lambda command: api_workers(command) and f"--bind=127.0.0.1:{port} " in command


def database_backends(database: str) -> Callable[[str], bool]:
    """PostgreSQL backends connected to ``database`` (their title names it)."""
    return lambda command: command.startswith("postgres:") and f" {database} " in command
