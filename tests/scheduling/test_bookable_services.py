"""A service is offered at a location only where it can really be booked (DOMAIN.md section 4):
the widget lists it only with an active provider in scope offering it there, hours, and a room
of the kind it needs; staff are told why an offering cannot be booked; prices are in the
location's currency; a start that could never be offered is 422 ``not-a-slot``, not "taken"."""

import pytest
from django.contrib.messages import get_messages
from django.db import connection
from django.test.utils import CaptureQueriesContext

from clinic.models import Room
from scheduling.models import Appointment, Offering, WeeklyAvailability
from tests.conftest import make_staff_user
from tests.factories.clinic import LocationFactory, RoomFactory
from tests.factories.scheduling import ServiceFactory
from tests.scheduling.conftest import local, make_physio, next_week
from tests.scheduling.test_public_api import body, book, problem_type

pytestmark = pytest.mark.django_db


def listed(client, location) -> list[int]:
    response = client.get("/api/v1/public/services/", {"location": location.pk})
    assert response.status_code == 200
    return [item["id"] for item in response.json()]


@pytest.fixture
def needs_a_room(assessment):
    assessment.room_kind = Room.Kind.TREATMENT
    assessment.save()
    return assessment


def test_a_service_whose_room_kind_the_location_lacks_is_not_listed(
    api_client, physio, needs_a_room, location
):
    assert listed(api_client, location) == []
    RoomFactory(location=location, kind=Room.Kind.TREATMENT)
    assert listed(api_client, location) == [needs_a_room.pk]


def test_a_service_nobody_has_hours_for_is_not_listed(api_client, physio, assessment, location):
    WeeklyAvailability.objects.filter(provider=physio).delete()
    assert listed(api_client, location) == []


def test_a_service_whose_only_provider_is_out_of_scope_for_the_horizon_is_not_listed(
    api_client, physio, assessment, location
):
    physio.credentials.update(status="suspended")
    assert listed(api_client, location) == []


def test_a_credential_that_starts_inside_the_horizon_keeps_the_service_listed(
    api_client, physio, assessment, location
):
    physio.credentials.update(valid_from=next_week())
    assert listed(api_client, location) == [assessment.pk]


def test_prices_are_in_the_currency_of_the_location(api_client, assessment):
    brooklyn = LocationFactory(
        slug="brooklyn",
        name="Brooklyn",
        country="US",
        region="NY",
        timezone="America/New_York",
        jurisdiction="US-NY",
        currency="USD",
    )
    make_physio(brooklyn, assessment, name="Brooklyn Physio")
    [item] = api_client.get("/api/v1/public/services/", {"location": brooklyn.pk}).json()
    assert (item["price"], item["currency"]) == ("120.00", "USD")


def test_a_free_consult_requires_no_extra_fields(api_client, location):
    consult = ServiceFactory(
        code="free-consult", is_free_consult=True, price="0.00", acts=["free_consult"]
    )
    make_physio(location, consult, name="Consult Physio")
    [item] = api_client.get("/api/v1/public/services/", {"location": location.pk}).json()
    assert item["required_fields"] == []


def test_the_staff_api_says_why_an_offering_cannot_be_booked(
    manager_client, physio, needs_a_room, location
):
    response = manager_client.get("/api/v1/offerings/", {"location": location.pk})
    assert response.status_code == 200
    [offering] = response.json()["results"]
    assert offering["bookable"] is False
    assert [r["code"] for r in offering["unbookable_reasons"]] == ["no_room"]
    RoomFactory(location=location, kind=Room.Kind.TREATMENT)
    [offering] = manager_client.get("/api/v1/offerings/").json()["results"]
    assert (offering["bookable"], offering["unbookable_reasons"]) == (True, [])


def test_the_staff_offering_list_costs_the_same_queries_for_2_and_8_offerings(
    manager_client, location
):
    def add(count: int) -> None:
        for _ in range(count):
            service = ServiceFactory(acts=["manual_therapy"])
            make_physio(location, service, name=f"Physio {Offering.objects.count()}")

    def count_queries() -> int:
        with CaptureQueriesContext(connection) as queries:
            assert manager_client.get("/api/v1/offerings/").status_code == 200
        return len(queries)

    add(2)
    count_queries()
    few = count_queries()
    add(6)
    assert count_queries() == few


def test_the_admin_warns_when_an_offering_can_never_be_booked(
    client, physio, needs_a_room, location
):
    client.force_login(make_staff_user("mgr", "manager"))
    offering = Offering.objects.get(provider=physio)
    page = client.get(f"/admin/scheduling/offering/{offering.pk}/change/")
    [warning] = [str(m) for m in get_messages(page.wsgi_request)]
    assert "can never be booked" in warning
    assert "no active treatment room" in warning
    listing = client.get("/admin/scheduling/offering/")
    assert b"No: Pickering has no active treatment room" in listing.content


def test_a_start_off_the_slot_grid_is_not_a_slot(api_client, physio, assessment, location):
    response = book(api_client, body(assessment, location, local(next_week(), "10:07"), physio))
    assert response.status_code == 422
    assert problem_type(response) == "not-a-slot"
    assert response.json()["errors"][0]["field"] == "start"
    assert not Appointment.objects.exists()


def test_a_start_outside_the_providers_hours_is_not_a_slot(
    api_client, physio, assessment, location
):
    response = book(api_client, body(assessment, location, local(next_week(), "20:00")))
    assert response.status_code == 422
    assert problem_type(response) == "not-a-slot"


def test_a_room_kind_the_location_lacks_is_not_a_slot(api_client, physio, needs_a_room, location):
    response = book(api_client, body(needs_a_room, location, local(next_week(), "10:00")))
    assert response.status_code == 422
    assert problem_type(response) == "not-a-slot"
    assert response.json()["errors"][0]["code"] == "no_room"


def test_a_taken_slot_is_still_slot_unavailable(api_client, physio, assessment, location):
    start = local(next_week(), "10:00")
    assert book(api_client, body(assessment, location, start)).status_code == 201
    again = book(api_client, body(assessment, location, start, email="grace@example.org"))
    assert again.status_code == 409
    assert problem_type(again) == "slot-unavailable"


def test_moving_to_a_time_off_the_grid_is_not_a_slot(api_client, physio, assessment, location):
    created = book(api_client, body(assessment, location, local(next_week(), "10:00"))).json()
    response = api_client.post(
        f"/api/v1/public/bookings/{created['reference']}/reschedule/",
        {"token": created["manage_token"], "start": local(next_week(), "11:10").isoformat()},
        format="json",
    )
    assert response.status_code == 422
    assert problem_type(response) == "not-a-slot"
