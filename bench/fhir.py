"""FHIR R4 reads (``/fhir/R4/``, docs/INTEROPERABILITY.md), timed in-process as a clinician.

Set-up (``populate``, not timed, on whatever database Django is set up for): a Toronto location
with 200 physiotherapists, each licensed, offering one 45-minute service and working Monday to
Friday 08:00-18:00 (200 Practitioners, PractitionerRoles and Schedules). The first of them has a
clinician login and real care of 201 patients: one regular patient seen ten times a day on each
of the last 30 days (300 completed visits, each with the system's ``completed`` event) and 200
others seen once before that, every patient with a care plan the physiotherapist leads (a
diagnosis, a goal, a precaution, a planned intervention).

Timed (``measure``), as that clinician through Django's test client (routing, authentication,
the handlers, R4B validation of every resource, the audit rows of clinical reads, JSON): each
read the API serves, and each search with Bundles of 10 and of 200 entries (``_count``): the
Patient read and search, Appointment searches for the regular patient and for the practitioner
over the last 30 days, Practitioner, PractitionerRole, Schedule (by location), Slot (the
practitioner's next 28 days), CarePlan, Location, HealthcareService and ``metadata``. For each:
server time, time per entry, SQL queries (a search must cost the same at 10 as at 200 entries)
and the audit rows written (one per clinical resource read, as the staff API does).
"""

import uuid
from datetime import UTC, date, datetime, timedelta
from datetime import time as clock_time

from bench import planner, world
from bench.stats import counting_queries, repeat, summarize

BASE = "/fhir/R4/"
PRACTITIONERS = 200
OTHER_PATIENTS = 200
REGULAR_DAYS = 30
REGULAR_PER_DAY = 10
BUNDLES = (10, 200)
AUDITED = {"Patient", "Appointment", "CarePlan"}


def _visit(patient, provider, location, service, start: datetime):
    from scheduling.models import Appointment

    reference = uuid.uuid4().hex[:12].upper()
    end = start + timedelta(minutes=45)
    return Appointment(
        reference=reference,
        patient=patient,
        provider=provider,
        service=service,
        location=location,
        start=start,
        end=end,
        blocked_start=start,
        blocked_end=end,
        slot_key=f"one:{reference}",
        status=Appointment.Status.COMPLETED,
        source=Appointment.Source.STAFF,
        reason="Knee pain on stairs",
    )


def _plans(patients, location, provider) -> None:
    from plans.models import CarePlan, Diagnosis, Goal, PlannedIntervention, Precaution

    now = datetime.now(UTC)
    plans = CarePlan.objects.bulk_create(
        CarePlan(
            patient=patient,
            location=location,
            title="Knee rehabilitation",
            phase=CarePlan.Phase.REHABILITATION,
            lead=provider,
            sessions_per_week=2,
            planned_weeks=6,
        )
        for patient in patients
    )
    Diagnosis.objects.bulk_create(
        Diagnosis(
            plan=plan,
            condition="Patellofemoral pain",
            body_region="knee",
            cause="injury",
            recorded_by=provider,
            recorded_at=now,
        )
        for plan in plans
    )
    Goal.objects.bulk_create(
        Goal(
            plan=plan,
            kind="pain",
            measure="pain",
            baseline=6,
            target=2,
            due_date=now.date() + timedelta(weeks=6),
        )
        for plan in plans
    )
    Precaution.objects.bulk_create(
        Precaution(plan=plan, tags=["deep_knee_flexion"], recorded_by=provider, recorded_at=now)
        for plan in plans
    )
    PlannedIntervention.objects.bulk_create(
        PlannedIntervention(plan=plan, act="manual_therapy") for plan in plans
    )


def populate() -> dict:
    """The directory, the clinician's patients, visits and plans; the ids ``measure`` needs."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group

    from clinic import roles
    from patients.models import Patient
    from providers.models import Credential, Discipline, Provider
    from scheduling.models import Appointment, AppointmentEvent, WeeklyAvailability
    from scheduling.services import create_offering

    location, service = world.location_and_service(
        "FHIR bench", "fhir-bench", "Physiotherapy treatment"
    )
    physio = Discipline.objects.get(code="physiotherapist")
    providers = Provider.objects.bulk_create(
        Provider(display_name=f"FHIR Bench PT {n:03d}", discipline=physio, email=f"f{n}@x.org")
        for n in range(PRACTITIONERS)
    )
    Credential.objects.bulk_create(
        Credential(
            provider=provider,
            kind=Credential.Kind.LICENCE,
            number=f"FHIR-{provider.pk}",
            issuing_body="College of Physiotherapists of Ontario",
            jurisdiction="CA-ON",
            valid_from=date(2020, 1, 1),
        )
        for provider in providers
    )
    location.providers.add(*providers)
    for provider in providers:
        create_offering(provider=provider, service=service, location=location)
    WeeklyAvailability.objects.bulk_create(
        WeeklyAvailability(
            provider=provider,
            location=location,
            weekday=weekday,
            start_time=clock_time(8),
            end_time=clock_time(18),
            valid_from=date(2020, 1, 1),
        )
        for provider in providers
        for weekday in range(5)
    )
    lead = providers[0]
    user = get_user_model().objects.create_user(username="bench-fhir-physio", is_staff=True)
    user.groups.add(Group.objects.get(name=roles.CLINICIAN))
    lead.user = user
    lead.save(update_fields=["user"])
    regular = Patient.objects.create(
        first_name="Regular", last_name="Visitor", email="fhir.regular@example.org"
    )
    others = Patient.objects.bulk_create(
        Patient(first_name="Treated", last_name=f"Patient {n:03d}", email=f"fhir.{n}@example.org")
        for n in range(OTHER_PATIENTS)
    )
    today = datetime.now(location.zone).date()
    month = (today - timedelta(days=REGULAR_DAYS), today)

    def at(day: date, hour: int) -> datetime:
        return datetime.combine(day, clock_time(hour), tzinfo=location.zone).astimezone(UTC)

    visits = [
        _visit(regular, lead, location, service, at(month[0] + timedelta(days=d), 8 + h))
        for d in range(REGULAR_DAYS)
        for h in range(REGULAR_PER_DAY)
    ]
    visits += [
        _visit(
            patient, lead, location, service, at(month[0] - timedelta(days=1 + n // 10), 8 + n % 10)
        )
        for n, patient in enumerate(others)
    ]
    visits = Appointment.objects.bulk_create(visits, batch_size=1000)
    AppointmentEvent.objects.bulk_create(
        (AppointmentEvent(appointment=a, kind=AppointmentEvent.Kind.COMPLETED) for a in visits),
        batch_size=1000,
    )
    _plans([regular, *others], location, lead)
    planner.analyze()
    return {
        "user": user,
        "location": location.pk,
        "service": service.pk,
        "service_code": service.code,
        "practitioner": lead.pk,
        "regular": regular.pk,
        "month": (month[0].isoformat(), month[1].isoformat()),
        "slots_from": (today + timedelta(days=1)).isoformat(),
        "slots_to": (today + timedelta(days=29)).isoformat(),
    }


def cases(world: dict) -> list[tuple[str, str, dict]]:
    """(label, path, query) of every read and search; searches get ``_count`` added."""
    first, last = world["month"]
    pid, lid = world["practitioner"], world["location"]
    schedule = f"Schedule/{pid}-{lid}"
    return [
        ("Patient read", f"Patient/{world['regular']}", {}),
        ("Patient search", "Patient", {}),
        (
            "Appointment search, one patient",
            "Appointment",
            {"patient": f"Patient/{world['regular']}"},
        ),
        (
            "Appointment search, one practitioner over 30 days",
            "Appointment",
            {"practitioner": f"Practitioner/{pid}", "date": [f"ge{first}", f"lt{last}"]},
        ),
        ("Practitioner read", f"Practitioner/{pid}", {}),
        ("Practitioner search", "Practitioner", {"name": "FHIR Bench"}),
        ("PractitionerRole read", f"PractitionerRole/{pid}", {}),
        ("PractitionerRole search", "PractitionerRole", {"location": f"Location/{lid}"}),
        ("Schedule read", f"{schedule}", {}),
        ("Schedule search, one location", "Schedule", {"actor": f"Location/{lid}"}),
        (
            "Slot search, one schedule over 28 days",
            "Slot",
            {
                "schedule": schedule,
                "service-type": world["service_code"],
                "start": [f"ge{world['slots_from']}", f"lt{world['slots_to']}"],
            },
        ),
        ("CarePlan search", "CarePlan", {}),
        ("Location read", f"Location/{lid}", {}),
        ("HealthcareService read", f"HealthcareService/{world['service']}", {}),
        ("metadata", "metadata", {}),
    ]


def measure(world: dict, runs: int) -> list[dict]:
    """Per case (and per Bundle size for searches): status, entries, queries, audit rows and
    server time."""
    from rest_framework.test import APIClient

    from clinic.models import AuditEvent

    client = APIClient()
    client.force_authenticate(world["user"])
    client.get(f"{BASE}metadata")  # warm: the process's first request reads its settings
    rows = []
    for label, path, query in cases(world):
        search = "/" not in path and path != "metadata"
        resource = path.split("/")[0]
        for size in BUNDLES if search else (None,):
            params = {**query, "_count": size} if size else query
            client.get(f"{BASE}{path}", params)
            audited = AuditEvent.objects.count()
            with counting_queries() as captured:
                response = client.get(f"{BASE}{path}", params)
            queries = len(captured)
            audit_rows = AuditEvent.objects.count() - audited
            body = response.json()
            entries = len(body.get("entry", [])) if search else int(response.status_code == 200)
            timing = summarize(
                repeat(lambda p=params, u=f"{BASE}{path}": client.get(u, p), runs=runs)
            )
            rows.append(
                {
                    "case": label,
                    "resource": resource,
                    "search": search,
                    "count": size,
                    "status": response.status_code,
                    "entries": entries,
                    "total": body.get("total"),
                    "queries": queries,
                    "audited": resource in AUDITED,
                    "audit_rows": audit_rows,
                    "server": timing.as_dict(),
                    "us_per_entry": timing.p50 * 1000 / max(entries, 1),
                }
            )
    return rows


def invariants_hold(rows: list[dict]) -> bool:
    """Every answer 200; a search fills its Bundle to ``_count`` and costs the same queries at
    10 as at 200 entries; every clinical resource read has its audit row (and only those)."""
    ok = all(row["status"] == 200 for row in rows)
    for row in rows:
        if row["search"]:
            ok &= row["entries"] == row["count"]
        ok &= row["audit_rows"] == (row["entries"] if row["audited"] else 0)
    by_case: dict[str, set[int]] = {}
    for row in rows:
        if row["search"]:
            by_case.setdefault(row["case"], set()).add(row["queries"])
    return bool(ok) and all(len(counts) == 1 for counts in by_case.values())
