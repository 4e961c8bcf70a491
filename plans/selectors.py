"""Reads about care plans: discharge criteria, the current program, who may see which plans."""

from dataclasses import dataclass, field

from django.db.models import Prefetch, QuerySet

from clinic.models import ClinicSettings
from patients.access import clinical_patient_ids_for
from plans.models import (
    CarePlan,
    ExercisePrescription,
    MeasureKind,
    MovementTag,
    OutcomeMeasure,
    Precaution,
)


@dataclass(frozen=True)
class DischargeCriteria:
    """Whether a plan may move from rehabilitation to maintenance without an override, and why."""

    met: bool
    goals_met: bool
    pain_rule_met: bool
    reasons: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {
            "met": self.met,
            "goals_met": self.goals_met,
            "pain_rule_met": self.pain_rule_met,
            "reasons": self.reasons,
        }


def last_pain_values(plan: CarePlan, count: int) -> list:
    """The plan's most recent ``count`` pain scores, newest first."""
    return list(
        OutcomeMeasure.objects.filter(plan=plan, kind=MeasureKind.PAIN)
        .order_by("-recorded_at", "-id")
        .values_list("value", flat=True)[:count]
    )


def discharge_criteria(plan: CarePlan, settings: ClinicSettings | None = None) -> DischargeCriteria:
    """Every goal met, or pain at most ``discharge_pain_max`` on each of the last
    ``discharge_pain_consecutive`` pain measures (the clinic's rule)."""
    settings = settings or ClinicSettings.load()
    pains = last_pain_values(plan, settings.discharge_pain_consecutive)
    return criteria_from(list(plan.goals.all()), pains, settings)


def criteria_from(goals: list, pains: list, settings: ClinicSettings) -> DischargeCriteria:
    """The criteria from a plan's goals and its pain scores (newest first), so a list of plans
    can be judged from prefetched rows."""
    reasons: list[str] = []
    unmet = [goal for goal in goals if not goal.met]
    goals_met = bool(goals) and not unmet
    if not goals:
        reasons.append("The plan has no goals.")
    elif unmet:
        names = ", ".join(goal.measure for goal in unmet)
        reasons.append(f"{len(unmet)} of {len(goals)} goals not met yet: {names}.")
    needed = settings.discharge_pain_consecutive
    pains = pains[:needed]
    pain_rule_met = len(pains) == needed and all(
        value <= settings.discharge_pain_max for value in pains
    )
    if not pain_rule_met:
        reasons.append(
            f"Pain is not at most {settings.discharge_pain_max}/10 on the last {needed} "
            f"pain measures (last: {', '.join(str(v) for v in pains) or 'none recorded'})."
        )
    met = goals_met or pain_rule_met
    return DischargeCriteria(met, goals_met, pain_rule_met, [] if met else reasons)


def prefetched_pains(plan: CarePlan) -> list:
    """Pain scores newest first, from the plan's prefetched measures."""
    measures = [m for m in plan.measures.all() if m.kind == MeasureKind.PAIN]
    measures.sort(key=lambda m: (m.recorded_at, m.pk), reverse=True)
    return [m.value for m in measures]


def refer_back_indicated(plan: CarePlan, pains: list, settings: ClinicSettings) -> bool:
    """In maintenance, the latest pain is above the clinic's refer-back threshold."""
    return (
        plan.phase == CarePlan.Phase.MAINTENANCE
        and bool(pains)
        and pains[0] > settings.refer_back_pain_threshold
    )


def active_precautions(plan: CarePlan) -> list[Precaution]:
    return list(plan.precautions.filter(is_active=True))


def conflicting_precautions(plan: CarePlan, tags: list[str]) -> list[Precaution]:
    """Active precautions that forbid any of ``tags``."""
    wanted = set(tags)
    return [p for p in active_precautions(plan) if wanted & set(p.tags)]


def current_program(plan: CarePlan) -> list[ExercisePrescription]:
    return list(plan.prescriptions.filter(is_active=True).select_related("exercise").order_by("id"))


def program_content(plan: CarePlan) -> dict:
    """The program as the patient reads it: exercises, dosage, instructions, precautions."""
    names = dict(MovementTag.choices)
    return {
        "plan": plan.title,
        "exercises": [
            {
                "name": p.exercise.name,
                "dosage": p.dosage,
                "instructions": p.exercise.instructions,
                "notes": p.notes,
            }
            for p in current_program(plan)
        ],
        "precautions": [
            {
                "avoid": [str(names.get(tag, tag)) for tag in p.tags],
                "note": p.note,
                "text": p.label,
            }
            for p in active_precautions(plan)
        ],
    }


def plans_with_details() -> QuerySet[CarePlan]:
    """Plans with everything the API shows, in a query count that does not grow with the list."""
    return CarePlan.objects.select_related(
        "patient", "location", "lead__discipline", "maintenance_owner__discipline"
    ).prefetch_related(
        "diagnoses",
        "precautions",
        "goals",
        "interventions",
        Prefetch(
            "prescriptions",
            queryset=ExercisePrescription.objects.select_related("exercise"),
        ),
        "measures",
    )


def plans_visible_to(user, queryset: QuerySet[CarePlan] | None = None) -> QuerySet[CarePlan]:
    """Managers see every plan; clinicians the plans of patients they treat or were referred;
    front desk and anyone else none (``patients.access`` decides)."""
    queryset = plans_with_details() if queryset is None else queryset
    patient_ids = clinical_patient_ids_for(user)
    if patient_ids is None:
        return queryset
    return queryset.filter(patient_id__in=patient_ids)
