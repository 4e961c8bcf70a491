"""What may be written in a note: scope of practice and the care plan's precautions.

Both checks read the content, not the form: a filled field that is an act (a diagnosis needs
``diagnose``, an exercise prescription its act, each intervention delivered is its own act) asks
the one scope decision (``providers.scope``) for the author at the visit's location on the
visit's day; an exercise that loads a movement an active precaution of the patient's open care
plans forbids is refused. Each refusal names the section and field (``content.plan.exercises``)
and changes nothing.
"""

from clinic.errors import FieldProblem, RuleProblem
from plans.models import CarePlan, Exercise, FieldKind, Precaution, VisitNote
from plans.notes.templates import Filled
from providers import scope
from providers.errors import OUT_OF_SCOPE_SLUG


def acts_of(filled: list[Filled]) -> list[tuple[Filled, str]]:
    """Every (field, act) pair the content performs."""
    pairs = []
    for item in filled:
        if item.field.act:
            pairs.append((item, item.field.act))
        if item.field.kind == FieldKind.INTERVENTIONS:
            pairs.extend((item, code) for code in item.value)
    return pairs


def refuse_out_of_scope(note: VisitNote, filled: list[Filled]) -> None:
    """Raise ``out-of-scope`` with one error per refused (field, act, reason)."""
    pairs = acts_of(filled)
    if not pairs:
        return
    codes = sorted({act for _, act in pairs})
    index = scope.load_scope_index([note.author_id], codes, note.location.jurisdiction)
    errors: list[FieldProblem] = []
    for item, act in pairs:
        decision = index.decide_acts(note.author_id, [act], note.location, note.visit_at)
        for reason in decision.reasons:
            errors.append(FieldProblem(item.path, reason.code, f"{act}: {reason.message}"))
    if errors:
        raise RuleProblem(
            " ".join(e.message for e in errors),
            OUT_OF_SCOPE_SLUG,
            "The provider's scope of practice does not cover this.",
            errors,
        )


def open_plan_precautions(patient_id: int) -> list[Precaution]:
    """Active precautions of the patient's open care plans: what charting must respect."""
    return list(
        Precaution.objects.filter(plan__patient_id=patient_id, is_active=True)
        .exclude(plan__phase=CarePlan.Phase.CLOSED)
        .select_related("plan")
        .order_by("plan_id", "recorded_at", "id")
    )


def refuse_precaution_conflicts(note: VisitNote, filled: list[Filled]) -> None:
    """Raise ``precaution-conflict`` for every exercise whose tags a precaution forbids."""
    exercises = [item for item in filled if item.field.kind == FieldKind.EXERCISES]
    if not exercises:
        return
    precautions = open_plan_precautions(note.patient_id)
    if not precautions:
        return
    ids = [row["exercise"] for item in exercises for row in item.value]
    tags = dict(Exercise.objects.filter(pk__in=ids).values_list("pk", "tags"))
    errors = []
    for item in exercises:
        for i, row in enumerate(item.value):
            loaded = set(tags.get(row["exercise"]) or [])
            for precaution in precautions:
                if loaded & set(precaution.tags):
                    errors.append(
                        FieldProblem(
                            f"{item.path}[{i}].exercise",
                            "precaution_conflict",
                            f"{row['name']}: {precaution.label} ({precaution.plan.title}).",
                        )
                    )
    if errors:
        raise RuleProblem(
            "An exercise conflicts with the care plan's precautions: "
            + " ".join(e.message for e in errors),
            "precaution-conflict",
            "The exercise loads a movement the precautions forbid.",
            errors,
        )


def check_content(note: VisitNote, filled: list[Filled]) -> None:
    """Both checks, scope first: what the author may not write at all is named before what the
    plan forbids."""
    refuse_out_of_scope(note, filled)
    refuse_precaution_conflicts(note, filled)
