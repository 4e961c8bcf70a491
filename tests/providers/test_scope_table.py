"""Every discipline x act, in CA-ON, US-NY and CA-BC (no override), gives the decision and reason
codes DOMAIN.md section 2 asks for, for a provider holding a current credential of the right kind
and jurisdiction, with and without every endorsement."""

import pytest

from providers.models import Act, Credential, Discipline
from providers.scope import decide
from tests.factories.providers import CredentialFactory, DisciplineFactory, ProviderFactory

pytestmark = pytest.mark.django_db

A, E = "allowed", "endorsement"  # absent: not part of the discipline

EXPECTED_DEFAULTS = {
    "physiotherapist": {
        "diagnose": A,
        "prescribe_treatment_plan": A,
        "free_consult": A,
        "manual_therapy": A,
        "spinal_manipulation": E,
        "dry_needling": E,
        "acupuncture": E,
        "electrotherapy": A,
        "pelvic_floor_internal": E,
        "assistive_devices": A,
        "therapeutic_exercise": A,
        "exercise_program_design": A,
        "fitness_assessment": A,
        "soft_tissue_massage": A,
        "posture_correction": A,
    },
    "exercise_therapist": {
        "therapeutic_exercise": A,
        "exercise_program_design": A,
        "fitness_assessment": A,
        "fitness_training": A,
    },
    "massage_therapist": {"soft_tissue_massage": A},
    "personal_trainer": {
        "exercise_program_design": A,
        "fitness_assessment": A,
        "fitness_training": A,
    },
    "chiropractor": {
        "diagnose": A,
        "prescribe_treatment_plan": A,
        "free_consult": A,
        "manual_therapy": A,
        "spinal_manipulation": A,
        "acupuncture": E,
        "electrotherapy": A,
        "assistive_devices": A,
        "therapeutic_exercise": A,
        "exercise_program_design": A,
        "soft_tissue_massage": A,
        "posture_correction": A,
    },
    "exercise_physiologist": {
        "therapeutic_exercise": A,
        "exercise_program_design": A,
        "fitness_assessment": A,
        "fitness_training": A,
        "posture_correction": A,
    },
    "occupational_therapist": {
        "prescribe_treatment_plan": A,
        "assistive_devices": A,
        "therapeutic_exercise": A,
        "exercise_program_design": A,
        "posture_correction": A,
    },
    "corrective_exercise_specialist": {
        "exercise_program_design": A,
        "fitness_assessment": A,
        "fitness_training": A,
        "posture_correction": A,
    },
}
FORBIDDEN = "forbidden"
EXPECTED_OVERRIDES = {
    ("US-NY", "physiotherapist", "dry_needling"): FORBIDDEN,
    ("CA-ON", "physiotherapist", "dry_needling"): E,
}
ACTS = [
    "diagnose",
    "prescribe_treatment_plan",
    "free_consult",
    "manual_therapy",
    "spinal_manipulation",
    "dry_needling",
    "acupuncture",
    "electrotherapy",
    "pelvic_floor_internal",
    "assistive_devices",
    "therapeutic_exercise",
    "exercise_program_design",
    "fitness_assessment",
    "fitness_training",
    "soft_tissue_massage",
    "posture_correction",
]
# A credential kind each discipline is accepted with everywhere.
KIND = {
    "physiotherapist": Credential.Kind.LICENCE,
    "chiropractor": Credential.Kind.LICENCE,
    "occupational_therapist": Credential.Kind.LICENCE,
    "massage_therapist": Credential.Kind.REGISTRATION,
    "exercise_therapist": Credential.Kind.CERTIFICATION,
    "personal_trainer": Credential.Kind.CERTIFICATION,
    "exercise_physiologist": Credential.Kind.CERTIFICATION,
    "corrective_exercise_specialist": Credential.Kind.CERTIFICATION,
}
JURISDICTIONS = ["CA-ON", "US-NY", "CA-BC"]


def expected(jurisdiction: str, discipline: str, act: str) -> str | None:
    return EXPECTED_OVERRIDES.get(
        (jurisdiction, discipline, act), EXPECTED_DEFAULTS[discipline].get(act)
    )


PAIRS = [(j, d) for j in JURISDICTIONS for d in EXPECTED_DEFAULTS]


def test_catalogue_has_every_discipline_and_act_of_the_domain():
    assert set(Discipline.objects.values_list("code", flat=True)) == set(EXPECTED_DEFAULTS)
    assert set(Act.objects.values_list("code", flat=True)) == set(ACTS)


@pytest.fixture
def locations(toronto, new_york, vancouver):
    return {"CA-ON": toronto, "US-NY": new_york, "CA-BC": vancouver}


def _provider(discipline: str, location, endorsed: bool):
    provider = ProviderFactory(
        discipline=DisciplineFactory(code=discipline), locations=[location], credentials=False
    )
    kind = KIND[discipline]
    jurisdiction = "" if kind == Credential.Kind.CERTIFICATION else location.jurisdiction
    endorsable = [a for a, v in EXPECTED_DEFAULTS[discipline].items() if v == E]
    CredentialFactory(
        provider=provider,
        kind=kind,
        jurisdiction=jurisdiction,
        endorsements=endorsable if endorsed else [],
    )
    return provider


def expected_answer(jurisdiction: str, discipline: str, act: str) -> tuple[tuple, bool]:
    """(reason codes without any endorsement, allowed with every endorsement)."""
    verdict = expected(jurisdiction, discipline, act)
    if verdict is None:
        return ("act_not_in_discipline",), False
    if verdict == FORBIDDEN:
        return ("forbidden_in_jurisdiction",), False
    if verdict == E:
        return ("endorsement_missing",), True
    return (), True


@pytest.mark.parametrize(("jurisdiction", "discipline"), PAIRS)
def test_scope_decision_for_every_discipline_and_act(locations, noon_utc, jurisdiction, discipline):
    """One row of the table per test: the whole row is compared, so a failure shows every act
    that differs with its expected and actual answer."""
    location = locations[jurisdiction]
    bare = _provider(discipline, location, endorsed=False)
    endorsed = _provider(discipline, location, endorsed=True)
    actual, wanted = {}, {}
    for act in ACTS:
        without = decide(bare, act, location, noon_utc)
        with_all = decide(endorsed, act, location, noon_utc)
        assert without.allowed == (not without.reasons)
        actual[act] = (without.codes, with_all.allowed)
        wanted[act] = expected_answer(jurisdiction, discipline, act)
    assert actual == wanted


@pytest.mark.parametrize(
    ("jurisdiction", "kind", "allowed"),
    [
        ("CA-ON", Credential.Kind.CERTIFICATION, False),
        ("CA-ON", Credential.Kind.REGISTRATION, True),
        ("CA-BC", Credential.Kind.CERTIFICATION, True),
        ("US-NY", Credential.Kind.CERTIFICATION, True),
    ],
)
def test_massage_therapist_needs_licence_or_registration_in_ontario_only(
    locations, noon_utc, jurisdiction, kind, allowed
):
    location = locations[jurisdiction]
    provider = ProviderFactory(
        discipline=DisciplineFactory(code="massage_therapist"),
        locations=[location],
        credentials__kind=kind,
        credentials__jurisdiction="" if kind == "certification" else jurisdiction,
    )
    decision = decide(provider, "soft_tissue_massage", location, noon_utc)
    assert decision.allowed is allowed
    if not allowed:
        assert decision.codes == ("no_credential",)
        assert "licence or registration" in decision.reasons[0].message
