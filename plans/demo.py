"""Demo data for care plans: the exercise library and plans in every phase, for the demo
patients and providers (found by e-mail):

- Nikola Tesla: a post-surgical knee in rehabilitation with Daniel Okafor (Milton);
- Emmy Noether: low back pain handed over to the trainer Jordan Blake (Online) under a
  precaution on loaded spinal flexion; Jordan has evolved the program within it;
- Rosalind Franklin: knee osteoarthritis handed to the exercise therapist Aisha Rahman with
  every goal met;
- Alan Turing: a hamstring strain handed to Jordan, referred back to physiotherapy when numbness
  appeared (a red flag);
- Ada Lovelace: a shoulder in rehabilitation; Hedy Lamarr: an assessment in Brooklyn (US-NY);
  Katherine Johnson: a discharged ankle plan.

Every plan is built through ``plans.services`` at past times, so its history reads as a real
one. Idempotent: the library is upserted by slug; a plan found by (patient, title) is left alone.
"""

from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from clinic.demo import DemoContext
from clinic.models import Location
from patients.models import Patient
from patients.services import match_or_create_patient, record_consents
from plans import services
from plans.library import EXERCISES
from plans.models import CarePlan, Exercise
from plans.notes.templates import load_templates
from providers.models import Provider

PRIYA = "priya.patel@clinic.example"
DANIEL = "daniel.okafor@clinic.example"
SAM = "sam.rivera@clinic.example"
JORDAN = "jordan.blake@clinic.example"
AISHA = "aisha.rahman@clinic.example"


def _dose(sets: int, reps: int | None = None, per_week: int = 3, **extra: Any) -> dict:
    return {"sets": sets, "reps": reps, "times_per_week": per_week, **extra}


# Each story: who, where, and what happened, in days before the seed date.
STORIES: list[dict[str, Any]] = [
    {
        "patient": ("nikola.tesla@example.org", "Nikola", "Tesla"),
        "location": "milton",
        "lead": DANIEL,
        "title": "Right total knee replacement",
        "start": 35,
        "diagnosis": ("Right total knee arthroplasty", "knee", "post_surgical"),
        "precautions": [
            (["impact", "deep_knee_flexion"], "New joint: no jumping or kneeling for 12 weeks")
        ],
        "goals": [
            ("rom", "Knee flexion", 80, 115, 42),
            ("psfs", "Climbing stairs", 2, 8, 42),
        ],
        "interventions": [
            ("manual_therapy", "Patellar and tibiofemoral mobilisation"),
            ("therapeutic_exercise", ""),
        ],
        "frequency": (2, 10),
        "program": [
            (35, "quad-sets", _dose(3, 10, 14, hold_seconds=5)),
            (35, "heel-slides", _dose(2, 15, 14)),
            (28, "straight-leg-raise", _dose(3, 10, 7)),
            (14, "stationary-bike", _dose(1, None, 5, hold_seconds=600, notes="No resistance yet")),
        ],
        "measures": [
            (35, "rom", "Knee flexion", 80),
            (35, "psfs", "Climbing stairs", 2),
            (35, "pain", "pain", 6),
            (21, "rom", "Knee flexion", 95),
            (21, "pain", "pain", 4),
            (7, "rom", "Knee flexion", 105),
            (7, "psfs", "Climbing stairs", 6),
            (7, "pain", "pain", 3),
        ],
    },
    {
        "patient": ("emmy.noether@example.org", "Emmy", "Noether"),
        "location": "online",
        "lead": PRIYA,
        "title": "Low back pain, return to lifting",
        "start": 70,
        "diagnosis": ("Non-specific chronic low back pain", "lumbar_spine", "chronic"),
        "precautions": [
            (["loaded_spinal_flexion"], "Irritable disc: hinge at the hips, spine neutral")
        ],
        "goals": [("pain", "pain", 6, 2, 0), ("psfs", "Lifting groceries", 3, 8, 0)],
        "interventions": [("posture_correction", "Lifting mechanics at home and work")],
        "frequency": (1, 8),
        "program": [
            (70, "pelvic-tilt", _dose(2, 12, 7)),
            (56, "bird-dog", _dose(3, 8, 5, hold_seconds=5)),
        ],
        "measures": [
            (70, "pain", "pain", 6),
            (70, "psfs", "Lifting groceries", 3),
            (42, "pain", "pain", 4),
            (28, "pain", "pain", 2),
            (21, "pain", "pain", 1),
            (21, "psfs", "Lifting groceries", 8),
        ],
        "handover": (21, JORDAN, ""),
        "owner_program": [
            (20, "glute-bridge", _dose(3, 12)),
            (20, "dead-bug", _dose(3, 10)),
            (
                20,
                "brisk-walk",
                _dose(1, None, 5, hold_seconds=600, notes="Build up to 30 minutes over two weeks"),
            ),
        ],
        "owner_changes": [(7, "glute-bridge", {"sets": 4, "load": "10 kg plate on the hips"})],
        "owner_measures": [(7, "pain", "pain", 1)],
    },
    {
        "patient": ("rosalind.franklin@example.org", "Rosalind", "Franklin"),
        "location": "pickering",
        "lead": PRIYA,
        "title": "Knee osteoarthritis",
        "start": 84,
        "diagnosis": ("Osteoarthritis of both knees", "knee", "chronic"),
        "precautions": [(["impact"], "Low-impact cardio only")],
        "goals": [
            ("psfs", "Walking 30 minutes", 4, 8, -14),
            ("rom", "Knee flexion", 100, 120, -14),
        ],
        "frequency": (1, 6),
        "program": [(84, "mini-squat", _dose(3, 10)), (84, "calf-raise", _dose(3, 15))],
        "measures": [
            (84, "psfs", "Walking 30 minutes", 4),
            (84, "rom", "Knee flexion", 100),
            (35, "psfs", "Walking 30 minutes", 8),
            (35, "rom", "Knee flexion", 122),
        ],
        "handover": (34, AISHA, ""),
        "owner_program": [
            (30, "stationary-bike", _dose(1, None, 4, hold_seconds=600)),
            (30, "step-up", _dose(3, 8)),
        ],
    },
    {
        "patient": ("alan.turing@example.org", "Alan", "Turing"),
        "location": "milton",
        "lead": SAM,
        "title": "Left hamstring strain",
        "start": 60,
        "diagnosis": ("Grade I left hamstring strain", "hip", "injury"),
        "goals": [("psfs", "Running 5 km", 2, 8, -7)],
        "program": [
            (60, "glute-bridge", _dose(3, 10)),
            (45, "hamstring-stretch-supine", _dose(3, None, 7, hold_seconds=30)),
        ],
        "measures": [(60, "psfs", "Running 5 km", 2), (30, "psfs", "Running 5 km", 8)],
        "handover": (28, JORDAN, ""),
        "owner_program": [
            (27, "forward-lunge", _dose(3, 10)),
            (27, "jogging", _dose(1, None, 3, hold_seconds=600)),
        ],
        "refer_back": (
            3,
            "Numbness in the left foot during lunges; stopped the session.",
            None,
            True,
        ),
    },
    {
        "patient": ("ada.lovelace@example.org", "Ada", "Lovelace"),
        "location": "pickering",
        "lead": PRIYA,
        "title": "Right shoulder impingement",
        "start": 21,
        "diagnosis": ("Subacromial pain syndrome, right shoulder", "shoulder", "injury"),
        "precautions": [
            (
                ["overhead_pressing", "end_range_shoulder_rotation"],
                "Keep the arm below shoulder height",
            )
        ],
        "goals": [("rom", "Shoulder flexion", 110, 160, 35), ("pain", "pain", 5, 1, 35)],
        "interventions": [
            ("manual_therapy", "Glenohumeral mobilisation"),
            ("dry_needling", "Infraspinatus trigger points"),
        ],
        "frequency": (2, 6),
        "program": [
            (21, "pendulum", _dose(2, 20, 14)),
            (14, "band-external-rotation", _dose(3, 12, 5, load="yellow band")),
            (14, "band-row", _dose(3, 12)),
        ],
        "measures": [
            (21, "rom", "Shoulder flexion", 110),
            (21, "pain", "pain", 5),
            (7, "rom", "Shoulder flexion", 135),
            (7, "pain", "pain", 3),
        ],
    },
    {
        "patient": ("hedy.lamarr@example.org", "Hedy", "Lamarr"),
        "location": "brooklyn",
        "lead": PRIYA,
        "title": "Neck pain with desk work",
        "start": 1,
        "diagnosis": ("Mechanical neck pain", "neck", "chronic"),
        "rehab": False,
        "measures": [(1, "pain", "pain", 5), (1, "psfs", "Working at the computer 2 h", 4)],
    },
    {
        "patient": ("katherine.johnson@example.org", "Katherine", "Johnson"),
        "location": "pickering",
        "lead": PRIYA,
        "title": "Left ankle sprain",
        "start": 90,
        "diagnosis": ("Lateral ankle sprain, grade II", "ankle_foot", "injury"),
        "precautions": [(["impact"], "No running until single-leg balance is steady")],
        "goals": [("psfs", "Walking 30 minutes", 3, 9, -30)],
        "program": [
            (90, "ankle-alphabet", _dose(2, 1, 14)),
            (75, "single-leg-stance", _dose(3, None, 7, hold_seconds=30)),
        ],
        "measures": [(90, "psfs", "Walking 30 minutes", 3), (45, "psfs", "Walking 30 minutes", 9)],
        "close": (44, "discharged", "Back to walking and light jogging."),
    },
]


def seed_library() -> dict[str, Exercise]:
    """Upsert the starter library; an unchanged exercise is not written again."""
    existing = {e.slug: e for e in Exercise.objects.all()}
    library = {}
    for slug, name, region, category, tags, instructions in EXERCISES:
        values = {
            "name": name,
            "body_region": str(region),
            "category": str(category),
            "tags": [str(tag) for tag in tags],
            "instructions": instructions,
        }
        exercise = existing.get(slug)
        if exercise is None:
            exercise = Exercise.objects.create(slug=slug, **values)
        elif any(getattr(exercise, name) != value for name, value in values.items()):
            for name, value in values.items():
                setattr(exercise, name, value)
            exercise.save()
        library[slug] = exercise
    return library


def _patient(spec: tuple[str, str, str], location: Location) -> Patient:
    """The demo patient (seeded by ``patients.demo``), or a new one when that app seeded none."""
    email, first, last = spec
    patient, created = match_or_create_patient(
        first_name=first, last_name=last, email=email, preferred_location=location
    )
    if created:
        Patient.objects.filter(pk=patient.pk).update(status=Patient.Status.ACTIVE)
        record_consents(patient, choices={"reminders": True, "care_plans": True}, source="staff")
    return patient


class _Story:
    """Replays one plan's story at past times through the services."""

    def __init__(self, ctx: DemoContext, library, providers, locations, spec: dict):
        self.today: date = ctx.today
        self.library = library
        self.providers = providers
        self.spec = spec
        self.location = locations[spec["location"]]
        self.lead_provider = providers[spec["lead"]]
        self.lead = services.Actor(self.lead_provider, self.lead_provider.user)

    def at(self, days_ago: int, hour: int = 15) -> datetime:
        return datetime.combine(self.today - timedelta(days=days_ago), time(hour), tzinfo=UTC)

    def prescribe(self, plan, actor, items) -> None:
        for days_ago, slug, dosage in items:
            services.prescribe_exercise(
                plan, actor=actor, exercise=self.library[slug], at=self.at(days_ago), **dosage
            )

    def measure(self, plan, actor, items) -> None:
        for days_ago, kind, label, value in items:
            services.record_outcome(
                plan, actor=actor, kind=kind, label=label, value=value, at=self.at(days_ago, 16)
            )

    def run(self) -> None:
        spec, lead = self.spec, self.lead
        start = self.at(spec["start"], 14)
        plan = services.create_plan(
            actor=services.Actor(lead.provider, None),  # the seed opens it: nobody's access rule
            patient=_patient(spec["patient"], self.location),
            location=self.location,
            title=spec["title"],
            lead=self.lead_provider,
            at=start,
        )
        condition, region, cause = spec["diagnosis"]
        services.record_diagnosis(
            plan, actor=lead, condition=condition, body_region=region, cause=cause, at=start
        )
        for tags, note in spec.get("precautions", []):
            services.add_precaution(plan, actor=lead, tags=tags, note=note, at=start)
        for kind, measure, baseline, target, due_in in spec.get("goals", []):
            services.add_goal(
                plan,
                actor=lead,
                kind=kind,
                measure=measure,
                baseline=baseline,
                target=target,
                due_date=self.today + timedelta(days=due_in),
                at=start,
            )
        for act, description in spec.get("interventions", []):
            services.add_intervention(plan, actor=lead, act=act, description=description, at=start)
        if "frequency" in spec:
            per_week, weeks = spec["frequency"]
            services.set_session_frequency(
                plan, actor=lead, sessions_per_week=per_week, planned_weeks=weeks, at=start
            )
        if not spec.get("rehab", True):
            self.measure(plan, lead, spec.get("measures", []))
            return
        services.start_rehabilitation(plan, actor=lead, at=self.at(spec["start"]))
        self.prescribe(plan, lead, spec.get("program", []))
        self.measure(plan, lead, spec.get("measures", []))
        if "handover" in spec:
            self._maintenance(plan)
        if "close" in spec:
            days_ago, reason, note = spec["close"]
            services.close_plan(plan, actor=lead, reason=reason, note=note, at=self.at(days_ago))

    def _maintenance(self, plan: CarePlan) -> None:
        spec = self.spec
        days_ago, owner_email, override = spec["handover"]
        owner_provider = self.providers[owner_email]
        owner = services.Actor(owner_provider, owner_provider.user)
        services.move_to_maintenance(
            plan,
            actor=self.lead,
            owner=owner_provider,
            override_reason=override,
            at=self.at(days_ago, 17),
        )
        self.prescribe(plan, owner, spec.get("owner_program", []))
        for days, slug, changes in spec.get("owner_changes", []):
            current = plan.prescriptions.get(exercise__slug=slug, is_active=True)
            services.change_prescription(current, actor=owner, at=self.at(days), **changes)
        self.measure(plan, owner, spec.get("owner_measures", []))
        if "refer_back" in spec:
            days, reason, pain, red_flag = spec["refer_back"]
            services.refer_back(
                plan, actor=owner, reason=reason, pain=pain, red_flag=red_flag, at=self.at(days)
            )


def seed(ctx: DemoContext) -> None:
    library = seed_library()
    load_templates()  # visit-note templates per discipline (missing ones only)
    providers = {p.email: p for p in Provider.objects.select_related("user")}
    locations = {loc.slug: loc for loc in Location.objects.all()}
    for spec in STORIES:
        needed = {spec["lead"], spec.get("handover", (0, spec["lead"], ""))[1]}
        if not needed <= set(providers) or spec["location"] not in locations:
            continue
        email = spec["patient"][0]
        if CarePlan.objects.filter(patient__email__iexact=email, title=spec["title"]).exists():
            continue
        _Story(ctx, library, providers, locations, spec).run()
