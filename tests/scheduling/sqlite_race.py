"""Helper processes for the SQLite race test (``test_sqlite_race.py``).

The test database of a normal run is in-memory and shared between threads, so it cannot show
what two real processes do to one SQLite file. The test runs this module as separate Python
processes, each with ``DATABASE_URL`` pointing at the same file and its own connection:

    python -m tests.scheduling.sqlite_race setup <db file>           -> JSON booking body
    python -m tests.scheduling.sqlite_race book <db file> <body> <n> <go file>  -> JSON outcome

``book`` finishes Django's start-up, leaves ``<go file>.<n>.ready`` and waits for the go file, so
every process sends its request at the same instant.
"""

import json
import sys
import time
from pathlib import Path

import django

PROBLEM = "https://clinic-backend.dev/problems/"


def setup(db_file: str) -> dict:
    """Migrate the file database and seed one bookable physiotherapy slot a week ahead."""
    from django.core.management import call_command

    call_command("migrate", verbosity=0, interactive=False)

    from tests.factories.clinic import LocationFactory
    from tests.factories.providers import ProviderFactory, ensure_scope_catalog
    from tests.factories.scheduling import ServiceFactory, offer, weekly_hours
    from tests.scheduling.conftest import local, next_week

    ensure_scope_catalog()
    location = LocationFactory(slug="pickering", name="Pickering")
    service = ServiceFactory(code="assessment", acts=["diagnose"])
    physio = ProviderFactory(display_name="Race Physio", locations=[location])
    offer(physio, service, location)
    weekly_hours(physio, location)
    return {
        "service": service.pk,
        "location": location.pk,
        "provider": physio.pk,
        "start": local(next_week(), "10:00").isoformat(),
        "consent": {"reminders": True},
        "reason": "Shoulder pain",
    }


def book(body: dict, n: int, go_file: str) -> dict:
    """POST the booking as patient ``n`` once the go file appears."""
    from django.db import connection
    from rest_framework.test import APIClient

    client = APIClient()
    connection.ensure_connection()
    body = {
        **body,
        "patient": {
            "first_name": "Race",
            "last_name": f"Runner {n}",
            "email": f"racer{n}@example.org",
            "phone": "+1 905 555 0100",
            "date_of_birth": "1985-02-03",
        },
    }
    Path(f"{go_file}.{n}.ready").touch()
    deadline = time.monotonic() + 120
    while not Path(go_file).exists() and time.monotonic() < deadline:
        time.sleep(0.005)
    try:
        response = client.post("/api/v1/public/bookings/", body, format="json")
        slug = response.json().get("type", "").removeprefix(PROBLEM)
        return {"status": response.status_code, "slug": slug}
    except Exception as exc:  # a crash inside the view is the 500 it would be in production
        return {"status": 500, "slug": repr(exc)}


def main(argv: list[str]) -> None:
    django.setup()
    command = argv[1]
    if command == "setup":
        print(json.dumps(setup(argv[2])))
    elif command == "book":
        print(json.dumps(book(json.loads(argv[3]), int(argv[4]), argv[5])))
    else:
        raise SystemExit(f"unknown command {command!r}")


if __name__ == "__main__":
    main(sys.argv)
