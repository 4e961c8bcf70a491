"""Probes: ``/healthz`` says the process is up; ``/readyz`` checks the database and the broker."""

import pytest
from django.test import override_settings

pytestmark = pytest.mark.django_db


def test_healthz_answers_without_touching_dependencies(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_readyz_is_200_when_database_and_broker_answer(client):
    response = client.get("/readyz")
    assert response.status_code == 200, response.content
    assert response.json()["checks"] == {"database": True, "broker": True}


# Port 9 on loopback (discard) has no Redis behind it: the connection is refused at once.
@override_settings(CELERY_BROKER_URL="redis://127.0.0.1:9/0", CELERY_BROKER_TRANSPORT_OPTIONS={})
def test_readyz_is_503_problem_when_the_broker_is_unreachable(client):
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response["Content-Type"].startswith("application/problem+json")
    body = response.json()
    assert body["type"].endswith("/problems/not-ready")
    assert body["checks"] == {"database": True, "broker": False}
    assert "broker" in body["detail"]
