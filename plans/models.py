"""Care plans (DOMAIN.md section 6): the exercise library, plans and their phases, diagnoses,
precautions, goals, planned interventions, exercise prescriptions, outcome measures and the
plan's history.

Rows here are changed only through ``plans.services``: every change checks scope and who may
make it, and writes a ``PlanEvent``. The database backs the rules it can hold on its own
(phase values, closed plans having a reason, measures inside their scale).
"""

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone

from clinic.models import Location
from patients.models import Patient
from providers.models import Provider


class BodyRegion(models.TextChoices):
    NECK = "neck", "Neck"
    SHOULDER = "shoulder", "Shoulder"
    ELBOW = "elbow", "Elbow"
    WRIST_HAND = "wrist_hand", "Wrist and hand"
    THORACIC_SPINE = "thoracic_spine", "Upper back"
    LUMBAR_SPINE = "lumbar_spine", "Low back"
    HIP = "hip", "Hip"
    KNEE = "knee", "Knee"
    ANKLE_FOOT = "ankle_foot", "Ankle and foot"
    CORE = "core", "Trunk and core"
    WHOLE_BODY = "whole_body", "Whole body"


class MovementTag(models.TextChoices):
    """The movements an exercise loads; precautions forbid them by the same names."""

    LOADED_SPINAL_FLEXION = "loaded_spinal_flexion", "Loaded spinal flexion"
    SPINAL_EXTENSION = "spinal_extension", "Spinal extension"
    SPINAL_ROTATION = "spinal_rotation", "Spinal rotation"
    OVERHEAD_PRESSING = "overhead_pressing", "Overhead pressing"
    END_RANGE_SHOULDER_ROTATION = "end_range_shoulder_rotation", "End-range shoulder rotation"
    IMPACT = "impact", "Impact (jumping, running)"
    DEEP_KNEE_FLEXION = "deep_knee_flexion", "Deep knee bending"
    HIP_FLEXION_PAST_90 = "hip_flexion_past_90", "Hip bending past 90 degrees"
    SINGLE_LEG_LOADING = "single_leg_loading", "Standing on one leg under load"
    LOADED_WRIST_EXTENSION = "loaded_wrist_extension", "Weight through the wrists"
    NECK_LOADING = "neck_loading", "Loading the neck"
    BREATH_HOLDING = "breath_holding", "Straining or holding the breath"
    FLOOR_TRANSFERS = "floor_transfers", "Getting down to and up from the floor"


class Exercise(models.Model):
    """One entry of the exercise library that prescriptions draw from."""

    class Category(models.TextChoices):
        STRENGTH = "strength", "Strength"
        MOBILITY = "mobility", "Mobility"
        BALANCE = "balance", "Balance"
        CARDIO = "cardio", "Cardio"
        STRETCH = "stretch", "Stretch"

    slug = models.SlugField(max_length=80, unique=True)
    name = models.CharField(max_length=120, unique=True)
    body_region = models.CharField(max_length=20, choices=BodyRegion.choices)
    category = models.CharField(max_length=20, choices=Category.choices)
    instructions = models.TextField()
    tags = models.JSONField(
        default=list, blank=True, help_text="Movement tags this exercise loads, e.g. impact."
    )
    is_active = models.BooleanField(default=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class CarePlan(models.Model):
    class Phase(models.TextChoices):
        ASSESSMENT = "assessment", "Assessment"
        REHABILITATION = "rehabilitation", "Rehabilitation"
        MAINTENANCE = "maintenance", "Maintenance"
        CLOSED = "closed", "Closed"

    class ClosedReason(models.TextChoices):
        DISCHARGED = "discharged", "Discharged"
        ABANDONED = "abandoned", "Abandoned"

    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="care_plans")
    location = models.ForeignKey(Location, on_delete=models.PROTECT, related_name="care_plans")
    title = models.CharField(max_length=160)
    phase = models.CharField(max_length=20, choices=Phase.choices, default=Phase.ASSESSMENT)
    lead = models.ForeignKey(Provider, on_delete=models.PROTECT, related_name="led_care_plans")
    maintenance_owner = models.ForeignKey(
        Provider,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="maintained_care_plans",
    )
    sessions_per_week = models.PositiveSmallIntegerField(
        null=True, blank=True, validators=[MinValueValidator(1), MaxValueValidator(14)]
    )
    planned_weeks = models.PositiveSmallIntegerField(
        null=True, blank=True, validators=[MinValueValidator(1), MaxValueValidator(104)]
    )
    program_version = models.PositiveIntegerField(
        default=0, help_text="Increases with every change to the exercise program."
    )
    closed_reason = models.CharField(max_length=20, choices=ClosedReason.choices, blank=True)
    closed_note = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(phase__in=["assessment", "rehabilitation", "maintenance", "closed"]),
                name="care_plan_phase_valid",
            ),
            models.CheckConstraint(
                condition=(Q(phase="closed") & ~Q(closed_reason=""))
                | (~Q(phase="closed") & Q(closed_reason="")),
                name="care_plan_closed_has_reason",
            ),
            models.CheckConstraint(
                condition=~Q(phase="maintenance") | Q(maintenance_owner__isnull=False),
                name="care_plan_maintenance_has_owner",
            ),
        ]
        indexes = [models.Index(fields=["patient", "phase"])]

    def __str__(self) -> str:
        return f"{self.title} ({self.get_phase_display()})"


class Diagnosis(models.Model):
    class Cause(models.TextChoices):
        INJURY = "injury", "Injury"
        POST_SURGICAL = "post_surgical", "Post-surgical"
        CHRONIC = "chronic", "Chronic condition"
        NEUROLOGICAL = "neurological", "Neurological"
        CARDIAC = "cardiac", "Cardiac"
        RESPIRATORY = "respiratory", "Respiratory"

    plan = models.ForeignKey(CarePlan, on_delete=models.CASCADE, related_name="diagnoses")
    condition = models.CharField(max_length=200)
    body_region = models.CharField(max_length=20, choices=BodyRegion.choices)
    cause = models.CharField(max_length=20, choices=Cause.choices)
    notes = models.TextField(blank=True)
    recorded_by = models.ForeignKey(Provider, on_delete=models.PROTECT, related_name="+")
    recorded_at = models.DateTimeField()

    class Meta:
        ordering = ["recorded_at", "id"]
        verbose_name_plural = "diagnoses"

    def __str__(self) -> str:
        return self.condition


class Precaution(models.Model):
    """Movements to avoid. An active precaution refuses every prescription loading its tags."""

    plan = models.ForeignKey(CarePlan, on_delete=models.CASCADE, related_name="precautions")
    tags = models.JSONField(help_text="Movement tags to avoid.")
    note = models.CharField(max_length=300, blank=True)
    is_active = models.BooleanField(default=True)
    recorded_by = models.ForeignKey(Provider, on_delete=models.PROTECT, related_name="+")
    recorded_at = models.DateTimeField()

    class Meta:
        ordering = ["recorded_at", "id"]

    def __str__(self) -> str:
        return self.label

    @property
    def label(self) -> str:
        """The precaution in plain words, as the refusal and the patient's e-mail name it."""
        names = dict(MovementTag.choices)
        avoided = ", ".join(str(names.get(tag, tag)).lower() for tag in self.tags)
        return f"Avoid {avoided}" + (f" ({self.note})" if self.note else "")


class MeasureKind(models.TextChoices):
    PAIN = "pain", "Pain (0-10)"
    PSFS = "psfs", "Patient-Specific Functional Scale (0-10)"
    ROM = "rom", "Range of motion (degrees)"
    CUSTOM = "custom", "Custom"


# Inclusive bounds per kind; custom measures are free.
MEASURE_BOUNDS = {"pain": (0, 10), "psfs": (0, 10), "rom": (0, 360)}


def _measure_in_bounds(field: str) -> Q:
    return (
        Q(kind="custom")
        | Q(kind__in=["pain", "psfs"], **{f"{field}__gte": 0, f"{field}__lte": 10})
        | Q(kind="rom", **{f"{field}__gte": 0, f"{field}__lte": 360})
    )


class Goal(models.Model):
    """A measurable rehabilitation goal; met when a measure of the same kind and label reaches
    the target (in the direction from baseline to target)."""

    plan = models.ForeignKey(CarePlan, on_delete=models.CASCADE, related_name="goals")
    kind = models.CharField(max_length=10, choices=MeasureKind.choices)
    measure = models.CharField(
        max_length=120, help_text="What is measured: an activity, a movement, or 'pain'."
    )
    baseline = models.DecimalField(max_digits=6, decimal_places=1)
    target = models.DecimalField(max_digits=6, decimal_places=1)
    due_date = models.DateField()
    met_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["due_date", "id"]
        constraints = [
            models.CheckConstraint(
                condition=~Q(baseline=models.F("target")), name="goal_target_differs"
            ),
            models.CheckConstraint(
                condition=Q(kind="custom")
                | Q(kind__in=["pain", "psfs"], baseline__gte=0, baseline__lte=10)
                | Q(kind="rom", baseline__gte=0, baseline__lte=360),
                name="goal_baseline_in_scale",
            ),
            models.CheckConstraint(
                condition=Q(kind="custom")
                | Q(kind__in=["pain", "psfs"], target__gte=0, target__lte=10)
                | Q(kind="rom", target__gte=0, target__lte=360),
                name="goal_target_in_scale",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.measure}: {self.baseline} -> {self.target}"

    @property
    def met(self) -> bool:
        return self.met_at is not None

    def reached_by(self, value) -> bool:
        if self.target > self.baseline:
            return value >= self.target
        return value <= self.target


class PlannedIntervention(models.Model):
    """An act the lead plans to perform (manual therapy, dry needling, ...)."""

    plan = models.ForeignKey(CarePlan, on_delete=models.CASCADE, related_name="interventions")
    act = models.CharField(max_length=40)
    description = models.CharField(max_length=300, blank=True)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return self.act


class ExercisePrescription(models.Model):
    """One exercise of the program with its dosage. A change creates a new row (the old one is
    kept inactive), so every program version can be read back."""

    plan = models.ForeignKey(CarePlan, on_delete=models.CASCADE, related_name="prescriptions")
    exercise = models.ForeignKey(Exercise, on_delete=models.PROTECT, related_name="+")
    sets = models.PositiveSmallIntegerField(
        validators=[MinValueValidator(1), MaxValueValidator(20)]
    )
    reps = models.PositiveSmallIntegerField(
        null=True, blank=True, validators=[MinValueValidator(1), MaxValueValidator(200)]
    )
    hold_seconds = models.PositiveSmallIntegerField(
        null=True, blank=True, validators=[MinValueValidator(1), MaxValueValidator(600)]
    )
    load = models.CharField(max_length=60, blank=True, help_text="e.g. 5 kg, red band, body weight")
    times_per_week = models.PositiveSmallIntegerField(
        validators=[MinValueValidator(1), MaxValueValidator(21)]
    )
    notes = models.CharField(max_length=300, blank=True)
    is_active = models.BooleanField(default=True)
    version = models.PositiveIntegerField(help_text="Program version that introduced this row.")
    replaces = models.OneToOneField(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="replaced_by"
    )
    prescribed_by = models.ForeignKey(Provider, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    ended_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(reps__isnull=False) | Q(hold_seconds__isnull=False),
                name="prescription_has_reps_or_hold",
            ),
            models.CheckConstraint(
                condition=Q(sets__gte=1) & Q(times_per_week__gte=1),
                name="prescription_dosage_positive",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.exercise.name}: {self.dosage}"

    @property
    def dosage(self) -> str:
        """In plain words: "3 x 10, hold 5 s, 5 kg, 3 times a week" or "1 x 10 min, ..."."""
        held = _duration(self.hold_seconds) if self.hold_seconds else ""
        if self.reps:
            parts = [f"{self.sets} x {self.reps}"] + ([f"hold {held}"] if held else [])
        else:
            parts = [f"{self.sets} x {held}"]
        if self.load:
            parts.append(self.load)
        parts.append(f"{self.times_per_week} times a week")
        return ", ".join(parts)


def _duration(seconds: int) -> str:
    if seconds >= 60 and seconds % 60 == 0:
        return f"{seconds // 60} min"
    return f"{seconds} s"


class OutcomeMeasure(models.Model):
    plan = models.ForeignKey(CarePlan, on_delete=models.CASCADE, related_name="measures")
    kind = models.CharField(max_length=10, choices=MeasureKind.choices)
    label = models.CharField(
        max_length=120, help_text="The activity (PSFS), movement (ROM) or name (custom)."
    )
    value = models.DecimalField(max_digits=6, decimal_places=1)
    recorded_at = models.DateTimeField()
    recorded_by = models.ForeignKey(Provider, on_delete=models.PROTECT, related_name="+")
    note = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["recorded_at", "id"]
        constraints = [
            models.CheckConstraint(condition=_measure_in_bounds("value"), name="measure_in_scale"),
        ]
        indexes = [models.Index(fields=["plan", "kind", "recorded_at"])]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.label}: {self.value}"


class ProgramVersion(models.Model):
    """A snapshot of the exercise program as the patient receives it; one e-mail per row."""

    plan = models.ForeignKey(CarePlan, on_delete=models.CASCADE, related_name="program_versions")
    number = models.PositiveIntegerField()
    content = models.JSONField(help_text="Exercises, dosage, instructions and precautions.")
    # Set from the sender's clock (``notifications.clock``): the e-mail's grace period counts
    # from here, on the same clock the ledger sends by.
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["plan", "number"]
        constraints = [
            models.UniqueConstraint(fields=["plan", "number"], name="program_version_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.plan} program v{self.number}"


class PlanEvent(models.Model):
    """History of a plan: who changed what, when, with the values before and after."""

    plan = models.ForeignKey(CarePlan, on_delete=models.CASCADE, related_name="events")
    at = models.DateTimeField(db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    provider = models.ForeignKey(
        Provider, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    actor_label = models.CharField(max_length=150, blank=True)
    kind = models.CharField(max_length=40)
    summary = models.CharField(max_length=300)
    before = models.JSONField(null=True, blank=True)
    after = models.JSONField(null=True, blank=True)
    reason = models.TextField(blank=True)

    class Meta:
        ordering = ["at", "id"]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M} {self.kind}: {self.summary}"


# Visit notes live in their own module; importing them here registers them with the app.
from plans.note_models import (  # noqa: E402, F401
    FieldKind,
    NoteAddendum,
    NoteTemplate,
    Section,
    TemplateField,
    VisitNote,
)
