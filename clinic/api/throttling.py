"""Throttles: the public widget API is limited per client, reads and writes separately.

Each client's requests of the last window are kept as a log, as DRF's ``SimpleRateThrottle``
keeps them, so the limit is exact over any window: no more than N requests in any D seconds.
DRF reads and rewrites the whole log as one pickled list on every request (a GET and a SET of
every timestamp in the window: kilobytes per request at high limits or behind one busy NAT
address); here the log is a Redis sorted set and one Lua script prunes, counts and records in
one round trip, with Redis's own clock so every worker and host agrees on the window.

The counters live in the shared cache (Redis in production). A cache outage must not take
bookings down with it: while the shared cache fails, each process counts in its own memory
(the limits then hold per worker process instead of across them) and says so once in the log.
A cache that is not Redis (the file cache of a dev set-up without Redis, the memory cache of
the tests) keeps the same log as a list, as DRF does.
"""

import logging
import os
import threading
import time
import weakref
from typing import Any

from django.core.cache import caches
from django.core.cache.backends.locmem import LocMemCache
from django.core.cache.backends.redis import RedisCache
from rest_framework.settings import api_settings
from rest_framework.throttling import AnonRateThrottle, UserRateThrottle

logger = logging.getLogger(__name__)

# After a failure, the shared cache is asked again only this long after: a cache that hangs
# until its socket timeout would otherwise slow every request by that timeout.
RETRY_SHARED_CACHE_SECONDS = 30.0

# KEYS[1]: the client's log (a sorted set of request times). ARGV: limit, window (seconds),
# a member unique to this request (64 random bits). Answers {1} when recorded, else
# {0, count, age of the oldest entry in microseconds} for Retry-After. Entries at or before
# now - window are dropped, as DRF drops them; a refused request is not recorded, as in DRF.
RECORD_SCRIPT = """
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000000 + tonumber(clock[2])
local limit = tonumber(ARGV[1])
local window = tonumber(ARGV[2]) * 1000000
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
local count = redis.call('ZCARD', KEYS[1])
if count < limit then
  redis.call('ZADD', KEYS[1], now, ARGV[3])
  redis.call('PEXPIRE', KEYS[1], math.ceil(window / 1000))
  return {1}
end
local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
local age = 0
if oldest[2] then age = now - tonumber(oldest[2]) end
return {0, count, age}
"""


class Verdict:
    """What one request's count says: allowed, and if not, how long until a place frees."""

    __slots__ = ("allowed", "wait")

    def __init__(self, allowed: bool, wait: float | None = None) -> None:
        self.allowed = allowed
        self.wait = wait


def _refused(count: int, oldest_age: float, limit: int, window: float) -> Verdict:
    """DRF's ``SimpleRateThrottle.wait``: the window's remainder spread over the places left."""
    places = limit - count + 1
    return Verdict(False, (window - oldest_age) / places if places > 0 else None)


def record_in_log(cache: Any, key: str, limit: int, window: float) -> Verdict:
    """Count one request in a client's log kept as a list under ``key`` (DRF's own way), for
    a cache that is not Redis."""
    history = cache.get(key, [])
    now = time.time()
    while history and history[-1] <= now - window:
        history.pop()
    if len(history) >= limit:
        return _refused(len(history), now - history[-1] if history else 0.0, limit, window)
    history.insert(0, now)
    cache.set(key, history, window)
    return Verdict(True)


class FallbackCache:
    """The shared cache while it answers; a process-local memory cache while it does not."""

    def __init__(self, alias: str = "default") -> None:
        self.alias = alias
        self.local = LocMemCache("throttle-fallback", {"OPTIONS": {"MAX_ENTRIES": 10_000}})
        self._retry_at = 0.0
        self._failing = False
        self._lock = threading.Lock()
        self._script: Any = None
        # One Redis client per cache object (Django keeps one per thread, each with its pool).
        self._clients: weakref.WeakKeyDictionary[RedisCache, Any] = weakref.WeakKeyDictionary()

    def reset(self) -> None:
        """Forget an outage (tests that point the cache at a closed port and back)."""
        with self._lock:
            self._retry_at, self._failing = 0.0, False
            self.local.clear()

    def record(self, key: str, limit: int, window: float) -> Verdict:
        """Count one request against ``limit`` per ``window`` seconds in the shared cache, or
        in this process while the shared cache fails."""
        if time.monotonic() >= self._retry_at:
            try:
                shared = caches[self.alias]
                if isinstance(shared, RedisCache):
                    verdict = self._record_in_redis(shared, key, limit, window)
                else:
                    verdict = record_in_log(shared, key, limit, window)
            except Exception as error:  # any backend's failure: connection, timeout, protocol
                self._went_down(error)
            else:
                self._came_back()
                return verdict
        return record_in_log(self.local, key, limit, window)

    def _record_in_redis(self, cache: RedisCache, key: str, limit: int, window: float) -> Verdict:
        full_key = cache.make_key(key)
        client = self._clients.get(cache)
        if client is None:  # Django builds a new client object per call: a third of the cost
            client = self._clients[cache] = cache._cache.get_client(full_key, write=True)
        if self._script is None:
            self._script = client.register_script(RECORD_SCRIPT)
        answer = self._script(
            keys=[full_key], args=[limit, window, os.urandom(8).hex()], client=client
        )
        if answer[0]:
            return Verdict(True)
        return _refused(int(answer[1]), int(answer[2]) / 1_000_000, limit, window)

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


throttle_cache = FallbackCache()


class LiveRateMixin:
    """Look the rate up per request (DRF binds ``THROTTLE_RATES`` once at import, so a changed
    setting, ``override_settings`` in tests, would otherwise be ignored) and count in one call
    to the throttle cache instead of DRF's read and rewrite of the whole log."""

    scope: str
    cache: Any = throttle_cache
    # Not DRF's key: a sorted set must never meet the pickled list an older process wrote.
    cache_format = "throttle-log:%(scope)s:%(ident)s"

    def get_rate(self) -> str | None:
        return api_settings.DEFAULT_THROTTLE_RATES.get(self.scope)

    def allow_request(self, request, view) -> bool:
        if self.rate is None:
            return True
        self.key = self.get_cache_key(request, view)
        if self.key is None:
            return True
        if isinstance(self.cache, FallbackCache):
            verdict = self.cache.record(self.key, self.num_requests, self.duration)
        else:
            verdict = record_in_log(self.cache, self.key, self.num_requests, self.duration)
        self._wait = verdict.wait
        return verdict.allowed

    def wait(self) -> float | None:
        return self._wait


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
