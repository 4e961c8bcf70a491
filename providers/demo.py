"""Demo providers for ``seed_demo``: each one shows a scope rule at work.

- Priya (the ``clinician`` login) is a physiotherapist at Pickering, licensed in CA-ON and US-NY,
  endorsed for dry needling in CA-ON (and refused it in Brooklyn, where US-NY forbids it).
- Daniel's licence ends ten days after the seed date: bookings after that are refused.
- Sam is licensed only in CA-ON but works in Brooklyn too: refused there (other jurisdiction).
- Massage therapists, an exercise therapist, two trainers and a chiropractor fill the locations.

Idempotent: providers are found by e-mail, credentials by (provider, number), users by username.
"""

from datetime import date, timedelta

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group

from clinic import roles
from clinic.demo import DemoContext
from clinic.models import Location
from providers.catalog import load_catalog
from providers.models import Act, Credential, Discipline, Provider

LICENCE = Credential.Kind.LICENCE
REGISTRATION = Credential.Kind.REGISTRATION
CERTIFICATION = Credential.Kind.CERTIFICATION

# (username, password) of extra clinician logins, by provider e-mail
LOGINS = {
    "priya.patel@clinic.example": ("clinician", None),  # created by clinic/demo.py
    "jordan.blake@clinic.example": ("trainer", "demo-trainer-pass"),
    "aisha.rahman@clinic.example": ("extherapist", "demo-extherapist-pass"),
}


def _providers(today: date) -> list[dict]:
    """Each credential: (kind, number, issuing body, jurisdiction, valid_from, valid_until,
    endorsements)."""
    years_ago = today - timedelta(days=3 * 365)
    return [
        {
            "email": "priya.patel@clinic.example",
            "display_name": "Priya Patel, PT",
            "discipline": "physiotherapist",
            "bio": "Sports and running injuries; dry needling for stubborn trigger points.",
            "locations": ["pickering", "brooklyn", "online"],
            "credentials": [
                (
                    LICENCE,
                    "ON-PT-10482",
                    "College of Physiotherapists of Ontario",
                    "CA-ON",
                    years_ago,
                    None,
                    ["dry_needling"],
                ),
                (LICENCE, "NY-PT-031977", "NYS Education Department", "US-NY", years_ago, None, []),
            ],
        },
        {
            "email": "daniel.okafor@clinic.example",
            "display_name": "Daniel Okafor, PT",
            "discipline": "physiotherapist",
            "bio": "Post-surgical knee and shoulder rehabilitation.",
            "locations": ["milton", "pickering"],
            "credentials": [
                (
                    LICENCE,
                    "ON-PT-20871",
                    "College of Physiotherapists of Ontario",
                    "CA-ON",
                    years_ago,
                    today + timedelta(days=10),
                    [],
                ),
            ],
        },
        {
            "email": "sam.rivera@clinic.example",
            "display_name": "Sam Rivera, PT",
            "discipline": "physiotherapist",
            "bio": "Back pain, posture and return to work.",
            "locations": ["milton", "brooklyn"],
            "credentials": [
                (
                    LICENCE,
                    "ON-PT-31550",
                    "College of Physiotherapists of Ontario",
                    "CA-ON",
                    years_ago,
                    None,
                    [],
                ),
            ],
        },
        {
            "email": "mei.chen@clinic.example",
            "display_name": "Mei Chen, RMT",
            "discipline": "massage_therapist",
            "bio": "Deep tissue and sports massage.",
            "locations": ["pickering"],
            "credentials": [
                (
                    REGISTRATION,
                    "ON-RMT-7731",
                    "College of Massage Therapists of Ontario",
                    "CA-ON",
                    years_ago,
                    None,
                    [],
                ),
            ],
        },
        {
            "email": "lucas.moreau@clinic.example",
            "display_name": "Lucas Moreau, RMT",
            "discipline": "massage_therapist",
            "bio": "Swedish massage for relaxation and tension relief.",
            "locations": ["milton", "brooklyn"],
            "credentials": [
                (
                    REGISTRATION,
                    "ON-RMT-8120",
                    "College of Massage Therapists of Ontario",
                    "CA-ON",
                    years_ago,
                    None,
                    [],
                ),
                (LICENCE, "NY-LMT-55102", "NYS Education Department", "US-NY", years_ago, None, []),
            ],
        },
        {
            "email": "aisha.rahman@clinic.example",
            "display_name": "Aisha Rahman",
            "discipline": "exercise_therapist",
            "bio": "Safe exercise for diabetes, heart disease and chronic pain.",
            "locations": ["pickering", "online"],
            "credentials": [
                (
                    CERTIFICATION,
                    "CET-4410",
                    "Canadian Society for Exercise Physiology",
                    "",
                    years_ago,
                    None,
                    [],
                ),
            ],
        },
        {
            "email": "jordan.blake@clinic.example",
            "display_name": "Jordan Blake",
            "discipline": "personal_trainer",
            "bio": "Strength, stamina and small-group classes.",
            "locations": ["pickering", "milton", "online"],
            "credentials": [
                (CERTIFICATION, "NSCA-CPT-88213", "NSCA", "", years_ago, None, []),
            ],
        },
        {
            "email": "chris.novak@clinic.example",
            "display_name": "Chris Novak",
            "discipline": "personal_trainer",
            "bio": "Cardio, mobility and weight-loss coaching.",
            "locations": ["brooklyn"],
            "credentials": [
                (
                    CERTIFICATION,
                    "ACE-PT-60417",
                    "American Council on Exercise",
                    "",
                    years_ago,
                    None,
                    [],
                ),
            ],
        },
        {
            "email": "elena.rossi@clinic.example",
            "display_name": "Dr. Elena Rossi, DC",
            "discipline": "chiropractor",
            "bio": "Neck and low-back pain; free phone consults.",
            "locations": ["milton"],
            "credentials": [
                (
                    LICENCE,
                    "ON-DC-5530",
                    "College of Chiropractors of Ontario",
                    "CA-ON",
                    years_ago,
                    None,
                    [],
                ),
            ],
        },
    ]


def _user(username: str, password: str | None, provider_name: str, ctx: DemoContext):
    user_model = get_user_model()
    first, _, last = provider_name.split(",")[0].partition(" ")
    user, created = user_model.objects.get_or_create(
        username=username,
        defaults={
            "first_name": first,
            "last_name": last,
            "email": f"{username}@clinic.example",
            "is_staff": True,
        },
    )
    if created and password:
        user.set_password(password)
        user.save(update_fields=["password"])
    user.groups.add(Group.objects.get(name=roles.CLINICIAN))
    if password:
        ctx.logins.append((roles.CLINICIAN, username, password))
    return user


def seed(ctx: DemoContext) -> None:
    if not Discipline.objects.exists():
        load_catalog()
    disciplines = {d.code: d for d in Discipline.objects.all()}
    acts = {a.code: a for a in Act.objects.all()}
    locations = {loc.slug: loc for loc in Location.objects.all()}
    for spec in _providers(ctx.today):
        user = None
        if spec["email"] in LOGINS:
            username, password = LOGINS[spec["email"]]
            user = _user(username, password, spec["display_name"], ctx)
        provider, _ = Provider.objects.update_or_create(
            email=spec["email"],
            defaults={
                "display_name": spec["display_name"],
                "discipline": disciplines[spec["discipline"]],
                "bio": spec["bio"],
                "user": user,
                "is_active": True,
            },
        )
        provider.locations.set([locations[slug] for slug in spec["locations"]])
        for kind, number, body, jurisdiction, valid_from, valid_until, endorsed in spec[
            "credentials"
        ]:
            credential, _ = Credential.objects.update_or_create(
                provider=provider,
                number=number,
                defaults={
                    "kind": kind,
                    "issuing_body": body,
                    "jurisdiction": jurisdiction,
                    "valid_from": valid_from,
                    "valid_until": valid_until,
                    "status": Credential.Status.ACTIVE,
                },
            )
            credential.endorsements.set([acts[code] for code in endorsed])
