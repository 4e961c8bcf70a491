"""Offerings in the admin obey the one scope rule of ``scheduling.services`` (a massage
therapist cannot be set up to offer a physiotherapy assessment), and their lists cost the same
number of queries whatever their length."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from scheduling.models import AvailabilityException, Offering, WeeklyAvailability
from tests.conftest import make_staff_user
from tests.factories.scheduling import ServiceFactory
from tests.scheduling.conftest import local, make_physio, massage_therapist, next_week

pytestmark = pytest.mark.django_db


@pytest.fixture
def manager(client):
    client.force_login(make_staff_user("mgr", "manager"))
    return client


def test_admin_refuses_an_offering_outside_scope_with_the_scope_reason(
    manager, location, assessment
):
    therapist = massage_therapist(location)
    response = manager.post(
        "/admin/scheduling/offering/add/",
        {
            "provider": therapist.pk,
            "service": assessment.pk,
            "location": location.pk,
            "is_active": "on",
        },
    )
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert "provider" in errors
    assert any("diagnos" in message.lower() for message in errors["provider"])
    assert not Offering.objects.filter(provider=therapist).exists()


def test_admin_accepts_an_offering_inside_scope(manager, location, assessment):
    physio = make_physio(location, ServiceFactory(code="other", acts=["manual_therapy"]))
    response = manager.post(
        "/admin/scheduling/offering/add/",
        {
            "provider": physio.pk,
            "service": assessment.pk,
            "location": location.pk,
            "is_active": "on",
        },
    )
    assert response.status_code == 302, response.content[:2000]
    assert Offering.objects.filter(provider=physio, service=assessment, is_active=True).exists()


@pytest.mark.parametrize("url", ["offering", "weeklyavailability", "availabilityexception"])
def test_provider_lists_cost_the_same_queries_for_2_and_8_providers(
    manager, location, assessment, url
):
    def add(count: int) -> None:
        for i in range(count):
            provider = make_physio(location, assessment, name=f"Physio {url} {i}")
            AvailabilityException.objects.create(
                provider=provider,
                location=location,
                kind=AvailabilityException.Kind.TIME_OFF,
                start=local(next_week(), "12:00"),
                end=local(next_week(), "13:00"),
                reason="Lunch meeting",
            )

    def count_queries() -> int:
        with CaptureQueriesContext(connection) as queries:
            assert manager.get(f"/admin/scheduling/{url}/").status_code == 200
        return len(queries)

    add(2)
    few = count_queries()
    add(6)
    assert count_queries() == few
    assert WeeklyAvailability.objects.count() >= 8
