"""Reads of visit notes: who may see which, what charting shows next to a note, what is unsigned.

Who reads (DOMAIN.md section 9): the author, clinicians on the patient's care team
(``patients.access``), managers; front desk never, whatever the entry point (API, admin, search,
export). Every entry point filters with ``visible_notes``.
"""

from datetime import datetime, timedelta

from django.db.models import Q, QuerySet

from clinic import roles
from patients.access import clinical_patient_ids_for, provider_for, sees_clinical_content
from plans.models import (
    CarePlan,
    FieldKind,
    NoteAddendum,
    PlannedIntervention,
    Precaution,
    VisitNote,
)
from plans.notes.authoring import open_plan_precautions

UNSIGNED_AFTER = timedelta(days=1)


def visible_notes(user) -> QuerySet:
    notes = VisitNote.objects.all()
    if not sees_clinical_content(user):
        return notes.none()
    ids = clinical_patient_ids_for(user)
    if ids is None:
        return notes
    provider = provider_for(user) if roles.is_clinician(user) else None
    own = Q(author=provider) if provider is not None else Q(pk__in=[])
    return notes.filter(own | Q(patient_id__in=ids))


def precautions_for(note: VisitNote) -> list[Precaution]:
    """The precautions to keep in view while charting (of every open plan of the patient)."""
    return open_plan_precautions(note.patient_id)


def precautions_by_patient(patient_ids) -> dict[int, list[Precaution]]:
    """The same for a page of notes, in one query."""
    found: dict[int, list[Precaution]] = {pk: [] for pk in patient_ids}
    rows = (
        Precaution.objects.filter(plan__patient_id__in=list(found), is_active=True)
        .exclude(plan__phase=CarePlan.Phase.CLOSED)
        .select_related("plan")
        .order_by("plan_id", "recorded_at", "id")
    )
    for precaution in rows:
        found[precaution.plan.patient_id].append(precaution)
    return found


def planned_acts_by_plan(plan_ids) -> dict[int, dict[str, int]]:
    """Active planned interventions per plan, ``{plan_id: {act: id}}``, in one query."""
    found: dict[int, dict[str, int]] = {pk: {} for pk in plan_ids if pk}
    rows = PlannedIntervention.objects.filter(plan_id__in=list(found), is_active=True)
    for pk, plan_id, act in rows.order_by("id").values_list("pk", "plan_id", "act"):
        found[plan_id].setdefault(act, pk)
    return found


def delivered_interventions(note: VisitNote) -> list[str]:
    """The acts recorded as delivered (stored content is already checked; no query with the
    template's fields prefetched)."""
    return [
        code
        for field in note.template.fields.all()
        if field.kind == FieldKind.INTERVENTIONS
        for code in (note.content.get(field.section) or {}).get(field.key) or []
    ]


def intervention_match(note: VisitNote, planned: dict[str, int] | None = None) -> list[dict]:
    """Each intervention delivered, matched to the linked plan's active planned interventions."""
    if planned is None:
        planned = planned_acts_by_plan([note.care_plan_id]).get(note.care_plan_id, {})
    return [
        {"act": code, "planned": code in planned, "planned_intervention": planned.get(code)}
        for code in delivered_interventions(note)
    ]


def unsigned_notes(provider_id: int, now: datetime) -> QuerySet:
    """The author's drafts of visits more than a day old, oldest first."""
    return (
        VisitNote.objects.filter(
            author_id=provider_id,
            status=VisitNote.Status.DRAFT,
            visit_at__lt=now - UNSIGNED_AFTER,
        )
        .select_related("appointment__service", "location")
        .order_by("visit_at", "id")
    )


def authors_with_unsigned_notes(now: datetime) -> list[int]:
    return list(
        VisitNote.objects.filter(status=VisitNote.Status.DRAFT, visit_at__lt=now - UNSIGNED_AFTER)
        .values_list("author_id", flat=True)
        .distinct()
        .order_by("author_id")
    )


def chart_of(patient_id: int) -> list[tuple[VisitNote, list[NoteAddendum]]]:
    """A patient's signed notes, by visit, each with its addenda in order."""
    notes = list(
        VisitNote.objects.filter(patient_id=patient_id, status=VisitNote.Status.SIGNED)
        .select_related("author__discipline", "location", "appointment__service", "template")
        .prefetch_related("template__fields", "addenda__author")
        .order_by("visit_at", "id")
    )
    return [(note, list(note.addenda.all())) for note in notes]
