"""Every API error is RFC 9457 problem+json with a stable type and the offending fields."""

import pytest

from clinic.models import Location

pytestmark = pytest.mark.django_db

PROBLEM = "application/problem+json"


def assert_problem(response, status: int, slug: str) -> dict:
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith(PROBLEM)
    body = response.json()
    assert body["status"] == status
    assert body["type"].endswith(f"/problems/{slug}")
    assert body["title"]
    assert body["detail"]
    assert isinstance(body["errors"], list)
    return body


def test_invalid_field_gives_400_naming_the_field_and_rule(manager_client):
    response = manager_client.post(
        "/api/v1/locations/",
        {"name": "Ajax", "slug": "ajax", "timezone": "Mars/Olympus", "jurisdiction": "CA-ON"},
        format="json",
    )
    body = assert_problem(response, 400, "validation-error")
    assert {"field": "timezone", "code": "invalid_timezone"}.items() <= body["errors"][0].items()
    assert not Location.objects.filter(slug="ajax").exists()


def test_malformed_json_is_a_400_problem(manager_client):
    response = manager_client.generic(
        "POST", "/api/v1/locations/", "{not json", content_type="application/json"
    )
    assert_problem(response, 400, "malformed-request")


def test_unknown_id_is_a_404_problem(manager_client):
    assert_problem(manager_client.get("/api/v1/locations/999999/"), 404, "not-found")


def test_unknown_api_path_is_a_404_problem(client):
    assert_problem(client.get("/api/v1/no-such-thing/"), 404, "not-found")


def test_wrong_method_is_a_405_problem(client):
    assert_problem(client.delete("/api/v1/public/locations/"), 405, "method-not-allowed")


def test_anonymous_staff_endpoint_is_a_401_problem(client):
    assert_problem(client.get("/api/v1/locations/"), 401, "not-authenticated")


def test_front_desk_cannot_change_configuration_403_problem(front_desk_client):
    response = front_desk_client.patch("/api/v1/clinic-settings/", {"slot_step_minutes": 5})
    assert_problem(response, 403, "permission-denied")


def test_user_without_role_is_refused_403_problem(db):
    from tests.conftest import client_for, make_staff_user

    client = client_for(make_staff_user("no-role", None))
    assert_problem(client.get("/api/v1/locations/"), 403, "permission-denied")


def test_reminder_offsets_must_be_whole_minutes_within_two_weeks(manager_client):
    response = manager_client.patch(
        "/api/v1/clinic-settings/", {"reminder_offsets_minutes": [1440, -5]}, format="json"
    )
    body = assert_problem(response, 400, "validation-error")
    assert body["errors"][0]["field"] == "reminder_offsets_minutes.1"
    response = manager_client.patch(
        "/api/v1/clinic-settings/", {"reminder_offsets_minutes": [120, 1440]}, format="json"
    )
    assert response.status_code == 200
    assert response.json()["reminder_offsets_minutes"] == [1440, 120]


def test_a_value_the_database_refuses_is_a_400_and_the_log_does_not_quote_it(caplog):
    """Validators now stop a NUL before the database, so the handler is pinned directly: the
    database's message quotes the value (it may be health data), the log line must not."""
    from django.db import DataError

    from clinic.api.problems import problem_exception_handler

    try:
        raise DataError('value "knee pain since 03/2024" out of range') from ValueError("quoted")
    except DataError as refused:
        response = problem_exception_handler(refused, {})
    assert response.status_code == 400
    assert response.content_type == "application/problem+json"
    assert response.data["type"].endswith("/problems/validation-error")
    assert "knee" not in caplog.text
    assert "knee" not in response.data["detail"]
