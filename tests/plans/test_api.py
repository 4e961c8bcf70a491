"""The care-plan API: least privilege per role, problem+json refusals, audited reads and writes,
and a list whose query count does not grow with its length."""

import datetime

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from clinic.errors import PermissionProblem
from clinic.models import AuditEvent
from plans import services
from plans.models import CarePlan
from tests.conftest import client_for
from tests.factories.clinic import LocationFactory
from tests.factories.patients import PatientFactory, clinician_user, link_patient
from tests.factories.plans import (
    CarePlanFactory,
    ExerciseFactory,
    as_actor,
    in_maintenance,
    in_rehabilitation,
    physio,
    trainer,
)

pytestmark = pytest.mark.django_db
URL = "/api/v1/care-plans/"


def problem(response) -> dict:
    assert response["Content-Type"] == "application/problem+json", response.content
    return response.json()


def test_front_desk_never_sees_care_plans(front_desk_client):
    plan = CarePlanFactory()
    assert front_desk_client.get(URL).status_code == 403
    assert front_desk_client.get(f"{URL}{plan.pk}/").status_code == 403
    assert front_desk_client.get(f"{URL}{plan.pk}/history/").status_code == 403


def test_clinicians_see_only_their_patients_plans():
    mine, theirs = CarePlanFactory(), CarePlanFactory()
    client = client_for(clinician_user("lead-physio", provider=mine.lead))
    listed = client.get(URL).json()["results"]
    assert [p["id"] for p in listed] == [mine.pk]
    assert client.get(f"{URL}{theirs.pk}/").status_code == 404
    link_patient(theirs.patient, mine.lead)
    assert client.get(f"{URL}{theirs.pk}/").status_code == 200


def test_reading_a_plan_is_audited(manager_client, manager_user):
    plan = CarePlanFactory()
    manager_client.get(f"{URL}{plan.pk}/")
    event = AuditEvent.objects.get(action="read", object_id=str(plan.pk))
    assert (event.actor, event.patient_id) == (manager_user, plan.patient_id)


def plan_with_a_program(exercises: int):
    plan = in_maintenance()
    owner = as_actor(plan.maintenance_owner)
    for _ in range(exercises):
        services.prescribe_exercise(
            plan, actor=owner, exercise=ExerciseFactory(), sets=2, reps=10, times_per_week=3
        )
    return plan


def test_the_list_does_not_grow_queries_with_its_length(manager_client):
    for _ in range(2):
        plan_with_a_program(1)
    with CaptureQueriesContext(connection) as few:
        assert len(manager_client.get(URL).json()["results"]) == 2
    for size in range(4):
        plan_with_a_program(size + 2)
    with CaptureQueriesContext(connection) as many:
        assert len(manager_client.get(URL).json()["results"]) == 6
    assert len(many) == len(few), (len(few), len(many))


def test_a_physiotherapist_takes_a_patient_from_assessment_to_a_trainer_over_the_api():
    lead = physio()
    coach = trainer(locations=list(lead.locations.all()))
    patient = CarePlanFactory.build().patient
    patient.save()
    link_patient(patient, lead)
    physio_api = client_for(clinician_user("physio", provider=lead))
    trainer_api = client_for(clinician_user("coach", provider=coach))
    location = lead.locations.first()

    created = physio_api.post(
        URL, {"patient": patient.pk, "location": location.pk, "title": "Low back pain"}
    )
    assert created.status_code == 201, created.content
    plan_url = f"{URL}{created.json()['id']}/"
    steps = [
        (
            "diagnoses/",
            {"condition": "Lumbar strain", "body_region": "lumbar_spine", "cause": "injury"},
        ),
        ("precautions/", {"tags": ["loaded_spinal_flexion"], "note": "Disc irritation"}),
        (
            "goals/",
            {
                "kind": "pain",
                "measure": "pain",
                "baseline": 7,
                "target": 2,
                "due_date": (datetime.date.today() + datetime.timedelta(weeks=6)).isoformat(),
            },
        ),
        ("interventions/", {"act": "manual_therapy"}),
        ("frequency/", {"sessions_per_week": 2, "planned_weeks": 6}),
        ("start-rehabilitation/", {}),
        ("measures/", {"kind": "pain", "value": 4}),
    ]
    for path, body in steps:
        response = physio_api.post(plan_url + path, body)
        assert response.status_code in (200, 201), (path, response.content)

    refused = problem(
        physio_api.post(plan_url + "move-to-maintenance/", {"maintenance_owner": coach.pk})
    )
    assert refused["type"].endswith("/discharge-criteria-not-met")
    handed = physio_api.post(
        plan_url + "move-to-maintenance/",
        {"maintenance_owner": coach.pk, "override_reason": "Doing well"},
    )
    assert handed.json()["phase"] == "maintenance"

    deadlift = ExerciseFactory(name="Kettlebell deadlift", tags=["loaded_spinal_flexion"])
    conflict = problem(
        trainer_api.post(
            plan_url + "prescriptions/",
            {"exercise": deadlift.pk, "sets": 3, "reps": 5, "times_per_week": 2},
        )
    )
    assert conflict["status"] == 422
    assert conflict["type"].endswith("/precaution-conflict")
    assert conflict["errors"][0]["message"] == "Avoid loaded spinal flexion (Disc irritation)"
    bridge = ExerciseFactory(name="Bridge on a step")
    added = trainer_api.post(
        plan_url + "prescriptions/",
        {"exercise": bridge.pk, "sets": 3, "reps": 12, "times_per_week": 3},
    )
    assert added.status_code == 201
    scope = problem(
        trainer_api.post(
            plan_url + "diagnoses/",
            {"condition": "Sciatica", "body_region": "lumbar_spine", "cause": "injury"},
        )
    )
    assert scope["type"].endswith("/out-of-scope")
    assert scope["errors"][0]["code"] == "act_not_in_discipline"

    history = [e["kind"] for e in trainer_api.get(plan_url + "history/").json()["results"]]
    assert history[0] == "created"
    assert "phase_changed" in history
    assert history[-1] == "prescription_added"
    writes = AuditEvent.objects.filter(object_type__icontains="careplan", action="update")
    assert writes.count() == len(steps) + 2


def test_transition_refusals_change_nothing_and_leave_no_audit_row():
    plan = in_rehabilitation()
    api = client_for(clinician_user("lead", provider=plan.lead))
    before = AuditEvent.objects.filter(action="update").count()
    response = api.post(f"{URL}{plan.pk}/close/", {"reason": "cured"})
    assert problem(response)["errors"][0]["field"] == "reason"
    plan.refresh_from_db()
    assert plan.phase == CarePlan.Phase.REHABILITATION
    assert AuditEvent.objects.filter(action="update").count() == before


def test_unknown_plan_and_part_ids_are_404(manager_client):
    plan = in_rehabilitation()
    assert problem(manager_client.get(f"{URL}999999/"))["status"] == 404
    missing = manager_client.post(f"{URL}{plan.pk}/prescriptions/424242/stop/", {})
    assert problem(missing)["status"] == 404


def test_the_exercise_library_is_read_by_all_staff_and_edited_by_clinicians(
    front_desk_client, manager_client
):
    ExerciseFactory(name="Tuck jump", tags=["impact"])
    ExerciseFactory(name="Banded clamshell", tags=[])
    assert front_desk_client.get("/api/v1/exercises/").status_code == 200
    body = {
        "slug": "step-down",
        "name": "Step-down",
        "body_region": "knee",
        "category": "strength",
        "instructions": "Lower the heel slowly.",
        "tags": ["impact"],
    }
    assert front_desk_client.post("/api/v1/exercises/", body).status_code == 403
    clinician = client_for(clinician_user("coach", provider=trainer()))
    assert clinician.post("/api/v1/exercises/", body).status_code == 201
    bad = problem(
        manager_client.post(
            "/api/v1/exercises/", body | {"slug": "x", "name": "X", "tags": ["somersault"]}
        )
    )
    assert bad["errors"][0]["field"].startswith("tags")
    impact = manager_client.get("/api/v1/exercises/?tag=impact&page_size=200").json()["results"]
    names = {e["name"] for e in impact}
    assert {"Tuck jump", "Step-down"} <= names
    assert "Banded clamshell" not in names
    assert all("impact" in e["tags"] for e in impact)


def test_an_exercise_edit_that_breaks_a_patients_precaution_is_refused(manager_client):
    plan = in_rehabilitation()
    bridge = ExerciseFactory(name="Bridge on a step", tags=[])
    services.add_precaution(plan, actor=as_actor(plan.lead), tags=["impact"])
    services.prescribe_exercise(
        plan, actor=as_actor(plan.lead), exercise=bridge, sets=2, reps=8, times_per_week=3
    )
    response = manager_client.patch(f"/api/v1/exercises/{bridge.pk}/", {"tags": ["impact"]})
    body = problem(response)
    assert body["type"].endswith("/precaution-conflict")
    assert body["errors"][0]["field"] == "tags"
    bridge.refresh_from_db()
    assert bridge.tags == []


def test_plans_say_when_they_are_ready_for_handover_or_need_referral(manager_client):
    ready = in_maintenance()
    owner = as_actor(ready.maintenance_owner)
    services.record_outcome(ready, actor=owner, kind="pain", value=8)
    waiting = in_rehabilitation()
    plans = {p["id"]: p for p in manager_client.get(URL).json()["results"]}
    assert plans[ready.pk]["refer_back_indicated"] is True
    assert plans[waiting.pk]["refer_back_indicated"] is False
    criteria = plans[waiting.pk]["discharge_criteria"]
    assert criteria["met"] is False
    assert criteria["reasons"][0] == "1 of 1 goals not met yet: Knee flexion."
    empty = manager_client.get(f"{URL}{ready.pk}/program/").json()
    assert (empty["number"], empty["content"]["exercises"]) == (0, [])
    services.prescribe_exercise(
        ready,
        actor=owner,
        exercise=ExerciseFactory(name="Seated calf raise"),
        sets=2,
        reps=15,
        times_per_week=3,
    )
    program = manager_client.get(f"{URL}{ready.pk}/program/").json()
    assert [e["name"] for e in program["content"]["exercises"]] == ["Seated calf raise"]


def test_a_clinician_opens_plans_only_for_patients_they_treat_whichever_way_they_ask():
    """The rule lives in ``create_plan``: a direct service call is refused as the API is (where
    the patient chooser does not even offer the patient), and nothing is written."""
    location = LocationFactory(slug="pickering", name="Pickering")
    lead = physio(locations=[location])
    user = clinician_user("opening-physio", provider=lead)
    stranger = PatientFactory()
    body = {"patient": stranger.pk, "location": location.pk, "title": "Knee"}
    refused = client_for(user).post(URL, body, format="json")
    assert refused.status_code == 404
    with pytest.raises(PermissionProblem) as refusal:
        services.create_plan(
            actor=as_actor(lead), patient=stranger, location=location, title="Knee"
        )
    assert refusal.value.errors[0].code == "not_your_patient"
    assert not CarePlan.objects.exists()
    link_patient(stranger, lead)
    created = client_for(user).post(URL, body, format="json")
    assert created.status_code == 201, created.json()


def test_every_plan_change_is_audited_by_the_service_whichever_entry_point_calls_it():
    """A task, the demo or a new view calling the service directly leaves the same audit row
    as the API: the service writes it with the plan's history."""
    plan = CarePlanFactory()
    lead = as_actor(plan.lead)
    services.set_session_frequency(plan, actor=lead, sessions_per_week=2, planned_weeks=6)
    [opened, changed] = AuditEvent.objects.filter(object_id=str(plan.pk)).order_by("id")
    assert (opened.action, changed.action) == ("create", "update")
    assert changed.patient_id == plan.patient_id
    assert changed.summary == plan.events.order_by("id").last().summary
