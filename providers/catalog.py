"""The catalogue of disciplines, acts, default scope rules, credential requirements and
jurisdiction overrides (DOMAIN.md section 2).

Migration 0003 loads it into a fresh database; ``seed_demo`` and tests call ``load_catalog`` to
restore rows that a flush removed. Loading only creates what is missing: it never overwrites a
rule that a manager has edited since.
"""

from django.apps import apps as django_apps

DISCIPLINES = [
    (
        "physiotherapist",
        "Physiotherapist",
        "Assesses and diagnoses movement problems and leads rehabilitation after injury, "
        "surgery or illness, with hands-on care and exercise.",
    ),
    (
        "exercise_therapist",
        "Exercise therapist",
        "Builds exercise programs that are safe for a client's condition and keeps them active "
        "once rehabilitation is over.",
    ),
    (
        "massage_therapist",
        "Massage therapist",
        "Soft-tissue massage (Swedish, deep tissue, sports) for tension, stress and recovery.",
    ),
    (
        "personal_trainer",
        "Personal trainer",
        "Fitness assessment and one-to-one, group or online training for strength, stamina and "
        "well-being.",
    ),
    (
        "chiropractor",
        "Chiropractor",
        "Diagnoses and treats spine and joint problems, including spinal manipulation.",
    ),
    (
        "exercise_physiologist",
        "Exercise physiologist",
        "Exercise testing and programs for people living with chronic conditions.",
    ),
    (
        "occupational_therapist",
        "Occupational therapist",
        "Helps people take part in daily life and work again: function, equipment and routines.",
    ),
    (
        "corrective_exercise_specialist",
        "Corrective exercise specialist",
        "Movement screening and exercise to correct posture and muscle imbalances.",
    ),
]

# code, name, is_clinical, description
ACTS = [
    ("diagnose", "Diagnose", True, "Record a clinical diagnosis."),
    (
        "prescribe_treatment_plan",
        "Prescribe a treatment plan",
        True,
        "Author or change a rehabilitation plan of care.",
    ),
    ("free_consult", "Free consult", False, "A short no-charge consult by phone or video."),
    ("manual_therapy", "Manual therapy", False, "Hands-on mobilisation of joints and tissues."),
    ("spinal_manipulation", "Spinal manipulation", False, "High-velocity spinal adjustment."),
    ("dry_needling", "Dry needling", False, "Needling of myofascial trigger points."),
    ("acupuncture", "Acupuncture", False, "Needling along acupuncture points."),
    (
        "electrotherapy",
        "Electrotherapy and ultrasound",
        False,
        "TENS, IFC, therapeutic ultrasound.",
    ),
    (
        "pelvic_floor_internal",
        "Internal pelvic-floor work",
        False,
        "Internal assessment and treatment of the pelvic floor.",
    ),
    (
        "assistive_devices",
        "Assistive devices",
        False,
        "Fitting braces, splints, crutches and other aids.",
    ),
    (
        "therapeutic_exercise",
        "Therapeutic exercise",
        False,
        "Exercise given as treatment, inside a plan of care.",
    ),
    (
        "exercise_program_design",
        "Exercise program design",
        False,
        "Design or change a client's exercise program.",
    ),
    ("fitness_assessment", "Fitness assessment", False, "Testing strength, stamina, mobility."),
    (
        "fitness_training",
        "Fitness training",
        False,
        "Resistance, cardio and stretching training, one-to-one, group or online.",
    ),
    ("soft_tissue_massage", "Soft-tissue massage", False, "Massage of muscles and fascia."),
    ("posture_correction", "Posture correction", False, "Assessing and correcting posture."),
]

A = "allowed"
E = "endorsement"

DEFAULT_RULES = {
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

# discipline, act, jurisdiction, allowed, requires_endorsement, note
OVERRIDES = [
    (
        "physiotherapist",
        "dry_needling",
        "US-NY",
        False,
        False,
        "New York does not allow physical therapists to dry needle.",
    ),
    (
        "physiotherapist",
        "dry_needling",
        "CA-ON",
        True,
        True,
        "Ontario: only with a dry-needling authorisation from the college.",
    ),
]

# discipline, jurisdiction, (licence, registration, certification)
REQUIREMENTS = [
    ("physiotherapist", "", (True, False, False)),
    ("chiropractor", "", (True, False, False)),
    ("occupational_therapist", "", (True, True, False)),
    ("massage_therapist", "", (True, True, True)),
    ("massage_therapist", "CA-ON", (True, True, False)),
    ("exercise_therapist", "", (False, False, True)),
    ("personal_trainer", "", (False, False, True)),
    ("exercise_physiologist", "", (False, True, True)),
    ("corrective_exercise_specialist", "", (False, False, True)),
]


def load_catalog(apps=django_apps) -> None:
    """Create any missing catalogue row. ``apps`` is the migration's historical registry when
    called from a migration; only fields that exist since migration 0002 are used."""
    Discipline = apps.get_model("providers", "Discipline")
    Act = apps.get_model("providers", "Act")
    ScopeRule = apps.get_model("providers", "ScopeRule")
    CredentialRequirement = apps.get_model("providers", "CredentialRequirement")

    disciplines = {}
    for code, name, summary in DISCIPLINES:
        disciplines[code], _ = Discipline.objects.get_or_create(
            code=code, defaults={"name": name, "summary": summary}
        )
    acts = {}
    for code, name, clinical, description in ACTS:
        acts[code], _ = Act.objects.get_or_create(
            code=code,
            defaults={"name": name, "is_clinical": clinical, "description": description},
        )
    for discipline, rules in DEFAULT_RULES.items():
        for act, verdict in rules.items():
            ScopeRule.objects.get_or_create(
                discipline=disciplines[discipline],
                act=acts[act],
                jurisdiction="",
                defaults={"allowed": True, "requires_endorsement": verdict == E},
            )
    for discipline, act, jurisdiction, allowed, endorsement, note in OVERRIDES:
        ScopeRule.objects.get_or_create(
            discipline=disciplines[discipline],
            act=acts[act],
            jurisdiction=jurisdiction,
            defaults={"allowed": allowed, "requires_endorsement": endorsement, "note": note},
        )
    for discipline, jurisdiction, (licence, registration, certification) in REQUIREMENTS:
        CredentialRequirement.objects.get_or_create(
            discipline=disciplines[discipline],
            jurisdiction=jurisdiction,
            defaults={
                "accepts_licence": licence,
                "accepts_registration": registration,
                "accepts_certification": certification,
            },
        )
