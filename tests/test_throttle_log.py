"""The throttles keep each client's requests of the window as a log in Redis, counted by one
script per request: the limit holds across processes, a refused request is not counted, the
window moves on, and the answers are those of the list log DRF keeps (the memory fallback)."""

import threading
import time
import uuid

import pytest
from django.conf import settings
from django.core.cache import caches
from django.core.cache.backends.locmem import LocMemCache
from django.test import override_settings
from rest_framework.settings import api_settings

from clinic.api import throttling
from tests.factories.clinic import LocationFactory

pytestmark = pytest.mark.services

PROBLEM = "application/problem+json"
SHARED = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": settings.REDIS_URL,
        "OPTIONS": {"socket_connect_timeout": 0.5, "socket_timeout": 0.5},
    }
}


@pytest.fixture
def redis_cache():
    """The throttles on a real Redis, as in production; each test with keys of its own."""
    throttling.throttle_cache.reset()
    with override_settings(CACHES=SHARED):
        yield caches["default"]
    throttling.throttle_cache.reset()


def fresh_key() -> str:
    return f"throttle-log:test:{uuid.uuid4().hex}"


def test_the_limit_holds_across_processes_sharing_redis(redis_cache):
    """Two processes (two throttle caches, two Redis connections) racing one client's
    allowance of 25 grant 25 requests between them, not 25 each."""
    key, verdicts = fresh_key(), []

    def process() -> None:
        own = throttling.FallbackCache()  # what another worker process holds
        verdicts.extend(own.record(key, 25, 60).allowed for _ in range(40))
        caches["default"].close()

    workers = [threading.Thread(target=process) for _ in range(2)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert verdicts.count(True) == 25
    assert verdicts.count(False) == 55
    assert redis_cache._cache.get_client().zcard(redis_cache.make_key(key)) == 25


def test_a_refused_request_waits_for_the_oldest_to_leave_the_window(redis_cache):
    key = fresh_key()
    assert [throttling.throttle_cache.record(key, 2, 1).allowed for _ in range(3)] == [
        True,
        True,
        False,
    ]
    refused = throttling.throttle_cache.record(key, 2, 1)
    assert not refused.allowed
    assert 0 < refused.wait <= 1
    time.sleep(refused.wait + 0.05)  # the window moves on: the first requests leave it
    assert throttling.throttle_cache.record(key, 2, 1).allowed
    # The refused attempts were not counted: one more place was left, as under DRF's log.
    assert throttling.throttle_cache.record(key, 2, 1).allowed
    assert not throttling.throttle_cache.record(key, 2, 1).allowed


def test_redis_log_answers_as_the_list_log_does(redis_cache):
    """The same requests against the Redis script and the list log (DRF's algorithm, the
    memory fallback): the same verdicts, and Retry-After (whole seconds) the same."""
    key, memory = fresh_key(), LocMemCache(f"throttle-{uuid.uuid4()}", {})
    for limit in (0, 1, 3, 7):  # 0: every request refused, Retry-After the whole window
        shared = [throttling.throttle_cache.record(f"{key}:{limit}", limit, 60) for _ in range(9)]
        local = [throttling.record_in_log(memory, f"{key}:{limit}", limit, 60) for _ in range(9)]
        assert [v.allowed for v in shared] == [v.allowed for v in local]
        assert [round(v.wait or 0) for v in shared] == [round(v.wait or 0) for v in local]
    assert not throttling.throttle_cache._failing  # answered by Redis, not by the fallback


@pytest.mark.django_db
def test_public_reads_over_redis_are_refused_with_a_429_problem_and_retry_after(
    client, redis_cache
):
    LocationFactory()
    ident = f"192.0.2.{uuid.uuid4().int % 250 + 1}"
    redis_cache.delete(f"throttle-log:public_read:{ident}")
    rates = {
        **api_settings.user_settings,
        "DEFAULT_THROTTLE_RATES": {**api_settings.DEFAULT_THROTTLE_RATES, "public_read": "3/min"},
    }
    with override_settings(REST_FRAMEWORK=rates):
        statuses = [
            client.get("/api/v1/public/locations/", REMOTE_ADDR=ident).status_code for _ in range(3)
        ]
        refused = client.get("/api/v1/public/locations/", REMOTE_ADDR=ident)
    assert statuses == [200, 200, 200]
    assert refused.status_code == 429
    assert refused["Content-Type"].startswith(PROBLEM)
    assert refused.json()["type"].endswith("/problems/throttled")
    assert 0 < int(refused["Retry-After"]) <= 60
    assert not throttling.throttle_cache._failing
    redis_cache.delete(f"throttle-log:public_read:{ident}")
