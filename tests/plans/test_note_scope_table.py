"""Scope applies to what is written (DOMAIN.md sections 2 and 9), as one table: the four core
disciplines x every note field that is an act (the diagnosis, each intervention delivered, the
exercise prescription) x the demo jurisdictions (CA-ON, US-NY), through the staff API and the
admin. The expectations are written out here from the domain's table, not read from the catalogue.
"""

import json

import pytest
from django.test import Client

from plans.models import VisitNote
from tests.conftest import client_for
from tests.factories.notes import brooklyn, pickering, visit
from tests.factories.patients import clinician_user
from tests.factories.plans import ExerciseFactory
from tests.factories.providers import CredentialFactory, DisciplineFactory, ProviderFactory

pytestmark = pytest.mark.django_db

INTERVENTIONS = [
    "manual_therapy",
    "spinal_manipulation",
    "dry_needling",
    "acupuncture",
    "electrotherapy",
    "pelvic_floor_internal",
    "assistive_devices",
    "therapeutic_exercise",
    "posture_correction",
    "soft_tissue_massage",
    "fitness_assessment",
    "fitness_training",
]
ENDORSED = ["spinal_manipulation", "dry_needling", "acupuncture", "pelvic_floor_internal"]
PHYSIO = {
    "diagnose",
    "exercise_program_design",
    "manual_therapy",
    "electrotherapy",
    "assistive_devices",
    "therapeutic_exercise",
    "posture_correction",
    "soft_tissue_massage",
    "fitness_assessment",
}
ALLOWED = {
    "physiotherapist": PHYSIO,
    "physiotherapist_endorsed": PHYSIO | set(ENDORSED),
    "exercise_therapist": {
        "exercise_program_design",
        "therapeutic_exercise",
        "fitness_assessment",
        "fitness_training",
    },
    "massage_therapist": {"soft_tissue_massage"},
    "personal_trainer": {"exercise_program_design", "fitness_assessment", "fitness_training"},
}
# Jurisdiction overrides: New York refuses dry needling to every physiotherapist.
FORBIDDEN = {("US-NY", "physiotherapist_endorsed"): {"dry_needling"}}
JURISDICTIONS = {"CA-ON": pickering, "US-NY": brooklyn}


def expected_reason(variant: str, jurisdiction: str, act: str) -> str | None:
    """None when allowed, else the reason code the refusal must carry."""
    if act in FORBIDDEN.get((jurisdiction, variant), set()):
        return "forbidden_in_jurisdiction"
    if act in ALLOWED[variant]:
        return None
    if variant == "physiotherapist" and act in ENDORSED:
        return (
            "forbidden_in_jurisdiction"
            if (jurisdiction, act) == ("US-NY", "dry_needling")
            else ("endorsement_missing")
        )
    return "act_not_in_discipline"


def author(variant: str, location):
    discipline = variant.removesuffix("_endorsed")
    provider = ProviderFactory(
        discipline=DisciplineFactory(code=discipline), locations=[location], credentials=False
    )
    CredentialFactory(
        provider=provider,
        kind="certification"
        if discipline in ("exercise_therapist", "personal_trainer")
        else "registration"
        if discipline == "massage_therapist"
        else "licence",
        jurisdiction=location.jurisdiction,
        endorsements=ENDORSED if variant.endswith("_endorsed") else [],
    )
    clinician_user(f"{variant}-{location.slug}", provider=provider)
    return provider


def cases(exercise_id: int) -> list[tuple[str, str, dict, str]]:
    """(label, field path, content, act) for every field that is an act."""
    rows = [
        (
            "diagnosis",
            "content.assessment.diagnosis",
            {"assessment": {"diagnosis": "Lateral ankle sprain, grade 2"}},
            "diagnose",
        ),
        (
            "exercise prescription",
            "content.plan.exercises",
            {"plan": {"exercises": [{"exercise": exercise_id, "sets": 3, "reps": 10}]}},
            "exercise_program_design",
        ),
    ]
    rows += [
        (
            f"intervention {act}",
            "content.plan.interventions",
            {"plan": {"interventions": [act]}},
            act,
        )
        for act in INTERVENTIONS
    ]
    return rows


VARIANTS = list(ALLOWED)


@pytest.mark.parametrize("jurisdiction", list(JURISDICTIONS))
@pytest.mark.parametrize("variant", VARIANTS)
def test_each_charted_act_is_allowed_or_refused_by_the_scope_decision_through_the_api(
    variant, jurisdiction
):
    location = JURISDICTIONS[jurisdiction]()
    provider = author(variant, location)
    client = client_for(provider.user)
    note = client.post(
        "/api/v1/visit-notes/", {"appointment": visit(provider, location).pk}, format="json"
    )
    assert note.status_code == 201, note.content
    url = f"/api/v1/visit-notes/{note.json()['id']}/"
    exercise = ExerciseFactory(tags=[])
    wrong = []
    for label, path, content, act in cases(exercise.pk):
        response = client.patch(url, {"content": content}, format="json")
        reason = expected_reason(variant, jurisdiction, act)
        if reason is None:
            ok = response.status_code == 200
        else:
            body = response.json()
            ok = (
                response.status_code == 422
                and body["type"].endswith("/out-of-scope")
                and {(e["field"], e["code"]) for e in body["errors"]} == {(path, reason)}
                and act in body["detail"]
            )
        if not ok:
            wrong.append((label, reason, response.status_code, response.content[:300]))
    assert wrong == []
    # A refusal changes nothing: the stored content is the last accepted one.
    stored = VisitNote.objects.get(pk=note.json()["id"]).content
    last_allowed = [
        c
        for _, _, c, act in cases(exercise.pk)
        if expected_reason(variant, jurisdiction, act) is None
    ][-1]
    assert stored == client.get(url).json()["content"]
    assert set(stored) == set(last_allowed)


def admin_form(content: dict) -> dict:
    """The admin form's fields (``<section>__<key>``) for one content object."""
    data = {}
    for section, values in content.items():
        for key, value in values.items():
            data[f"{section}__{key}"] = json.dumps(value) if key == "exercises" else value
    return data


@pytest.mark.parametrize("jurisdiction", list(JURISDICTIONS))
@pytest.mark.parametrize("variant", VARIANTS)
def test_each_charted_act_is_allowed_or_refused_by_the_scope_decision_in_the_admin(
    variant, jurisdiction
):
    location = JURISDICTIONS[jurisdiction]()
    provider = author(variant, location)
    browser = Client()
    browser.force_login(provider.user)
    appointment = visit(provider, location)
    opened = browser.get(f"/admin/plans/visitnote/write/{appointment.pk}/")
    note = VisitNote.objects.get(appointment=appointment)
    assert opened.status_code == 302
    assert opened["Location"].endswith(f"/{note.pk}/change/")
    assert note.template.discipline.code == variant.removesuffix("_endorsed")
    url = opened["Location"]
    exercise = ExerciseFactory(tags=[])
    wrong = []
    for label, _path, content, act in cases(exercise.pk):
        response = browser.post(url, admin_form(content))
        reason = expected_reason(variant, jurisdiction, act)
        if reason is None:
            ok = response.status_code == 302
        else:
            page = response.content.decode()
            ok = response.status_code == 200 and f"{reason}: {act}" in page
        if not ok:
            wrong.append((label, reason, response.status_code))
    assert wrong == []
