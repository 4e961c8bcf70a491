"""Assessment: diagnoses (who may diagnose) and the precautions exercises must respect."""

from datetime import datetime

from django.db import transaction

from clinic.errors import FieldProblem, ValidationProblem
from plans import selectors
from plans.models import CarePlan, Diagnosis, Precaution
from plans.services._guards import (
    Actor,
    _check_tags,
    _event,
    _lock,
    _now,
    _provider,
    _require_clinical_author,
)
from plans.services.program import (
    _end_prescription,
    _full_clean,
    _prescription_dict,
    _publish_program,
)


@transaction.atomic
def record_diagnosis(
    plan: CarePlan,
    *,
    actor: Actor,
    condition: str,
    body_region: str,
    cause: str,
    notes: str = "",
    at: datetime | None = None,
) -> Diagnosis:
    at = _now(at)
    plan = _lock(plan)
    provider = _provider(actor)
    _require_clinical_author(plan, provider, at, "record a diagnosis")
    diagnosis = Diagnosis(
        plan=plan,
        condition=condition.strip(),
        body_region=body_region,
        cause=cause,
        notes=notes,
        recorded_by=provider,
        recorded_at=at,
    )
    _full_clean(diagnosis, exclude=["plan", "recorded_by"])
    diagnosis.save()
    _event(
        plan,
        actor,
        "diagnosis_recorded",
        f"Diagnosis: {diagnosis.condition}.",
        at,
        after={
            "id": diagnosis.pk,
            "condition": diagnosis.condition,
            "cause": cause,
            "body_region": body_region,
        },
    )
    return diagnosis


@transaction.atomic
def add_precaution(
    plan: CarePlan, *, actor: Actor, tags: list[str], note: str = "", at: datetime | None = None
) -> Precaution:
    at = _now(at)
    plan = _lock(plan)
    provider = _provider(actor)
    _require_clinical_author(plan, provider, at, "record a precaution")
    tags = _check_tags(tags)
    precaution = Precaution.objects.create(
        plan=plan, tags=tags, note=note.strip()[:300], recorded_by=provider, recorded_at=at
    )
    _event(
        plan,
        actor,
        "precaution_added",
        f"Precaution: {precaution.label}.",
        at,
        after={"id": precaution.pk, "tags": tags, "note": precaution.note},
    )
    # The program never keeps an exercise the precautions forbid: stop the ones this one does.
    for prescription in selectors.current_program(plan):
        if set(prescription.exercise.tags) & set(tags):
            _end_prescription(prescription, at)
            _event(
                plan,
                actor,
                "prescription_stopped",
                f"Stopped {prescription.exercise.name}: {precaution.label}.",
                at,
                before=_prescription_dict(prescription),
                reason=f"Conflicts with the new precaution: {precaution.label}.",
            )
    _publish_program(plan, at)
    return precaution


@transaction.atomic
def remove_precaution(
    precaution: Precaution, *, actor: Actor, reason: str, at: datetime | None = None
) -> Precaution:
    at = _now(at)
    plan = _lock(precaution.plan)
    provider = _provider(actor)
    _require_clinical_author(plan, provider, at, "lift a precaution")
    if not reason.strip():
        raise ValidationProblem(
            "Say why the precaution is lifted.", [FieldProblem("reason", "required", "")]
        )
    precaution = Precaution.objects.select_for_update().get(pk=precaution.pk, plan=plan)
    if not precaution.is_active:
        return precaution
    precaution.is_active = False
    precaution.save(update_fields=["is_active"])
    _event(
        plan,
        actor,
        "precaution_lifted",
        f"Precaution lifted: {precaution.label}.",
        at,
        before={"id": precaution.pk, "tags": precaution.tags, "active": True},
        after={"id": precaution.pk, "active": False},
        reason=reason.strip(),
    )
    _publish_program(plan, at)
    return precaution
