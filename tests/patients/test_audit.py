"""The audit log: clinical reads and patient changes leave rows; the database refuses edits."""

import pytest
from django.core.management import call_command
from django.db import DatabaseError, connection, transaction

from clinic import roles
from clinic.audit import record_event
from clinic.models import AuditEvent
from patients.services import match_or_create_patient, record_consents
from patients.tokens import make_unsubscribe_token
from tests.conftest import client_for
from tests.factories.patients import (
    PatientFactory,
    ReferralFactory,
    clinician_user,
    link_patient,
    staff_user,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def treated():
    """A patient and the clinician who treats them."""
    patient = PatientFactory()
    user = clinician_user("physio-audit")
    link_patient(patient, user.provider)
    return patient, user


def test_a_clinician_reading_a_patient_leaves_a_read_row_with_who_where_and_request(treated):
    patient, user = treated
    response = client_for(user).get(
        f"/api/v1/patients/{patient.pk}/",
        REMOTE_ADDR="192.0.2.44",
        HTTP_X_REQUEST_ID="req-audit-1",
    )
    assert response.status_code == 200
    event = AuditEvent.objects.get(action="read")
    assert event.actor == user
    assert event.actor_label == "physio-audit"
    assert event.object_type == "patients.Patient"
    assert event.object_id == str(patient.pk)
    assert event.patient_id == patient.pk
    assert event.client_address == "192.0.2.44"
    assert event.request_id == "req-audit-1"
    assert event.channel == "api"


def test_listing_referrals_logs_one_read_per_record_in_one_insert(
    manager_client, django_assert_max_num_queries
):
    referrals = ReferralFactory.create_batch(5)
    manager_client.get("/api/v1/referrals/")  # warm-up: user, groups, token
    with django_assert_max_num_queries(12):
        response = manager_client.get("/api/v1/referrals/")
    assert response.json()["count"] == 5
    logged = AuditEvent.objects.filter(action="read", object_type="patients.Referral")
    assert logged.count() == 10
    assert {e.patient_id for e in logged} == {r.patient_id for r in referrals}


def test_front_desk_reading_contact_details_is_not_a_clinical_read(front_desk_client):
    patient = PatientFactory()
    front_desk_client.get(f"/api/v1/patients/{patient.pk}/")
    assert not AuditEvent.objects.filter(action="read").exists()


def test_changing_patient_details_logs_old_and_new_values(front_desk_client, front_desk_user):
    patient = PatientFactory(phone="+1 905 555 0001")
    response = front_desk_client.patch(
        f"/api/v1/patients/{patient.pk}/", {"phone": "+1 905 555 0002"}, format="json"
    )
    assert response.status_code == 200
    event = AuditEvent.objects.get(action="update")
    assert event.actor == front_desk_user
    assert event.changes == {"phone": ["+1 905 555 0001", "+1 905 555 0002"]}
    assert event.patient_id == patient.pk


def test_creating_a_patient_and_a_referral_are_logged(manager_client, treated):
    patient, clinician = treated
    manager_client.post(
        "/api/v1/patients/",
        {"first_name": "Lin", "last_name": "Bo", "email": "lin@example.org"},
        format="json",
    )
    client_for(clinician).post(
        "/api/v1/referrals/",
        {"patient": patient.pk, "to_discipline": "massage_therapist", "reason": "Tension"},
        format="json",
    )
    created = set(AuditEvent.objects.filter(action="create").values_list("object_type", flat=True))
    assert created == {"patients.Patient", "patients.Referral"}


def test_an_unchanged_save_logs_nothing(front_desk_client):
    patient = PatientFactory(phone="+1 905 555 0003")
    front_desk_client.patch(
        f"/api/v1/patients/{patient.pk}/", {"phone": "+1 905 555 0003"}, format="json"
    )
    assert not AuditEvent.objects.exists()


def _an_event() -> AuditEvent:
    record_event(actor=None, action="read", object_type="patients.Patient", object_id=1)
    return AuditEvent.objects.get()


def test_update_on_the_audit_table_fails_at_the_database():
    event = _an_event()
    with pytest.raises(DatabaseError), transaction.atomic():
        AuditEvent.objects.filter(pk=event.pk).update(summary="rewritten")
    with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("UPDATE clinic_auditevent SET actor_label = 'someone else'")
    event.refresh_from_db()
    assert event.summary == ""


def test_delete_on_the_audit_table_fails_at_the_database():
    event = _an_event()
    with pytest.raises(DatabaseError), transaction.atomic():
        AuditEvent.objects.filter(pk=event.pk).delete()
    with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("DELETE FROM clinic_auditevent")
    assert AuditEvent.objects.filter(pk=event.pk).exists()


def test_audit_events_api_is_for_managers_only(manager_client, front_desk_client):
    _an_event()
    assert manager_client.get("/api/v1/audit-events/").json()["count"] == 1
    assert front_desk_client.get("/api/v1/audit-events/").status_code == 403
    clinician = client_for(staff_user("c-audit", roles.CLINICIAN))
    assert clinician.get("/api/v1/audit-events/").status_code == 403


def test_audit_events_api_cannot_change_rows(manager_client):
    event = _an_event()
    assert manager_client.delete(f"/api/v1/audit-events/{event.pk}/").status_code == 405
    assert manager_client.patch(f"/api/v1/audit-events/{event.pk}/", {}).status_code == 405


@pytest.mark.django_db(transaction=True)
def test_flush_can_empty_the_log_and_the_guard_is_back_afterwards():
    """Tests and ``manage.py flush`` wipe the whole database; the guard survives the wipe."""
    _an_event()
    call_command("flush", interactive=False, verbosity=0)
    assert not AuditEvent.objects.exists()
    event = _an_event()
    with pytest.raises(DatabaseError), transaction.atomic():
        AuditEvent.objects.filter(pk=event.pk).delete()


def test_changes_from_the_public_widget_are_logged_too(client):
    patient, _ = match_or_create_patient(first_name="Web", last_name="Lead", email="w@example.org")
    record_consents(patient, choices={"reminders": True}, source="online_form")
    match_or_create_patient(
        first_name="Web", last_name="Lead", email="W@example.org", phone="+1 905 555 0777"
    )
    client.post(f"/api/v1/public/unsubscribe/?token={make_unsubscribe_token(patient)}")
    events = AuditEvent.objects.filter(patient_id=patient.pk).order_by("id")
    assert [(e.action, e.object_type, e.channel) for e in events] == [
        ("create", "patients.Patient", "public"),
        ("create", "patients.Consent", "public"),
        ("update", "patients.Patient", "public"),
        ("create", "patients.Consent", "public"),
    ]
    assert all(e.actor is None for e in events)
    assert events[2].changes == {"phone": ["", "+1 905 555 0777"]}
