"""Admin: the read-only scope matrix a manager reads at a glance, a provider's page showing the
same decisions as the API's scope view, and list pages that cost no query per row."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from tests.conftest import client_for, make_staff_user
from tests.factories.providers import ProviderFactory

pytestmark = pytest.mark.django_db

MATRIX = "/admin/providers/scoperule/matrix/"


@pytest.fixture
def manager_browser(client):
    client.force_login(make_staff_user("matrix-manager", "manager"))
    return client


def cell(response, discipline: str, act: str) -> str:
    matrix = response.context["matrix"]
    column = [a.code for a in matrix.acts].index(act)
    row = next(cells for d, cells, _ in matrix.rows if d.code == discipline)
    return row[column].label


def test_matrix_shows_defaults_and_each_jurisdictions_overrides(manager_browser, new_york):
    defaults = manager_browser.get(MATRIX)
    assert defaults.status_code == 200
    assert cell(defaults, "physiotherapist", "dry_needling") == "endorsement"
    assert cell(defaults, "physiotherapist", "manual_therapy") == "allowed"
    assert cell(defaults, "massage_therapist", "diagnose") == "—"

    in_ny = manager_browser.get(f"{MATRIX}?jurisdiction=US-NY")
    assert cell(in_ny, "physiotherapist", "dry_needling") == "forbidden"
    assert b"US-NY" in in_ny.content


def test_matrix_shows_credential_kinds_per_jurisdiction(manager_browser, toronto):
    rows = manager_browser.get(f"{MATRIX}?jurisdiction=CA-ON").context["matrix"].rows
    kinds = {d.code: k for d, _, k in rows}
    assert kinds["massage_therapist"] == "licence or registration"
    default_rows = manager_browser.get(MATRIX).context["matrix"].rows
    default_kinds = {d.code: k for d, _, k in default_rows}
    assert default_kinds["massage_therapist"] == "certification or licence or registration"


def test_matrix_ignores_an_unknown_jurisdiction(manager_browser):
    response = manager_browser.get(f"{MATRIX}?jurisdiction=XX-<b>")
    assert response.status_code == 200
    assert response.context["chosen"] == ""


def test_matrix_is_readable_by_clinicians_and_closed_to_users_without_a_role(client):
    client.force_login(make_staff_user("matrix-clinician", "clinician"))
    assert client.get(MATRIX).status_code == 200
    client.force_login(make_staff_user("matrix-nobody", None))
    assert client.get(MATRIX).status_code in {302, 403}


def test_provider_page_shows_the_same_answers_as_the_api(manager_browser, toronto, new_york):
    provider = ProviderFactory(locations=[toronto, new_york])
    page = manager_browser.get(f"/admin/providers/provider/{provider.pk}/change/")
    assert page.status_code == 200
    sections = page.content.decode().split("<h4>")
    api = client_for(make_staff_user("matrix-api", "front_desk"))
    for location in (toronto, new_york):
        html = next(s for s in sections if s.startswith(f"{location.name} ("))
        today = timezone.now().astimezone(location.zone).date()
        body = api.get(
            f"/api/v1/providers/{provider.pk}/scope/?location={location.pk}&date={today}"
        ).json()
        for act in body["acts"]:
            verdict = "allowed" if act["allowed"] else "refused"
            assert f"<td>{act['act']}</td><td>{verdict}</td>" in html
            for reason in act["reasons"]:
                assert reason["code"] in html


@pytest.mark.parametrize(
    "page",
    ["credential", "provider", "scoperule", "scoperulechange", "credentialrequirement"],
)
def test_admin_lists_cost_no_query_per_provider(manager_browser, toronto, page):
    """A clinic with many providers: each list page costs the same queries for 1 row or 11."""
    url = f"/admin/providers/{page}/"
    ProviderFactory(locations=[toronto])
    with CaptureQueriesContext(connection) as one:
        assert manager_browser.get(url).status_code == 200
    for _ in range(10):
        ProviderFactory(locations=[toronto])
    with CaptureQueriesContext(connection) as eleven:
        assert manager_browser.get(url).status_code == 200
    assert len(eleven) == len(one)
