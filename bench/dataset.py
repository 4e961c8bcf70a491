"""The scaled clinic: three Toronto locations with 5, 20 and 50 physiotherapists offering one
45-minute service, Monday to Friday 09:00-17:00, with calendars 60% booked for eight weeks.

Each working day has ten 45-minute cells (09:00 to 16:30); six of them, chosen by a seeded random
generator, hold an appointment, so the free time is scattered the way a real diary's is. The same
calendar (working hours and bookings of one provider) is exported for the peer, which rebuilds it
in its own models.

Set-up writes with ``bulk_create`` where the product's services would only add minutes of set-up
time; offerings still go through ``create_offering`` (the scope check) and consents through
``record_consents``. Nothing is measured here.
"""

import json
import random
import uuid
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

CELL_MINUTES = 45
CELLS_PER_DAY = 10
BOOKED_CELLS = 6
DAY_START = time(9, 0)
DAY_END = time(17, 0)
WEEKS = 8
SEED = 20261124


@dataclass
class Clinic:
    """Ids the measurements need (plain values, so they can be passed to other processes)."""

    service_id: int
    locations: dict[int, int]  # providers at the location -> location id
    providers: dict[int, list[int]]  # providers at the location -> their ids
    first_day: date
    timezone: str
    appointments: int = 0
    peer_calendar: dict = field(default_factory=dict)

    def days(self, weeks: int) -> tuple[date, date]:
        """The local date range of a search of ``weeks`` weeks (a month is 30 days)."""
        return self.first_day, self.first_day + timedelta(days=weeks * 7 - 1)

    def month(self) -> tuple[date, date]:
        return self.first_day, self.first_day + timedelta(days=29)

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(asdict(self), default=str))

    @classmethod
    def load(cls, path: Path) -> "Clinic":
        data = json.loads(path.read_text())
        data["first_day"] = date.fromisoformat(data["first_day"])
        data["locations"] = {int(k): v for k, v in data["locations"].items()}
        data["providers"] = {int(k): v for k, v in data["providers"].items()}
        return cls(**data)


def booked_cells(provider_index: int, day: date) -> list[int]:
    rng = random.Random(f"{SEED}:{provider_index}:{day.isoformat()}")
    return sorted(rng.sample(range(CELLS_PER_DAY), BOOKED_CELLS))


def cell_start(day: date, cell: int) -> time:
    minutes = DAY_START.hour * 60 + DAY_START.minute + cell * CELL_MINUTES
    return time(minutes // 60, minutes % 60)


def build(sizes: tuple[int, ...] = (5, 20, 50), weeks: int = WEEKS) -> Clinic:
    """Create the clinic in the (freshly migrated) bench database."""
    from django.db import transaction

    from clinic.models import Location
    from patients.models import Patient
    from patients.services import record_consents
    from providers.models import Act, Credential, Discipline, Provider
    from scheduling.models import Appointment, Service, WeeklyAvailability
    from scheduling.services import create_offering

    physio = Discipline.objects.get(code="physiotherapist")
    service = Service.objects.create(
        code="bench-follow-up",
        name="Physiotherapy follow-up",
        description="Benchmark service.",
        duration_minutes=CELL_MINUTES,
        price="95.00",
    )
    service.required_acts.set(Act.objects.filter(code__in=["diagnose", "manual_therapy"]))
    today = datetime.now(UTC).date()
    first_day = today + timedelta(days=1)
    clinic = Clinic(service.pk, {}, {}, first_day, "America/Toronto")
    index = 0
    appointments: list[Appointment] = []
    for size in sizes:
        location = Location.objects.create(
            name=f"Bench {size}",
            slug=f"bench-{size}",
            address_line="1 Bench Rd",
            city="Toronto",
            timezone=clinic.timezone,
            jurisdiction="CA-ON",
            email=f"bench{size}@clinic.example",
        )
        clinic.locations[size] = location.pk
        clinic.providers[size] = []
        for n in range(size):
            index += 1
            provider = Provider.objects.create(
                display_name=f"Bench PT {size}-{n + 1:02d}",
                discipline=physio,
                email=f"pt{size}-{n}@clinic.example",
            )
            provider.locations.set([location])
            Credential.objects.create(
                provider=provider,
                kind=Credential.Kind.LICENCE,
                number=f"BENCH-{index}",
                issuing_body="College of Physiotherapists of Ontario",
                jurisdiction="CA-ON",
                valid_from=today - timedelta(days=365),
            )
            create_offering(provider=provider, service=service, location=location)
            WeeklyAvailability.objects.bulk_create(
                WeeklyAvailability(
                    provider=provider,
                    location=location,
                    weekday=weekday,
                    start_time=DAY_START,
                    end_time=DAY_END,
                    valid_from=today - timedelta(days=30),
                )
                for weekday in range(5)
            )
            clinic.providers[size].append(provider.pk)
            patients = Patient.objects.bulk_create(
                Patient(
                    first_name="Bench",
                    last_name=f"Patient {index}-{cell}",
                    email=f"bench.{index}.{cell}@example.org",
                    status=Patient.Status.ACTIVE,
                )
                for cell in range(CELLS_PER_DAY)
            )
            for patient in patients:
                record_consents(patient, choices={"reminders": True}, source="staff")
            calendar = []
            for offset in range(weeks * 7):
                day = first_day + timedelta(days=offset)
                if day.weekday() >= 5:
                    continue
                for cell in booked_cells(index, day):
                    local = datetime.combine(day, cell_start(day, cell), tzinfo=location.zone)
                    start = local.astimezone(UTC)
                    end = start + timedelta(minutes=CELL_MINUTES)
                    reference = uuid.uuid4().hex[:12].upper()
                    appointments.append(
                        Appointment(
                            reference=reference,
                            patient=patients[cell],
                            provider=provider,
                            service=service,
                            location=location,
                            start=start,
                            end=end,
                            blocked_start=start,
                            blocked_end=end,
                            slot_key=f"one:{reference}",
                            status=Appointment.Status.BOOKED,
                        )
                    )
                    calendar.append((day.isoformat(), local.time().isoformat()))
            if size == 20 and n == 0:
                clinic.peer_calendar = {"provider": provider.pk, "appointments": calendar}
    with transaction.atomic():
        Appointment.objects.bulk_create(appointments, batch_size=2000)
    clinic.appointments = len(appointments)
    return clinic
