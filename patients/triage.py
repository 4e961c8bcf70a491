"""Intake triage (DOMAIN.md section 3): a short questionnaire in, ranked disciplines out.

A pure function with no database access, so the rules are easy to read and to test. It suggests
where to start, with the reasons behind each suggestion; it is not medical advice. Red flags
(numbness, imbalance, muscle weakness) always put physiotherapy first.
"""

from dataclasses import dataclass, field

PHYSIOTHERAPY = "physiotherapist"
EXERCISE_THERAPY = "exercise_therapist"
PERSONAL_TRAINING = "personal_trainer"
MASSAGE_THERAPY = "massage_therapist"

DISCIPLINE_NAMES = {
    PHYSIOTHERAPY: "Physiotherapy",
    EXERCISE_THERAPY: "Exercise therapy",
    PERSONAL_TRAINING: "Personal training",
    MASSAGE_THERAPY: "Massage therapy",
}
# Ties are broken in this order: the more clinical discipline first.
TIE_ORDER = (PHYSIOTHERAPY, EXERCISE_THERAPY, PERSONAL_TRAINING, MASSAGE_THERAPY)

CHRONIC_CONDITIONS = {
    "diabetes": "diabetes",
    "heart_disease": "heart disease",
    "chronic_pain": "chronic pain",
    "other": "a chronic condition",
}
GOALS = {
    "fitness": "better fitness",
    "stamina": "more stamina",
    "stress_management": "managing stress",
    "weight_loss": "weight loss",
    "tone": "muscle tone",
    "relaxation": "relaxation",
    "muscle_tension": "relief from muscle tension",
}
TRAINING_GOALS = ("fitness", "stamina", "stress_management", "weight_loss", "tone")
MASSAGE_GOALS = ("relaxation", "stress_management", "muscle_tension")

RED_FLAGS = {
    "numbness": "Numbness or tingling",
    "imbalance": "Loss of balance or unsteadiness",
    "muscle_weakness": "New muscle weakness",
}

DISCLAIMER = (
    "This suggestion is based only on your answers and is not medical advice or a diagnosis. "
    "If your symptoms are severe, sudden or getting worse, contact your doctor or emergency "
    "services."
)


@dataclass(frozen=True)
class TriageAnswers:
    """The questionnaire. Every question is optional; an unanswered one counts as "no"."""

    persistent_pain_or_stiffness: bool = False
    recovering_from_surgery_or_injury: bool = False
    condition_limits_mobility: bool = False
    numbness: bool = False
    imbalance: bool = False
    muscle_weakness: bool = False
    chronic_conditions: tuple[str, ...] = ()
    wants_to_stay_active_safely: bool = False
    goals: tuple[str, ...] = ()


@dataclass(frozen=True)
class RedFlag:
    code: str
    message: str


@dataclass
class Recommendation:
    discipline: str
    name: str
    score: int
    reasons: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class TriageResult:
    recommendations: tuple[Recommendation, ...]
    red_flags: tuple[RedFlag, ...]
    disclaimer: str = DISCLAIMER


def _listing(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def triage(answers: TriageAnswers) -> TriageResult:
    """Rank the disciplines that fit the answers, each with the reasons that put it there."""
    red_flags = tuple(
        RedFlag(code, message) for code, message in RED_FLAGS.items() if getattr(answers, code)
    )
    chronic = [CHRONIC_CONDITIONS[c] for c in answers.chronic_conditions if c in CHRONIC_CONDITIONS]
    goals = [g for g in answers.goals if g in GOALS]
    found: dict[str, Recommendation] = {}

    def add(discipline: str, points: int, reason: str) -> None:
        rec = found.setdefault(
            discipline, Recommendation(discipline, DISCIPLINE_NAMES[discipline], 0)
        )
        rec.score += points
        rec.reasons.append(reason)

    # Physiotherapy: pain, surgery or injury, limited mobility, and every red flag.
    if answers.persistent_pain_or_stiffness:
        add(PHYSIOTHERAPY, 3, "Persistent pain or stiffness is best assessed by a physiotherapist.")
    if answers.recovering_from_surgery_or_injury:
        add(PHYSIOTHERAPY, 3, "Recovery from surgery or an injury is led by a physiotherapist.")
    if answers.condition_limits_mobility:
        add(PHYSIOTHERAPY, 3, "A condition that limits how you move needs a physiotherapy plan.")
    for flag in red_flags:
        add(
            PHYSIOTHERAPY,
            5,
            f"{flag.message} should be assessed by a physiotherapist before anything else.",
        )

    # Exercise therapy: a chronic condition and the wish to stay active safely.
    if chronic and answers.wants_to_stay_active_safely:
        add(
            EXERCISE_THERAPY,
            3,
            f"You live with {_listing(chronic)} and want to stay active safely: an exercise "
            "therapist builds a program that does not make it worse.",
        )
    elif chronic:
        add(
            EXERCISE_THERAPY,
            1,
            f"Exercise adapted to {_listing(chronic)} can help once you want to be more active.",
        )

    injured = answers.recovering_from_surgery_or_injury or bool(red_flags)
    healthy = not (
        chronic
        or red_flags
        or answers.persistent_pain_or_stiffness
        or answers.recovering_from_surgery_or_injury
        or answers.condition_limits_mobility
    )

    # Personal training: healthy people with fitness goals.
    training = [GOALS[g] for g in goals if g in TRAINING_GOALS]
    if training and healthy:
        add(
            PERSONAL_TRAINING,
            3,
            f"You are healthy and want {_listing(training)}: a personal trainer fits.",
        )
    elif training:
        add(
            PERSONAL_TRAINING,
            1,
            f"For {_listing(training)}, personal training can follow once the care above "
            "clears you for it.",
        )
    elif healthy and answers.wants_to_stay_active_safely:
        add(PERSONAL_TRAINING, 2, "A personal trainer can help you stay active.")

    # Massage therapy: relaxation, stress or tension, but not for an injury.
    relaxing = [GOALS[g] for g in goals if g in MASSAGE_GOALS]
    if relaxing and not injured:
        add(MASSAGE_THERAPY, 2, f"Massage therapy helps with {_listing(relaxing)}.")

    if not found:
        add(
            PHYSIOTHERAPY,
            0,
            "Nothing in your answers points to one discipline; a free consult with a "
            "physiotherapist helps you decide.",
        )

    ranked = sorted(found.values(), key=lambda r: (-r.score, TIE_ORDER.index(r.discipline)))
    if red_flags:
        ranked.sort(key=lambda r: r.discipline != PHYSIOTHERAPY)
    return TriageResult(recommendations=tuple(ranked), red_flags=red_flags)
