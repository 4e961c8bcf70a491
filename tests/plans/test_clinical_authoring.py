"""Diagnosis and precautions are clinical acts: only a provider whose scope covers ``diagnose``
(and who leads the plan) records them, and never once the plan is in maintenance."""

import datetime
import zoneinfo

import pytest

from clinic.errors import PermissionProblem, RuleProblem, ValidationProblem
from plans import services
from plans.models import Diagnosis, PlanEvent, Precaution
from providers.errors import OutOfScope
from tests.factories.plans import (
    CarePlanFactory,
    as_actor,
    exercise_therapist,
    in_maintenance,
    physio,
    trainer,
)

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("make_provider", [trainer, exercise_therapist], ids=["trainer", "ex-ther"])
def test_only_a_provider_who_may_diagnose_records_a_diagnosis(make_provider):
    plan = CarePlanFactory()
    outsider = make_provider(locations=[plan.location])
    with pytest.raises(OutOfScope) as refused:
        services.record_diagnosis(
            plan,
            actor=as_actor(outsider),
            condition="Patellofemoral pain",
            body_region="knee",
            cause="injury",
        )
    assert refused.value.slug == "out-of-scope"
    assert [e.code for e in refused.value.errors] == ["act_not_in_discipline"]
    assert not Diagnosis.objects.exists()
    assert not PlanEvent.objects.filter(kind="diagnosis_recorded").exists()


@pytest.mark.parametrize("make_provider", [trainer, exercise_therapist], ids=["trainer", "ex-ther"])
def test_only_a_provider_who_may_diagnose_records_precautions(make_provider):
    plan = CarePlanFactory()
    outsider = make_provider(locations=[plan.location])
    with pytest.raises(OutOfScope) as refused:
        services.add_precaution(plan, actor=as_actor(outsider), tags=["impact"], note="Fresh graft")
    assert "act_not_in_discipline" in [e.code for e in refused.value.errors]
    assert not Precaution.objects.exists()


def test_the_leading_physiotherapist_records_diagnosis_and_precautions_with_history():
    plan = CarePlanFactory()
    lead = as_actor(plan.lead)
    diagnosis = services.record_diagnosis(
        plan, actor=lead, condition="ACL reconstruction", body_region="knee", cause="post_surgical"
    )
    precaution = services.add_precaution(
        plan, actor=lead, tags=["impact", "deep_knee_flexion"], note="Graft healing"
    )
    assert diagnosis.recorded_by == plan.lead
    assert precaution.label == "Avoid impact (jumping, running), deep knee bending (Graft healing)"
    kinds = list(plan.events.values_list("kind", flat=True))
    assert kinds == ["created", "diagnosis_recorded", "precaution_added"]
    assert plan.events.get(kind="precaution_added").after["tags"] == ["impact", "deep_knee_flexion"]


def test_an_expired_licence_cannot_diagnose():
    plan = CarePlanFactory()
    expired = physio(
        locations=[plan.location],
        credentials__valid_until=datetime.date(2020, 1, 1),
        credentials__valid_from=datetime.date(2015, 1, 1),
    )
    plan.lead = expired
    plan.save()
    with pytest.raises(OutOfScope) as refused:
        services.record_diagnosis(
            plan,
            actor=as_actor(expired),
            condition="Sprain",
            body_region="ankle_foot",
            cause="injury",
        )
    assert [e.code for e in refused.value.errors] == ["credential_expired"]


def test_another_physiotherapist_who_does_not_lead_the_plan_is_refused():
    plan = CarePlanFactory()
    other = physio(locations=[plan.location])
    with pytest.raises(PermissionProblem) as refused:
        services.add_precaution(plan, actor=as_actor(other), tags=["impact"])
    assert refused.value.errors[0].code == "not_plan_lead"


def test_maintenance_never_changes_the_diagnosis_or_precautions():
    owner = exercise_therapist()
    plan = in_maintenance(owner=owner)
    with pytest.raises(OutOfScope):
        services.record_diagnosis(
            plan, actor=as_actor(owner), condition="Other", body_region="hip", cause="chronic"
        )
    with pytest.raises(RuleProblem) as refused:
        services.add_precaution(plan, actor=as_actor(plan.lead), tags=["impact"])
    assert refused.value.slug == "invalid-transition"
    assert plan.diagnoses.count() == 1
    assert not plan.precautions.exists()


def test_unknown_movement_tags_are_refused_by_name():
    plan = CarePlanFactory()
    with pytest.raises(ValidationProblem) as refused:
        services.add_precaution(plan, actor=as_actor(plan.lead), tags=["cartwheels"])
    assert refused.value.errors[0].field == "tags"
    assert "cartwheels" in refused.value.detail


@pytest.mark.parametrize(
    ("local_time", "allowed"),
    [
        (datetime.datetime(2026, 11, 1, 23, 59), True),
        (datetime.datetime(2026, 11, 2, 0, 0), False),
    ],
    ids=["last-minute-of-expiry-day", "first-minute-after"],
)
def test_a_licence_ending_on_the_dst_change_day_covers_that_whole_local_day(local_time, allowed):
    """Toronto falls back on 2026-11-01: the day has 25 hours, and the licence covers all of
    them in the location's zone, whatever the UTC date says."""
    toronto = zoneinfo.ZoneInfo("America/Toronto")
    plan = CarePlanFactory()
    lead = physio(
        locations=[plan.location],
        credentials__valid_from=datetime.date(2020, 1, 1),
        credentials__valid_until=datetime.date(2026, 11, 1),
    )
    plan.lead = lead
    plan.save()
    at = local_time.replace(tzinfo=toronto)
    assert at.astimezone(datetime.UTC).date() == datetime.date(2026, 11, 2)

    def record():
        return services.record_diagnosis(
            plan,
            actor=as_actor(lead),
            condition="Sprain",
            body_region="knee",
            cause="injury",
            at=at,
        )

    if allowed:
        assert record().recorded_at == at
    else:
        with pytest.raises(OutOfScope) as refused:
            record()
        assert [e.code for e in refused.value.errors] == ["credential_expired"]
