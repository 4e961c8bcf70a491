"""Rehabilitation content: interventions are acts the lead may perform where the plan is given;
goals and measures stay inside their scales."""

import datetime

import pytest

from clinic.errors import ValidationProblem
from plans import services
from providers.errors import OutOfScope
from tests.factories.clinic import LocationFactory
from tests.factories.plans import CarePlanFactory, as_actor, physio

pytestmark = pytest.mark.django_db


def test_an_intervention_needs_the_endorsement_the_act_requires():
    plan = CarePlanFactory()
    lead = as_actor(plan.lead)
    with pytest.raises(OutOfScope) as refused:
        services.add_intervention(plan, actor=lead, act="dry_needling")
    assert [(e.field, e.code) for e in refused.value.errors] == [("act", "endorsement_missing")]
    assert not plan.interventions.exists()
    services.add_intervention(plan, actor=lead, act="manual_therapy", description="Mobilisation")
    assert plan.events.filter(kind="intervention_added", after__act="manual_therapy").exists()


def test_an_intervention_the_jurisdiction_forbids_is_refused_there():
    brooklyn = LocationFactory(
        slug="brooklyn", name="Brooklyn", timezone="America/New_York", jurisdiction="US-NY"
    )
    lead = physio(
        locations=[brooklyn],
        credentials__jurisdiction="US-NY",
        credentials__endorsements=["dry_needling"],
    )
    plan = CarePlanFactory(location=brooklyn, lead=lead)
    with pytest.raises(OutOfScope) as refused:
        services.add_intervention(plan, actor=as_actor(lead), act="dry_needling")
    assert refused.value.errors[0].code == "forbidden_in_jurisdiction"


@pytest.mark.parametrize(
    ("kind", "baseline", "target", "field"),
    [
        ("pain", 6, 11, "target"),
        ("psfs", -1, 8, "baseline"),
        ("rom", 90, 400, "target"),
        ("pain", 3, 3, "target"),
    ],
)
def test_goals_stay_inside_their_scale(kind, baseline, target, field):
    plan = CarePlanFactory()
    with pytest.raises(ValidationProblem) as refused:
        services.add_goal(
            plan,
            actor=as_actor(plan.lead),
            kind=kind,
            measure="x",
            baseline=baseline,
            target=target,
            due_date=datetime.date(2027, 1, 1),
        )
    assert refused.value.errors[0].field == field
    assert not plan.goals.exists()


def test_a_pain_score_outside_zero_to_ten_is_refused():
    plan = CarePlanFactory()
    with pytest.raises(ValidationProblem) as refused:
        services.record_outcome(plan, actor=as_actor(plan.lead), kind="pain", value=12)
    assert refused.value.errors[0].code == "out_of_scale"
    assert not plan.measures.exists()
