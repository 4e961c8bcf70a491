"""Summaries of repeated measurements: every figure is reported with its spread."""

import statistics
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class Summary:
    """Durations in milliseconds."""

    n: int
    p50: float
    p95: float
    p99: float
    min: float
    max: float
    iqr: float

    def as_dict(self) -> dict:
        return asdict(self)

    def short(self) -> str:
        return f"p50 {self.p50:.1f} ms, p95 {self.p95:.1f} ms (min {self.min:.1f}, n={self.n})"


def percentile(sorted_values: list[float], q: float) -> float:
    """Linear interpolation between closest ranks (numpy's default)."""
    if not sorted_values:
        return float("nan")
    position = (len(sorted_values) - 1) * q
    low = int(position)
    high = min(low + 1, len(sorted_values) - 1)
    return sorted_values[low] + (sorted_values[high] - sorted_values[low]) * (position - low)


def summarize(seconds: list[float]) -> Summary:
    values = sorted(s * 1000 for s in seconds)
    return Summary(
        n=len(values),
        p50=percentile(values, 0.5),
        p95=percentile(values, 0.95),
        p99=percentile(values, 0.99),
        min=values[0] if values else float("nan"),
        max=values[-1] if values else float("nan"),
        iqr=percentile(values, 0.75) - percentile(values, 0.25),
    )


def repeat(fn: Callable[[], object], runs: int, warmup: int = 2) -> list[float]:
    """Wall-clock seconds of ``runs`` calls after ``warmup`` untimed ones."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return times


def spread(values: list[float]) -> str:
    """Median and range of a few repeated rates (e.g. three throughput runs)."""
    if len(values) == 1:
        return f"{values[0]:.1f}"
    return f"{statistics.median(values):.1f} (range {min(values):.1f}-{max(values):.1f})"


@contextmanager
def counting_queries() -> Iterator:
    """``CaptureQueriesContext`` on a cleared log. Django keeps at most 9,000 queries per
    connection; once earlier phases have filled the log, the context counts none."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    connection.queries_log.clear()
    with CaptureQueriesContext(connection) as captured:
        yield captured
