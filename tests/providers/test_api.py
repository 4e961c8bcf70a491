"""Staff API: disciplines, acts, providers with nested credentials, and the per-provider scope view
that shows, for a location and a local date, every act allowed or refused with its reasons."""

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from providers.models import Provider
from tests.conftest import client_for, make_staff_user
from tests.factories.providers import CredentialFactory, ProviderFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def clinician_client(db):
    return client_for(make_staff_user("api-clinician", "clinician"))


def test_every_staff_role_reads_disciplines_and_acts(front_desk_client, clinician_client):
    for client in (front_desk_client, clinician_client):
        disciplines = client.get("/api/v1/disciplines/?page_size=50").json()["results"]
        assert {d["code"] for d in disciplines} >= {"physiotherapist", "personal_trainer"}
        acts = client.get("/api/v1/acts/?page_size=50").json()["results"]
        assert len(acts) == 16


def test_anonymous_users_get_401_problem(api_client):
    response = api_client.get("/api/v1/providers/")
    assert response.status_code == 401
    assert response["Content-Type"] == "application/problem+json"


def test_provider_list_nests_credentials_with_endorsements(front_desk_client, toronto):
    provider = ProviderFactory(locations=[toronto], credentials__endorsements=["dry_needling"])
    body = front_desk_client.get(f"/api/v1/providers/{provider.pk}/").json()
    assert body["discipline"] == "physiotherapist"
    assert body["locations"] == [toronto.pk]
    [credential] = body["credentials"]
    assert credential["endorsements"] == ["dry_needling"]
    assert credential["jurisdiction"] == "CA-ON"


def test_provider_list_query_count_does_not_grow_with_providers(front_desk_client, toronto):
    ProviderFactory(locations=[toronto])
    with CaptureQueriesContext(connection) as few:
        front_desk_client.get("/api/v1/providers/")
    for _ in range(15):
        ProviderFactory(locations=[toronto], credentials__endorsements=["acupuncture"])
    with CaptureQueriesContext(connection) as many:
        response = front_desk_client.get("/api/v1/providers/")
    assert response.json()["count"] == 16
    assert len(many) == len(few)


def test_provider_list_filters_by_discipline_code_and_location(
    front_desk_client, toronto, new_york
):
    ProviderFactory(locations=[toronto])
    ProviderFactory(locations=[new_york])
    body = front_desk_client.get(
        f"/api/v1/providers/?discipline=physiotherapist&location={new_york.pk}"
    ).json()
    assert [p["locations"] for p in body["results"]] == [[new_york.pk]]


@pytest.mark.parametrize("location", ["-1129269560945342469373952", str(2**63), "0", "1.5"])
def test_provider_list_filtered_by_a_location_that_is_no_row_id_is_a_problem_naming_it(
    front_desk_client, location
):
    response = front_desk_client.get(f"/api/v1/providers/?location={location}")
    assert response.status_code == 400
    assert response["Content-Type"] == "application/problem+json"
    assert "location" in response.content.decode()


def test_manager_creates_provider_front_desk_cannot(manager_client, front_desk_client, toronto):
    body = {
        "display_name": "New Physio",
        "discipline": "physiotherapist",
        "locations": [toronto.pk],
    }
    assert front_desk_client.post("/api/v1/providers/", body, format="json").status_code == 403
    response = manager_client.post("/api/v1/providers/", body, format="json")
    assert response.status_code == 201
    assert Provider.objects.get(display_name="New Physio").locations.get() == toronto


def test_providers_are_deactivated_not_deleted(manager_client, toronto):
    provider = ProviderFactory(locations=[toronto])
    assert manager_client.delete(f"/api/v1/providers/{provider.pk}/").status_code == 405


def test_scope_view_lists_every_act_with_reasons(front_desk_client, toronto, new_york):
    provider = ProviderFactory(locations=[toronto, new_york])
    response = front_desk_client.get(
        f"/api/v1/providers/{provider.pk}/scope/?location={toronto.pk}&date=2026-12-01"
    )
    assert response.status_code == 200
    body = response.json()
    assert (body["jurisdiction"], body["timezone"], body["date"]) == (
        "CA-ON",
        "America/Toronto",
        "2026-12-01",
    )
    acts = {a["act"]: a for a in body["acts"]}
    assert len(acts) == 16
    assert acts["manual_therapy"]["allowed"] is True
    assert acts["manual_therapy"]["reasons"] == []
    assert acts["dry_needling"]["allowed"] is False
    assert [r["code"] for r in acts["dry_needling"]["reasons"]] == ["endorsement_missing"]
    assert [r["code"] for r in acts["fitness_training"]["reasons"]] == ["act_not_in_discipline"]

    in_ny = front_desk_client.get(
        f"/api/v1/providers/{provider.pk}/scope/?location={new_york.pk}&date=2026-12-01"
    ).json()
    needling = next(a for a in in_ny["acts"] if a["act"] == "dry_needling")
    assert [r["code"] for r in needling["reasons"]] == ["forbidden_in_jurisdiction"]
    manual = next(a for a in in_ny["acts"] if a["act"] == "manual_therapy")
    assert [r["code"] for r in manual["reasons"]] == ["credential_other_jurisdiction"]


def test_scope_view_shows_expiry_on_the_day_after_the_last_day(front_desk_client, toronto):
    provider = ProviderFactory(locations=[toronto], credentials=False)
    CredentialFactory(provider=provider, valid_until=dt.date(2026, 12, 1))
    url = f"/api/v1/providers/{provider.pk}/scope/?location={toronto.pk}"
    last = {a["act"]: a for a in front_desk_client.get(f"{url}&date=2026-12-01").json()["acts"]}
    after = {a["act"]: a for a in front_desk_client.get(f"{url}&date=2026-12-02").json()["acts"]}
    assert last["manual_therapy"]["allowed"] is True
    assert [r["code"] for r in after["manual_therapy"]["reasons"]] == ["credential_expired"]


def test_scope_view_defaults_to_the_providers_only_location(front_desk_client, toronto):
    provider = ProviderFactory(locations=[toronto])
    response = front_desk_client.get(f"/api/v1/providers/{provider.pk}/scope/")
    assert response.status_code == 200
    assert response.json()["location"] == toronto.pk


def test_scope_view_requires_a_known_location(front_desk_client, toronto, new_york):
    provider = ProviderFactory(locations=[toronto, new_york])
    missing = front_desk_client.get(f"/api/v1/providers/{provider.pk}/scope/")
    assert missing.status_code == 400
    assert missing.json()["errors"][0]["field"] == "location"
    unknown = front_desk_client.get(f"/api/v1/providers/{provider.pk}/scope/?location=999999")
    assert unknown.status_code == 400
    assert unknown.json()["errors"][0]["field"] == "location"
    bad_date = front_desk_client.get(
        f"/api/v1/providers/{provider.pk}/scope/?location={toronto.pk}&date=12/01/2026"
    )
    assert bad_date.status_code == 400
    assert bad_date.json()["errors"][0]["field"] == "date"


def test_scope_view_of_unknown_provider_is_404(front_desk_client, toronto):
    response = front_desk_client.get(f"/api/v1/providers/999999/scope/?location={toronto.pk}")
    assert response.status_code == 404


def test_scope_view_query_count_does_not_grow_with_credentials(front_desk_client, toronto):
    provider = ProviderFactory(locations=[toronto], credentials__endorsements=["dry_needling"])
    url = f"/api/v1/providers/{provider.pk}/scope/?location={toronto.pk}"
    with CaptureQueriesContext(connection) as one:
        front_desk_client.get(url)
    for jurisdiction in ("US-NY", "CA-BC", "CA-ON", "CA-QC"):
        CredentialFactory(
            provider=provider, jurisdiction=jurisdiction, endorsements=["acupuncture"]
        )
    with CaptureQueriesContext(connection) as five:
        front_desk_client.get(url)
    assert len(five) == len(one)
