"""``/api/docs/`` works on a machine without internet access (API.md): with every request to a
host other than the live server aborted, Swagger UI still loads from the project's own static
files and renders the operations of the schema."""

from urllib.parse import urlsplit

import pytest

from tests.e2e.conftest import screenshot

pytestmark = pytest.mark.browser

LOCAL_HOSTS = {"localhost", "127.0.0.1", "[::1]", "::1"}


def test_the_api_docs_render_every_operation_with_the_network_blocked(page):
    blocked: list[str] = []

    def offline(route) -> None:
        if urlsplit(route.request.url).hostname in LOCAL_HOSTS:
            route.continue_()
        else:
            blocked.append(route.request.url)
            route.abort("internetdisconnected")

    page.route("**/*", offline)
    page.goto("/api/docs/")
    page.locator(".opblock").first.wait_for()
    # Swagger UI loaded the whole schema (``ui`` is the page's Swagger UI instance)...
    operations = page.evaluate("() => ui.specSelectors.operations().size")
    assert operations > 100
    # ...and renders operations as they scroll into view: the booking one is reachable.
    booking = page.locator(".opblock-summary-path", has_text="/api/v1/public/bookings/")
    for _ in range(200):
        if booking.count():
            break
        page.mouse.wheel(0, 1500)
        page.wait_for_timeout(200)
    booking.first.wait_for()
    screenshot(page, "api-docs-offline")
    assert blocked == [], f"the docs page asked the internet for {blocked}"
