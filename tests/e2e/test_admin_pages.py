"""Every admin page a manager can open, over the demo clinic: it answers, and a list costs the
same number of queries whatever its length (no query per row)."""

import pytest
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

# Rows per page for the short and the long list; a list shorter than the long page is fine.
SHORT, LONG = 3, 60
# Extra queries a longer page may cost (e.g. a prefetch that only runs once there are rows).
SLACK = 2

# The clinic's own apps and Django's users and groups (django-axes' lockout lists are not
# given to the manager role).
ADMINS = sorted(
    (
        (model, model_admin)
        for model, model_admin in admin.site._registry.items()
        if model._meta.app_label != "axes"
    ),
    key=lambda item: item[0]._meta.label,
)


@pytest.fixture
def manager_browser(client, demo_server, db):
    client.force_login(get_user_model().objects.get(username="manager"))
    return client


def changelist(client, model_admin, per_page: int) -> tuple[int, int]:
    """(status, queries) for one page of the list with ``per_page`` rows."""
    opts = model_admin.model._meta
    url = reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist")
    original = model_admin.list_per_page
    model_admin.list_per_page = per_page
    try:
        with CaptureQueriesContext(connection) as queries:
            response = client.get(url)
    finally:
        model_admin.list_per_page = original
    return response.status_code, len(queries)


@pytest.mark.parametrize(
    "model_admin", [admin_ for _, admin_ in ADMINS], ids=[m._meta.label for m, _ in ADMINS]
)
def test_admin_lists_and_pages_open_without_a_query_per_row(manager_browser, model_admin):
    model = model_admin.model
    rows = model._default_manager.count()
    short_status, short_queries = changelist(manager_browser, model_admin, SHORT)
    long_status, long_queries = changelist(manager_browser, model_admin, LONG)
    assert short_status == long_status == 200
    if rows > SHORT:
        assert long_queries - short_queries <= SLACK, (
            f"{model._meta.label}: {short_queries} queries for {SHORT} rows, "
            f"{long_queries} for {min(rows, LONG)}"
        )
    first = model._default_manager.order_by("pk").first()
    if first is not None:
        opts = model._meta
        url = reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[first.pk])
        assert manager_browser.get(url).status_code == 200
