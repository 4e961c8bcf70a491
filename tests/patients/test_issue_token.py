"""``issue_token`` gives staff an API token and refuses users without a role."""

import io

import pytest
from django.core.management import CommandError, call_command

from clinic import roles
from tests.factories.patients import staff_user

pytestmark = pytest.mark.django_db


def issue(*args) -> str:
    out = io.StringIO()
    call_command("issue_token", *args, stdout=out)
    return out.getvalue().strip()


def test_the_token_works_for_the_staff_api(client):
    staff_user("desk-token", roles.FRONT_DESK)
    key = issue("desk-token")
    assert issue("desk-token") == key
    response = client.get("/api/v1/patients/", HTTP_AUTHORIZATION=f"Token {key}")
    assert response.status_code == 200


def test_rotating_replaces_the_key_and_the_old_one_stops_working(client):
    staff_user("mgr-token", roles.MANAGER)
    old = issue("mgr-token")
    new = issue("mgr-token", "--rotate")
    assert new != old
    assert client.get("/api/v1/patients/", HTTP_AUTHORIZATION=f"Token {old}").status_code == 401


def test_a_user_without_a_staff_role_gets_no_token():
    staff_user("no-role", None)
    with pytest.raises(CommandError, match="no staff role"):
        issue("no-role")
