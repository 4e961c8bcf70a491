"""Serializers of the waitlist endpoints (public widget and staff)."""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from clinic.models import Location
from clinic.validators import validate_date_of_birth
from patients.api.fields import VisiblePatientField
from providers.models import Provider
from scheduling.api.serializers import (
    AwareDateTimeField,
    BookingPatientSerializer,
    CalendarDateField,
    ConsentField,
    TokenSerializer,
    local_iso,
)
from scheduling.models import Service
from scheduling.services.waitlist import HH_MM, MAX_WINDOWS
from scheduling.waitlist_models import WaitlistEntry, WaitlistOffer

_TIME = {"regex": HH_MM, "max_length": 5, "help_text": "HH:MM, 24-hour, the location's time."}

# ``from`` is a Python keyword, so the window's fields are declared through ``type``.
WaitlistWindowSerializer = type(
    "WaitlistWindowSerializer",
    (serializers.Serializer,),
    {
        "weekday": serializers.IntegerField(
            min_value=0,
            max_value=6,
            required=False,
            allow_null=True,
            help_text="0 = Monday ... 6 = Sunday; omitted or null: any day.",
        ),
        "from": serializers.RegexField(**_TIME),
        "to": serializers.RegexField(**_TIME),
    },
)


class _Wish(serializers.Serializer):
    earliest_date = CalendarDateField()
    latest_date = CalendarDateField()
    windows = WaitlistWindowSerializer(many=True, allow_empty=False, max_length=MAX_WINDOWS)


class PublicWaitlistRequestSerializer(_Wish):
    service = serializers.IntegerField()
    location = serializers.IntegerField()
    provider = serializers.IntegerField(required=False, allow_null=True, default=None)
    patient = BookingPatientSerializer()
    consent = ConsentField(required=False, default=dict)


class PublicWaitlistCreatedSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    token = serializers.CharField()
    status = serializers.ChoiceField(choices=WaitlistEntry.Status.choices)
    confirmed = serializers.BooleanField(
        help_text="False until the person follows the link e-mailed to them; only confirmed"
        " entries are offered times."
    )


class CurrentOfferSerializer(serializers.Serializer):
    start = serializers.SerializerMethodField()
    provider = serializers.IntegerField(source="provider_id")
    provider_name = serializers.CharField(source="provider.display_name")
    expires_at = serializers.SerializerMethodField()

    @extend_schema_field(OpenApiTypes.DATETIME)
    def get_start(self, obj: WaitlistOffer) -> str:
        return local_iso(obj.start, obj.entry.location)

    @extend_schema_field(OpenApiTypes.DATETIME)
    def get_expires_at(self, obj: WaitlistOffer) -> str:
        return local_iso(obj.expires_at, obj.entry.location)


class PublicWaitlistEntrySerializer(serializers.Serializer):
    """The entry as its holder sees it (no more than they gave, and the time held for them)."""

    id = serializers.IntegerField()
    status = serializers.ChoiceField(choices=WaitlistEntry.Status.choices)
    service = serializers.IntegerField(source="service_id")
    location = serializers.IntegerField(source="location_id")
    provider = serializers.IntegerField(source="provider_id", allow_null=True)
    earliest_date = serializers.DateField()
    latest_date = serializers.DateField()
    windows = WaitlistWindowSerializer(many=True)
    confirmed = serializers.SerializerMethodField()
    offer = serializers.SerializerMethodField()

    def get_confirmed(self, obj: WaitlistEntry) -> bool:
        return obj.confirmed_at is not None

    @extend_schema_field(CurrentOfferSerializer(allow_null=True))
    def get_offer(self, obj: WaitlistEntry) -> dict | None:
        offer = self.context.get("offer")
        return CurrentOfferSerializer(offer).data if offer is not None else None


class WaitlistTokenSerializer(TokenSerializer):
    pass


class ClaimPatientSerializer(serializers.Serializer):
    date_of_birth = serializers.DateField(
        required=False, allow_null=True, default=None, validators=[validate_date_of_birth]
    )


class WaitlistClaimSerializer(TokenSerializer):
    """The claim is an online booking: what the service requires (``required_fields``) is
    given here, as in a booking body."""

    reason = serializers.CharField(required=False, allow_blank=True, default="", max_length=2000)
    patient = ClaimPatientSerializer(required=False, default=dict)


class StaffWaitlistCreateSerializer(_Wish):
    patient = VisiblePatientField()
    service = serializers.PrimaryKeyRelatedField(queryset=Service.objects.all())
    location = serializers.PrimaryKeyRelatedField(queryset=Location.objects.all())
    provider = serializers.PrimaryKeyRelatedField(
        queryset=Provider.objects.filter(is_active=True), required=False, allow_null=True
    )


class OfferHistorySerializer(serializers.ModelSerializer):
    offered_by = serializers.SlugRelatedField(slug_field="username", read_only=True)
    provider_name = serializers.CharField(source="provider.display_name", read_only=True)

    class Meta:
        model = WaitlistOffer
        fields = [
            "id",
            "status",
            "provider",
            "provider_name",
            "start",
            "end",
            "offered_at",
            "expires_at",
            "ended_at",
            "offered_by",
            "appointment",
        ]
        read_only_fields = fields


class StaffWaitlistEntrySerializer(serializers.ModelSerializer):
    """An entry for the front desk: who waits for what, its status and its offer history."""

    patient_name = serializers.SerializerMethodField()
    offers = OfferHistorySerializer(many=True, read_only=True)

    class Meta:
        model = WaitlistEntry
        fields = [
            "id",
            "status",
            "patient",
            "patient_name",
            "service",
            "location",
            "provider",
            "earliest_date",
            "latest_date",
            "windows",
            "source",
            "created_at",
            "confirmed_at",
            "closed_at",
            "offers",
        ]
        read_only_fields = fields

    def get_patient_name(self, obj: WaitlistEntry) -> str:
        return f"{obj.patient.first_name} {obj.patient.last_name}"


class StaffOfferSerializer(serializers.Serializer):
    start = AwareDateTimeField()
    provider = serializers.PrimaryKeyRelatedField(queryset=Provider.objects.filter(is_active=True))


class WaitlistQuerySerializer(serializers.Serializer):
    location = serializers.IntegerField(required=False)
    service = serializers.IntegerField(required=False)
    status = serializers.ChoiceField(choices=WaitlistEntry.Status.choices, required=False)
