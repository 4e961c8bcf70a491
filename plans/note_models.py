"""Visit notes (DOMAIN.md section 9): templates per discipline, the note of one appointment, and
its addenda.

A template is data: a discipline's fields, each in one of the four sections (subjective,
objective, assessment, plan), with a kind that says how its value is checked and, when filling it
is an act of practice (a diagnosis, a delivered intervention, an exercise prescription), the act
the author's scope must cover. Clinics add fields in the admin; no code changes.

The database holds what it can on its own: one note per appointment, a signed note has its
signing time, and (triggers from migration ``plans.0005``) a signed note and every addendum are
never updated or deleted.
"""

from django.db import models
from django.db.models import Q

from clinic.models import Location
from patients.models import Patient
from plans.models import CarePlan
from providers.models import Discipline, Provider
from scheduling.models import Appointment


class Section(models.TextChoices):
    SUBJECTIVE = "subjective", "Subjective"
    OBJECTIVE = "objective", "Objective"
    ASSESSMENT = "assessment", "Assessment"
    PLAN = "plan", "Plan"


SECTION_ORDER = [value for value, _ in Section.choices]


class FieldKind(models.TextChoices):
    """How a field's value is checked (``plans.notes.templates``) and what it feeds."""

    TEXT = "text", "Free text"
    PAIN = "pain", "Pain 0-10 (joins the care plan's measures)"
    NUMBER = "number", "Number"
    BODY_REGIONS = "body_regions", "Body regions"
    RANGE_OF_MOTION = "range_of_motion", "Range of motion (joins the care plan's measures)"
    CHOICE = "choice", "One of the options"
    MULTI_CHOICE = "multi_choice", "Any of the options"
    DIAGNOSIS = "diagnosis", "Diagnosis"
    INTERVENTIONS = "interventions", "Interventions delivered (each an act)"
    EXERCISES = "exercises", "Exercises with sets, reps and tolerance"


class NoteTemplate(models.Model):
    """The note a discipline writes; one per discipline."""

    discipline = models.OneToOneField(
        Discipline, on_delete=models.PROTECT, related_name="note_template"
    )
    name = models.CharField(max_length=120)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class TemplateField(models.Model):
    template = models.ForeignKey(NoteTemplate, on_delete=models.CASCADE, related_name="fields")
    section = models.CharField(max_length=12, choices=Section.choices)
    key = models.SlugField(
        max_length=40, help_text="The field's name in the note's content, e.g. pain."
    )
    label = models.CharField(max_length=120)
    kind = models.CharField(max_length=20, choices=FieldKind.choices)
    options = models.JSONField(
        default=list, blank=True, help_text="The choices of a choice field, e.g. light, firm."
    )
    act = models.CharField(
        max_length=40,
        blank=True,
        help_text="The act of practice filling this field is (e.g. diagnose); checked by scope.",
    )
    help_text = models.CharField(max_length=300, blank=True)
    position = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["template", "position", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["template", "section", "key"], name="template_field_unique_key"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.section}.{self.key}"


class VisitNote(models.Model):
    """The chart entry of one appointment, written by the appointment's provider."""

    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        SIGNED = "signed", "Signed"

    appointment = models.OneToOneField(
        Appointment, on_delete=models.PROTECT, related_name="visit_note"
    )
    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="visit_notes")
    author = models.ForeignKey(Provider, on_delete=models.PROTECT, related_name="visit_notes")
    location = models.ForeignKey(Location, on_delete=models.PROTECT, related_name="+")
    care_plan = models.ForeignKey(
        CarePlan, null=True, blank=True, on_delete=models.PROTECT, related_name="visit_notes"
    )
    template = models.ForeignKey(NoteTemplate, on_delete=models.PROTECT, related_name="notes")
    content = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.DRAFT)
    visit_at = models.DateTimeField(help_text="When the visit started (the appointment's start).")
    signed_at = models.DateTimeField(null=True, blank=True)
    is_late = models.BooleanField(
        default=False, help_text="Signed later than the clinic's late-entry limit after the visit."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["visit_at", "id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=["draft", "signed"]), name="visit_note_status_valid"
            ),
            models.CheckConstraint(
                condition=(Q(status="signed") & Q(signed_at__isnull=False))
                | (Q(status="draft") & Q(signed_at__isnull=True) & Q(is_late=False)),
                name="visit_note_signed_has_time",
            ),
        ]
        indexes = [
            models.Index(fields=["patient", "visit_at"]),
            models.Index(fields=["author", "status", "visit_at"]),
        ]

    def __str__(self) -> str:
        return f"Visit note {self.pk} ({self.get_status_display()})"

    @property
    def is_signed(self) -> bool:
        return self.status == self.Status.SIGNED


class NoteAddendum(models.Model):
    """A correction or late addition to a signed note: dated, signed when written, never edited."""

    note = models.ForeignKey(VisitNote, on_delete=models.PROTECT, related_name="addenda")
    author = models.ForeignKey(Provider, on_delete=models.PROTECT, related_name="+")
    text = models.TextField()
    signed_at = models.DateTimeField()

    class Meta:
        ordering = ["signed_at", "id"]
        verbose_name_plural = "note addenda"

    def __str__(self) -> str:
        return f"Addendum {self.pk} to note {self.note_id}"
