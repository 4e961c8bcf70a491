"""The home-exercise program: prescriptions checked against the precautions, versioned."""

from datetime import datetime
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction

from clinic.errors import FieldProblem, RuleProblem, ValidationProblem
from plans import selectors
from plans.models import CarePlan, Exercise, ExercisePrescription, ProgramVersion
from plans.services._guards import (
    INVALID_TRANSITION,
    Actor,
    _event,
    _lock,
    _now,
    _provider,
    _require_program_author,
)
from providers.models import Provider

DOSAGE_FIELDS = ("sets", "reps", "hold_seconds", "load", "times_per_week", "notes")


def _prescription_dict(p: ExercisePrescription) -> dict:
    return {
        "id": p.pk,
        "exercise": p.exercise.slug,
        "sets": p.sets,
        "reps": p.reps,
        "hold_seconds": p.hold_seconds,
        "load": p.load,
        "times_per_week": p.times_per_week,
        "notes": p.notes,
        "version": p.version,
    }


def _refuse_precaution_conflict(plan: CarePlan, exercise: Exercise) -> None:
    conflicts = selectors.conflicting_precautions(plan, exercise.tags)
    if conflicts:
        named = "; ".join(p.label for p in conflicts)
        raise RuleProblem(
            f"{exercise.name} conflicts with the plan's precautions: {named}.",
            "precaution-conflict",
            "The exercise loads a movement the precautions forbid.",
            [FieldProblem("exercise", "precaution_conflict", p.label) for p in conflicts],
        )


def _full_clean(obj, exclude: list[str]) -> None:
    try:
        obj.full_clean(exclude=exclude, validate_constraints=False)
    except ValidationError as exc:
        problems = [
            FieldProblem(name, "invalid", str(message))
            for name, messages in exc.message_dict.items()
            for message in messages
        ]
        raise ValidationProblem(problems[0].message if problems else "Invalid.", problems) from None


def _build_prescription(
    plan: CarePlan, exercise: Exercise, provider: Provider, version: int, values: dict
) -> ExercisePrescription:
    if not exercise.is_active:
        raise ValidationProblem(
            f"{exercise.name} is retired from the library.",
            [FieldProblem("exercise", "inactive", "Retired exercise.")],
        )
    _refuse_precaution_conflict(plan, exercise)
    prescription = ExercisePrescription(
        plan=plan,
        exercise=exercise,
        prescribed_by=provider,
        version=version,
        sets=values.get("sets"),
        reps=values.get("reps"),
        hold_seconds=values.get("hold_seconds"),
        load=(values.get("load") or "").strip(),
        times_per_week=values.get("times_per_week"),
        notes=(values.get("notes") or "").strip(),
    )
    _full_clean(prescription, exclude=["plan", "exercise", "prescribed_by", "replaces"])
    if prescription.reps is None and prescription.hold_seconds is None:
        raise ValidationProblem(
            "Give repetitions, a hold time, or both.",
            [FieldProblem("reps", "required", "Repetitions or a hold time is needed.")],
        )
    return prescription


@transaction.atomic
def prescribe_exercise(
    plan: CarePlan,
    *,
    actor: Actor,
    exercise: Exercise,
    at: datetime | None = None,
    **dosage: Any,
) -> ExercisePrescription:
    """Add an exercise to the program. Refused when the exercise loads a movement that an
    active precaution forbids, naming the precaution."""
    at = _now(at)
    plan = _lock(plan)
    provider = _provider(actor)
    _require_program_author(plan, provider, at)
    prescription = _build_prescription(plan, exercise, provider, plan.program_version + 1, dosage)
    prescription.save()
    _event(
        plan,
        actor,
        "prescription_added",
        f"Prescribed {exercise.name}: {prescription.dosage}.",
        at,
        after=_prescription_dict(prescription),
    )
    _publish_program(plan, at)
    return prescription


def _lock_prescription(plan: CarePlan, prescription: ExercisePrescription) -> ExercisePrescription:
    """The prescription's row, locked, read again inside the plan's lock (never a stale copy)."""
    return (
        ExercisePrescription.objects.select_for_update()
        .select_related("exercise")
        .get(pk=prescription.pk, plan=plan)
    )


def _end_prescription(prescription: ExercisePrescription, at: datetime) -> None:
    """Prescriptions are never deleted: an ended one stays as history of the program."""
    prescription.is_active = False
    prescription.ended_at = at
    prescription.save(update_fields=["is_active", "ended_at"])


@transaction.atomic
def change_prescription(
    prescription: ExercisePrescription,
    *,
    actor: Actor,
    at: datetime | None = None,
    **changes: Any,
) -> ExercisePrescription:
    """Change the dosage: the old row is kept inactive and a new one replaces it."""
    at = _now(at)
    plan = _lock(prescription.plan)
    provider = _provider(actor)
    _require_program_author(plan, provider, at)
    old = _lock_prescription(plan, prescription)
    if not old.is_active:
        raise RuleProblem(
            "This prescription was already replaced or stopped.",
            INVALID_TRANSITION,
            "The prescription is no longer active.",
            [FieldProblem("prescription", "inactive", "Not active.")],
        )
    values = {name: getattr(old, name) for name in DOSAGE_FIELDS}
    values.update({k: v for k, v in changes.items() if k in DOSAGE_FIELDS})
    new = _build_prescription(plan, old.exercise, provider, plan.program_version + 1, values)
    _end_prescription(old, at)
    new.replaces = old
    new.save()
    _event(
        plan,
        actor,
        "prescription_changed",
        f"{old.exercise.name}: {old.dosage} -> {new.dosage}.",
        at,
        before=_prescription_dict(old),
        after=_prescription_dict(new),
    )
    _publish_program(plan, at)
    return new


@transaction.atomic
def stop_prescription(
    prescription: ExercisePrescription,
    *,
    actor: Actor,
    reason: str = "",
    at: datetime | None = None,
) -> ExercisePrescription:
    at = _now(at)
    plan = _lock(prescription.plan)
    provider = _provider(actor)
    _require_program_author(plan, provider, at)
    old = _lock_prescription(plan, prescription)
    if not old.is_active:
        return old
    _end_prescription(old, at)
    _event(
        plan,
        actor,
        "prescription_stopped",
        f"Stopped {old.exercise.name}.",
        at,
        before=_prescription_dict(old),
        after=None,
        reason=reason.strip(),
    )
    _publish_program(plan, at)
    return old


def _publish_program(plan: CarePlan, at: datetime) -> ProgramVersion:
    """Snapshot the program as a new version and plan its e-mail once the change commits."""
    from notifications import clock
    from plans import notifications

    plan.program_version += 1
    plan.save(update_fields=["program_version", "updated_at"])
    version = ProgramVersion.objects.create(
        plan=plan,
        number=plan.program_version,
        content=selectors.program_content(plan),
        created_at=clock.now(),
    )
    transaction.on_commit(lambda: notifications.plan_program_email(version.pk))
    return version
