"""The OpenAPI schema describes every operation completely: widget authors generate clients
from it, so a missing response schema or error description is a bug."""

import pytest
from drf_spectacular.generators import SchemaGenerator

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
