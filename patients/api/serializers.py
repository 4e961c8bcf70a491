"""Serializers for patients, consent, referrals, the audit log, triage and unsubscribe.

Two patient shapes: ``PatientSerializer`` carries contact details and consent state (what front
desk may see), ``PatientClinicalSerializer`` adds the clinical parts (referrals) for callers that
``can_view_clinical``.
"""

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from clinic.models import AuditEvent
from patients import selectors, triage
from patients.api.fields import VisiblePatientField
from patients.models import (
    AccessGrant,
    Consent,
    EmergencyAccess,
    Patient,
    Referral,
    ReferralStatusChange,
)
from providers.models import Discipline, Provider


class ConsentStateSerializer(serializers.Serializer):
    reminders = serializers.BooleanField()
    care_plans = serializers.BooleanField()
    marketing = serializers.BooleanField()


class PatientSerializer(serializers.ModelSerializer):
    """Contact details and the current consent state; writable by front desk and managers."""

    consents = serializers.SerializerMethodField()

    class Meta:
        model = Patient
        fields = [
            "id",
            "first_name",
            "last_name",
            "email",
            "phone",
            "date_of_birth",
            "preferred_location",
            "preferred_language",
            "status",
            "consents",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["id", "consents", "created_at", "updated_at"]
        # Uniqueness of the e-mail is the database's rule (case-insensitive, non-archived);
        # the service turns a clash into a 409 problem.
        validators: list = []

    @extend_schema_field(ConsentStateSerializer)
    def get_consents(self, patient: Patient) -> dict[str, bool]:
        return selectors.current_consents_from(patient.consents.all())


def username_of(source: str) -> serializers.CharField:
    """The login name of a user field, null when nobody (the system, or a deleted login)."""
    return serializers.CharField(
        source=f"{source}.username", read_only=True, allow_null=True, default=None
    )


class ReferralStatusChangeSerializer(serializers.ModelSerializer):
    changed_by = username_of("changed_by")

    class Meta:
        model = ReferralStatusChange
        fields = ["from_status", "to_status", "changed_at", "changed_by", "note"]


class ReferralSerializer(serializers.ModelSerializer):
    """A referral with its status history. ``from_provider`` defaults to the caller's own
    provider record; only managers may name another one."""

    to_discipline = serializers.SlugRelatedField(
        slug_field="code", queryset=Discipline.objects.all()
    )
    from_provider = serializers.PrimaryKeyRelatedField(
        queryset=Provider.objects.all(), required=False
    )
    patient = VisiblePatientField()
    patient_name = serializers.CharField(source="patient.full_name", read_only=True)
    from_provider_name = serializers.CharField(source="from_provider.display_name", read_only=True)
    to_provider_name = serializers.CharField(
        source="to_provider.display_name", read_only=True, allow_null=True, default=None
    )
    created_by = username_of("created_by")
    status_changed_by = username_of("status_changed_by")
    history = ReferralStatusChangeSerializer(many=True, read_only=True)

    class Meta:
        model = Referral
        fields = [
            "id",
            "patient",
            "patient_name",
            "from_provider",
            "from_provider_name",
            "to_discipline",
            "to_provider",
            "to_provider_name",
            "reason",
            "status",
            "created_at",
            "created_by",
            "status_changed_at",
            "status_changed_by",
            "history",
        ]
        read_only_fields = [
            "id",
            "status",
            "created_at",
            "created_by",
            "status_changed_at",
            "status_changed_by",
        ]


class ReferralSummarySerializer(serializers.ModelSerializer):
    to_discipline = serializers.SlugRelatedField(slug_field="code", read_only=True)

    class Meta:
        model = Referral
        fields = [
            "id",
            "from_provider",
            "to_discipline",
            "to_provider",
            "reason",
            "status",
            "created_at",
            "status_changed_at",
        ]


class PatientClinicalSerializer(PatientSerializer):
    referrals = ReferralSummarySerializer(many=True, read_only=True)

    class Meta(PatientSerializer.Meta):
        fields = [*PatientSerializer.Meta.fields, "referrals"]
        read_only_fields = [*PatientSerializer.Meta.read_only_fields, "referrals"]


class ReferralStatusSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=Referral.Status.choices)
    note = serializers.CharField(max_length=300, required=False, allow_blank=True, default="")


class ConsentSerializer(serializers.ModelSerializer):
    recorded_by = username_of("recorded_by")

    class Meta:
        model = Consent
        fields = [
            "id",
            "purpose",
            "granted",
            "recorded_at",
            "source",
            "wording",
            "wording_version",
            "client_address",
            "recorded_by",
        ]


class ConsentChoicesSerializer(serializers.Serializer):
    """Staff record what the patient decided (e.g. on the phone): any subset of purposes."""

    reminders = serializers.BooleanField(required=False)
    care_plans = serializers.BooleanField(required=False)
    marketing = serializers.BooleanField(required=False)


class ConsentRecordSerializer(serializers.Serializer):
    choices = ConsentChoicesSerializer()
    wording_version = serializers.CharField(max_length=20, required=False, allow_blank=True)

    def validate_choices(self, value: dict) -> dict:
        if not value:
            raise serializers.ValidationError("Name at least one purpose.", code="required")
        return value


class AuditEventSerializer(serializers.ModelSerializer):
    class Meta:
        model = AuditEvent
        fields = [
            "id",
            "occurred_at",
            "actor",
            "actor_label",
            "action",
            "object_type",
            "object_id",
            "patient_id",
            "summary",
            "changes",
            "client_address",
            "request_id",
            "channel",
        ]
        read_only_fields = fields


# --- Public: triage and unsubscribe -------------------------------------------------------------


class TriageAnswersSerializer(serializers.Serializer):
    """The intake questionnaire. Every question is optional; unanswered means "no"."""

    persistent_pain_or_stiffness = serializers.BooleanField(
        default=False, help_text="Do you have pain or stiffness that has lasted for weeks?"
    )
    recovering_from_surgery_or_injury = serializers.BooleanField(
        default=False, help_text="Are you recovering from surgery or an injury?"
    )
    condition_limits_mobility = serializers.BooleanField(
        default=False, help_text="Does a medical condition limit how you move?"
    )
    numbness = serializers.BooleanField(
        default=False, help_text="Do you have numbness or tingling?"
    )
    imbalance = serializers.BooleanField(
        default=False, help_text="Do you feel unsteady or lose your balance?"
    )
    muscle_weakness = serializers.BooleanField(
        default=False, help_text="Have you noticed new muscle weakness?"
    )
    chronic_conditions = serializers.ListField(
        child=serializers.ChoiceField(choices=sorted(triage.CHRONIC_CONDITIONS)),
        default=list,
        help_text="Chronic conditions you live with.",
    )
    wants_to_stay_active_safely = serializers.BooleanField(
        default=False, help_text="Do you want to stay active safely despite a condition?"
    )
    goals = serializers.ListField(
        child=serializers.ChoiceField(choices=sorted(triage.GOALS)),
        default=list,
        help_text="What you would like to achieve.",
    )


def to_triage_answers(validated: dict) -> triage.TriageAnswers:
    """The validated questionnaire as the pure function's input."""
    data = dict(validated)
    data["chronic_conditions"] = tuple(dict.fromkeys(data.get("chronic_conditions", ())))
    data["goals"] = tuple(dict.fromkeys(data.get("goals", ())))
    return triage.TriageAnswers(**data)


class TriageRequestSerializer(serializers.Serializer):
    answers = TriageAnswersSerializer()


class TriageRecommendationSerializer(serializers.Serializer):
    discipline = serializers.CharField(help_text="Discipline code, e.g. physiotherapist.")
    name = serializers.CharField()
    rank = serializers.IntegerField()
    reasons = serializers.ListField(child=serializers.CharField())


class TriageRedFlagSerializer(serializers.Serializer):
    code = serializers.CharField()
    message = serializers.CharField()


class TriageResponseSerializer(serializers.Serializer):
    """A ``patients.triage`` result; recommendations are ranked in the order triage gives."""

    recommendations = TriageRecommendationSerializer(many=True)
    red_flags = TriageRedFlagSerializer(many=True)
    disclaimer = serializers.CharField()

    def to_representation(self, instance) -> dict:
        ranked = [
            {"discipline": r.discipline, "name": r.name, "rank": rank, "reasons": r.reasons}
            for rank, r in enumerate(instance.recommendations, start=1)
        ]
        return super().to_representation(
            {
                "recommendations": ranked,
                "red_flags": instance.red_flags,
                "disclaimer": instance.disclaimer,
            }
        )


class UnsubscribeSerializer(serializers.Serializer):
    purpose = serializers.ChoiceField(choices=Consent.Purpose.choices)
    purpose_label = serializers.CharField()
    email = serializers.CharField(help_text="The address, partly masked.")
    granted = serializers.BooleanField(help_text="Whether the purpose is granted right now.")
    detail = serializers.CharField()


class AccessGrantSerializer(serializers.ModelSerializer):
    """A manager's grant: which provider may read which patient's records, why, until when."""

    patient = VisiblePatientField()
    patient_name = serializers.CharField(source="patient.full_name", read_only=True)
    provider_name = serializers.CharField(source="provider.display_name", read_only=True)
    granted_by = username_of("granted_by")
    revoked_by = username_of("revoked_by")

    class Meta:
        model = AccessGrant
        fields = [
            "id",
            "patient",
            "patient_name",
            "provider",
            "provider_name",
            "reason",
            "granted_by",
            "granted_at",
            "ends_at",
            "revoked_at",
            "revoked_by",
        ]
        read_only_fields = ["id", "granted_at", "revoked_at"]


class EmergencyAccessSerializer(serializers.ModelSerializer):
    """One "break the glass": who opened which record, why, and until when."""

    patient = serializers.PrimaryKeyRelatedField(queryset=Patient.objects.all())
    patient_name = serializers.CharField(source="patient.full_name", read_only=True)
    provider_name = serializers.CharField(source="provider.display_name", read_only=True)
    opened_by = username_of("opened_by")

    class Meta:
        model = EmergencyAccess
        fields = [
            "id",
            "patient",
            "patient_name",
            "provider",
            "provider_name",
            "opened_by",
            "reason",
            "opened_at",
            "expires_at",
        ]
        read_only_fields = ["id", "provider", "opened_at", "expires_at"]
