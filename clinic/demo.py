"""Demo data for the clinic app: settings, four locations with rooms, one staff user per role.

Every seeder in the project is idempotent: rows are found by natural keys and updated, so running
``seed_demo`` twice leaves the same rows.
"""

from dataclasses import dataclass, field
from datetime import date

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group

from clinic import roles
from clinic.models import ClinicSettings, Location, Room


@dataclass
class DemoContext:
    """Shared between the apps' seeders: the seed date and the logins to print at the end."""

    today: date
    logins: list[tuple[str, str, str]] = field(default_factory=list)  # (role, username, password)


LOCATIONS = [
    {
        "slug": "pickering",
        "name": "Pickering",
        "address_line": "1755 Pickering Pkwy",
        "city": "Pickering",
        "region": "ON",
        "postal_code": "L1V 6K5",
        "country": "CA",
        "phone": "+1 905 555 0140",
        "email": "pickering@clinic.example",
        "timezone": "America/Toronto",
        "jurisdiction": "CA-ON",
        "rooms": [
            ("Treatment 1", "treatment", 1),
            ("Treatment 2", "treatment", 1),
            ("Massage room", "massage", 1),
            ("Gym floor", "gym", 10),
        ],
    },
    {
        "slug": "milton",
        "name": "Milton",
        "address_line": "500 Main St E",
        "city": "Milton",
        "region": "ON",
        "postal_code": "L9T 3J2",
        "country": "CA",
        "phone": "+1 905 555 0170",
        "email": "milton@clinic.example",
        "timezone": "America/Toronto",
        "jurisdiction": "CA-ON",
        "rooms": [
            ("Treatment A", "treatment", 1),
            ("Massage A", "massage", 1),
            ("Massage B", "massage", 1),
            ("Studio", "gym", 8),
        ],
    },
    {
        "slug": "brooklyn",
        "name": "Brooklyn",
        "address_line": "210 Court St",
        "city": "Brooklyn",
        "region": "NY",
        "postal_code": "11201",
        "country": "US",
        "phone": "+1 718 555 0123",
        "email": "brooklyn@clinic.example",
        "timezone": "America/New_York",
        "jurisdiction": "US-NY",
        "currency": "USD",
        "rooms": [("Room 1", "treatment", 1), ("Room 2", "treatment", 1), ("Gym", "gym", 6)],
    },
    {
        "slug": "online",
        "name": "Online",
        "address_line": "",
        "city": "",
        "region": "ON",
        "postal_code": "",
        "country": "CA",
        "phone": "+1 905 555 0199",
        "email": "online@clinic.example",
        "timezone": "America/Toronto",
        "jurisdiction": "CA-ON",
        "is_virtual": True,
        "virtual_instructions": "Please be somewhere quiet a few minutes before the start.",
        "video_url": "https://video.clinic.example/room/online",
        "rooms": [("Virtual room", "virtual", 20)],
    },
]

STAFF = [
    (roles.MANAGER, "manager", "Morgan", "Manager", "demo-manager-pass"),
    (roles.FRONT_DESK, "frontdesk", "Frances", "Desk", "demo-frontdesk-pass"),
    (roles.CLINICIAN, "clinician", "Priya", "Physio", "demo-clinician-pass"),
]


def seed(ctx: DemoContext) -> None:
    ClinicSettings.objects.update_or_create(pk=1, defaults={"name": "Lakeshore Health & Motion"})
    for spec in LOCATIONS:
        spec = dict(spec)
        rooms = spec.pop("rooms")
        location, _ = Location.objects.update_or_create(slug=spec.pop("slug"), defaults=spec)
        for name, kind, capacity in rooms:
            Room.objects.update_or_create(
                location=location, name=name, defaults={"kind": kind, "capacity": capacity}
            )
    user_model = get_user_model()
    for role, username, first, last, password in STAFF:
        user, created = user_model.objects.get_or_create(
            username=username,
            defaults={
                "first_name": first,
                "last_name": last,
                "email": f"{username}@clinic.example",
                "is_staff": True,
            },
        )
        if created:
            user.set_password(password)
            user.save(update_fields=["password"])
        user.groups.add(Group.objects.get(name=role))
        ctx.logins.append((role, username, password))
