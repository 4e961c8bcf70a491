"""Staff API: services, offerings, availability rules, exceptions, closures, booking policy,
appointments with their lifecycle actions, and the call-back queue.

Configuration is read by every staff role and changed by managers. Appointments: managers and
front desk see all, clinicians their own schedule; front desk never gets the clinical ``reason``.
Call-backs are the front desk's (and managers') queue.
"""

from django.db.models import ProtectedError
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.response import Response

from clinic import roles
from clinic.api.permissions import IsStaffMember, StaffReadManagerWrite
from clinic.audit import AuditedViewMixin
from clinic.errors import ConflictProblem
from clinic.models import AuditEvent
from patients.access import sees_clinical_content
from scheduling import selectors, services
from scheduling.api import serializers as s
from scheduling.availability import search
from scheduling.bookability import offering_problems
from scheduling.models import (
    Appointment,
    AvailabilityException,
    BookingPolicyOverride,
    CallbackRequest,
    Closure,
    Offering,
    Service,
    WeeklyAvailability,
)


class IsFrontDeskOrManager(BasePermission):
    message = "Only front desk and managers work the call-back queue."

    def has_permission(self, request, view) -> bool:
        return roles.runs_the_desk(request.user)


@extend_schema(tags=["scheduling"])
class ServiceViewSet(viewsets.ModelViewSet):
    """Appointment types. ``disciplines`` is derived from the scope rules of the required acts."""

    serializer_class = s.ServiceSerializer
    permission_classes = [StaffReadManagerWrite]
    queryset = Service.objects.prefetch_related("required_acts").order_by("name")
    filterset_fields = ["is_active", "online_bookable", "modality", "is_free_consult"]
    search_fields = ["name", "code"]

    def get_serializer_context(self):
        context = super().get_serializer_context()
        services_ = getattr(self, "_page_services", None)
        if services_ is not None:
            context["disciplines"] = selectors.service_disciplines(services_)
        return context

    def paginate_queryset(self, queryset):
        page = super().paginate_queryset(queryset)
        self._page_services = list(page) if page is not None else list(queryset)
        return page

    def get_object(self):
        obj = super().get_object()
        self._page_services = [obj]
        return obj

    def perform_destroy(self, instance: Service) -> None:
        try:
            instance.delete()
        except ProtectedError:
            raise ConflictProblem(
                f"{instance.name} has appointments; deactivate it instead of deleting it.",
                slug="in-use",
                title="Still in use.",
            ) from None


@extend_schema(tags=["scheduling"])
class OfferingViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet,
):
    """Who offers what where. Creating one is refused (422 ``out-of-scope``) unless the
    provider's scope covers every act the service requires at that location."""

    serializer_class = s.OfferingSerializer
    permission_classes = [StaffReadManagerWrite]
    queryset = Offering.objects.select_related("provider", "service", "location")
    filterset_fields = ["provider", "service", "location", "is_active"]

    def list(self, request: Request, *args, **kwargs) -> Response:
        """One judgement of bookability for the whole page, not one per row."""
        page = self.paginate_queryset(self.filter_queryset(self.get_queryset()))
        context = {**self.get_serializer_context(), "offering_problems": offering_problems(page)}
        data = self.get_serializer_class()(page, many=True, context=context).data
        return self.get_paginated_response(data)

    def create(self, request: Request, *args, **kwargs) -> Response:
        body = self.get_serializer(data=request.data)
        body.is_valid(raise_exception=True)
        offering = services.create_offering(
            provider=body.validated_data["provider"],
            service=body.validated_data["service"],
            location=body.validated_data["location"],
        )
        return Response(self.get_serializer(offering).data, status=status.HTTP_201_CREATED)


@extend_schema(tags=["scheduling"])
class WeeklyAvailabilityViewSet(viewsets.ModelViewSet):
    """Weekly working hours per provider and location (local times), with validity dates."""

    serializer_class = s.WeeklyAvailabilitySerializer
    permission_classes = [StaffReadManagerWrite]
    queryset = WeeklyAvailability.objects.select_related("provider", "location")
    filterset_fields = ["provider", "location", "weekday"]


@extend_schema(tags=["scheduling"])
class AvailabilityExceptionViewSet(viewsets.ModelViewSet):
    """Time off and extra hours."""

    serializer_class = s.AvailabilityExceptionSerializer
    permission_classes = [StaffReadManagerWrite]
    queryset = AvailabilityException.objects.select_related("provider", "location")
    filterset_fields = ["provider", "location", "kind"]


@extend_schema(tags=["scheduling"])
class ClosureViewSet(viewsets.ModelViewSet):
    serializer_class = s.ClosureSerializer
    permission_classes = [StaffReadManagerWrite]
    queryset = Closure.objects.select_related("location")
    filterset_fields = ["location"]


@extend_schema(tags=["scheduling"])
class BookingPolicyOverrideViewSet(viewsets.ModelViewSet):
    """Per-location or per-service booking policy; blank fields fall back to the clinic's."""

    serializer_class = s.BookingPolicyOverrideSerializer
    permission_classes = [StaffReadManagerWrite]
    queryset = BookingPolicyOverride.objects.select_related("location", "service").order_by("pk")
    filterset_fields = ["location", "service"]


@extend_schema(tags=["scheduling"])
class AppointmentViewSet(
    AuditedViewMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    viewsets.GenericViewSet,
):
    """Appointments with their lifecycle actions. Create books through the same service as
    the public widget (scope, policy, conflicts); changes go through the actions."""

    serializer_class = s.AppointmentSerializer
    permission_classes = [IsStaffMember]
    filterset_fields = {
        "start": ["gte", "lt", "date"],
        "location": ["exact"],
        "provider": ["exact"],
        "patient": ["exact"],
        "service": ["exact"],
        "status": ["exact", "in"],
        "source": ["exact"],
        "needs_rebooking": ["exact"],
    }
    search_fields = ["reference", "patient__last_name", "patient__email"]
    ordering_fields = ["start", "created_at"]
    audit_patient_path = "patient_id"

    def audits_read(self, request) -> bool:
        """Reads are logged for those who get the clinical ``reason``."""
        return sees_clinical_content(request.user)

    def get_queryset(self):
        return selectors.appointments_for(self.request.user)

    def get_serializer_context(self):
        context = super().get_serializer_context()
        context["hide_clinical"] = not sees_clinical_content(self.request.user)
        return context

    def _render(
        self, appointment: Appointment, code: int = status.HTTP_200_OK, summary: str = ""
    ) -> Response:
        appointment = Appointment.objects.select_related(
            "patient", "provider", "service", "location", "room"
        ).get(pk=appointment.pk)
        created = code == status.HTTP_201_CREATED
        action = AuditEvent.Action.CREATE if created else AuditEvent.Action.UPDATE
        self.audit(
            action,
            appointment,
            changes={"status": appointment.status, "start": appointment.start},
            summary=summary or self.action,
        )
        return Response(self.get_serializer(appointment).data, status=code)

    @extend_schema(request=s.StaffBookingSerializer, responses={201: s.AppointmentSerializer})
    def create(self, request: Request, *args, **kwargs) -> Response:
        body = s.StaffBookingSerializer(data=request.data, context={"request": request})
        body.is_valid(raise_exception=True)
        data = body.validated_data
        appointment = services.book_appointment(
            service=data["service"],
            location=data["location"],
            start=data["start"],
            patient=data["patient"],
            provider=data["provider"],
            source=Appointment.Source.STAFF,
            actor=request.user,
            reason=data["reason"],
        )
        return self._render(appointment, status.HTTP_201_CREATED)

    def _status_action(self, request: Request, name: str) -> Response:
        appointment = services.change_status(self.get_object(), name, actor=request.user)
        return self._render(appointment)

    @extend_schema(request=None)
    @action(detail=True, methods=["post"])
    def confirm(self, request: Request, pk=None) -> Response:
        return self._status_action(request, "confirm")

    @extend_schema(request=None)
    @action(detail=True, methods=["post"])
    def arrive(self, request: Request, pk=None) -> Response:
        return self._status_action(request, "arrive")

    @extend_schema(request=None)
    @action(detail=True, methods=["post"])
    def complete(self, request: Request, pk=None) -> Response:
        return self._status_action(request, "complete")

    @extend_schema(request=None)
    @action(detail=True, methods=["post"], url_path="no-show")
    def no_show(self, request: Request, pk=None) -> Response:
        return self._status_action(request, "no_show")

    @extend_schema(request=s.StaffCancelSerializer)
    @action(detail=True, methods=["post"])
    def cancel(self, request: Request, pk=None) -> Response:
        body = s.StaffCancelSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        appointment = services.cancel_appointment(
            self.get_object(),
            reason=body.validated_data["reason"],
            by=body.validated_data["by"],
            actor=request.user,
        )
        return self._render(appointment)

    @extend_schema(request=s.StaffRescheduleSerializer)
    @action(detail=True, methods=["post"])
    def reschedule(self, request: Request, pk=None) -> Response:
        body = s.StaffRescheduleSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        appointment = services.reschedule_appointment(
            self.get_object(),
            start=body.validated_data["start"],
            provider=body.validated_data["provider"],
            actor=request.user,
        )
        return self._render(appointment)

    @extend_schema(
        request=s.ConsultOutcomeRequestSerializer, responses={200: s.ConsultOutcomeSerializer}
    )
    @action(detail=True, methods=["post"])
    def outcome(self, request: Request, pk=None) -> Response:
        """The free consult's provider (or a manager) records the recommended path and may
        book the first real appointment."""
        body = s.ConsultOutcomeRequestSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        outcome = services.record_consult_outcome(
            self.get_object(),
            recommended_path=body.validated_data["recommended_path"],
            notes=body.validated_data["notes"],
            first_appointment=body.validated_data["first_appointment"],
            actor=request.user,
        )
        return Response(s.ConsultOutcomeSerializer(outcome).data)

    @extend_schema(responses={200: s.AppointmentEventSerializer(many=True)})
    @action(detail=True, methods=["get"], pagination_class=None)
    def history(self, request: Request, pk=None) -> Response:
        events = self.get_object().events.all()
        context = self.get_serializer_context()
        return Response(s.AppointmentEventSerializer(events, many=True, context=context).data)

    @extend_schema(
        parameters=[s.StaffSlotQuerySerializer],
        responses={200: s.AvailabilityResponseSerializer},
    )
    @action(detail=False, methods=["get"])
    def slots(self, request: Request) -> Response:
        """Free start times for staff booking (no online notice or horizon; never the past)."""
        query = s.StaffSlotQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        data = query.validated_data
        location = data["location"]
        provider = data.get("provider")
        result = search(
            service=data["service"],
            location=location,
            start_date=data["start"],
            end_date=data["end"],
            provider_ids=[provider.pk] if provider else None,
            online=False,
        )
        zone = location.zone
        return Response(
            {
                "service": data["service"].pk,
                "location": location.pk,
                "timezone": location.timezone,
                "slots": [
                    {
                        "start": slot.start.astimezone(zone).isoformat(),
                        "end": slot.end.astimezone(zone).isoformat(),
                        "provider": slot.provider_id,
                        "spots_left": slot.spots_left,
                    }
                    for slot in result.slots
                ],
            }
        )


@extend_schema(tags=["scheduling"])
class CallbackRequestViewSet(
    AuditedViewMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.UpdateModelMixin,
    viewsets.GenericViewSet,
):
    """The front desk's call-back queue: new -> contacted -> closed."""

    serializer_class = s.CallbackRequestSerializer
    permission_classes = [IsFrontDeskOrManager]
    queryset = CallbackRequest.objects.all()
    filterset_fields = ["status"]
    search_fields = ["name", "phone", "email"]
    audit_reads = False  # contact details, not clinical content; changes are logged

    def perform_update(self, serializer) -> None:
        data = serializer.validated_data
        serializer.instance = services.update_callback(
            serializer.instance,
            status=data.get("status", serializer.instance.status),
            note=data.get("staff_note"),
            actor=self.request.user,
        )
        self.audit(AuditEvent.Action.UPDATE, serializer.instance, changes=dict(data))
