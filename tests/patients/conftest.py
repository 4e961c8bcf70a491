"""Public endpoints here are throttled per client; each test gets its own empty throttle
cache so runs (and other engineers' runs sharing the default cache) do not count against it."""

import uuid

import pytest
from django.core.cache.backends.locmem import LocMemCache

from clinic.api.throttling import LiveRateMixin


@pytest.fixture(autouse=True)
def fresh_throttle_cache(monkeypatch):
    monkeypatch.setattr(
        LiveRateMixin, "cache", LocMemCache(f"throttle-{uuid.uuid4()}", {}), raising=True
    )
