"""Throttles: the public widget API is limited per client, reads and writes separately.

The counters live in the shared cache (Redis in production). A cache outage must not take
bookings down with it: while the shared cache fails, each process counts in its own memory
(the limits then hold per worker process instead of across them) and says so once in the log.
"""

import logging
import threading
import time
from typing import Any

from django.core.cache import caches
from django.core.cache.backends.locmem import LocMemCache
from rest_framework.settings import api_settings
from rest_framework.throttling import AnonRateThrottle, UserRateThrottle

logger = logging.getLogger(__name__)

# After a failure, the shared cache is asked again only this long after: a cache that hangs
# until its socket timeout would otherwise slow every request by that timeout.
RETRY_SHARED_CACHE_SECONDS = 30.0


class FallbackCache:
    """The shared cache while it answers; a process-local memory cache while it does not."""

    def __init__(self, alias: str = "default") -> None:
        self.alias = alias
        self.local = LocMemCache("throttle-fallback", {"OPTIONS": {"MAX_ENTRIES": 10_000}})
        self._retry_at = 0.0
        self._failing = False
        self._lock = threading.Lock()

    def reset(self) -> None:
        """Forget an outage (tests that point the cache at a closed port and back)."""
        with self._lock:
            self._retry_at, self._failing = 0.0, False
            self.local.clear()

    def _call(self, method: str, *args: Any) -> Any:
        if time.monotonic() >= self._retry_at:
            try:
                result = getattr(caches[self.alias], method)(*args)
            except Exception as error:  # any backend's failure: connection, timeout, protocol
                self._went_down(error)
            else:
                self._came_back()
                return result
        return getattr(self.local, method)(*args)

    def _went_down(self, error: Exception) -> None:
        with self._lock:
            self._retry_at = time.monotonic() + RETRY_SHARED_CACHE_SECONDS
            if self._failing:
                return
            self._failing = True
        logger.warning(
            "Throttle cache %r unreachable (%s); counting requests per process until it answers.",
            self.alias,
            type(error).__name__,
        )

    def _came_back(self) -> None:
        if not self._failing:
            return
        with self._lock:
            self._failing, self._retry_at = False, 0.0
        logger.warning("Throttle cache %r answers again; shared counting resumed.", self.alias)

    def get(self, key: str, default: Any = None) -> Any:
        return self._call("get", key, default)

    def set(self, key: str, value: Any, timeout: float | None = None) -> None:
        self._call("set", key, value, timeout)


throttle_cache = FallbackCache()


class LiveRateMixin:
    """Look the rate up per request: DRF binds ``THROTTLE_RATES`` once at import, so a changed
    setting (``override_settings`` in tests) would otherwise be ignored."""

    scope: str
    cache = throttle_cache

    def get_rate(self) -> str | None:
        return api_settings.DEFAULT_THROTTLE_RATES.get(self.scope)


class PublicReadThrottle(LiveRateMixin, AnonRateThrottle):
    scope = "public_read"

    def allow_request(self, request, view) -> bool:
        if request.method not in ("GET", "HEAD", "OPTIONS"):
            return True
        return super().allow_request(request, view)


class PublicWriteThrottle(LiveRateMixin, AnonRateThrottle):
    scope = "public_write"

    def allow_request(self, request, view) -> bool:
        if request.method in ("GET", "HEAD", "OPTIONS"):
            return True
        return super().allow_request(request, view)


class StaffThrottle(LiveRateMixin, UserRateThrottle):
    scope = "staff"
