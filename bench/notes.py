"""Visit notes through the staff API (``/api/v1/visit-notes/``), timed in-process.

Set-up (``populate``, not timed, on whatever database Django is set up for): a Toronto location,
one physiotherapist with a clinician login and three patients whose care is real: every visit
is completed with the system's ``completed`` event (``scheduling.access``), and each patient has
a care plan in rehabilitation the physiotherapist leads, with a precaution and a planned manual
therapy. Two of them already have 10 and 200 signed notes (one addendum on every fifth); the
third has one completed visit per timed run with no note yet.

Timed (``measure``), as that clinician (Django's test client: routing, DRF, the services, the
audit rows and JSON, without a socket):

1. the life of a note, once per fresh visit: start it with content (``POST``), autosave a draft
   (``PATCH``), sign it (``POST .../sign/``; its pain joins the plan's measures), add an addendum
   (``POST .../addenda/``); server time and SQL queries of each step;
2. the patient's notes list (``GET ?patient=&page_size=``) with 10 and 200 notes on the page:
   server time, time per note, SQL queries (which must be the same for both) and the audit rows
   it writes (one per note read, as every clinical list does).

Every answer's status is kept: anything but the expected 2xx breaks the run.
"""

import time
import uuid
from datetime import UTC, date, datetime, timedelta
from datetime import time as clock_time

from bench import planner, world
from bench.stats import counting_queries, repeat, summarize

PATH = "/api/v1/visit-notes/"
LIST_SIZES = (10, 200)
CONTENT = {
    "subjective": {"complaint": "Right knee sore after stairs", "pain": 4},
    "objective": {"findings": "Mild effusion, full extension"},
    "plan": {"interventions": ["manual_therapy"], "next_steps": "Review in one week"},
}
DRAFT = {**CONTENT, "subjective": {"complaint": "Right knee sore after stairs", "pain": 3}}
SIGNED_CONTENT = {"subjective": {"complaint": "Knee review", "pain": 3}}


def _visits(provider, location, service, patient, first: int, count: int) -> list:
    """``count`` completed 45-minute visits, one an hour (08:00-15:00 local) on the days
    before yesterday, from the ``first``-th hour back; each with the system's completed event."""
    from scheduling.models import Appointment, AppointmentEvent

    today = datetime.now(UTC).date()
    rows = []
    for n in range(first, first + count):
        day = today - timedelta(days=2 + n // 8)
        start = datetime.combine(day, clock_time(8 + n % 8), tzinfo=location.zone).astimezone(UTC)
        end = start + timedelta(minutes=45)
        reference = uuid.uuid4().hex[:12].upper()
        rows.append(
            Appointment(
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
            )
        )
    visits = Appointment.objects.bulk_create(rows, batch_size=1000)
    AppointmentEvent.objects.bulk_create(
        AppointmentEvent(appointment=a, kind=AppointmentEvent.Kind.COMPLETED) for a in visits
    )
    return visits


def _plan(patient, location, provider):
    """A care plan in rehabilitation led by ``provider``: a precaution and a planned act."""
    from plans.models import CarePlan, PlannedIntervention, Precaution

    plan = CarePlan.objects.create(
        patient=patient,
        location=location,
        title="Knee rehabilitation",
        phase=CarePlan.Phase.REHABILITATION,
        lead=provider,
    )
    Precaution.objects.create(
        plan=plan,
        tags=["deep_knee_flexion"],
        recorded_by=provider,
        recorded_at=datetime.now(UTC),
    )
    PlannedIntervention.objects.create(plan=plan, act="manual_therapy")
    return plan


def populate(runs: int) -> dict:
    """The clinician, the patients and their visits; returns what ``measure`` needs."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group

    from clinic import roles
    from patients.models import Patient
    from plans.models import NoteAddendum, VisitNote
    from plans.notes.templates import template_for
    from providers.models import Credential, Discipline, Provider

    location, service = world.location_and_service(
        "Notes bench", "notes-bench", "Physiotherapy treatment"
    )
    user = get_user_model().objects.create_user(username="bench-notes-physio", is_staff=True)
    user.groups.add(Group.objects.get(name=roles.CLINICIAN))
    provider = Provider.objects.create(
        display_name="Notes Bench PT",
        discipline=Discipline.objects.get(code="physiotherapist"),
        user=user,
    )
    provider.locations.add(location)
    Credential.objects.create(
        provider=provider,
        kind=Credential.Kind.LICENCE,
        number="NOTES-1",
        issuing_body="College of Physiotherapists of Ontario",
        jurisdiction="CA-ON",
        valid_from=date(2020, 1, 1),
    )
    template = template_for(provider.discipline)
    first = 0
    listed = {}
    for size in LIST_SIZES:
        patient = Patient.objects.create(
            first_name="Charted", last_name=f"{size} notes", email=f"notes.{size}@example.org"
        )
        plan = _plan(patient, location, provider)
        visits = _visits(provider, location, service, patient, first, size)
        first += size
        notes = VisitNote.objects.bulk_create(
            VisitNote(
                appointment=visit,
                patient=patient,
                author=provider,
                location=location,
                care_plan=plan,
                template=template,
                content=SIGNED_CONTENT,
                status=VisitNote.Status.SIGNED,
                visit_at=visit.start,
                signed_at=visit.end,
            )
            for visit in visits
        )
        NoteAddendum.objects.bulk_create(
            NoteAddendum(
                note=note, author=provider, text="Swelling settled.", signed_at=note.signed_at
            )
            for note in notes[::5]
        )
        listed[size] = patient.pk
    writer = Patient.objects.create(
        first_name="Charting", last_name="Today", email="notes.writing@example.org"
    )
    _plan(writer, location, provider)
    # Two warm-up cycles (one counted) before the timed ones.
    fresh = _visits(provider, location, service, writer, first, runs + 2)
    planner.analyze()
    return {"user": user, "listed": listed, "fresh": [v.pk for v in fresh]}


def measure(world: dict, runs: int) -> dict:
    """The write cycle's steps and the notes list at each size: server time, SQL queries,
    statuses (and the audit rows a list writes)."""
    from rest_framework.test import APIClient

    from clinic.models import AuditEvent

    client = APIClient()
    client.force_authenticate(world["user"])
    unexpected: list[str] = []

    def call(step: str, expect: int, method: str, path: str, body=None):
        response = getattr(client, method)(path, body, format="json")
        if response.status_code != expect:
            unexpected.append(f"{step}: {response.status_code} {response.content[:200]!r}")
        return response

    steps = ("start", "draft", "sign", "addendum")
    seconds: dict[str, list[float]] = {step: [] for step in steps}
    queries: dict[str, int] = {}

    def cycle(appointment_id: int, count: bool, timed: bool) -> None:
        note_url = ""
        for step in steps:
            method, path, body, expect = {
                "start": ("post", PATH, {"appointment": appointment_id, "content": CONTENT}, 201),
                "draft": ("patch", note_url, {"content": DRAFT}, 200),
                "sign": ("post", f"{note_url}sign/", None, 200),
                "addendum": ("post", f"{note_url}addenda/", {"text": "Patient called."}, 201),
            }[step]
            started = time.perf_counter()
            if count:
                with counting_queries() as captured:
                    response = call(step, expect, method, path, body)
                queries[step] = len(captured)
            else:
                response = call(step, expect, method, path, body)
            if timed:
                seconds[step].append(time.perf_counter() - started)
            if step == "start":
                if response.status_code != 201:
                    return
                note_url = f"{PATH}{response.json()['id']}/"

    fresh = list(world["fresh"])
    cycle(fresh.pop(0), count=False, timed=False)  # warm: the first request reads settings
    cycle(fresh.pop(0), count=True, timed=False)
    for appointment_id in fresh:
        cycle(appointment_id, count=False, timed=True)

    lists = []
    for size, patient_id in world["listed"].items():
        params = f"{PATH}?patient={patient_id}&page_size={size}"
        call("list", 200, "get", params)
        audited = AuditEvent.objects.count()
        with counting_queries() as captured:
            response = call("list", 200, "get", params)
        count = len(captured)
        audit_rows = AuditEvent.objects.count() - audited
        shown = len(response.json().get("results", [])) if response.status_code == 200 else 0
        timing = summarize(repeat(lambda p=params: call("list", 200, "get", p), runs=runs))
        lists.append(
            {
                "case": f"{size} notes on the page",
                "notes": size,
                "shown": shown,
                "queries": count,
                "audit_rows": audit_rows,
                "server": timing.as_dict(),
                "us_per_note": timing.p50 * 1000 / max(shown, 1),
            }
        )
    return {
        "write": {
            step: {"queries": queries.get(step), "server": summarize(seconds[step]).as_dict()}
            for step in steps
        },
        "list": lists,
        "unexpected": unexpected,
    }


def invariants_hold(notes: dict) -> bool:
    """Every answer as expected, each list shows and audits all its notes, and the list's
    queries do not grow with the notes."""
    ok = not notes["unexpected"]
    ok &= all(row["shown"] == row["notes"] == row["audit_rows"] for row in notes["list"])
    return ok and len({row["queries"] for row in notes["list"]}) == 1
