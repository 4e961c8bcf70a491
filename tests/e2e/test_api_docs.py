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
    # Swagger UI renders one section per tag and, expanded, one block per operation.
    page.wait_for_function(
        "() => document.querySelectorAll('.opblock-tag').length >= 8"
        " && document.querySelectorAll('.opblock').length >= 100"
    )
    screenshot(page, "api-docs-offline")
    tags = page.locator(".opblock-tag").all_inner_texts()
    assert any(tag.strip().startswith("public") for tag in tags), tags
    paths = page.locator(".opblock-summary-path").all_inner_texts()
    assert any("/api/v1/public/bookings/" in path for path in paths)
    assert blocked == [], f"the docs page asked the internet for {blocked}"
