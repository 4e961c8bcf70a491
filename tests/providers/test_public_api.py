"""Public widget endpoints: disciplines and providers per API.md, with no credential numbers,
e-mail or staff data, filtered by location, discipline and (through scheduling's directory)
offered service."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from clinic.api.throttling import PublicReadThrottle
from providers.models import Discipline
from providers.service_directory import register_service_directory, service_directory
from tests.factories.clinic import LocationFactory
from tests.factories.providers import DisciplineFactory, ProviderFactory

pytestmark = pytest.mark.django_db

PROVIDER_FIELDS = {"id", "display_name", "discipline", "bio", "locations", "services"}


class FakeDirectory:
    """Stands in for scheduling's offerings: service 7 is offered by the given providers."""

    def __init__(self, offered_by: set[int]):
        self.offered_by = offered_by

    def service_ids_by_provider(self, provider_ids, location_id):
        return {pk: [7] for pk in provider_ids if pk in self.offered_by}

    def provider_ids_for_service(self, service_id, location_id):
        return set(self.offered_by) if service_id == 7 else None


@pytest.fixture(autouse=True)
def unthrottled(monkeypatch):
    """These tests check content, not throttling (tests/test_security.py does): they neither hit
    nor consume the per-client budget shared with the rest of the suite."""
    monkeypatch.setattr(PublicReadThrottle, "allow_request", lambda self, request, view: True)


@pytest.fixture
def directory():
    previous = service_directory()
    yield register_service_directory
    register_service_directory(previous)


def test_public_disciplines_lists_code_name_summary_of_public_ones(api_client):
    Discipline.objects.filter(code="corrective_exercise_specialist").update(is_public=False)
    response = api_client.get("/api/v1/public/disciplines/")
    assert response.status_code == 200
    body = response.json()
    assert set(body[0]) == {"code", "name", "summary"}
    codes = {d["code"] for d in body}
    assert "physiotherapist" in codes
    assert "corrective_exercise_specialist" not in codes


def test_public_providers_show_no_credentials_email_or_staff_data(api_client, toronto):
    ProviderFactory(locations=[toronto], email="secret@clinic.example")
    [item] = api_client.get("/api/v1/public/providers/").json()
    assert set(item) == PROVIDER_FIELDS
    assert item["discipline"] == "physiotherapist"
    assert item["locations"] == [toronto.pk]
    assert "secret" not in str(item)


def test_public_providers_filter_by_location_and_discipline(api_client, toronto, new_york):
    physio_to = ProviderFactory(locations=[toronto])
    ProviderFactory(locations=[new_york])
    trainer_to = ProviderFactory(
        discipline=DisciplineFactory(code="personal_trainer"), locations=[toronto]
    )
    at_toronto = api_client.get(f"/api/v1/public/providers/?location={toronto.pk}").json()
    assert {p["id"] for p in at_toronto} == {physio_to.pk, trainer_to.pk}
    trainers = api_client.get(
        f"/api/v1/public/providers/?location={toronto.pk}&discipline=personal_trainer"
    ).json()
    assert [p["id"] for p in trainers] == [trainer_to.pk]


def test_public_providers_hide_inactive_and_non_public_disciplines(api_client, toronto):
    ProviderFactory(locations=[toronto], is_active=False)
    ProviderFactory(
        discipline=DisciplineFactory(code="occupational_therapist"), locations=[toronto]
    )
    Discipline.objects.filter(code="occupational_therapist").update(is_public=False)
    assert api_client.get("/api/v1/public/providers/").json() == []


def test_public_providers_list_only_active_locations(api_client, toronto):
    closed = LocationFactory(slug="closed", name="Closed", is_active=False)
    provider = ProviderFactory(locations=[toronto, closed])
    [item] = api_client.get("/api/v1/public/providers/").json()
    assert item["id"] == provider.pk
    assert item["locations"] == [toronto.pk]


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("location=abc", "location"),
        ("location=999999", "location"),
        ("discipline=astrologer", "discipline"),
        ("service=abc", "service"),
    ],
)
def test_public_providers_refuse_bad_filters_naming_the_field(api_client, toronto, query, field):
    response = api_client.get(f"/api/v1/public/providers/?{query}")
    assert response.status_code == 400
    assert response["Content-Type"] == "application/problem+json"
    assert response.json()["errors"][0]["field"] == field


def test_public_providers_service_filter_uses_the_registered_directory(
    api_client, toronto, directory
):
    offering = ProviderFactory(locations=[toronto])
    ProviderFactory(locations=[toronto])
    directory(FakeDirectory({offering.pk}))
    body = api_client.get("/api/v1/public/providers/?service=7").json()
    assert [(p["id"], p["services"]) for p in body] == [(offering.pk, [7])]
    unknown = api_client.get("/api/v1/public/providers/?service=8")
    assert unknown.status_code == 400
    assert unknown.json()["errors"][0]["field"] == "service"


def test_without_scheduling_directory_no_service_is_known(api_client, toronto):
    ProviderFactory(locations=[toronto])
    assert api_client.get("/api/v1/public/providers/").json()[0]["services"] == []
    assert api_client.get("/api/v1/public/providers/?service=1").status_code == 400


def test_public_provider_list_query_count_does_not_grow(api_client, toronto, new_york):
    ProviderFactory(locations=[toronto])
    with CaptureQueriesContext(connection) as one:
        api_client.get("/api/v1/public/providers/")
    for _ in range(12):
        ProviderFactory(locations=[toronto, new_york])
    with CaptureQueriesContext(connection) as many:
        body = api_client.get("/api/v1/public/providers/").json()
    assert len(body) == 13
    assert len(many) == len(one)
