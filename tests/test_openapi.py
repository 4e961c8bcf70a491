"""The OpenAPI schema describes every operation completely: widget authors generate clients
from it, so a missing response schema or error description is a bug."""

import datetime
import json
import re

import pytest
from django.core.management import call_command
from django.utils import timezone
from drf_spectacular.generators import SchemaGenerator
from openapi_spec_validator import validate
from rest_framework.test import APIClient

from scheduling.models import Appointment

PROBLEM = "application/problem+json"


@pytest.fixture(scope="module")
def schema() -> dict:
    return SchemaGenerator().get_schema(request=None, public=True)


def operations(schema: dict):
    for path, methods in schema["paths"].items():
        for method, operation in methods.items():
            yield path, method, operation


def test_every_operation_documents_a_success_body_and_its_problem_responses(schema):
    for path, method, operation in operations(schema):
        responses = operation["responses"]
        success = [code for code in responses if code.startswith("2")]
        assert success, f"{method.upper()} {path} documents no success response"
        if method != "delete":
            assert any("content" in responses[code] for code in success), (method, path)
        assert "404" in responses, f"{method.upper()} {path} does not document 404"
        # FHIR answers errors as OperationOutcome resources, the rest of the API as problems.
        error_type = "application/fhir+json" if path.startswith("/fhir/") else PROBLEM
        for code, response in responses.items():
            if code.startswith("4"):
                assert error_type in response.get("content", {}), (method, path, code)


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/public/bookings/",
        "/api/v1/public/bookings/{reference}/cancel/",
        "/api/v1/public/bookings/{reference}/reschedule/",
    ],
)
def test_public_booking_endpoints_carry_request_examples(schema, path):
    body = schema["paths"][path]["post"]["requestBody"]["content"]["application/json"]
    assert body.get("examples"), f"{path} has no request example"


def test_the_booking_example_answers_201_with_the_contract_fields(schema):
    created = schema["paths"]["/api/v1/public/bookings/"]["post"]["responses"]["201"]
    [example] = created["content"]["application/json"]["examples"].values()
    assert set(example["value"]) == {
        "reference",
        "status",
        "service",
        "provider",
        "location",
        "start",
        "end",
        "manage_token",
    }


def test_the_schema_passes_the_openapi_validator(schema):
    """The schema a generator or validator reads (no invalid defaults such as an e-mail "")."""
    validate(json.loads(json.dumps(schema, default=str)))


def test_request_bodies_are_json_only(schema):
    for path, method, operation in operations(schema):
        if "requestBody" in operation:
            assert list(operation["requestBody"]["content"]) == ["application/json"], (
                method,
                path,
            )


def test_public_services_document_required_fields_and_currency(schema):
    item = schema["components"]["schemas"]["PublicService"]
    assert {"required_fields", "currency"} <= set(item["required"])


# The examples' dates lie three weeks after this instant, inside the demo's hours and horizon.
EXAMPLES_SEEDED_AT = datetime.datetime(2027, 2, 8, 17, 0, tzinfo=datetime.UTC)


def request_examples(schema: dict) -> list[tuple[str, str, str, dict]]:
    """(path, method, name, body) of every request example: bookings first, then moves, then
    cancellations, as a patient would use them."""
    found = []
    for path, method, operation in operations(schema):
        content = operation.get("requestBody", {}).get("content", {})
        for name, example in content.get("application/json", {}).get("examples", {}).items():
            found.append((path, method, name, example["value"]))
    order = {"reschedule": 1, "cancel": 2}
    return sorted(found, key=lambda e: order.get(e[0].rstrip("/").rsplit("/", 1)[-1], 0))


@pytest.mark.slow
@pytest.mark.django_db(transaction=True, reset_sequences=True)
def test_every_request_example_is_accepted_by_the_demo_clinic(schema, monkeypatch):
    """A freshly seeded demo clinic (ids from 1, as on a fresh clone) accepts each example.
    Examples on a booking's page act on the booking the first example made, whose manage token
    is the one the examples show."""
    monkeypatch.setattr(timezone, "now", lambda: EXAMPLES_SEEDED_AT)
    call_command("seed_demo", verbosity=0)
    client = APIClient()
    examples = request_examples(schema)
    assert len(examples) >= 4
    first = None
    for path, method, name, body in examples:
        url = path
        if "{reference}" in path:
            Appointment.objects.filter(pk=first.pk).update(manage_token=body["token"])
            url = path.replace("{reference}", first.reference)
        response = getattr(client, method)(url, body, format="json")
        assert response.status_code in (200, 201), (name, response.json())
        if first is None and path.endswith("/bookings/"):
            first = Appointment.objects.get(reference=response.json()["reference"])


def test_every_component_has_a_name_a_generator_can_keep(schema):
    """drf-spectacular names two different enums of one field name with a hash (``StatusDe0Enum``);
    a generated client's class names would then change whenever the choices do."""
    hashed = [
        name
        for name in schema["components"]["schemas"]
        if re.search(r"[0-9A-F][0-9a-f]{2}Enum$", name)
    ]
    assert hashed == []
