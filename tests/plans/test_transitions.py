"""The phase machine: assessment -> rehabilitation -> maintenance -> (refer back) -> closed,
each step checked for who, what must hold, and written to the history."""

import datetime

import pytest
from django.utils import timezone

from clinic.errors import PermissionProblem, RuleProblem, ValidationProblem
from clinic.models import ClinicSettings
from patients.models import Referral
from plans import selectors, services
from plans.models import CarePlan
from providers.errors import OutOfScope
from tests.factories.plans import (
    CarePlanFactory,
    as_actor,
    exercise_therapist,
    in_maintenance,
    in_rehabilitation,
    massage_therapist,
    physio,
    trainer,
)
from tests.factories.providers import DisciplineFactory, ProviderFactory

pytestmark = pytest.mark.django_db
Phase = CarePlan.Phase


def hours_ago(n: int) -> datetime.datetime:
    return timezone.now() - datetime.timedelta(hours=n)


def test_rehabilitation_needs_a_diagnosis_first():
    plan = CarePlanFactory()
    with pytest.raises(RuleProblem) as refused:
        services.start_rehabilitation(plan, actor=as_actor(plan.lead))
    assert refused.value.slug == "invalid-transition"
    assert refused.value.errors[0].field == "diagnoses"
    plan.refresh_from_db()
    assert plan.phase == Phase.ASSESSMENT


def test_handover_is_refused_until_the_discharge_criteria_hold():
    plan = in_rehabilitation()
    owner = trainer(locations=[plan.location])
    lead = as_actor(plan.lead)
    services.record_outcome(plan, actor=lead, kind="rom", label="Knee flexion", value=110)
    with pytest.raises(RuleProblem) as refused:
        services.move_to_maintenance(plan, actor=lead, owner=owner)
    assert refused.value.slug == "discharge-criteria-not-met"
    assert "Knee flexion" in refused.value.detail
    plan.refresh_from_db()
    assert plan.phase == Phase.REHABILITATION
    assert plan.maintenance_owner is None

    services.record_outcome(plan, actor=lead, kind="rom", label="knee flexion", value=121)
    services.move_to_maintenance(plan, actor=lead, owner=owner)
    plan.refresh_from_db()
    assert (plan.phase, plan.maintenance_owner) == (Phase.MAINTENANCE, owner)


def test_the_clinic_pain_rule_counts_only_the_last_consecutive_measures():
    settings = ClinicSettings.load()
    settings.discharge_pain_max, settings.discharge_pain_consecutive = 2, 2
    settings.save()
    plan = in_rehabilitation()
    lead = as_actor(plan.lead)
    for hours, value in [(30, 1), (20, 4), (10, 2)]:
        services.record_outcome(plan, actor=lead, kind="pain", value=value, at=hours_ago(hours))
    assert not selectors.discharge_criteria(plan).met
    services.record_outcome(plan, actor=lead, kind="pain", value=1, at=hours_ago(1))
    criteria = selectors.discharge_criteria(plan)
    assert (criteria.met, criteria.pain_rule_met, criteria.goals_met) == (True, True, False)


def test_an_override_reason_allows_the_handover_and_stays_in_the_history():
    plan = in_rehabilitation()
    owner = exercise_therapist(locations=[plan.location])
    services.move_to_maintenance(
        plan,
        actor=as_actor(plan.lead),
        owner=owner,
        override_reason="Patient moves away; continues with the gym near home.",
    )
    event = plan.events.get(kind="phase_changed", after__phase="maintenance")
    assert event.reason == "Patient moves away; continues with the gym near home."
    assert event.after["criteria"]["overridden"] is True
    assert event.provider == plan.lead


def test_only_the_lead_hands_over():
    plan = in_rehabilitation()
    owner = trainer(locations=[plan.location])
    services.record_outcome(
        plan, actor=as_actor(plan.lead), kind="rom", label="Knee flexion", value=125
    )
    intruders = [
        (physio(locations=[plan.location]), PermissionProblem, "not_plan_lead"),
        (owner, OutOfScope, "act_not_in_discipline"),
    ]
    for intruder, refusal, code in intruders:
        with pytest.raises(refusal) as refused:
            services.move_to_maintenance(
                plan, actor=as_actor(intruder), owner=owner, override_reason="Because"
            )
        assert refused.value.errors[0].code == code
    plan.refresh_from_db()
    assert not plan.events.filter(after__phase="maintenance").exists()
    assert plan.phase == Phase.REHABILITATION


def test_the_maintenance_owner_must_be_able_to_design_exercise_programs():
    plan = in_rehabilitation()
    masseur = massage_therapist(locations=[plan.location])
    with pytest.raises(OutOfScope) as refused:
        services.move_to_maintenance(
            plan, actor=as_actor(plan.lead), owner=masseur, override_reason="Handover"
        )
    assert refused.value.errors[0].field == "maintenance_owner"
    assert refused.value.errors[0].code == "act_not_in_discipline"
    plan.refresh_from_db()
    assert plan.phase == Phase.REHABILITATION


def test_refer_back_returns_to_rehabilitation_under_a_physiotherapist_with_the_whole_path():
    owner = trainer()
    plan = in_maintenance(owner=owner)
    second_physio = physio(locations=[plan.location])
    services.refer_back(
        plan,
        actor=as_actor(owner),
        reason="Sharp knee pain on stairs since Tuesday.",
        pain=8,
        physiotherapist=second_physio,
    )
    plan.refresh_from_db()
    assert plan.phase == Phase.REHABILITATION
    assert plan.lead == second_physio
    assert plan.maintenance_owner is None
    phases = [
        e.after["phase"] for e in plan.events.order_by("at", "id") if e.after and "phase" in e.after
    ]
    assert phases == ["assessment", "rehabilitation", "maintenance", "rehabilitation"]
    referral = plan.events.get(kind="referred_back")
    assert referral.before["maintenance_owner"] == owner.pk
    assert referral.reason == "Sharp knee pain on stairs since Tuesday."
    assert plan.measures.filter(kind="pain", value=8).exists()
    # The physiotherapist now treats the patient, so their clinical access follows.
    assert plan.patient.care_relationships.filter(provider=second_physio).exists()
    # And the referral is tracked like any other, from the trainer to the physiotherapist.
    tracked = Referral.objects.get(pk=referral.after["referral"])
    assert (tracked.from_provider, tracked.to_provider, tracked.status) == (
        owner,
        second_physio,
        "open",
    )


def test_refer_back_needs_pain_above_the_threshold_or_a_red_flag():
    owner = trainer()
    plan = in_maintenance(owner=owner)
    threshold = ClinicSettings.load().refer_back_pain_threshold
    with pytest.raises(RuleProblem) as refused:
        services.refer_back(plan, actor=as_actor(owner), reason="Sore", pain=threshold)
    assert refused.value.slug == "refer-back-not-indicated"
    plan.refresh_from_db()
    assert plan.phase == Phase.MAINTENANCE
    services.refer_back(
        plan, actor=as_actor(owner), reason="New numbness in the foot", red_flag=True
    )
    plan.refresh_from_db()
    assert plan.phase == Phase.REHABILITATION


def test_refer_back_goes_to_someone_who_may_lead_rehabilitation():
    owner = trainer()
    plan = in_maintenance(owner=owner)
    with pytest.raises(OutOfScope) as refused:
        services.refer_back(
            plan, actor=as_actor(owner), reason="Numbness", red_flag=True, physiotherapist=owner
        )
    assert refused.value.errors[0].field == "physiotherapist"


def test_refer_back_goes_to_a_physiotherapist_not_any_discipline_that_may_diagnose():
    """A chiropractor may diagnose and prescribe a treatment plan, yet DOMAIN.md 6 sends the
    plan back under a physiotherapist."""
    owner = trainer()
    plan = in_maintenance(owner=owner)
    chiro = ProviderFactory(
        discipline=DisciplineFactory(code="chiropractor"), locations=[plan.location]
    )
    with pytest.raises(ValidationProblem) as refused:
        services.refer_back(
            plan, actor=as_actor(owner), reason="Numbness", red_flag=True, physiotherapist=chiro
        )
    assert [(e.field, e.code) for e in refused.value.errors] == [
        ("physiotherapist", "not_physiotherapist")
    ]
    plan.refresh_from_db()
    assert (plan.phase, plan.maintenance_owner) == (Phase.MAINTENANCE, owner)
    assert not Referral.objects.filter(to_provider=chiro).exists()


def test_a_closed_plan_keeps_its_reason_and_accepts_no_more_changes():
    owner = trainer()
    plan = in_maintenance(owner=owner)
    with pytest.raises(ValidationProblem):
        services.close_plan(plan, actor=as_actor(owner), reason="bored")
    services.close_plan(plan, actor=as_actor(owner), reason="discharged", note="Goals kept up")
    plan.refresh_from_db()
    assert (plan.phase, plan.closed_reason) == (Phase.CLOSED, "discharged")
    with pytest.raises(RuleProblem) as refused:
        services.record_outcome(plan, actor=as_actor(owner), kind="pain", value=3)
    assert refused.value.slug == "invalid-transition"
