"""Care plans on the patient's admin page: shown to the roles that read clinical content, never
to front desk."""

from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import reverse

from clinic import roles
from tests.factories.patients import staff_user
from tests.factories.plans import CarePlanFactory


def page_as(role: str, patient) -> str:
    client = Client()
    user = staff_user(f"page-{role}", role)
    client.force_login(get_user_model().objects.get(pk=user.pk))
    response = client.get(reverse("admin:patients_patient_change", args=[patient.pk]))
    assert response.status_code == 200
    return response.content.decode()


def test_care_plans_show_on_the_patient_page_for_managers_not_front_desk(db):
    plan = CarePlanFactory(title="Rotator cuff rehabilitation")
    assert "Rotator cuff rehabilitation" in page_as(roles.MANAGER, plan.patient)
    assert "Rotator cuff rehabilitation" not in page_as(roles.FRONT_DESK, plan.patient)
