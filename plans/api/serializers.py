"""Care-plan API shapes: read serializers for plans and their parts, and one input serializer per
action. Inputs only parse; the rules live in ``plans.services``."""

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from clinic.models import ClinicSettings
from plans import selectors
from plans.models import (
    BodyRegion,
    CarePlan,
    Diagnosis,
    Exercise,
    ExercisePrescription,
    Goal,
    MeasureKind,
    MovementTag,
    OutcomeMeasure,
    PlanEvent,
    PlannedIntervention,
    Precaution,
    ProgramVersion,
)
from providers.models import Provider


class TagListField(serializers.ListField):
    child = serializers.ChoiceField(choices=MovementTag.choices)


class ExerciseSerializer(serializers.ModelSerializer):
    tags = TagListField(required=False, help_text="Movement tags the exercise loads.")

    class Meta:
        model = Exercise
        fields = [
            "id",
            "slug",
            "name",
            "body_region",
            "category",
            "instructions",
            "tags",
            "is_active",
            "updated_at",
        ]
        read_only_fields = ["updated_at"]

    def validate_tags(self, value: list[str]) -> list[str]:
        return list(dict.fromkeys(value))


class ProviderRefSerializer(serializers.ModelSerializer):
    discipline = serializers.CharField(source="discipline.code", read_only=True)

    class Meta:
        model = Provider
        fields = ["id", "display_name", "discipline"]


class DiagnosisSerializer(serializers.ModelSerializer):
    class Meta:
        model = Diagnosis
        fields = [
            "id",
            "condition",
            "body_region",
            "cause",
            "notes",
            "recorded_by",
            "recorded_at",
        ]


class PrecautionSerializer(serializers.ModelSerializer):
    text = serializers.CharField(source="label", read_only=True)

    class Meta:
        model = Precaution
        fields = ["id", "tags", "note", "text", "is_active", "recorded_by", "recorded_at"]


class GoalSerializer(serializers.ModelSerializer):
    met = serializers.BooleanField(read_only=True)

    class Meta:
        model = Goal
        fields = ["id", "kind", "measure", "baseline", "target", "due_date", "met", "met_at"]


class InterventionSerializer(serializers.ModelSerializer):
    class Meta:
        model = PlannedIntervention
        fields = ["id", "act", "description", "is_active", "created_at"]


class PrescriptionSerializer(serializers.ModelSerializer):
    exercise_name = serializers.CharField(source="exercise.name", read_only=True)
    dosage = serializers.CharField(read_only=True)

    class Meta:
        model = ExercisePrescription
        fields = [
            "id",
            "exercise",
            "exercise_name",
            "sets",
            "reps",
            "hold_seconds",
            "load",
            "times_per_week",
            "notes",
            "dosage",
            "is_active",
            "version",
            "replaces",
            "prescribed_by",
            "created_at",
            "ended_at",
        ]


class MeasureSerializer(serializers.ModelSerializer):
    class Meta:
        model = OutcomeMeasure
        fields = ["id", "kind", "label", "value", "recorded_at", "recorded_by", "note"]


class ProgramVersionSerializer(serializers.ModelSerializer):
    class Meta:
        model = ProgramVersion
        fields = ["number", "content", "created_at"]


class PlanEventSerializer(serializers.ModelSerializer):
    class Meta:
        model = PlanEvent
        fields = [
            "id",
            "at",
            "kind",
            "summary",
            "actor_label",
            "provider",
            "before",
            "after",
            "reason",
        ]


class DischargeCriteriaSerializer(serializers.Serializer):
    met = serializers.BooleanField()
    goals_met = serializers.BooleanField()
    pain_rule_met = serializers.BooleanField()
    reasons = serializers.ListField(child=serializers.CharField())


class CarePlanSerializer(serializers.ModelSerializer):
    """A plan with its parts. Lists and detail share it; the history has its own endpoint."""

    patient_name = serializers.CharField(source="patient.full_name", read_only=True)
    lead = ProviderRefSerializer(read_only=True)
    maintenance_owner = ProviderRefSerializer(read_only=True, allow_null=True)
    closed_reason = serializers.ChoiceField(
        choices=CarePlan.ClosedReason.choices,
        allow_blank=True,
        read_only=True,
        help_text="Blank until the plan is closed.",
    )
    diagnoses = DiagnosisSerializer(many=True, read_only=True)
    precautions = PrecautionSerializer(many=True, read_only=True)
    goals = GoalSerializer(many=True, read_only=True)
    interventions = InterventionSerializer(many=True, read_only=True)
    prescriptions = PrescriptionSerializer(many=True, read_only=True)
    measures = MeasureSerializer(many=True, read_only=True)
    discharge_criteria = serializers.SerializerMethodField()
    refer_back_indicated = serializers.SerializerMethodField(
        help_text="In maintenance, the latest pain is above the clinic's refer-back threshold."
    )

    class Meta:
        model = CarePlan
        fields = [
            "id",
            "patient",
            "patient_name",
            "location",
            "title",
            "phase",
            "lead",
            "maintenance_owner",
            "sessions_per_week",
            "planned_weeks",
            "program_version",
            "closed_reason",
            "closed_note",
            "created_at",
            "updated_at",
            "diagnoses",
            "precautions",
            "goals",
            "interventions",
            "prescriptions",
            "measures",
            "discharge_criteria",
            "refer_back_indicated",
        ]
        read_only_fields = fields

    def _settings(self) -> ClinicSettings:
        if "clinic_settings" not in self.context:
            self.context["clinic_settings"] = ClinicSettings.load()
        return self.context["clinic_settings"]

    @extend_schema_field(DischargeCriteriaSerializer)
    def get_discharge_criteria(self, plan: CarePlan) -> dict:
        pains = selectors.prefetched_pains(plan)
        return selectors.criteria_from(list(plan.goals.all()), pains, self._settings()).as_dict()

    def get_refer_back_indicated(self, plan: CarePlan) -> bool:
        pains = selectors.prefetched_pains(plan)
        return selectors.refer_back_indicated(plan, pains, self._settings())


# --- inputs -----------------------------------------------------------------------------------


class CreatePlanInput(serializers.Serializer):
    patient = serializers.IntegerField()
    location = serializers.IntegerField()
    title = serializers.CharField(max_length=160)
    lead = serializers.IntegerField(
        required=False, help_text="Provider id; defaults to the caller's provider."
    )


class DiagnosisInput(serializers.Serializer):
    condition = serializers.CharField(max_length=200)
    body_region = serializers.ChoiceField(choices=BodyRegion.choices)
    cause = serializers.ChoiceField(choices=Diagnosis.Cause.choices)
    notes = serializers.CharField(required=False, allow_blank=True, default="")


class PrecautionInput(serializers.Serializer):
    tags = TagListField(min_length=1)
    note = serializers.CharField(max_length=300, required=False, allow_blank=True, default="")


class ReasonInput(serializers.Serializer):
    reason = serializers.CharField(max_length=2000)


class OptionalReasonInput(serializers.Serializer):
    reason = serializers.CharField(max_length=2000, required=False, allow_blank=True, default="")


class GoalInput(serializers.Serializer):
    kind = serializers.ChoiceField(choices=MeasureKind.choices)
    measure = serializers.CharField(max_length=120)
    baseline = serializers.DecimalField(max_digits=6, decimal_places=1)
    target = serializers.DecimalField(max_digits=6, decimal_places=1)
    due_date = serializers.DateField()


class InterventionInput(serializers.Serializer):
    act = serializers.SlugField(max_length=40)
    description = serializers.CharField(
        max_length=300, required=False, allow_blank=True, default=""
    )


class FrequencyInput(serializers.Serializer):
    sessions_per_week = serializers.IntegerField(min_value=1, max_value=14)
    planned_weeks = serializers.IntegerField(
        min_value=1, max_value=104, required=False, allow_null=True, default=None
    )


class DosageInput(serializers.Serializer):
    sets = serializers.IntegerField(min_value=1, max_value=20)
    reps = serializers.IntegerField(min_value=1, max_value=200, required=False, allow_null=True)
    hold_seconds = serializers.IntegerField(
        min_value=1, max_value=600, required=False, allow_null=True
    )
    load = serializers.CharField(max_length=60, required=False, allow_blank=True)
    times_per_week = serializers.IntegerField(min_value=1, max_value=21)
    notes = serializers.CharField(max_length=300, required=False, allow_blank=True)


class PrescriptionInput(DosageInput):
    exercise = serializers.PrimaryKeyRelatedField(queryset=Exercise.objects.all())


class PrescriptionChangeInput(DosageInput):
    """Only the fields sent change; the rest carry over from the current prescription."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for field in self.fields.values():
            field.required = False


class MeasureInput(serializers.Serializer):
    kind = serializers.ChoiceField(choices=MeasureKind.choices)
    label = serializers.CharField(max_length=120, required=False, allow_blank=True, default="")
    value = serializers.DecimalField(max_digits=6, decimal_places=1)
    note = serializers.CharField(max_length=300, required=False, allow_blank=True, default="")
    recorded_at = serializers.DateTimeField(required=False, allow_null=True, default=None)


class MaintenanceInput(serializers.Serializer):
    maintenance_owner = serializers.PrimaryKeyRelatedField(queryset=Provider.objects.all())
    override_reason = serializers.CharField(
        max_length=2000,
        required=False,
        allow_blank=True,
        default="",
        help_text="Needed when the discharge criteria are not met; kept in the history.",
    )


class ReferBackInput(serializers.Serializer):
    reason = serializers.CharField(max_length=2000)
    pain = serializers.DecimalField(
        max_digits=3, decimal_places=1, min_value=0, max_value=10, required=False, allow_null=True
    )
    red_flag = serializers.BooleanField(required=False, default=False)
    physiotherapist = serializers.PrimaryKeyRelatedField(
        queryset=Provider.objects.all(), required=False, allow_null=True
    )


class CloseInput(serializers.Serializer):
    reason = serializers.ChoiceField(choices=CarePlan.ClosedReason.choices)
    note = serializers.CharField(max_length=2000, required=False, allow_blank=True, default="")
