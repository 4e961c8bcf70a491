"""The seeded note templates and the check of a note's content against its template.

Every template carries the charting core (complaint, pain, findings, body regions, range of
motion, diagnosis, interventions delivered, exercises, plan) and the discipline's own fields (a
massage therapist's areas, techniques, pressure and contraindications screened). The fields that
are acts of practice carry their act, and the scope decision, not the template, says who may fill
them: a massage therapist's template has a diagnosis field that their scope refuses, so the
refusal is the same ``out-of-scope`` everywhere.

``load_templates`` creates what is missing (migration ``plans.0005``, ``seed_demo``, and tests
after a flush); it never overwrites a clinic's edits.
"""

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from django.apps import apps as django_apps

from clinic.errors import FieldProblem, ValidationProblem
from plans.models import BodyRegion, Exercise, FieldKind, NoteTemplate, TemplateField
from providers.models import Act, Discipline

DIAGNOSE = "diagnose"
EXERCISE_ACT = "exercise_program_design"
MASSAGE_ACT = "soft_tissue_massage"
TOLERANCE = ["well", "some_discomfort", "poorly", "stopped"]
MAX_TEXT = 10_000
MAX_ITEMS = 50

# section, key, label, kind, options, act
CORE = [
    ("subjective", "complaint", "What the patient reports", "text", [], ""),
    ("subjective", "pain", "Pain today (0-10)", "pain", [], ""),
    ("objective", "findings", "Findings", "text", [], ""),
    ("objective", "body_regions", "Body regions examined", "body_regions", [], ""),
    ("objective", "range_of_motion", "Range of motion (degrees)", "range_of_motion", [], ""),
    ("assessment", "diagnosis", "Diagnosis", "diagnosis", [], DIAGNOSE),
    ("assessment", "impression", "Assessment", "text", [], ""),
    ("plan", "interventions", "Interventions delivered", "interventions", [], ""),
    ("plan", "exercises", "Exercises prescribed", "exercises", [], EXERCISE_ACT),
    ("plan", "next_steps", "Plan", "text", [], ""),
]
MASSAGE = [
    (
        "objective",
        "contraindications_screened",
        "Contraindications screened",
        "multi_choice",
        [
            "recent injury or fracture",
            "blood clot or DVT",
            "skin condition or open wound",
            "fever or infection",
            "pregnancy",
            "blood thinners",
        ],
        "",
    ),
    (
        "plan",
        "areas",
        "Areas treated",
        "multi_choice",
        [str(label) for _, label in BodyRegion.choices],
        MASSAGE_ACT,
    ),
    (
        "plan",
        "techniques",
        "Techniques",
        "multi_choice",
        ["Swedish", "deep tissue", "sports", "myofascial release", "trigger point"],
        MASSAGE_ACT,
    ),
    ("plan", "pressure", "Pressure", "choice", ["light", "moderate", "firm", "deep"], MASSAGE_ACT),
]
SESSION = [
    ("subjective", "readiness", "Readiness today", "choice", ["ready", "tired", "sore"], ""),
    ("objective", "session_summary", "How the session went", "text", [], ""),
]
EXTRA_FIELDS = {
    "massage_therapist": MASSAGE,
    "personal_trainer": SESSION,
    "exercise_therapist": SESSION,
    "corrective_exercise_specialist": SESSION,
}


def load_templates(apps=django_apps) -> None:
    """Create the template of every discipline that has none, and any missing seeded field."""
    Discipline_ = apps.get_model("providers", "Discipline")
    NoteTemplate_ = apps.get_model("plans", "NoteTemplate")
    TemplateField_ = apps.get_model("plans", "TemplateField")
    for discipline in Discipline_.objects.all():
        template, _ = NoteTemplate_.objects.get_or_create(
            discipline=discipline, defaults={"name": f"{discipline.name} visit note"}
        )
        rows = CORE + EXTRA_FIELDS.get(discipline.code, [])
        for position, (section, key, label, kind, options, act) in enumerate(rows):
            TemplateField_.objects.get_or_create(
                template=template,
                section=section,
                key=key,
                defaults={
                    "label": label,
                    "kind": kind,
                    "options": options,
                    "act": act,
                    "position": position * 10,
                },
            )


def template_for(discipline: Discipline) -> NoteTemplate:
    """The discipline's template; seeded on first use for a discipline added after migrating."""
    template = NoteTemplate.objects.filter(discipline=discipline).first()
    if template is None:
        load_templates()
        template = NoteTemplate.objects.get(discipline=discipline)
    return template


@dataclass(frozen=True)
class Filled:
    """One filled field of a note: where it is, its template field and its checked value."""

    section: str
    field: TemplateField
    value: Any

    @property
    def path(self) -> str:
        return f"content.{self.section}.{self.field.key}"


def _problem(path: str, message: str, code: str = "invalid") -> ValidationProblem:
    return ValidationProblem(message, [FieldProblem(path, code, message)])


def _number(value: Any, path: str, low: int | None = None, high: int | None = None) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise _problem(path, "Give a number.")
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        raise _problem(path, "Give a number.") from None
    if not number.is_finite() or abs(number) >= 100_000:
        raise _problem(path, "Give a number.")
    if (low is not None and number < low) or (high is not None and number > high):
        raise _problem(path, f"Give a number from {low} to {high}.", "out_of_range")
    return number


def _text(value: Any, path: str, limit: int = MAX_TEXT) -> str:
    if not isinstance(value, str):
        raise _problem(path, "Give text.")
    if len(value) > limit or "\x00" in value:
        raise _problem(path, f"At most {limit} characters, without NUL bytes.")
    return value.strip()


def _items(value: Any, path: str) -> list:
    if not isinstance(value, list) or len(value) > MAX_ITEMS:
        raise _problem(path, f"Give a list of at most {MAX_ITEMS} items.")
    return value


def _choice(value: Any, options: list[str], path: str) -> str:
    if not isinstance(value, str) or value not in options:
        raise _problem(path, "Choose one of: " + ", ".join(options) + ".", "invalid_choice")
    return value


def _range_of_motion(value: Any, path: str) -> list[dict]:
    cleaned = []
    for i, item in enumerate(_items(value, path)):
        where = f"{path}[{i}]"
        if not isinstance(item, dict):
            raise _problem(where, "Give {movement, degrees}.")
        movement = _text(item.get("movement", ""), f"{where}.movement", 120)
        if not movement:
            raise _problem(f"{where}.movement", "Name the movement.", "required")
        degrees = _number(item.get("degrees"), f"{where}.degrees", 0, 360)
        cleaned.append({"movement": movement, "degrees": float(degrees)})
    return cleaned


def _interventions(value: Any, path: str) -> list[str]:
    codes = [_text(code, path, 40) for code in _items(value, path)]
    known = set(Act.objects.filter(code__in=codes).values_list("code", flat=True))
    unknown = [code for code in codes if code not in known]
    if unknown:
        raise _problem(path, "Unknown act: " + ", ".join(unknown) + ".", "unknown_act")
    return list(dict.fromkeys(codes))


def _exercises(value: Any, path: str) -> list[dict]:
    items = _items(value, path)
    if not all(isinstance(item, dict) for item in items):
        raise _problem(path, "Give {exercise, sets, reps, tolerance} for each exercise.")
    ids = [item.get("exercise") for item in items]
    if not all(isinstance(pk, int) and not isinstance(pk, bool) for pk in ids):
        raise _problem(path, "Name each exercise by its library id.")
    library = {e.pk: e for e in Exercise.objects.filter(pk__in=ids, is_active=True)}
    cleaned = []
    for i, item in enumerate(items):
        where = f"{path}[{i}]"
        exercise = library.get(item["exercise"])
        if exercise is None:
            raise _problem(f"{where}.exercise", "No such active exercise in the library.")
        row: dict[str, Any] = {"exercise": exercise.pk, "name": exercise.name}
        row["sets"] = int(_number(item.get("sets"), f"{where}.sets", 1, 20))
        if item.get("reps") is not None:
            row["reps"] = int(_number(item["reps"], f"{where}.reps", 1, 200))
        if item.get("tolerance") is not None:
            row["tolerance"] = _choice(item["tolerance"], TOLERANCE, f"{where}.tolerance")
        cleaned.append(row)
    return cleaned


def _clean_value(field: TemplateField, value: Any, path: str) -> Any:
    kind = field.kind
    if kind in (FieldKind.TEXT, FieldKind.DIAGNOSIS):
        return _text(value, path)
    if kind == FieldKind.PAIN:
        number = _number(value, path, 0, 10)
        if number != number.to_integral_value():
            raise _problem(path, "Pain is a whole number from 0 to 10.")
        return int(number)
    if kind == FieldKind.NUMBER:
        return float(_number(value, path))
    if kind == FieldKind.BODY_REGIONS:
        regions = [_choice(v, list(BodyRegion.values), path) for v in _items(value, path)]
        return list(dict.fromkeys(regions))
    if kind == FieldKind.RANGE_OF_MOTION:
        return _range_of_motion(value, path)
    if kind == FieldKind.CHOICE:
        return _choice(value, list(field.options), path)
    if kind == FieldKind.MULTI_CHOICE:
        return list(
            dict.fromkeys(_choice(v, list(field.options), path) for v in _items(value, path))
        )
    if kind == FieldKind.INTERVENTIONS:
        return _interventions(value, path)
    if kind == FieldKind.EXERCISES:
        return _exercises(value, path)
    raise _problem(path, f"The template field has an unknown kind {kind!r}.")


def _is_empty(value: Any) -> bool:
    return value is None or value == "" or value == []


def clean_content(template: NoteTemplate, content: Any) -> tuple[dict, list[Filled]]:
    """The content as stored (sections and fields of the template only, values checked) and
    the fields that hold something. An empty value clears its field."""
    if not isinstance(content, dict):
        raise _problem("content", "Give an object with the sections subjective, objective, ...")
    fields = {(f.section, f.key): f for f in template.fields.all()}
    sections = {section for section, _ in fields}
    cleaned: dict[str, dict] = {}
    filled: list[Filled] = []
    for section, values in content.items():
        if section not in sections:
            raise _problem(f"content.{section}", "Not a section of this template.", "unknown")
        if not isinstance(values, dict):
            raise _problem(f"content.{section}", "Give an object of fields.")
        for key, value in values.items():
            path = f"content.{section}.{key}"
            field = fields.get((section, key))
            if field is None:
                raise _problem(path, "Not a field of this template.", "unknown")
            if _is_empty(value):
                continue
            value = _clean_value(field, value, path)
            if _is_empty(value):
                continue
            cleaned.setdefault(section, {})[key] = value
            filled.append(Filled(section, field, value))
    return cleaned, filled


def filled_fields(template: NoteTemplate, content: dict) -> list[Filled]:
    """The filled fields of stored content (already clean)."""
    return clean_content(template, content)[1]
