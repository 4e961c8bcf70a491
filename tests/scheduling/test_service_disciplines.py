"""A service's disciplines follow the scope rules of the jurisdiction where it is offered,
overrides included: dry needling belongs to physiotherapy in CA-ON (with an endorsement), to no
discipline in US-NY, where physiotherapists may not perform it."""

import pytest

from scheduling.selectors import service_disciplines
from tests.factories.providers import ensure_scope_catalog
from tests.factories.scheduling import ServiceFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def dry_needling():
    ensure_scope_catalog()
    return ServiceFactory(code="dry-needling", name="Dry needling", acts=["dry_needling"])


def test_dry_needling_is_physiotherapy_by_default_and_in_ontario(dry_needling):
    assert "physiotherapist" in service_disciplines([dry_needling])[dry_needling.pk]
    assert "physiotherapist" in service_disciplines([dry_needling], "CA-ON")[dry_needling.pk]


def test_dry_needling_belongs_to_no_physiotherapist_in_new_york(dry_needling):
    assert "physiotherapist" not in service_disciplines([dry_needling], "US-NY")[dry_needling.pk]


def test_a_massage_service_is_never_physiotherapy_only(db):
    ensure_scope_catalog()
    massage = ServiceFactory(code="massage-60", acts=["soft_tissue_massage"])
    codes = service_disciplines([massage], "CA-ON")[massage.pk]
    assert "massage_therapist" in codes
    assert "personal_trainer" not in codes
