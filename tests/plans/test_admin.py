"""The care-plan admin: read-only inlines, the plan actions page going through the services,
refusals shown as form errors, and no plans for front desk."""

import pytest
from django.test import Client

from clinic.models import AuditEvent
from plans.models import CarePlan
from tests.factories.patients import clinician_user, link_patient, staff_user
from tests.factories.plans import ExerciseFactory, in_rehabilitation, trainer

pytestmark = pytest.mark.django_db


def logged_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def actions_url(plan) -> str:
    return f"/admin/plans/careplan/{plan.pk}/actions/"


def test_front_desk_sees_no_care_plans_in_the_admin():
    plan = in_rehabilitation()
    desk = logged_in(staff_user("desk", "front_desk"))
    assert desk.get("/admin/plans/careplan/").status_code == 403
    assert desk.get(f"/admin/plans/careplan/{plan.pk}/change/").status_code in (302, 403)
    assert desk.get(actions_url(plan)).status_code == 403


def test_the_plan_page_shows_its_parts_and_is_audited():
    plan = in_rehabilitation()
    user = clinician_user("lead", provider=plan.lead)
    page = logged_in(user).get(f"/admin/plans/careplan/{plan.pk}/change/")
    assert page.status_code == 200
    assert b"Total knee replacement" in page.content
    assert b"Knee flexion" in page.content
    assert AuditEvent.objects.filter(actor=user, action="read", channel="admin").exists()


def test_a_refused_transition_is_a_form_error_and_changes_nothing():
    plan = in_rehabilitation()
    owner = trainer(locations=[plan.location])
    client = logged_in(clinician_user("lead", provider=plan.lead))
    response = client.post(
        actions_url(plan), {"action": "move_to_maintenance", "maintenance_owner": owner.pk}
    )
    assert response.status_code == 200
    form = response.context["form"]
    assert "discharge criteria are not met" in form.non_field_errors()[0]
    assert "goals not met yet: Knee flexion" in form.errors["override_reason"][0]
    plan.refresh_from_db()
    assert plan.phase == CarePlan.Phase.REHABILITATION

    response = client.post(
        actions_url(plan),
        {
            "action": "move_to_maintenance",
            "maintenance_owner": owner.pk,
            "override_reason": "Travelling for work",
        },
    )
    assert response.status_code == 302
    plan.refresh_from_db()
    assert plan.phase == CarePlan.Phase.MAINTENANCE


def test_a_precaution_conflict_is_shown_on_the_exercise_field():
    plan = in_rehabilitation()
    client = logged_in(clinician_user("lead", provider=plan.lead))
    client.post(actions_url(plan), {"action": "add_precaution", "tags": ["impact"]})
    jump = ExerciseFactory(name="Tuck jump", tags=["impact"])
    response = client.post(
        actions_url(plan),
        {"action": "prescribe", "exercise": jump.pk, "sets": 3, "reps": 5, "times_per_week": 2},
    )
    assert response.status_code == 200
    form = response.context["form"]
    assert form.errors["exercise"] == ["Avoid impact (jumping, running)"]
    assert not plan.prescriptions.exists()


def test_a_trainer_recording_a_diagnosis_in_the_admin_sees_the_scope_reason():
    plan = in_rehabilitation()
    coach = trainer(locations=[plan.location])
    link_patient(plan.patient, coach)
    client = logged_in(clinician_user("coach", provider=coach))
    response = client.post(
        actions_url(plan),
        {
            "action": "record_diagnosis",
            "condition": "Sciatica",
            "body_region": "lumbar_spine",
            "cause": "injury",
        },
    )
    assert response.status_code == 200
    errors = response.context["form"].non_field_errors()
    assert any("diagnose" in e.lower() for e in errors), errors
    assert plan.diagnoses.count() == 1


def test_the_lead_sets_a_goal_in_the_admin_and_bad_values_land_on_their_fields():
    plan = in_rehabilitation()
    client = logged_in(clinician_user("lead", provider=plan.lead))
    bad = client.post(
        actions_url(plan),
        {
            "action": "add_goal",
            "measure_kind": "pain",
            "goal_measure": "pain",
            "baseline": 6,
            "target": 12,
            "due_date": "2027-01-15",
        },
    )
    assert "target" in bad.context["form"].errors
    good = client.post(
        actions_url(plan),
        {
            "action": "add_goal",
            "measure_kind": "pain",
            "goal_measure": "pain",
            "baseline": 6,
            "target": 2,
            "due_date": "2027-01-15",
        },
    )
    assert good.status_code == 302
    assert plan.goals.filter(kind="pain", target=2).exists()
