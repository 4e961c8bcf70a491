"""Shared fixtures and the markers that gate tests on real services.

Mark a test ``postgres`` (exclusion constraints, row locks, parallel connections), ``services``
(Redis broker, Celery worker, SMTP) or ``browser`` (Debian's chromium). Where the service is
missing the test is skipped with the reason, except under ``CLINIC_REQUIRE_SERVICES=1`` (CI, the
tests of record), where a missing service fails the test instead.
"""

import os
import shutil
import socket
from urllib.parse import urlparse

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.cache import cache
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from clinic import roles

REQUIRE_SERVICES = os.environ.get("CLINIC_REQUIRE_SERVICES") == "1"
CHROMIUM = os.environ.get("CHROMIUM_PATH") or shutil.which("chromium")


def _redis_reachable() -> bool:
    url = os.environ.get("REDIS_URL")
    if not url:
        return False
    parsed = urlparse(url)
    try:
        with socket.create_connection((parsed.hostname, parsed.port or 6379), timeout=1):
            return True
    except OSError:
        return False


def skip_or_fail(reason: str) -> None:
    """Skip locally when a real service is missing; fail in CI, where it must be there."""
    if REQUIRE_SERVICES:
        pytest.fail(f"CLINIC_REQUIRE_SERVICES=1 but {reason}")
    pytest.skip(reason)


def pytest_runtest_setup(item: pytest.Item) -> None:
    if item.get_closest_marker("postgres") and not settings.IS_POSTGRES:
        skip_or_fail("needs PostgreSQL: set DATABASE_URL=postgres://...")
    if item.get_closest_marker("services") and not _redis_reachable():
        skip_or_fail("needs a Redis broker: set REDIS_URL=redis://... to a running server")
    if item.get_closest_marker("browser") and not (CHROMIUM and os.path.exists(CHROMIUM)):
        skip_or_fail("needs Debian's chromium (apt-get install chromium) or CHROMIUM_PATH")


@pytest.fixture(autouse=True)
def _empty_cache_per_test():
    """Throttle counters start at zero in every test (the test cache is per-process memory)."""
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def api_client() -> APIClient:
    return APIClient()


def make_staff_user(username: str, role: str | None):
    user = get_user_model().objects.create_user(
        username=username, password="pw-for-tests", is_staff=role is not None
    )
    if role:
        user.groups.add(Group.objects.get(name=role))
    return user


def client_for(user) -> APIClient:
    client = APIClient()
    token, _ = Token.objects.get_or_create(user=user)
    client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    return client


@pytest.fixture
def manager_user(db):
    return make_staff_user("test-manager", roles.MANAGER)


@pytest.fixture
def front_desk_user(db):
    return make_staff_user("test-frontdesk", roles.FRONT_DESK)


@pytest.fixture
def manager_client(manager_user) -> APIClient:
    return client_for(manager_user)


@pytest.fixture
def front_desk_client(front_desk_user) -> APIClient:
    return client_for(front_desk_user)
