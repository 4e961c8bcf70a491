"""The admin's list pages of patient and clinical records are audited like the API's lists."""

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
