"""Implausible values are refused where they enter: the public API, the staff API, the admin's
forms (which run the model's validators) and, where a rule fits a CHECK, the database.

Births are not in the future nor more than 130 years ago; pain rules are on the 0-10 scale;
currencies are ISO 4217, time zones IANA, phones E.164-like; every service requires an act; and
every number a clinic sets has a sensible upper bound.
"""

import datetime

import psycopg
import pytest
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.test import RequestFactory

from clinic.api.problems import problem_exception_handler
from clinic.models import ClinicSettings
from clinic.validators import CURRENCY_CODES, validate_date_of_birth, validate_phone
from patients.models import Patient
from scheduling.models import CallbackRequest, Service
from tests.factories.clinic import LocationFactory
from tests.factories.providers import ProviderFactory
from tests.factories.scheduling import ServiceFactory, offer, weekly_hours
from tests.scheduling.conftest import local, next_week

pytestmark = pytest.mark.django_db

IMPLAUSIBLE_BIRTHS = ["2999-01-01", "9999-12-31", "0001-01-01", "1800-01-01"]


def fields_of(response) -> list[str]:
    assert response["Content-Type"].startswith("application/problem+json"), response.content
    return [error["field"] for error in response.json()["errors"]]


# --- Dates of birth -------------------------------------------------------------------------


@pytest.fixture
def bookable(settings):
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": dict.fromkeys(
            settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], "100000/min"
        ),
    }
    location = LocationFactory()
    service = ServiceFactory(acts=["diagnose"])
    provider = ProviderFactory(locations=[location])
    offer(provider, service, location)
    weekly_hours(provider, location)
    return service, location


def booking(service, location, **patient) -> dict:
    return {
        "service": service.pk,
        "location": location.pk,
        "start": local(next_week(), "10:00").isoformat(),
        "patient": {
            "first_name": "Ada",
            "last_name": "Lovelace",
            "email": "ada@example.org",
            "phone": "+1 905 555 0100",
            "date_of_birth": "1990-05-01",
            **patient,
        },
        "consent": {"reminders": True},
        "reason": "Knee pain",
    }


@pytest.mark.parametrize("born", IMPLAUSIBLE_BIRTHS)
def test_a_public_booking_with_an_implausible_birth_date_is_refused(api_client, bookable, born):
    response = api_client.post(
        "/api/v1/public/bookings/", booking(*bookable, date_of_birth=born), format="json"
    )
    assert response.status_code == 400
    assert "patient.date_of_birth" in fields_of(response)
    assert not Patient.objects.exists()


def test_a_public_booking_with_a_plausible_birth_date_is_accepted(api_client, bookable):
    response = api_client.post("/api/v1/public/bookings/", booking(*bookable), format="json")
    assert response.status_code == 201, response.content


@pytest.mark.parametrize("born", IMPLAUSIBLE_BIRTHS)
def test_staff_cannot_record_an_implausible_birth_date(front_desk_client, born):
    response = front_desk_client.post(
        "/api/v1/patients/",
        {"first_name": "Ada", "last_name": "L", "email": "ada@example.org", "date_of_birth": born},
        format="json",
    )
    assert response.status_code == 400
    assert fields_of(response) == ["date_of_birth"]
    assert not Patient.objects.exists()


def test_a_birth_date_may_be_today_anywhere_on_earth_but_not_later():
    earliest_today = datetime.datetime.now(datetime.timezone(datetime.timedelta(hours=14))).date()
    validate_date_of_birth(earliest_today)
    with pytest.raises(ValidationError, match="future"):
        validate_date_of_birth(earliest_today + datetime.timedelta(days=1))


def test_a_birth_date_more_than_130_years_ago_is_refused():
    today = datetime.date.today()
    validate_date_of_birth(today.replace(year=today.year - 129))
    with pytest.raises(ValidationError, match="130 years"):
        validate_date_of_birth(today.replace(year=today.year - 131))


def test_the_admin_form_refuses_an_implausible_birth_date():
    """The admin's patient form runs the model's validators."""
    patient = Patient(first_name="Ada", last_name="L", email="ada@example.org")
    patient.date_of_birth = datetime.date(1800, 1, 1)
    with pytest.raises(ValidationError) as refused:
        patient.full_clean()
    assert "date_of_birth" in refused.value.message_dict


def test_the_database_refuses_a_birth_date_before_1850():
    with pytest.raises(IntegrityError), transaction.atomic():
        Patient.objects.create(
            first_name="Ada", last_name="L", email="ada@example.org", date_of_birth="1800-01-01"
        )


# --- Clinic settings ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("refer_back_pain_threshold", 6153),
        ("refer_back_pain_threshold", 11),
        ("discharge_pain_max", 11),
        ("discharge_pain_consecutive", 0),
        ("discharge_pain_consecutive", 500),
        ("slot_step_minutes", 10_000),
        ("minimum_notice_minutes", 10**9),
        ("booking_horizon_days", 30_000),
        ("late_cancellation_hours", 30_000),
        ("max_upcoming_online_bookings", 30_000),
        ("notification_grace_minutes", 30_000),
        ("currency", "zz\u0001"),
        ("currency", "ZZZ"),
        ("currency", "cad"),
        ("currency", "XAU"),
    ],
)
def test_clinic_settings_refuse_values_off_their_scale(manager_client, field, value):
    before = ClinicSettings.load()
    response = manager_client.patch("/api/v1/clinic-settings/", {field: value}, format="json")
    assert response.status_code == 400
    assert fields_of(response) == [field]
    assert getattr(ClinicSettings.load(), field) == getattr(before, field)


def test_clinic_settings_accept_values_on_their_scale(manager_client):
    response = manager_client.patch(
        "/api/v1/clinic-settings/",
        {"refer_back_pain_threshold": 10, "discharge_pain_max": 0, "currency": "EUR"},
        format="json",
    )
    assert response.status_code == 200, response.content


def test_the_database_keeps_pain_rules_on_the_0_to_10_scale():
    ClinicSettings.objects.get_or_create(pk=1)
    with pytest.raises(IntegrityError), transaction.atomic():
        ClinicSettings.objects.update(refer_back_pain_threshold=6153)


def test_the_database_refuses_a_currency_that_is_not_a_code():
    ClinicSettings.objects.get_or_create(pk=1)
    with pytest.raises(IntegrityError), transaction.atomic():
        ClinicSettings.objects.update(currency="zz\u0001")


def test_the_currency_list_is_iso_4217():
    assert {"CAD", "USD", "EUR", "GBP", "JPY", "CHF"} <= CURRENCY_CODES
    assert not {"XAU", "XTS", "XXX", "ZZZ"} & CURRENCY_CODES
    assert len(CURRENCY_CODES) > 150


# --- Services -------------------------------------------------------------------------------


def service_body(**changes) -> dict:
    return {
        "code": "follow-up",
        "name": "Follow-up",
        "required_acts": ["diagnose"],
        "duration_minutes": 30,
        "price": "80.00",
        **changes,
    }


def test_a_service_must_require_at_least_one_act(manager_client):
    response = manager_client.post(
        "/api/v1/services/", service_body(required_acts=[]), format="json"
    )
    assert response.status_code == 400
    assert fields_of(response) == ["required_acts"]
    assert not Service.objects.filter(code="follow-up").exists()


def test_a_services_last_act_cannot_be_removed(manager_client):
    service = ServiceFactory(acts=["diagnose"])
    response = manager_client.patch(
        f"/api/v1/services/{service.pk}/", {"required_acts": []}, format="json"
    )
    assert response.status_code == 400
    assert fields_of(response) == ["required_acts"]
    assert list(service.required_acts.values_list("code", flat=True)) == ["diagnose"]


def test_the_admin_service_form_requires_an_act(manager_user):
    request = RequestFactory().get("/admin/scheduling/service/add/")
    request.user = manager_user
    form_class = admin.site._registry[Service].get_form(request)
    form = form_class(
        data={
            "code": "follow-up",
            "name": "Follow-up",
            "duration_minutes": 30,
            "buffer_before_minutes": 0,
            "buffer_after_minutes": 0,
            "modality": "in_person",
            "price": "80.00",
            "capacity": 1,
        }
    )
    assert not form.is_valid()
    assert "required_acts" in form.errors


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("duration_minutes", 30_000),
        ("buffer_before_minutes", 30_000),
        ("buffer_after_minutes", 30_000),
        ("capacity", 30_000),
        ("price", "-1.00"),
        ("price", "1000000000"),
    ],
)
def test_services_refuse_implausible_numbers_and_codes(manager_client, field, value):
    response = manager_client.post(
        "/api/v1/services/", service_body(**{field: value}), format="json"
    )
    assert response.status_code == 400
    assert fields_of(response) == [field]
    assert not Service.objects.filter(code="follow-up").exists()


@pytest.mark.parametrize("currency", ["zz", "ZZZ", "usd"])
def test_a_location_refuses_a_currency_that_is_not_an_iso_4217_code(manager_client, currency):
    """Prices at a location are in its own currency, so its code must be a real one."""
    location = LocationFactory()
    response = manager_client.patch(
        f"/api/v1/locations/{location.pk}/", {"currency": currency}, format="json"
    )
    assert response.status_code == 400
    assert fields_of(response) == ["currency"]
    location.refresh_from_db()
    assert location.currency == "CAD"


def test_a_booking_policy_override_is_bounded_like_the_defaults(manager_client):
    location = LocationFactory()
    response = manager_client.post(
        "/api/v1/booking-policies/",
        {"location": location.pk, "slot_step_minutes": 30_000, "booking_horizon_days": 30_000},
        format="json",
    )
    assert response.status_code == 400
    assert set(fields_of(response)) == {"slot_step_minutes", "booking_horizon_days"}


def test_a_value_only_a_check_constraint_refuses_is_a_400_not_a_500():
    cause = psycopg.errors.CheckViolation("new row violates check constraint")
    error = IntegrityError("check")
    error.__cause__ = cause
    response = problem_exception_handler(error, {})
    assert response.status_code == 400
    assert response.data["type"].endswith("/problems/validation-error")


# --- Locations, phones ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("timezone", "Mars/Olympus_Mons"),
        ("timezone", "america/toronto"),
        ("phone", "call the front desk"),
        ("phone", "12345"),
        ("country", "Canada"),
    ],
)
def test_locations_refuse_codes_that_are_not_codes(manager_client, field, value):
    location = LocationFactory()
    response = manager_client.patch(
        f"/api/v1/locations/{location.pk}/", {field: value}, format="json"
    )
    assert response.status_code == 400
    assert set(fields_of(response)) == {field}


@pytest.mark.parametrize(
    "phone", ["+1 905 555 0100", "(905) 555-0100", "905.555.0100 x12", "+44 20 7946 0958"]
)
def test_phone_numbers_as_people_write_them_are_accepted(phone):
    validate_phone(phone)


@pytest.mark.parametrize("phone", ["555", "not a number", "+1 905 555 0100 0100 0100", "++1905"])
def test_a_callback_request_needs_a_real_phone_number(api_client, phone):
    response = api_client.post(
        "/api/v1/public/callback-requests/",
        {"name": "Ada", "phone": phone, "consent": {"reminders": False}},
        format="json",
    )
    assert response.status_code == 400
    assert fields_of(response) == ["phone"]
    assert not CallbackRequest.objects.exists()


def test_a_public_booking_needs_a_real_phone_number(api_client, bookable):
    response = api_client.post(
        "/api/v1/public/bookings/", booking(*bookable, phone="call me"), format="json"
    )
    assert response.status_code == 400
    assert "patient.phone" in fields_of(response)
    assert not Patient.objects.exists()
