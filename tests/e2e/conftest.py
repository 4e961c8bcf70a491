"""Playwright fixtures: Debian's chromium, headless, one fresh browser context per test, and a
live server over the demo clinic shared by the package's tests (see ``server.py``).

Playwright's own browser download cannot run here, so the browser is the system ``chromium``
(``CHROMIUM_PATH`` overrides it). The sync API runs an event loop in the test's thread, which
makes Django's ORM refuse to run from the test body unless async-unsafe calls are allowed; the
server runs in its own thread and is unaffected.
"""

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connections

from tests.conftest import CHROMIUM
from tests.e2e.server import seeded_live_server

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOTS = Path(settings.VAR_DIR) / "e2e"
# Generous: CI shares two cores with a Celery worker and the live server; a slow page is not a
# wrong page, and every wait still ends on the element the user would see.
TIMEOUT_MS = 45_000


@pytest.fixture(scope="package")
def browser() -> Iterator:
    from playwright.sync_api import sync_playwright

    before = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True
            )
            yield browser
            browser.close()
    finally:
        if before is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = before


@pytest.fixture(scope="package")
def demo_server(django_db_setup, django_db_blocker) -> Iterator:
    with seeded_live_server(django_db_blocker) as server:
        yield server


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    if report.when == "call":
        item.call_failed = report.failed
    return report


@pytest.fixture
def _close_connections_after_test() -> Iterator[None]:
    """Torn down after ``db``: the test's database connection, opened while Playwright's event
    loop runs, would otherwise outlive the tests and keep the test database from being dropped."""
    yield
    connections.close_all()


@pytest.fixture
def page(request, browser, demo_server, _close_connections_after_test, db) -> Iterator:
    """A page in a fresh context (no cookies shared between tests) that fails on JS errors.
    A failing test leaves a screenshot of where it stopped under var/e2e/."""
    context = browser.new_context(
        base_url=demo_server.url, viewport={"width": 1280, "height": 900}, locale="en-CA"
    )
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    yield page
    if getattr(request.node, "call_failed", False):
        screenshot(page, f"FAILED-{request.node.name}")
    context.close()
    assert not errors, f"JavaScript errors on the page: {errors}"


def screenshot(page, name: str) -> Path:
    """Save a full-page screenshot under var/e2e/ (not committed) for a human to look at."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def admin_login(page, username: str, password: str) -> None:
    page.goto("/admin/login/?next=/admin/")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.click("input[type=submit]")
    page.wait_for_url("**/admin/")
