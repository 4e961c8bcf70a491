"""The exercise program: written by the lead in rehabilitation and the maintenance owner in
maintenance, versioned, and never against the plan's precautions."""

import pytest

from clinic.errors import PermissionProblem, RuleProblem
from plans import services
from plans.models import ExercisePrescription
from tests.factories.plans import (
    CarePlanFactory,
    ExerciseFactory,
    as_actor,
    in_maintenance,
    in_rehabilitation,
    trainer,
)

pytestmark = pytest.mark.django_db
DOSAGE = {"sets": 3, "reps": 10, "times_per_week": 3}


def low_back_plan_handed_to(owner):
    """A plan whose physiotherapist forbade loaded spinal flexion before the handover."""
    plan = CarePlanFactory(title="Low back pain")
    services.add_precaution(
        plan, actor=as_actor(plan.lead), tags=["loaded_spinal_flexion"], note="Disc irritation"
    )
    return in_maintenance(owner=owner, plan=plan)


def test_a_maintenance_prescription_against_a_precaution_is_refused_and_names_it():
    owner = trainer()
    plan = low_back_plan_handed_to(owner)
    deadlift = ExerciseFactory(name="Kettlebell deadlift", tags=["loaded_spinal_flexion"])
    version = plan.program_version
    with pytest.raises(RuleProblem) as refused:
        services.prescribe_exercise(plan, actor=as_actor(owner), exercise=deadlift, **DOSAGE)
    problem = refused.value
    assert problem.slug == "precaution-conflict"
    assert "Avoid loaded spinal flexion (Disc irritation)" in problem.detail
    assert [(e.field, e.code) for e in problem.errors] == [("exercise", "precaution_conflict")]
    plan.refresh_from_db()
    assert plan.program_version == version
    assert not plan.prescriptions.exists()


def test_the_owner_evolves_the_program_within_the_precautions_and_each_change_is_a_version():
    owner = trainer()
    plan = low_back_plan_handed_to(owner)
    bridge = ExerciseFactory(name="Bridge on a step", tags=[])
    first = services.prescribe_exercise(plan, actor=as_actor(owner), exercise=bridge, **DOSAGE)
    second = services.change_prescription(first, actor=as_actor(owner), sets=4, load="5 kg")
    plan.refresh_from_db()
    first.refresh_from_db()
    assert (first.is_active, second.is_active, second.replaces) == (False, True, first)
    assert second.dosage == "4 x 10, 5 kg, 3 times a week"
    assert plan.program_version == second.version == first.version + 1
    changed = plan.events.get(kind="prescription_changed")
    assert (changed.before["sets"], changed.after["sets"]) == (3, 4)
    assert list(plan.program_versions.values_list("number", flat=True))[-2:] == [
        first.version,
        second.version,
    ]


def test_in_maintenance_only_the_owner_changes_the_program():
    owner = trainer()
    plan = in_maintenance(owner=owner)
    other = trainer(locations=[plan.location])
    for intruder in (other, plan.lead):
        with pytest.raises(PermissionProblem):
            services.prescribe_exercise(
                plan, actor=as_actor(intruder), exercise=ExerciseFactory(), **DOSAGE
            )
    assert not ExercisePrescription.objects.exists()


def test_precautions_also_bind_the_lead_in_rehabilitation():
    plan = in_rehabilitation()
    services.add_precaution(plan, actor=as_actor(plan.lead), tags=["impact"])
    jump = ExerciseFactory(name="Tuck jump", tags=["impact", "deep_knee_flexion"])
    with pytest.raises(RuleProblem) as refused:
        services.prescribe_exercise(plan, actor=as_actor(plan.lead), exercise=jump, **DOSAGE)
    assert refused.value.slug == "precaution-conflict"


def test_a_prescription_needs_reps_or_a_hold():
    plan = in_rehabilitation()
    with pytest.raises(Exception, match="hold") as refused:
        services.prescribe_exercise(
            plan, actor=as_actor(plan.lead), exercise=ExerciseFactory(), sets=2, times_per_week=3
        )
    assert refused.value.errors[0].field == "reps"


def test_goals_follow_the_latest_measure():
    plan = in_rehabilitation()
    lead = as_actor(plan.lead)
    goal = plan.goals.get()
    services.record_outcome(plan, actor=lead, kind="rom", label="Knee flexion", value=121)
    goal.refresh_from_db()
    assert goal.met
    services.record_outcome(plan, actor=lead, kind="rom", label="Knee flexion", value=100)
    goal.refresh_from_db()
    assert not goal.met
    assert list(plan.events.filter(kind__startswith="goal_").values_list("kind", flat=True)) == [
        "goal_added",
        "goal_met",
        "goal_unmet",
    ]


def test_a_new_precaution_stops_the_prescriptions_it_forbids():
    plan = in_rehabilitation()
    lead = as_actor(plan.lead)
    jump = ExerciseFactory(name="Tuck jump", tags=["impact"])
    bridge = ExerciseFactory(name="Bridge on a step", tags=[])
    services.prescribe_exercise(plan, actor=lead, exercise=jump, **DOSAGE)
    services.prescribe_exercise(plan, actor=lead, exercise=bridge, **DOSAGE)
    services.add_precaution(plan, actor=lead, tags=["impact"], note="Swollen knee")
    assert [p.exercise for p in plan.prescriptions.filter(is_active=True)] == [bridge]
    stopped = plan.events.get(kind="prescription_stopped")
    assert (
        stopped.reason
        == "Conflicts with the new precaution: Avoid impact (jumping, running) (Swollen knee)."
    )
    latest = plan.program_versions.order_by("number").last()
    assert [e["name"] for e in latest.content["exercises"]] == ["Bridge on a step"]


def test_the_library_cannot_tag_an_exercise_against_a_patients_precautions():
    plan = in_rehabilitation()
    lead = as_actor(plan.lead)
    bridge = ExerciseFactory(name="Bridge on a step", tags=[])
    services.add_precaution(plan, actor=lead, tags=["impact"])
    services.prescribe_exercise(plan, actor=lead, exercise=bridge, **DOSAGE)
    with pytest.raises(RuleProblem) as refused:
        services.save_exercise(bridge, tags=["impact"])
    assert refused.value.slug == "precaution-conflict"
    assert refused.value.errors[0].field == "tags"
    bridge.refresh_from_db()
    assert bridge.tags == []
    services.save_exercise(bridge, tags=["single_leg_loading"])
    bridge.refresh_from_db()
    assert bridge.tags == ["single_leg_loading"]


@pytest.mark.parametrize(
    ("dosage", "words"),
    [
        ({"sets": 3, "reps": 10, "times_per_week": 3}, "3 x 10, 3 times a week"),
        (
            {"sets": 3, "reps": 8, "hold_seconds": 5, "load": "red band", "times_per_week": 5},
            "3 x 8, hold 5 s, red band, 5 times a week",
        ),
        ({"sets": 1, "hold_seconds": 600, "times_per_week": 5}, "1 x 10 min, 5 times a week"),
        ({"sets": 3, "hold_seconds": 30, "times_per_week": 7}, "3 x 30 s, 7 times a week"),
    ],
)
def test_the_dosage_reads_in_plain_words(dosage, words):
    assert ExercisePrescription(**dosage).dosage == words
