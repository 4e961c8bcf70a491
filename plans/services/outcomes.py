"""Outcome measures: recorded on the plan's scale, moving its goals (and so its discharge rule)."""

from datetime import datetime
from typing import Any

from django.db import transaction

from clinic.errors import FieldProblem, ValidationProblem
from plans.models import CarePlan, Goal, MeasureKind, OutcomeMeasure
from plans.services._guards import (
    Actor,
    Phase,
    _decimal,
    _event,
    _in_scale,
    _lock,
    _now,
    _provider,
    _require_lead,
    _require_phase,
)
from providers.models import Provider


def _record_measure(
    plan: CarePlan,
    actor: Actor,
    provider: Provider,
    kind: str,
    label: str,
    value: Any,
    note: str,
    at: datetime,
) -> OutcomeMeasure:
    value = _decimal(value, "value")
    _in_scale(kind, value, "value")
    label = (label or ("pain" if kind == MeasureKind.PAIN else "")).strip()
    if not label:
        raise ValidationProblem(
            "Name the activity, movement or measure.", [FieldProblem("label", "required", "")]
        )
    measure = OutcomeMeasure.objects.create(
        plan=plan,
        kind=kind,
        label=label[:120],
        value=value,
        recorded_at=at,
        recorded_by=provider,
        note=(note or "")[:300],
    )
    _event(
        plan,
        actor,
        "measure_recorded",
        f"{measure.get_kind_display()} {label}: {value}.",
        at,
        after={"id": measure.pk, "kind": kind, "label": label, "value": str(value)},
    )
    _update_goals(plan, measure, actor, at)
    return measure


def _update_goals(plan: CarePlan, measure: OutcomeMeasure, actor: Actor, at: datetime) -> None:
    """A goal is met while the latest matching measure reaches its target."""
    goals = Goal.objects.filter(plan=plan, kind=measure.kind, measure__iexact=measure.label)
    for goal in goals:
        reached = goal.reached_by(measure.value)
        if reached == goal.met:
            continue
        goal.met_at = at if reached else None
        goal.save(update_fields=["met_at"])
        verb = "met" if reached else "no longer met"
        _event(
            plan,
            actor,
            "goal_met" if reached else "goal_unmet",
            f"Goal {verb}: {goal.measure} ({measure.value}, target {goal.target}).",
            at,
            before={"id": goal.pk, "met": not reached},
            after={"id": goal.pk, "met": reached, "value": str(measure.value)},
        )


@transaction.atomic
def record_outcome(
    plan: CarePlan,
    *,
    actor: Actor,
    kind: str,
    value: Any,
    label: str = "",
    note: str = "",
    at: datetime | None = None,
) -> OutcomeMeasure:
    """Record a measure by the plan's lead or maintenance owner; goals follow it."""
    at = _now(at)
    plan = _lock(plan)
    provider = _provider(actor)
    if provider.pk not in (plan.lead_id, plan.maintenance_owner_id):
        _require_lead(plan, provider, "record outcome measures")
    _require_phase(
        plan, (Phase.ASSESSMENT, Phase.REHABILITATION, Phase.MAINTENANCE), "record measures"
    )
    return _record_measure(plan, actor, provider, kind, label, value, note, at)
