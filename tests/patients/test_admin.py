"""The admin under DOMAIN.md section 8: pages by role permission, rows by clinical access."""

import pytest
from django.contrib import admin
from django.db import connection
from django.test.utils import CaptureQueriesContext

from clinic import roles
from clinic.audit import record_event
from clinic.models import AuditEvent
from tests.factories.patients import (
    PatientFactory,
    ReferralFactory,
    clinician_user,
    link_patient,
    staff_user,
)
from tests.factories.providers import DisciplineFactory, ProviderFactory

pytestmark = pytest.mark.django_db


def admin_client(client, user):
    client.force_login(user)
    return client


@pytest.mark.parametrize(
    ("role", "patients", "referrals", "audit"),
    [
        (roles.FRONT_DESK, 200, 403, 403),
        (roles.CLINICIAN, 200, 200, 403),
        (roles.MANAGER, 200, 200, 200),
    ],
)
def test_each_role_opens_only_its_admin_pages(client, role, patients, referrals, audit):
    user = clinician_user("c-admin") if role == roles.CLINICIAN else staff_user("u-admin", role)
    c = admin_client(client, user)
    assert c.get("/admin/patients/patient/").status_code == patients
    assert c.get("/admin/patients/referral/").status_code == referrals
    assert c.get("/admin/clinic/auditevent/").status_code == audit


def test_a_clinician_lists_only_their_patients_in_the_admin(client):
    user = clinician_user("c-list")
    mine, other = PatientFactory(last_name="Mine"), PatientFactory(last_name="Other")
    link_patient(mine, user.provider)
    page = admin_client(client, user).get("/admin/patients/patient/").content.decode()
    assert "Mine" in page
    assert "Other" not in page
    assert admin_client(client, user).get(
        f"/admin/patients/patient/{other.pk}/change/"
    ).status_code in (302, 404)


def test_front_desk_sees_no_referral_on_the_patient_page(client):
    patient = PatientFactory()
    ReferralFactory(patient=patient, reason="Confidential clinical reason")
    page = admin_client(client, staff_user("d-page", roles.FRONT_DESK)).get(
        f"/admin/patients/patient/{patient.pk}/change/"
    )
    assert page.status_code == 200
    assert "Confidential clinical reason" not in page.content.decode()


def test_opening_a_patient_page_and_saving_it_are_audited_from_the_admin(client):
    patient = PatientFactory(phone="+1 905 555 0300")
    manager = staff_user("m-page", roles.MANAGER)
    c = admin_client(client, manager)
    assert c.get(f"/admin/patients/patient/{patient.pk}/change/").status_code == 200
    response = c.post(
        f"/admin/patients/patient/{patient.pk}/change/",
        {
            "first_name": patient.first_name,
            "last_name": patient.last_name,
            "email": patient.email,
            "phone": "+1 905 555 0301",
            "preferred_language": "en",
            "status": "active",
            "consents-TOTAL_FORMS": "0",
            "consents-INITIAL_FORMS": "0",
            "referrals-TOTAL_FORMS": "0",
            "referrals-INITIAL_FORMS": "0",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    events = AuditEvent.objects.filter(patient_id=patient.pk, channel="admin")
    assert set(events.values_list("action", flat=True)) == {"read", "update"}
    update = events.get(action="update")
    assert update.changes == {"phone": ["+1 905 555 0300", "+1 905 555 0301"]}


def test_the_audit_log_is_read_only_even_for_managers(client):
    record_event(actor=None, action="read", object_type="patients.Patient", object_id=1)
    event = AuditEvent.objects.get()
    c = admin_client(client, staff_user("m-audit", roles.MANAGER))
    assert c.get(f"/admin/clinic/auditevent/{event.pk}/change/").status_code == 200
    assert c.get("/admin/clinic/auditevent/add/").status_code == 403
    assert (
        c.post(f"/admin/clinic/auditevent/{event.pk}/delete/", {"post": "yes"}).status_code == 403
    )
    assert AuditEvent.objects.filter(pk=event.pk).exists()


def test_patients_cannot_be_deleted_only_archived(client):
    patient = PatientFactory()
    c = admin_client(client, staff_user("m-del", roles.MANAGER))
    assert c.get(f"/admin/patients/patient/{patient.pk}/delete/").status_code == 403


# Clinical content across the apps: front desk must not open any of these admin pages.
CLINICAL_MODELS = {
    "patients.referral",
    "patients.referralstatuschange",
    "patients.carerelationship",
    "plans.careplan",
    "plans.diagnosis",
    "plans.precaution",
    "plans.goal",
    "plans.plannedintervention",
    "plans.exerciseprescription",
    "plans.outcomemeasure",
    "plans.programversion",
    "plans.planevent",
    "scheduling.freeconsultoutcome",
    "clinic.auditevent",
}


def test_front_desk_opens_no_clinical_admin_page(client):

    c = admin_client(client, staff_user("d-clinical", roles.FRONT_DESK))
    registered = {m._meta.label_lower: m for m in admin.site._registry}
    checked = sorted(set(registered) & CLINICAL_MODELS)
    assert "patients.referral" in checked
    for label in checked:
        app_label, model_name = label.split(".")
        response = c.get(f"/admin/{app_label}/{model_name}/")
        assert response.status_code == 403, label
    index = c.get("/admin/").content.decode()
    assert "Referrals" not in index


def _referral_list_queries(client) -> int:
    with CaptureQueriesContext(connection) as queries:
        assert client.get("/admin/patients/referral/").status_code == 200
    return len(queries)


def test_the_referral_list_costs_no_query_per_row(client):
    c = admin_client(client, staff_user("m-list", roles.MANAGER))
    ReferralFactory()
    one = _referral_list_queries(c)
    for _ in range(4):
        ReferralFactory(to_provider=ProviderFactory())
    assert _referral_list_queries(c) == one


def test_an_admin_referral_the_service_refuses_is_a_form_error(client):
    """``create_referral`` refuses a named provider of another discipline; the admin shows why
    instead of failing with a 500."""
    user = clinician_user("c-mismatch")
    patient = PatientFactory()
    link_patient(patient, user.provider)
    physio = ProviderFactory(display_name="A Physio")
    massage = DisciplineFactory(code="massage_therapist")
    page = admin_client(client, user).post(
        "/admin/patients/referral/add/",
        {
            "patient": patient.pk,
            "from_provider": user.provider.pk,
            "to_discipline": massage.pk,
            "to_provider": physio.pk,
            "reason": "Tight upper back",
            "history-TOTAL_FORMS": "0",
            "history-INITIAL_FORMS": "0",
        },
    )
    assert page.status_code == 200
    assert "is not a" in str(page.context["adminform"].form.errors)
    assert not patient.referrals.exists()


def test_a_clinician_cannot_refer_in_someone_elses_name_in_the_admin(client):
    user = clinician_user("c-name")
    patient = PatientFactory()
    link_patient(patient, user.provider)
    colleague = ProviderFactory(display_name="A Colleague")
    page = admin_client(client, user).post(
        "/admin/patients/referral/add/",
        {
            "patient": patient.pk,
            "from_provider": colleague.pk,
            "to_discipline": DisciplineFactory(code="massage_therapist").pk,
            "reason": "Tight upper back",
            "history-TOTAL_FORMS": "0",
            "history-INITIAL_FORMS": "0",
        },
    )
    assert page.status_code == 200
    assert "only refer as yourself" in str(page.context["adminform"].form.errors)
    assert not patient.referrals.exists()
