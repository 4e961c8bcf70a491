"""The admin's list pages of patient and clinical records are audited like the API's lists."""

import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from clinic.models import AuditEvent
from tests.conftest import make_staff_user
from tests.factories.patients import PatientFactory

pytestmark = pytest.mark.django_db

LIST = "/admin/patients/patient/"


def test_every_patient_a_staff_list_page_shows_is_an_audited_read(client):
    manager = make_staff_user("audit-list-manager", "manager")
    patients = [PatientFactory() for _ in range(3)]
    client.force_login(manager)
    assert client.get(LIST).status_code == 200
    reads = AuditEvent.objects.filter(action="read", channel="admin", summary="admin list")
    assert sorted(reads.values_list("patient_id", flat=True)) == sorted(p.pk for p in patients)
    assert set(reads.values_list("actor_label", flat=True)) == {manager.username}


def test_auditing_a_list_page_costs_one_insert_whatever_its_length(client):
    client.force_login(make_staff_user("audit-list-counter", "manager"))
    PatientFactory()
    with CaptureQueriesContext(connection) as one:
        client.get(LIST)
    for _ in range(9):
        PatientFactory()
    with CaptureQueriesContext(connection) as ten:
        client.get(LIST)
    assert len(ten) == len(one)
    assert AuditEvent.objects.filter(summary="admin list").count() == 11


def test_the_audit_trail_keeps_the_real_peer_and_a_safe_request_id_not_what_headers_claim(client):
    """Who read what, from where: a client cannot write another address or arbitrary text in."""
    client.force_login(make_staff_user("audit-list-spoofer", "manager"))
    PatientFactory()
    response = client.get(
        LIST, HTTP_X_FORWARDED_FOR="203.0.113.9", HTTP_X_REQUEST_ID="x\r\nforged: <script>"
    )
    event = AuditEvent.objects.get(summary="admin list")
    assert event.client_address == "127.0.0.1"
    assert event.request_id == response["X-Request-ID"]
    assert re.fullmatch(r"[0-9a-f]{32}", event.request_id)

    well_formed = client.get(LIST, HTTP_X_REQUEST_ID="lb-7f3a.42")
    assert well_formed["X-Request-ID"] == "lb-7f3a.42"
