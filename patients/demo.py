"""Demo patients: a dozen people in every status, with consent histories, managers'
access grants to the demo providers and a few referrals in different states.

Idempotent: patients are found by e-mail; consent history is written only for a patient who has
none yet; a referral only when the same (patient, referrer, discipline) has none. Providers come
from ``providers/demo.py`` (found by e-mail); what is missing is skipped.
"""

from datetime import date

from clinic.demo import DemoContext
from clinic.models import Location
from patients import grants, referrals, services
from patients.models import AccessGrant, Consent, Patient, Referral
from providers.models import Discipline, Provider

ALL = {"reminders": True, "care_plans": True, "marketing": True}

# email, first, last, status, location slug, language, date of birth, consent steps
PATIENTS = [
    (
        "ada.lovelace@example.org",
        "Ada",
        "Lovelace",
        "active",
        "pickering",
        "en",
        (1985, 12, 10),
        [("online_form", ALL)],
    ),
    (
        "grace.hopper@example.org",
        "Grace",
        "Hopper",
        "lead",
        "online",
        "en",
        None,
        [("online_form", {"reminders": True, "care_plans": False, "marketing": False})],
    ),
    (
        "alan.turing@example.org",
        "Alan",
        "Turing",
        "active",
        "milton",
        "en",
        (1979, 6, 23),
        [("online_form", {"reminders": True, "care_plans": True, "marketing": False})],
    ),
    (
        "katherine.johnson@example.org",
        "Katherine",
        "Johnson",
        "discharged",
        "pickering",
        "en",
        (1958, 8, 26),
        [("staff", {"reminders": True, "care_plans": True})],
    ),
    (
        "marie.curie@example.org",
        "Marie",
        "Curie",
        "archived",
        "milton",
        "fr",
        (1967, 11, 7),
        [("online_form", {"reminders": True}), ("email_link", {"reminders": False})],
    ),
    (
        "nikola.tesla@example.org",
        "Nikola",
        "Tesla",
        "active",
        "milton",
        "en",
        (1990, 7, 10),
        [("online_form", ALL), ("email_link", {"marketing": False})],
    ),
    (
        "rosalind.franklin@example.org",
        "Rosalind",
        "Franklin",
        "active",
        "pickering",
        "en",
        (1972, 7, 25),
        [("online_form", {"reminders": True, "care_plans": True})],
    ),
    ("carl.sagan@example.org", "Carl", "Sagan", "lead", "online", "en", None, []),
    (
        "hedy.lamarr@example.org",
        "Hedy",
        "Lamarr",
        "active",
        "brooklyn",
        "en",
        (1988, 11, 9),
        [("online_form", ALL)],
    ),
    (
        "emmy.noether@example.org",
        "Emmy",
        "Noether",
        "active",
        "online",
        "fr",
        (1982, 3, 23),
        [("staff", {"care_plans": True, "reminders": False})],
    ),
    (
        "srinivasa.ramanujan@example.org",
        "Srinivasa",
        "Ramanujan",
        "discharged",
        "pickering",
        "en",
        (1987, 12, 22),
        [("online_form", {"reminders": True}), ("staff", {"reminders": False})],
    ),
    (
        "mae.jemison@example.org",
        "Mae",
        "Jemison",
        "active",
        "brooklyn",
        "en",
        (1995, 10, 17),
        [("online_form", {"reminders": True, "marketing": True})],
    ),
]

# patient e-mail -> provider e-mails who treat them
TREATED_BY = {
    "ada.lovelace@example.org": ["priya.patel@clinic.example", "mei.chen@clinic.example"],
    "alan.turing@example.org": ["jordan.blake@clinic.example"],
    "katherine.johnson@example.org": ["priya.patel@clinic.example"],
    "nikola.tesla@example.org": ["daniel.okafor@clinic.example"],
    "rosalind.franklin@example.org": [
        "priya.patel@clinic.example",
        "aisha.rahman@clinic.example",
    ],
    "hedy.lamarr@example.org": ["sam.rivera@clinic.example"],
    "mae.jemison@example.org": ["chris.novak@clinic.example"],
}

# patient, referrer, to discipline, named receiver (or None), reason, statuses to walk through
REFERRALS = [
    (
        "ada.lovelace@example.org",
        "priya.patel@clinic.example",
        "massage_therapist",
        "mei.chen@clinic.example",
        "Upper-back tension while the shoulder rehab progresses.",
        ["accepted"],
    ),
    (
        "alan.turing@example.org",
        "jordan.blake@clinic.example",
        "physiotherapist",
        None,
        "Numbness in the left foot during lunges; please assess before we continue.",
        [],
    ),
    (
        "rosalind.franklin@example.org",
        "priya.patel@clinic.example",
        "exercise_therapist",
        "aisha.rahman@clinic.example",
        "Rehab goals met; maintenance program for knee OA.",
        ["accepted", "completed"],
    ),
    (
        "mae.jemison@example.org",
        "chris.novak@clinic.example",
        "massage_therapist",
        None,
        "Calf tightness after interval runs.",
        ["declined"],
    ),
]


def _patients(ctx: DemoContext) -> dict[str, Patient]:
    locations = {loc.slug: loc for loc in Location.objects.all()}
    patients = {}
    for email, first, last, status, where, language, born, consent_steps in PATIENTS:
        patient, _ = Patient.objects.update_or_create(
            email=email,
            defaults={
                "first_name": first,
                "last_name": last,
                "status": status,
                "preferred_location": locations.get(where),
                "preferred_language": language,
                "date_of_birth": date(*born) if born else None,
                "phone": f"+1 905 555 {100 + len(patients):04d}",
            },
        )
        if not Consent.objects.filter(patient=patient).exists():
            for source, choices in consent_steps:
                services.record_consents(patient, choices=choices, source=source)
        patients[email] = patient
    return patients


def seed(ctx: DemoContext) -> None:
    patients = _patients(ctx)
    providers = {p.email: p for p in Provider.objects.select_related("user", "discipline")}
    for email, provider_emails in TREATED_BY.items():
        for provider_email in provider_emails:
            if provider_email in providers and not AccessGrant.objects.filter(
                patient=patients[email], provider=providers[provider_email]
            ):
                grants.grant_access(
                    patient=patients[email],
                    provider=providers[provider_email],
                    reason="Demo data: the patient's treating clinician.",
                    actor=None,
                    channel="command",
                )
    disciplines = {d.code: d for d in Discipline.objects.all()}
    for email, referrer, code, receiver, reason, steps in REFERRALS:
        if referrer not in providers or code not in disciplines:
            continue
        if Referral.objects.filter(
            patient=patients[email], from_provider=providers[referrer], to_discipline__code=code
        ).exists():
            continue
        to_provider = providers.get(receiver) if receiver else None
        referral = referrals.create_referral(
            patient=patients[email],
            from_provider=providers[referrer],
            to_discipline=disciplines[code],
            to_provider=to_provider,
            reason=reason,
            channel="command",
        )
        for status in steps:
            referrals.change_referral_status(
                referral, status=status, actor=None, note="Demo data", channel="command"
            )
