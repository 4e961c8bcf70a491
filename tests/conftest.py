"""Shared fixtures. Database-specific tests use ``requires_postgres`` and say why they skip."""

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from clinic import roles

requires_postgres = pytest.mark.skipif(
    not settings.IS_POSTGRES,
    reason="needs PostgreSQL (exclusion constraints, row locks, real parallel connections); "
    "set DATABASE_URL=postgres://... to run",
)


@pytest.fixture
def api_client() -> APIClient:
    return APIClient()


def make_staff_user(username: str, role: str | None):
    user = get_user_model().objects.create_user(
        username=username, password="pw-for-tests", is_staff=role is not None
    )
    if role:
        user.groups.add(Group.objects.get(name=role))
    return user


def client_for(user) -> APIClient:
    client = APIClient()
    token, _ = Token.objects.get_or_create(user=user)
    client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    return client


@pytest.fixture
def manager_user(db):
    return make_staff_user("test-manager", roles.MANAGER)


@pytest.fixture
def front_desk_user(db):
    return make_staff_user("test-frontdesk", roles.FRONT_DESK)


@pytest.fixture
def manager_client(manager_user) -> APIClient:
    return client_for(manager_user)


@pytest.fixture
def front_desk_client(front_desk_user) -> APIClient:
    return client_for(front_desk_user)
