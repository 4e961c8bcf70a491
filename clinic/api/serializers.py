from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import serializers

from clinic.models import (
    MAX_REMINDER_OFFSET_MINUTES,
    MAX_REMINDER_OFFSETS,
    ClinicSettings,
    Location,
    Room,
    validate_reminder_offsets,
)


class PublicLocationSerializer(serializers.ModelSerializer):
    address = serializers.CharField(read_only=True)

    class Meta:
        model = Location
        fields = ["id", "name", "timezone", "address", "phone"]


class RoomSerializer(serializers.ModelSerializer):
    class Meta:
        model = Room
        fields = ["id", "location", "name", "kind", "capacity", "is_active"]


class LocationSerializer(serializers.ModelSerializer):
    address = serializers.CharField(read_only=True)
    rooms = RoomSerializer(many=True, read_only=True)

    class Meta:
        model = Location
        fields = [
            "id",
            "name",
            "slug",
            "address",
            "address_line",
            "city",
            "region",
            "postal_code",
            "country",
            "phone",
            "email",
            "timezone",
            "jurisdiction",
            "currency",
            "is_virtual",
            "virtual_instructions",
            "video_url",
            "is_active",
            "rooms",
        ]


class ClinicSettingsSerializer(serializers.ModelSerializer):
    reminder_offsets_minutes = serializers.ListField(
        child=serializers.IntegerField(min_value=1, max_value=MAX_REMINDER_OFFSET_MINUTES),
        max_length=MAX_REMINDER_OFFSETS,
        help_text="Minutes before the start at which reminders go out, e.g. [1440, 120].",
    )

    class Meta:
        model = ClinicSettings
        exclude = ["id"]
        read_only_fields = ["updated_at"]

    def validate_reminder_offsets_minutes(self, value: list[int]) -> list[int]:
        """The model's rule (the admin asks the same one), then largest first for reading."""
        try:
            validate_reminder_offsets(value)
        except DjangoValidationError as error:
            raise serializers.ValidationError(error.messages, error.code) from error
        return sorted(value, reverse=True)
