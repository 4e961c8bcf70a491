from drf_spectacular.utils import extend_schema
from rest_framework import generics, viewsets

from clinic.api.permissions import StaffReadManagerWrite
from clinic.api.public import PublicAPIMixin
from clinic.api.serializers import (
    ClinicSettingsSerializer,
    LocationSerializer,
    PublicLocationSerializer,
    RoomSerializer,
)
from clinic.models import ClinicSettings, Location, Room


@extend_schema(tags=["public"])
class PublicLocationList(PublicAPIMixin, generics.ListAPIView):
    """Active locations, for the booking widget's first step."""

    serializer_class = PublicLocationSerializer
    queryset = Location.objects.filter(is_active=True)
    pagination_class = None
    filter_backends: list = []


@extend_schema(tags=["clinic"])
class LocationViewSet(viewsets.ModelViewSet):
    serializer_class = LocationSerializer
    queryset = Location.objects.prefetch_related("rooms")
    permission_classes = [StaffReadManagerWrite]
    filterset_fields = ["jurisdiction", "is_virtual", "is_active"]
    search_fields = ["name", "city"]


@extend_schema(tags=["clinic"])
class RoomViewSet(viewsets.ModelViewSet):
    serializer_class = RoomSerializer
    queryset = Room.objects.select_related("location")
    permission_classes = [StaffReadManagerWrite]
    filterset_fields = ["location", "kind", "is_active"]


@extend_schema(tags=["clinic"])
class ClinicSettingsView(generics.RetrieveUpdateAPIView):
    """The organisation's booking-policy defaults, reminder offsets and care-plan rules."""

    serializer_class = ClinicSettingsSerializer
    permission_classes = [StaffReadManagerWrite]

    def get_object(self) -> ClinicSettings:
        return ClinicSettings.load()
