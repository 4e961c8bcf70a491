from rest_framework import serializers

from clinic.models import MAX_REMINDER_OFFSET_MINUTES, ClinicSettings, Location, Room


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
            "is_virtual",
            "virtual_instructions",
            "is_active",
            "rooms",
        ]


class ClinicSettingsSerializer(serializers.ModelSerializer):
    reminder_offsets_minutes = serializers.ListField(
        child=serializers.IntegerField(min_value=1, max_value=MAX_REMINDER_OFFSET_MINUTES),
        max_length=6,
        help_text="Minutes before the start at which reminders go out, e.g. [1440, 120].",
    )

    class Meta:
        model = ClinicSettings
        exclude = ["id"]
        read_only_fields = ["updated_at"]

    def validate_reminder_offsets_minutes(self, value: list[int]) -> list[int]:
        """Distinct offsets, largest first, so the ledger plans each reminder once."""
        if len(set(value)) != len(value):
            raise serializers.ValidationError("Each reminder offset may appear once.", "duplicate")
        return sorted(value, reverse=True)
