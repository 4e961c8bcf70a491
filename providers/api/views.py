"""Staff and public API views: thin, they parse, call a service or selector and render."""

from django import forms
from django.db.models import QuerySet
from django.utils import timezone
from django_filters import rest_framework as filters
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics, mixins, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response

from clinic.api.permissions import IsStaffMember, StaffReadManagerWrite
from clinic.api.public import PublicAPIMixin
from providers import selectors, services
from providers.api import serializers as s
from providers.models import (
    Act,
    Credential,
    CredentialRequirement,
    Discipline,
    Provider,
    ScopeRule,
    ScopeRuleChange,
)
from providers.service_directory import service_directory


class NoDeleteModelViewSet(
    mixins.CreateModelMixin,
    mixins.RetrieveModelMixin,
    mixins.UpdateModelMixin,
    mixins.ListModelMixin,
    viewsets.GenericViewSet,
):
    """Rows other records point at are deactivated or edited, never deleted through the API."""


@extend_schema(tags=["providers"])
class DisciplineViewSet(NoDeleteModelViewSet):
    serializer_class = s.DisciplineSerializer
    queryset = Discipline.objects.all()
    permission_classes = [StaffReadManagerWrite]
    filterset_fields = ["code", "is_public"]
    search_fields = ["name", "code"]


@extend_schema(tags=["providers"])
class ActViewSet(NoDeleteModelViewSet):
    serializer_class = s.ActSerializer
    queryset = Act.objects.all()
    permission_classes = [StaffReadManagerWrite]
    filterset_fields = ["code", "is_clinical"]
    search_fields = ["name", "code"]


class ScopeRuleFilter(filters.FilterSet):
    discipline = filters.CharFilter(field_name="discipline__code")
    act = filters.CharFilter(field_name="act__code")

    class Meta:
        model = ScopeRule
        fields = ["discipline", "act", "jurisdiction", "allowed"]


@extend_schema(tags=["providers"])
class ScopeRuleViewSet(viewsets.ModelViewSet):
    """Scope rules; every create, change and delete is kept in the rule history."""

    serializer_class = s.ScopeRuleSerializer
    queryset = ScopeRule.objects.select_related("discipline", "act")
    permission_classes = [StaffReadManagerWrite]
    filterset_class = ScopeRuleFilter

    def perform_create(self, serializer) -> None:
        rule = ScopeRule(**serializer.validated_data)
        serializer.instance = services.save_scope_rule(rule, actor=self.request.user, channel="api")

    def perform_update(self, serializer) -> None:
        rule = serializer.instance
        for name, value in serializer.validated_data.items():
            setattr(rule, name, value)
        services.save_scope_rule(rule, actor=self.request.user, channel="api")

    def perform_destroy(self, instance: ScopeRule) -> None:
        services.delete_scope_rule(instance, actor=self.request.user, channel="api")


@extend_schema(tags=["providers"])
class ScopeRuleChangeViewSet(viewsets.ReadOnlyModelViewSet):
    """Who changed which scope rule, when, from what to what."""

    serializer_class = s.ScopeRuleChangeSerializer
    queryset = ScopeRuleChange.objects.all()
    permission_classes = [IsStaffMember]
    filterset_fields = ["discipline_code", "act_code", "jurisdiction", "action"]


@extend_schema(tags=["providers"])
class CredentialRequirementViewSet(viewsets.ReadOnlyModelViewSet):
    serializer_class = s.CredentialRequirementSerializer
    queryset = CredentialRequirement.objects.select_related("discipline")
    permission_classes = [IsStaffMember]


@extend_schema(tags=["providers"])
class CredentialViewSet(viewsets.ModelViewSet):
    serializer_class = s.CredentialSerializer
    queryset = Credential.objects.select_related("provider").prefetch_related("endorsements")
    permission_classes = [StaffReadManagerWrite]
    filterset_fields = ["provider", "kind", "jurisdiction", "status"]

    def perform_create(self, serializer) -> None:
        data = dict(serializer.validated_data)
        provider = data.pop("provider")
        serializer.instance = services.create_credential(provider, **data)

    def perform_update(self, serializer) -> None:
        services.update_credential(serializer.instance, **serializer.validated_data)


class IdFilter(filters.NumberFilter):
    """A row id: a whole number from 1 to the largest 64-bit one, or a 400 naming the parameter.
    A plain ``NumberFilter`` passed any ``Decimal`` on, and a huge one overflowed in SQLite (a
    500)."""

    field_class = forms.IntegerField

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, min_value=1, max_value=2**63 - 1, **kwargs)


class ProviderFilter(filters.FilterSet):
    discipline = filters.CharFilter(field_name="discipline__code")
    location = IdFilter(field_name="locations")

    class Meta:
        model = Provider
        fields = ["discipline", "location", "is_active"]


@extend_schema(tags=["providers"])
class ProviderViewSet(NoDeleteModelViewSet):
    """Providers with their credentials; deactivate instead of deleting (history points here)."""

    serializer_class = s.ProviderSerializer
    queryset = Provider.objects.select_related("discipline").prefetch_related(
        "locations", "credentials__endorsements"
    )
    permission_classes = [StaffReadManagerWrite]
    filterset_class = ProviderFilter
    search_fields = ["display_name"]

    def get_queryset(self) -> QuerySet[Provider]:
        if self.action == "scope":
            return Provider.objects.all()  # the scope index reads what it needs itself
        return super().get_queryset()

    def perform_create(self, serializer) -> None:
        serializer.instance = services.create_provider(**serializer.validated_data)

    def perform_update(self, serializer) -> None:
        services.update_provider(serializer.instance, **serializer.validated_data)

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "location", int, description="Required unless the provider works at one location"
            ),
            OpenApiParameter(
                "date", OpenApiTypes.DATE, description="Local date; today at the location"
            ),
        ],
        responses=s.ProviderScopeSerializer,
    )
    @action(detail=True, methods=["get"], filter_backends=[], pagination_class=None)
    def scope(self, request: Request, pk=None) -> Response:
        """Every act, allowed or refused with reasons, at a location on a local date."""
        provider = self.get_object()
        query = s.ScopeQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        location = query.validated_data.get("location") or selectors.only_location(provider)
        if location is None:
            raise ValidationError(
                {"location": ["Required: this provider works at several locations, or none."]}
            )
        on = query.validated_data.get("date") or timezone.now().astimezone(location.zone).date()
        body = {
            "provider": provider.pk,
            "location": location.pk,
            "jurisdiction": location.jurisdiction,
            "timezone": location.timezone,
            "date": on,
            "acts": selectors.provider_scope(provider, location, on),
        }
        return Response(s.ProviderScopeSerializer(body).data)


@extend_schema(tags=["public"])
class PublicDisciplineList(PublicAPIMixin, generics.ListAPIView):
    """Disciplines shown in the booking widget."""

    serializer_class = s.PublicDisciplineSerializer
    pagination_class = None
    filter_backends: list = []

    def get_queryset(self) -> QuerySet[Discipline]:
        return selectors.public_disciplines()


@extend_schema(
    tags=["public"],
    parameters=[
        OpenApiParameter("location", int),
        OpenApiParameter("discipline", str, description="discipline code"),
        OpenApiParameter("service", int),
    ],
)
class PublicProviderList(PublicAPIMixin, generics.ListAPIView):
    """Active providers for the widget, filtered by location, discipline and offered service."""

    serializer_class = s.PublicProviderSerializer
    pagination_class = None
    filter_backends: list = []

    def list(self, request: Request, *args, **kwargs) -> Response:
        query = s.PublicProviderQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        location = query.validated_data.get("location")
        location_id = location.pk if location else None
        directory = service_directory()
        provider_ids = None
        if "service" in query.validated_data:
            provider_ids = directory.provider_ids_for_service(
                query.validated_data["service"], location_id
            )
            if provider_ids is None:
                raise ValidationError({"service": ["No online-bookable service with this id."]})
        providers = list(
            selectors.public_providers(
                location=location,
                discipline=query.validated_data.get("discipline"),
                provider_ids=provider_ids,
            )
        )
        services_by_provider = directory.service_ids_by_provider(
            [p.pk for p in providers], location_id
        )
        serializer = self.get_serializer(
            providers, many=True, context={"services_by_provider": services_by_provider}
        )
        return Response(serializer.data)
