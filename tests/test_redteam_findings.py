"""Defects an outside attack on the merged change found (privacy, hostile input, races), each
named for the rule it breaks. A fixed one is a plain test; one still open is ``xfail(strict=True)``
with the reason, so that fixing it turns the suite red until the marker goes."""

import pytest

from clinic import roles
from tests.conftest import client_for
from tests.factories.patients import PatientFactory, staff_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def manager(db):
    return client_for(staff_user("boss", roles.MANAGER))


# Unicode digits such as "²" pass ``str.isdigit()`` but not ``int()``: every id parsed that way
# was a 500.
@pytest.mark.parametrize(
    "url",
    [
        "/api/v1/visit-notes/chart/?patient=%C2%B2",
        "/fhir/R4/Patient/%C2%B2",
        "/fhir/R4/Patient?_count=%C2%B2",
        "/fhir/R4/Patient?_offset=%C2%B2",
        "/fhir/R4/Appointment?patient=%C2%B2",
    ],
)
def test_an_id_or_count_in_unicode_digits_is_a_400_or_404_never_a_500(manager, url):
    PatientFactory()
    response = manager.get(url)
    assert response.status_code in (400, 404), response.content[:300]


# A dateTime at the edge of the calendar with an offset overflows when turned into UTC (or when
# its second is added): it is the client's bad value, a 400 OperationOutcome.
@pytest.mark.parametrize(
    "query",
    [
        "Appointment?date=ge0001-01-01T00:00:00%2B14:00",
        "Appointment?date=le9999-12-31T23:59:59Z",
        "Patient?_lastUpdated=gt9999-12-31T23:59:59-14:00",
    ],
)
def test_a_fhir_datetime_past_the_calendars_edge_is_a_400_operation_outcome(manager, query):
    response = manager.get(f"/fhir/R4/{query}")
    assert response.status_code == 400, response.content[:300]
    assert response.json()["resourceType"] == "OperationOutcome"


def test_an_anonymous_booker_confirming_with_the_token_it_was_given_never_opens_a_chart(
    api_client, care_clinic
):
    from tests.test_care_access import _public_booking, _reads_chart

    booking = _public_booking(api_client, care_clinic)
    confirmed = api_client.post(
        f"/api/v1/public/bookings/{booking['reference']}/confirm/",
        {"token": booking["manage_token"]},
        format="json",
    )
    assert confirmed.status_code == 200
    assert not _reads_chart(care_clinic)


@pytest.fixture
def care_clinic(db, settings):
    """The care-access suite's massage therapist and the patient with a knee replacement."""
    from tests import test_care_access

    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": dict.fromkeys(
            settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], "100000/min"
        ),
    }
    return test_care_access.clinic.__wrapped__(db)


@pytest.mark.parametrize("reason", ["\u200b\u200b", "\u2060", "...", "\u00a0-\u00a0"])
def test_breaking_the_glass_with_an_invisible_or_punctuation_only_reason_is_refused(
    care_clinic, reason
):
    from patients.models import EmergencyAccess

    api = client_for(care_clinic["user"])
    response = api.post(
        "/api/v1/emergency-access/",
        {"patient": care_clinic["patient"].pk, "reason": reason},
        format="json",
    )
    assert response.status_code in (400, 422), response.json()
    assert response.json()["errors"][0]["field"] == "reason"
    assert not EmergencyAccess.objects.exists()


@pytest.mark.parametrize("query", ["Patient?name=%00", "Appointment?date=%ED%A0%80"])
def test_a_nul_or_lone_surrogate_in_a_fhir_query_is_an_operation_outcome_not_an_html_page(
    manager, query
):
    response = manager.get(f"/fhir/R4/{query}")
    assert response.status_code == 400
    assert response["Content-Type"].startswith("application/fhir+json")
    assert response.json()["resourceType"] == "OperationOutcome"
