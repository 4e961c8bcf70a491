"""``seed_demo`` builds the demo clinic and is idempotent."""

import zoneinfo

import pytest
from django.apps import apps
from django.core.management import call_command

from clinic.models import JURISDICTION_PATTERN, Location

pytestmark = pytest.mark.django_db

SNAPSHOT_APPS = ["clinic", "auth", "providers", "patients", "scheduling", "plans", "notifications"]


def snapshot() -> dict[str, int]:
    counts = {}
    for app_label in SNAPSHOT_APPS:
        for model in apps.get_app_config(app_label).get_models():
            if model._meta.label in {"clinic.AuditEvent"}:
                continue
            counts[model._meta.label] = model.objects.count()
    return counts


def rows(model_label: str) -> list[tuple]:
    model = apps.get_model(model_label)
    return list(model.objects.order_by("pk").values_list())


def test_seed_demo_twice_leaves_the_same_rows():
    call_command("seed_demo", verbosity=0)
    first = snapshot()
    first_locations = rows("clinic.Location")
    call_command("seed_demo", verbosity=0)
    assert snapshot() == first
    assert rows("clinic.Location") == first_locations


def test_demo_locations_have_valid_zones_and_jurisdictions():
    call_command("seed_demo", verbosity=0)
    locations = {loc.slug: loc for loc in Location.objects.all()}
    assert set(locations) >= {"pickering", "milton", "brooklyn", "online"}
    for location in locations.values():
        zoneinfo.ZoneInfo(location.timezone)
        assert JURISDICTION_PATTERN.match(location.jurisdiction)
        location.full_clean()
    assert locations["pickering"].jurisdiction == "CA-ON"
    assert locations["milton"].timezone == "America/Toronto"
    assert locations["brooklyn"].jurisdiction == "US-NY"
    assert locations["brooklyn"].timezone == "America/New_York"
    assert locations["online"].is_virtual


def test_public_locations_lists_the_four_demo_locations(client):
    call_command("seed_demo", verbosity=0)
    response = client.get("/api/v1/public/locations/")
    assert response.status_code == 200
    names = sorted(item["name"] for item in response.json())
    assert names == ["Brooklyn", "Milton", "Online", "Pickering"]
    assert set(response.json()[0]) == {"id", "name", "timezone", "address", "phone"}
