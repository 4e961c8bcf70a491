from rest_framework import serializers

from clinic.models import Location
from providers.models import (
    Act,
    Credential,
    CredentialRequirement,
    Discipline,
    Provider,
    ScopeRule,
    ScopeRuleChange,
)
from providers.scope import REASON_CODES


class PublicDisciplineSerializer(serializers.ModelSerializer):
    class Meta:
        model = Discipline
        fields = ["code", "name", "summary"]


class PublicProviderSerializer(serializers.ModelSerializer):
    """No credential numbers, e-mail or staff account: only what a booking widget shows."""

    discipline = serializers.CharField(source="discipline.code", read_only=True)
    locations = serializers.SerializerMethodField()
    services = serializers.SerializerMethodField()

    class Meta:
        model = Provider
        fields = ["id", "display_name", "discipline", "bio", "locations", "services"]

    def get_locations(self, provider: Provider) -> list[int]:
        return [location.pk for location in provider.public_locations]

    def get_services(self, provider: Provider) -> list[int]:
        return self.context.get("services_by_provider", {}).get(provider.pk, [])


class PublicProviderQuerySerializer(serializers.Serializer):
    location = serializers.PrimaryKeyRelatedField(
        queryset=Location.objects.filter(is_active=True), required=False
    )
    discipline = serializers.SlugRelatedField(
        slug_field="code", queryset=Discipline.objects.filter(is_public=True), required=False
    )
    service = serializers.IntegerField(min_value=1, required=False)


class DisciplineSerializer(serializers.ModelSerializer):
    class Meta:
        model = Discipline
        fields = ["id", "code", "name", "summary", "is_public"]


class ActSerializer(serializers.ModelSerializer):
    class Meta:
        model = Act
        fields = ["id", "code", "name", "description", "is_clinical"]


class ScopeRuleSerializer(serializers.ModelSerializer):
    discipline = serializers.SlugRelatedField(slug_field="code", queryset=Discipline.objects.all())
    act = serializers.SlugRelatedField(slug_field="code", queryset=Act.objects.all())

    class Meta:
        model = ScopeRule
        fields = [
            "id",
            "discipline",
            "act",
            "jurisdiction",
            "allowed",
            "requires_endorsement",
            "note",
        ]
        validators: list = []  # the service names the duplicate field; no generic unique error


class ScopeRuleChangeSerializer(serializers.ModelSerializer):
    class Meta:
        model = ScopeRuleChange
        fields = [
            "id",
            "rule",
            "discipline_code",
            "act_code",
            "jurisdiction",
            "action",
            "before",
            "after",
            "changed_by",
            "changed_by_label",
            "changed_at",
            "channel",
        ]


class CredentialRequirementSerializer(serializers.ModelSerializer):
    discipline = serializers.SlugRelatedField(slug_field="code", read_only=True)

    class Meta:
        model = CredentialRequirement
        fields = [
            "id",
            "discipline",
            "jurisdiction",
            "accepts_licence",
            "accepts_registration",
            "accepts_certification",
        ]


class CredentialSerializer(serializers.ModelSerializer):
    endorsements = serializers.SlugRelatedField(
        slug_field="code", queryset=Act.objects.all(), many=True, required=False
    )

    class Meta:
        model = Credential
        fields = [
            "id",
            "provider",
            "kind",
            "number",
            "issuing_body",
            "jurisdiction",
            "valid_from",
            "valid_until",
            "status",
            "endorsements",
        ]
        # The service checks the date order and names the field; skip the generic constraint.
        validators: list = []


class NestedCredentialSerializer(CredentialSerializer):
    class Meta(CredentialSerializer.Meta):
        fields = [f for f in CredentialSerializer.Meta.fields if f != "provider"]
        read_only_fields = fields


class ProviderSerializer(serializers.ModelSerializer):
    discipline = serializers.SlugRelatedField(slug_field="code", queryset=Discipline.objects.all())
    locations = serializers.PrimaryKeyRelatedField(
        queryset=Location.objects.all(), many=True, required=False
    )
    credentials = NestedCredentialSerializer(many=True, read_only=True)

    class Meta:
        model = Provider
        fields = [
            "id",
            "display_name",
            "discipline",
            "bio",
            "email",
            "locations",
            "user",
            "is_active",
            "credentials",
        ]


class ScopeQuerySerializer(serializers.Serializer):
    location = serializers.PrimaryKeyRelatedField(queryset=Location.objects.all(), required=False)
    date = serializers.DateField(required=False)


class ScopeReasonSerializer(serializers.Serializer):
    code = serializers.ChoiceField(choices=REASON_CODES)
    message = serializers.CharField()


class ActScopeSerializer(serializers.Serializer):
    act = serializers.CharField(source="act.code")
    name = serializers.CharField(source="act.name")
    allowed = serializers.BooleanField(source="decision.allowed")
    reasons = ScopeReasonSerializer(source="decision.reasons", many=True)


class ProviderScopeSerializer(serializers.Serializer):
    provider = serializers.IntegerField()
    location = serializers.IntegerField()
    jurisdiction = serializers.CharField()
    timezone = serializers.CharField()
    date = serializers.DateField()
    acts = ActScopeSerializer(many=True)
