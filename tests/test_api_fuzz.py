"""The API fuzzed against its own OpenAPI schema, served live at ``/api/schema/``.

Schemathesis generates valid and invalid requests for every operation, anonymously and as a
manager, against the demo clinic's data (seeded once for both runs), and checks that no request
gives a 5xx, that every response matches the schema (status code, media type, body) and that
every error is ``application/problem+json``. The examples per operation are bounded
(``FUZZ_EXAMPLES``) so the run stays a few minutes in CI.
"""

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from django.conf import settings as django_settings
from django.core.cache import cache
from django.db.models import ProtectedError
from fhir.resources.R4B.operationoutcome import OperationOutcome
from hypothesis import HealthCheck, Phase, given
from hypothesis import settings as hypothesis_settings
from hypothesis.errors import Unsatisfiable
from pytest_django.live_server_helper import LiveServer
from rest_framework.authtoken.models import Token
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.generation import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from clinic import roles
from clinic.api.problems import problem_exception_handler
from clinic.models import Location
from tests.conftest import make_staff_user
from tests.e2e.server import seeded_live_server

# Examples per operation and generation mode. The anonymous run spends them on the public API;
# staff operations only need to show that they refuse an anonymous caller properly.
EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "4"))
PROBLEM = "application/problem+json"
FHIR_JSON = "application/fhir+json"


def errors_are_problem_json(ctx, response, case) -> None:
    """Every 4xx/5xx names its error kind the same way, whatever endpoint gave it; the FHIR
    API's the FHIR way, as a valid ``OperationOutcome``."""
    if response.status_code < 400:
        return
    content_type = (response.headers.get("content-type") or [""])[0]
    if case.path.startswith("/fhir/"):
        assert content_type.startswith(FHIR_JSON), f"{case.method} {case.path}: {content_type!r}"
        OperationOutcome.model_validate(response.json())
        return
    assert content_type.startswith(PROBLEM), (
        f"{case.method} {case.path} gave {response.status_code} as {content_type!r}, "
        f"not {PROBLEM}: {response.content[:300]!r}"
    )
    body = response.json()
    assert body["status"] == response.status_code
    assert "/problems/" in body["type"]


CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    errors_are_problem_json,
]


# --- Regressions the fuzzer found, pinned as fast tests ----------------------------------------


@pytest.mark.postgres
@pytest.mark.django_db
def test_a_value_the_database_refuses_is_a_400_problem_not_a_500(manager_client, caplog):
    """PostgreSQL rejects NUL characters in text; the request is bad, the server is fine."""
    response = manager_client.get("/api/v1/locations/", {"search": "Pick\x00ering"})
    assert response.status_code == 400
    assert response["Content-Type"].startswith(PROBLEM)
    assert response.json()["type"].endswith("/problems/validation-error")
    # The database's own message quotes the value; the log line must not.
    assert "Pick" not in caplog.text


def test_deleting_a_row_still_referenced_is_a_409_problem_naming_what_holds_it():
    holder = Location(name="Pickering", slug="pickering")
    response = problem_exception_handler(ProtectedError("protected", [holder]), {})
    assert response.status_code == 409
    assert response.content_type == PROBLEM
    assert response.data["type"].endswith("/problems/in-use")
    assert "locations" in response.data["detail"]


def fuzz_settings(examples: int) -> hypothesis_settings:
    return hypothesis_settings(
        max_examples=examples,
        deadline=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
        database=None,
        phases=[Phase.explicit, Phase.generate],  # no shrinking: report the first failing request
    )


@pytest.fixture(scope="module")
def demo_server(django_db_setup, django_db_blocker) -> Iterator[LiveServer]:
    """One live server over the demo clinic for both runs (seeding per test would double it)."""
    with seeded_live_server(django_db_blocker) as server:
        yield server


@pytest.fixture(scope="module")
def manager_token(demo_server, django_db_blocker) -> str:
    with django_db_blocker.unblock():
        user = make_staff_user("fuzz-manager", roles.MANAGER)
        return Token.objects.create(user=user).key


@pytest.fixture
def api_schema(demo_server, db, settings):
    """The schema as the running server serves it."""
    # The fuzzer is one client sending many requests; throttles are tested in test_security.
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": dict.fromkeys(
            settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], "100000/min"
        ),
    }
    cache.clear()
    return schemathesis.openapi.from_url(f"{demo_server.url}/api/schema/?format=json")


def fuzz(schema, base_url: str, headers: dict[str, str] | None = None) -> list[str]:
    """Run every operation with valid and invalid data; return a report per failing one."""
    anonymous = headers is None
    failures: list[str] = []
    for result in schema.get_all_operations():
        operation = result.ok()
        public = operation.path.startswith("/api/v1/public/")
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            examples = EXAMPLES if public or not anonymous else 1
            if anonymous and not public and mode is GenerationMode.NEGATIVE:
                continue

            @fuzz_settings(examples)
            @given(case=operation.as_strategy(generation_mode=mode))
            def run(case) -> None:
                case.call_and_validate(base_url=base_url, headers=headers, checks=CHECKS)

            try:
                run()
            except Unsatisfiable:
                continue  # nothing in the operation can be made invalid (no parameters, no body)
            except (Exception, FailureGroup) as exc:
                text = str(exc).replace(base_url, "")
                failures.append(f"--- {operation.label} [{mode.value}]\n{text[:1500]}")
    return failures


def report(failures: list[str], who: str) -> str:
    """All failing operations at once (also saved under var/ for reading after a CI run)."""
    text = f"{len(failures)} operation(s) failed the fuzz as {who}:\n" + "\n".join(failures)
    out = Path(django_settings.VAR_DIR) / f"fuzz-{who}.txt"
    out.write_text(text)
    return text


@pytest.mark.slow
def test_anonymous_requests_never_fail_and_match_the_schema(api_schema, demo_server):
    failures = fuzz(api_schema, demo_server.url)
    if failures:
        pytest.fail(report(failures, "anonymous"), pytrace=False)


@pytest.mark.slow
def test_manager_requests_never_fail_and_match_the_schema(api_schema, demo_server, manager_token):
    failures = fuzz(api_schema, demo_server.url, {"Authorization": f"Token {manager_token}"})
    if failures:
        pytest.fail(report(failures, "manager"), pytrace=False)
