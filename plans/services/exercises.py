"""The exercise library: movement tags and the conflicts they raise."""

from collections.abc import Iterable
from typing import Any

from django.db import transaction

from clinic.errors import FieldProblem, RuleProblem
from plans.models import CarePlan, Exercise, ExercisePrescription


def exercise_tag_conflicts(exercise: Exercise, tags: Iterable[str]) -> list[str]:
    """Plans where giving ``exercise`` these tags would put an active prescription against an
    active precaution; an edit to the library must not break a patient's precautions."""
    added = set(tags) - set(exercise.tags or [])
    if not exercise.pk or not added:
        return []
    conflicts = []
    prescriptions = ExercisePrescription.objects.filter(exercise=exercise, is_active=True)
    plans = CarePlan.objects.filter(pk__in=prescriptions.values("plan_id")).prefetch_related(
        "precautions"
    )
    for plan in plans:
        for precaution in plan.precautions.all():
            if precaution.is_active and added & set(precaution.tags):
                conflicts.append(f"{plan.title} (plan {plan.pk}): {precaution.label}")
    return conflicts


@transaction.atomic
def save_exercise(exercise: Exercise, **values: Any) -> Exercise:
    """Create or change a library exercise; refused when new tags clash with the precautions
    of a plan that prescribes it (stop the prescription or lift the precaution first)."""
    if exercise.pk:
        exercise = Exercise.objects.select_for_update().get(pk=exercise.pk)
    if "tags" in values:
        values["tags"] = list(dict.fromkeys(values["tags"]))
        conflicts = exercise_tag_conflicts(exercise, values["tags"])
        if conflicts:
            raise RuleProblem(
                f"{exercise.name} is prescribed under precautions these tags would break: "
                + "; ".join(conflicts)
                + ".",
                "precaution-conflict",
                "The exercise loads a movement the precautions forbid.",
                [FieldProblem("tags", "precaution_conflict", c) for c in conflicts],
            )
    for name, value in values.items():
        setattr(exercise, name, value)
    exercise.save()
    return exercise
