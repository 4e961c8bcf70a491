"""A care plan proposes its recurring visits: its session frequency becomes a series rule.

``scheduling`` books series but knows nothing of plans; it asks the source registered here
(``scheduling.services.register_care_plan_source``, from ``PlansConfig.ready``) what a care
plan id proposes. Sessions per week spread over the week from the first visit's weekday
(two a week from a Monday: Monday and Thursday); the count is sessions per week times the
planned weeks, at most the series maximum. Only a plan the user may read proposes anything.
"""

from datetime import datetime

from clinic.errors import FieldProblem, ValidationProblem
from clinic.roles import User
from plans.models import CarePlan
from plans.selectors import plans_visible_to
from scheduling.series_models import MAX_SERIES_VISITS
from scheduling.services import CarePlanProposal, SeriesRule, register_care_plan_source
from scheduling.services.series import WEEKDAY_CODES


def _refuse(code: str, message: str) -> ValidationProblem:
    return ValidationProblem(message, [FieldProblem("care_plan", code, message)])


def proposed_weekdays(sessions_per_week: int, first_weekday: int) -> tuple[str, ...]:
    """Sessions spread evenly over the week from ``first_weekday`` (0 = Monday), at most one a
    day, in week order."""
    per_week = min(sessions_per_week, 7)
    days = {(first_weekday + (i * 7) // per_week) % 7 for i in range(per_week)}
    return tuple(WEEKDAY_CODES[d] for d in sorted(days))


def propose_series(care_plan_id: int, start: datetime, actor: User | None) -> CarePlanProposal:
    """The rule a plan's session frequency proposes for a series starting at ``start``."""
    plans = CarePlan.objects.all() if actor is None else plans_visible_to(actor)
    plan = plans.filter(pk=care_plan_id).first()
    if plan is None:
        raise _refuse("unknown", "No care plan has this id.")
    if plan.phase == CarePlan.Phase.CLOSED:
        raise _refuse("closed", "This care plan is closed.")
    if not plan.sessions_per_week or not plan.planned_weeks:
        raise _refuse("no_frequency", "Set the plan's sessions per week and planned weeks first.")
    weekdays = proposed_weekdays(plan.sessions_per_week, start.weekday())
    count = min(len(weekdays) * plan.planned_weeks, MAX_SERIES_VISITS)
    return CarePlanProposal(
        care_plan_id=plan.pk,
        patient_id=plan.patient_id,
        lead_id=plan.lead_id,
        rule=SeriesRule(by_weekday=weekdays, count=count),
    )


def register() -> None:
    register_care_plan_source(propose_series)
