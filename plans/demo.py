"""Demo data for care plans: the exercise library and plans in every phase.

- a post-surgical knee in rehabilitation (Pickering, Priya Patel);
- a low-back case handed over to a trainer (Jordan Blake) with a precaution on loaded spinal
  flexion, who evolves the program within it;
- a shoulder handed to an exercise therapist (Aisha Rahman) and referred back when pain rose;
- a fresh assessment, and a closed (discharged) ankle plan.

Plans are built through ``plans.services`` so their history reads as a real one. Idempotent:
the library is upserted by slug; a plan found by (patient, title) is left as it is.
"""

from datetime import UTC, datetime, time, timedelta

from clinic.demo import DemoContext
from clinic.models import Location
from patients.models import Patient
from patients.services import match_or_create_patient, record_consents
from plans import services
from plans.library import EXERCISES
from plans.models import CarePlan, Exercise
from providers.models import Provider

# (e-mail, first name, last name, consents to e-mailed exercise plans)
PATIENTS = {
    "knee": ("olivia.tremblay@example.org", "Olivia", "Tremblay", True),
    "back": ("marcus.singh@example.org", "Marcus", "Singh", True),
    "shoulder": ("grace.obrien@example.org", "Grace", "O'Brien", False),
    "hip": ("henry.nakamura@example.org", "Henry", "Nakamura", True),
    "ankle": ("sofia.alvarez@example.org", "Sofia", "Alvarez", True),
}


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


def _patient(key: str, location: Location) -> Patient:
    email, first, last, consents = PATIENTS[key]
    patient, created = match_or_create_patient(
        first_name=first, last_name=last, email=email, preferred_location=location
    )
    if created:
        Patient.objects.filter(pk=patient.pk).update(status=Patient.Status.ACTIVE)
        record_consents(
            patient,
            choices={"reminders": True, "care_plans": consents, "marketing": False},
            source="staff",
        )
    return patient


class _Builder:
    """Replays a plan's story at past times, so measures and events have realistic dates."""

    def __init__(self, ctx: DemoContext, library: dict[str, Exercise]):
        self.ctx = ctx
        self.library = library

    def at(self, days_ago: int, hour: int = 15) -> datetime:
        return datetime.combine(self.ctx.today - timedelta(days=days_ago), time(hour), tzinfo=UTC)

    def prescribe(self, plan, who, slug, days_ago, **dosage):
        return services.prescribe_exercise(
            plan,
            actor=services.Actor(who, who.user),
            exercise=self.library[slug],
            at=self.at(days_ago),
            **dosage,
        )


def _start(b: _Builder, patient, location, lead, title, days_ago, diagnosis, precautions=()):
    actor = services.Actor(lead, lead.user)
    plan = services.create_plan(
        actor=actor,
        patient=patient,
        location=location,
        title=title,
        lead=lead,
        at=b.at(days_ago, 14),
    )
    condition, region, cause = diagnosis
    services.record_diagnosis(
        plan,
        actor=actor,
        condition=condition,
        body_region=region,
        cause=cause,
        at=b.at(days_ago, 14),
    )
    for tags, note in precautions:
        services.add_precaution(plan, actor=actor, tags=tags, note=note, at=b.at(days_ago, 14))
    return plan, actor


def _knee(b: _Builder, physio: Provider, location: Location) -> None:
    plan, lead = _start(
        b,
        _patient("knee", location),
        location,
        physio,
        "Right total knee replacement",
        35,
        ("Right total knee arthroplasty", "knee", "post_surgical"),
        [(["impact", "deep_knee_flexion"], "New joint: no jumping or kneeling for 12 weeks")],
    )
    due = b.ctx.today + timedelta(weeks=6)
    services.add_goal(
        plan,
        actor=lead,
        kind="rom",
        measure="Knee flexion",
        baseline=80,
        target=115,
        due_date=due,
        at=b.at(35),
    )
    services.add_goal(
        plan,
        actor=lead,
        kind="psfs",
        measure="Climbing stairs",
        baseline=2,
        target=8,
        due_date=due,
        at=b.at(35),
    )
    services.add_intervention(
        plan,
        actor=lead,
        act="manual_therapy",
        description="Patellar and tibiofemoral mobilisation",
        at=b.at(35),
    )
    services.add_intervention(plan, actor=lead, act="therapeutic_exercise", at=b.at(35))
    services.set_session_frequency(
        plan, actor=lead, sessions_per_week=2, planned_weeks=10, at=b.at(35)
    )
    services.start_rehabilitation(plan, actor=lead, at=b.at(35))
    b.prescribe(plan, physio, "quad-sets", 35, sets=3, reps=10, hold_seconds=5, times_per_week=14)
    b.prescribe(plan, physio, "heel-slides", 35, sets=2, reps=15, times_per_week=14)
    b.prescribe(plan, physio, "straight-leg-raise", 28, sets=3, reps=10, times_per_week=7)
    b.prescribe(
        plan,
        physio,
        "stationary-bike",
        14,
        sets=1,
        hold_seconds=600,
        times_per_week=5,
        notes="No resistance for the first week",
    )
    for days_ago, flexion, stairs, pain in [(35, 80, 2, 6), (21, 95, 4, 4), (7, 105, 6, 3)]:
        at = b.at(days_ago, 16)
        services.record_outcome(
            plan, actor=lead, kind="rom", label="Knee flexion", value=flexion, at=at
        )
        services.record_outcome(
            plan, actor=lead, kind="psfs", label="Climbing stairs", value=stairs, at=at
        )
        services.record_outcome(plan, actor=lead, kind="pain", value=pain, at=at)


def _low_back(b: _Builder, physio: Provider, trainer: Provider, location: Location) -> None:
    plan, lead = _start(
        b,
        _patient("back", location),
        location,
        physio,
        "Low back pain, return to lifting",
        70,
        ("Non-specific chronic low back pain", "lumbar_spine", "chronic"),
        [(["loaded_spinal_flexion"], "Irritable disc: hinge at the hips with a neutral spine")],
    )
    services.add_goal(
        plan,
        actor=lead,
        kind="pain",
        measure="pain",
        baseline=6,
        target=2,
        due_date=b.ctx.today,
        at=b.at(70),
    )
    services.add_goal(
        plan,
        actor=lead,
        kind="psfs",
        measure="Lifting groceries",
        baseline=3,
        target=8,
        due_date=b.ctx.today,
        at=b.at(70),
    )
    services.add_intervention(plan, actor=lead, act="manual_therapy", at=b.at(70))
    services.set_session_frequency(
        plan, actor=lead, sessions_per_week=1, planned_weeks=8, at=b.at(70)
    )
    services.start_rehabilitation(plan, actor=lead, at=b.at(70))
    b.prescribe(plan, physio, "pelvic-tilt", 70, sets=2, reps=12, times_per_week=7)
    b.prescribe(plan, physio, "bird-dog", 56, sets=3, reps=8, hold_seconds=5, times_per_week=5)
    for days_ago, pain, lifting in [(70, 6, 3), (42, 4, 5), (28, 2, 7), (21, 1, 8)]:
        at = b.at(days_ago, 16)
        services.record_outcome(plan, actor=lead, kind="pain", value=pain, at=at)
        services.record_outcome(
            plan, actor=lead, kind="psfs", label="Lifting groceries", value=lifting, at=at
        )
    services.move_to_maintenance(plan, actor=lead, owner=trainer, at=b.at(21, 17))
    coach = services.Actor(trainer, trainer.user)
    b.prescribe(plan, trainer, "glute-bridge", 20, sets=3, reps=12, times_per_week=3)
    bridge = plan.prescriptions.get(exercise__slug="glute-bridge", is_active=True)
    services.change_prescription(
        bridge, actor=coach, sets=4, load="10 kg plate on the hips", at=b.at(7)
    )
    b.prescribe(plan, trainer, "dead-bug", 20, sets=3, reps=10, times_per_week=3)
    b.prescribe(
        plan,
        trainer,
        "brisk-walk",
        20,
        sets=1,
        hold_seconds=600,
        times_per_week=5,
        notes="30 minutes, build up over two weeks",
    )
    services.record_outcome(plan, actor=coach, kind="pain", value=1, at=b.at(7, 16))


def _shoulder(b: _Builder, physio: Provider, therapist: Provider, location: Location) -> None:
    plan, lead = _start(
        b,
        _patient("shoulder", location),
        location,
        physio,
        "Left shoulder impingement",
        60,
        ("Subacromial pain syndrome, left shoulder", "shoulder", "injury"),
        [
            (
                ["overhead_pressing", "end_range_shoulder_rotation"],
                "Keep the arm below shoulder height",
            )
        ],
    )
    services.add_goal(
        plan,
        actor=lead,
        kind="rom",
        measure="Shoulder flexion",
        baseline=110,
        target=160,
        due_date=b.ctx.today + timedelta(weeks=4),
        at=b.at(60),
    )
    services.start_rehabilitation(plan, actor=lead, at=b.at(60))
    b.prescribe(plan, physio, "pendulum", 60, sets=2, reps=20, times_per_week=14)
    b.prescribe(plan, physio, "band-external-rotation", 45, sets=3, reps=12, times_per_week=5)
    services.record_outcome(
        plan, actor=lead, kind="rom", label="Shoulder flexion", value=140, at=b.at(30)
    )
    services.record_outcome(plan, actor=lead, kind="pain", value=3, at=b.at(30))
    services.move_to_maintenance(
        plan,
        actor=lead,
        owner=therapist,
        override_reason="Range nearly full; patient prefers the gym programme with Aisha.",
        at=b.at(28),
    )
    owner = services.Actor(therapist, therapist.user)
    b.prescribe(plan, therapist, "band-row", 27, sets=3, reps=12, times_per_week=3)
    services.refer_back(
        plan,
        actor=owner,
        reason="Night pain and a painful arc again after lifting a suitcase.",
        pain=7,
        at=b.at(3),
    )


def _hip_assessment(b: _Builder, physio: Provider, location: Location) -> None:
    plan, _ = _start(
        b,
        _patient("hip", location),
        location,
        physio,
        "Hip osteoarthritis",
        2,
        ("Osteoarthritis of the right hip", "hip", "chronic"),
    )
    services.record_outcome(
        plan, actor=services.Actor(physio, physio.user), kind="pain", value=5, at=b.at(2, 15)
    )


def _ankle_closed(b: _Builder, physio: Provider, location: Location) -> None:
    plan, lead = _start(
        b,
        _patient("ankle", location),
        location,
        physio,
        "Left ankle sprain",
        90,
        ("Lateral ankle sprain, grade II", "ankle_foot", "injury"),
        [(["impact"], "No running until single-leg balance is steady")],
    )
    services.add_goal(
        plan,
        actor=lead,
        kind="psfs",
        measure="Walking 30 minutes",
        baseline=3,
        target=9,
        due_date=b.ctx.today - timedelta(days=30),
        at=b.at(90),
    )
    services.start_rehabilitation(plan, actor=lead, at=b.at(90))
    b.prescribe(plan, physio, "ankle-alphabet", 90, sets=2, reps=1, times_per_week=14)
    b.prescribe(plan, physio, "single-leg-stance", 75, sets=3, hold_seconds=30, times_per_week=7)
    services.record_outcome(
        plan, actor=lead, kind="psfs", label="Walking 30 minutes", value=9, at=b.at(45)
    )
    services.close_plan(
        plan,
        actor=lead,
        reason="discharged",
        note="Back to walking and light jogging.",
        at=b.at(44),
    )


def seed(ctx: DemoContext) -> None:
    library = seed_library()
    providers = {p.email: p for p in Provider.objects.select_related("user")}
    locations = {loc.slug: loc for loc in Location.objects.all()}
    priya = providers.get("priya.patel@clinic.example")
    sam = providers.get("sam.rivera@clinic.example")
    jordan = providers.get("jordan.blake@clinic.example")
    aisha = providers.get("aisha.rahman@clinic.example")
    if not all((priya, sam, jordan, aisha)):
        return
    builder = _Builder(ctx, library)
    stories = [
        (
            "knee",
            "Right total knee replacement",
            lambda: _knee(builder, priya, locations["pickering"]),
        ),
        (
            "back",
            "Low back pain, return to lifting",
            lambda: _low_back(builder, sam, jordan, locations["milton"]),
        ),
        (
            "shoulder",
            "Left shoulder impingement",
            lambda: _shoulder(builder, priya, aisha, locations["pickering"]),
        ),
        ("hip", "Hip osteoarthritis", lambda: _hip_assessment(builder, sam, locations["milton"])),
        (
            "ankle",
            "Left ankle sprain",
            lambda: _ankle_closed(builder, priya, locations["pickering"]),
        ),
    ]
    for key, title, build in stories:
        email = PATIENTS[key][0]
        if not CarePlan.objects.filter(patient__email__iexact=email, title=title).exists():
            build()
