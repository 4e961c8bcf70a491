"""Rehabilitation: goals, planned interventions within the lead's scope, session frequency."""

from datetime import date, datetime
from typing import Any

from django.db import transaction

from clinic.errors import FieldProblem, ValidationProblem
from plans.models import CarePlan, Goal, PlannedIntervention
from plans.services._guards import (
    CLINICAL_PHASES,
    PRESCRIBE_PLAN,
    Actor,
    _decimal,
    _event,
    _in_scale,
    _lock,
    _now,
    _provider,
    _require_lead,
    _require_phase,
    _require_scope,
)


@transaction.atomic
def add_goal(
    plan: CarePlan,
    *,
    actor: Actor,
    kind: str,
    measure: str,
    baseline: Any,
    target: Any,
    due_date: date,
    at: datetime | None = None,
) -> Goal:
    at = _now(at)
    plan = _lock(plan)
    provider = _provider(actor)
    _require_scope(provider, PRESCRIBE_PLAN, plan, at)
    _require_lead(plan, provider, "set goals")
    _require_phase(plan, CLINICAL_PHASES, "set goals")
    baseline, target = _decimal(baseline, "baseline"), _decimal(target, "target")
    _in_scale(kind, baseline, "baseline")
    _in_scale(kind, target, "target")
    if baseline == target:
        raise ValidationProblem(
            "A goal's target must differ from its baseline.",
            [FieldProblem("target", "equals_baseline", "Same as the baseline.")],
        )
    if not measure.strip():
        raise ValidationProblem("Name what is measured.", [FieldProblem("measure", "required", "")])
    goal = Goal.objects.create(
        plan=plan,
        kind=kind,
        measure=measure.strip(),
        baseline=baseline,
        target=target,
        due_date=due_date,
    )
    _event(
        plan,
        actor,
        "goal_added",
        f"Goal: {goal.measure} from {baseline} to {target} by {due_date.isoformat()}.",
        at,
        after=_goal_dict(goal),
    )
    return goal


def _goal_dict(goal: Goal) -> dict:
    return {
        "id": goal.pk,
        "kind": goal.kind,
        "measure": goal.measure,
        "baseline": str(goal.baseline),
        "target": str(goal.target),
        "due_date": goal.due_date.isoformat(),
        "met": goal.met,
    }


@transaction.atomic
def add_intervention(
    plan: CarePlan, *, actor: Actor, act: str, description: str = "", at: datetime | None = None
) -> PlannedIntervention:
    """Plan an act; the lead must be able to perform it at the plan's location."""
    at = _now(at)
    plan = _lock(plan)
    provider = _provider(actor)
    _require_scope(provider, PRESCRIBE_PLAN, plan, at)
    _require_lead(plan, provider, "plan interventions")
    _require_phase(plan, CLINICAL_PHASES, "plan interventions")
    _require_scope(plan.lead, act, plan, at, field="act")
    intervention = PlannedIntervention.objects.create(
        plan=plan, act=act, description=description.strip()[:300]
    )
    _event(
        plan,
        actor,
        "intervention_added",
        f"Planned intervention: {act}.",
        at,
        after={"id": intervention.pk, "act": act, "description": intervention.description},
    )
    return intervention


@transaction.atomic
def remove_intervention(
    intervention: PlannedIntervention, *, actor: Actor, at: datetime | None = None
) -> PlannedIntervention:
    at = _now(at)
    plan = _lock(intervention.plan)
    provider = _provider(actor)
    _require_scope(provider, PRESCRIBE_PLAN, plan, at)
    _require_lead(plan, provider, "change planned interventions")
    _require_phase(plan, CLINICAL_PHASES, "change planned interventions")
    intervention = PlannedIntervention.objects.get(pk=intervention.pk, plan=plan)
    if intervention.is_active:
        intervention.is_active = False
        intervention.save(update_fields=["is_active"])
        _event(
            plan,
            actor,
            "intervention_removed",
            f"Intervention removed: {intervention.act}.",
            at,
            before={"id": intervention.pk, "active": True},
            after={"id": intervention.pk, "active": False},
        )
    return intervention


@transaction.atomic
def set_session_frequency(
    plan: CarePlan,
    *,
    actor: Actor,
    sessions_per_week: int,
    planned_weeks: int | None = None,
    at: datetime | None = None,
) -> CarePlan:
    at = _now(at)
    plan = _lock(plan)
    provider = _provider(actor)
    _require_scope(provider, PRESCRIBE_PLAN, plan, at)
    _require_lead(plan, provider, "set the session frequency")
    _require_phase(plan, CLINICAL_PHASES, "set the session frequency")
    if not 1 <= int(sessions_per_week) <= 14:
        raise ValidationProblem(
            "Between 1 and 14 sessions a week.",
            [FieldProblem("sessions_per_week", "out_of_range", "Between 1 and 14.")],
        )
    if planned_weeks is not None and not 1 <= int(planned_weeks) <= 104:
        raise ValidationProblem(
            "Between 1 and 104 weeks.",
            [FieldProblem("planned_weeks", "out_of_range", "Between 1 and 104.")],
        )
    before = {"sessions_per_week": plan.sessions_per_week, "planned_weeks": plan.planned_weeks}
    plan.sessions_per_week = sessions_per_week
    plan.planned_weeks = planned_weeks
    plan.save(update_fields=["sessions_per_week", "planned_weeks", "updated_at"])
    weeks = f" for {planned_weeks} weeks" if planned_weeks else ""
    _event(
        plan,
        actor,
        "frequency_changed",
        f"Sessions: {sessions_per_week} a week{weeks}.",
        at,
        before=before,
        after={"sessions_per_week": sessions_per_week, "planned_weeks": planned_weeks},
    )
    return plan
