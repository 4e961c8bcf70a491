"""The sender's clock: real time, plus an offset read from a file when one is configured.

Planning, claiming, leases, back-off and the "too late" checks all read this clock, so a test can
move time for the test process and a real worker process alike by writing one number.
"""

from datetime import datetime, timedelta
from pathlib import Path

from django.utils import timezone

from notifications import conf


def offset() -> timedelta:
    path = conf.clock_file()
    if not path:
        return timedelta(0)
    try:
        text = Path(path).read_text().strip()
    except FileNotFoundError:
        return timedelta(0)
    return timedelta(seconds=float(text or 0))


def now() -> datetime:
    return timezone.now() + offset()
