"""A cache outage degrades throttling; it never takes the booking widget down.

The throttle counters live in Redis. With Redis gone (a real Redis cache backend pointed at a
closed port) every public request still answers, the throttles count in process memory and say
so once in the log, and ``/readyz`` reports the outage (503) so the orchestrator knows.
"""

import logging
import socket

import pytest
from django.test import override_settings
from rest_framework.settings import api_settings

from clinic.api import throttling
from tests.factories.clinic import LocationFactory

pytestmark = pytest.mark.django_db

PROBLEM = "application/problem+json"


def closed_port() -> int:
    """A loopback port nobody listens on (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def redis_at(port: int) -> dict:
    return {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": f"redis://127.0.0.1:{port}/0",
            "OPTIONS": {"socket_connect_timeout": 0.5, "socket_timeout": 0.5},
        }
    }


def rates(**overrides: str) -> dict:
    return {
        **api_settings.user_settings,
        "DEFAULT_THROTTLE_RATES": {**api_settings.DEFAULT_THROTTLE_RATES, **overrides},
    }


@pytest.fixture
def outage(monkeypatch):
    """The shared cache unreachable; the throttles asked to retry it on every request."""
    throttling.throttle_cache.reset()
    monkeypatch.setattr(throttling, "RETRY_SHARED_CACHE_SECONDS", 0.0)
    with override_settings(CACHES=redis_at(closed_port())):
        yield
    throttling.throttle_cache.reset()


def outage_warnings(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if "unreachable" in r.getMessage()]


def test_public_reads_and_writes_answer_while_the_throttle_cache_is_down(client, outage, caplog):
    LocationFactory()
    caplog.set_level(logging.WARNING, logger="clinic.api.throttling")
    reads = [client.get("/api/v1/public/locations/").status_code for _ in range(5)]
    assert reads == [200] * 5
    triage = client.post(
        "/api/v1/public/triage/", {"answers": {"numbness": True}}, content_type="application/json"
    )
    assert triage.status_code == 200, triage.content
    assert len(outage_warnings(caplog)) == 1, "an outage is logged once, not per request"


def test_throttling_still_holds_per_process_while_the_cache_is_down(client, outage):
    LocationFactory()
    with override_settings(REST_FRAMEWORK=rates(public_read="3/min")):
        statuses = [client.get("/api/v1/public/locations/").status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]


def test_throttling_goes_back_to_the_shared_cache_when_it_answers(client, outage, caplog):
    LocationFactory()
    caplog.set_level(logging.WARNING, logger="clinic.api.throttling")
    assert client.get("/api/v1/public/locations/").status_code == 200
    with override_settings(
        CACHES={"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    ):
        assert client.get("/api/v1/public/locations/").status_code == 200
        assert not throttling.throttle_cache._failing
    assert any("answers again" in r.getMessage() for r in caplog.records)


def test_a_hanging_cache_is_not_asked_again_on_every_request(client, monkeypatch):
    """After a failure the shared cache is left alone for a while, so a cache that times out
    does not add its timeout to every request."""
    throttling.throttle_cache.reset()
    LocationFactory()
    calls = []

    class Broken:
        def get(self, *args):
            calls.append(args)
            raise TimeoutError("cache timed out")

        set = get

    monkeypatch.setattr(throttling, "caches", {"default": Broken()})
    try:
        for _ in range(5):
            assert client.get("/api/v1/public/locations/").status_code == 200
    finally:
        throttling.throttle_cache.reset()
    assert len(calls) == 1


@override_settings(CELERY_BROKER_URL="redis://127.0.0.1:9/0", CELERY_BROKER_TRANSPORT_OPTIONS={})
def test_readyz_still_says_503_while_redis_is_down(client, outage):
    assert client.get("/api/v1/public/locations/").status_code == 200
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response["Content-Type"].startswith(PROBLEM)
    assert response.json()["checks"]["broker"] is False
