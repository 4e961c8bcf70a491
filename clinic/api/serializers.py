from rest_framework import serializers

from clinic.models import ClinicSettings, Location, Room


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
    class Meta:
        model = ClinicSettings
        exclude = ["id"]
        read_only_fields = ["updated_at"]
