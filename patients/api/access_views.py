"""Staff API for access that real care does not explain: managers' grants and "break the glass".

Managers list, give and revoke grants, and review every emergency access. A clinician breaks the
glass for one patient with a reason and sees their own emergency accesses; front desk neither.
"""

import django_filters
from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.response import Response

from clinic import roles
from clinic.api.permissions import IsManager
from patients import grants
from patients.access import provider_for
from patients.api import serializers as s
from patients.models import AccessGrant, EmergencyAccess


class AccessGrantFilter(django_filters.FilterSet):
    active = django_filters.BooleanFilter(field_name="revoked_at", lookup_expr="isnull")

    class Meta:
        model = AccessGrant
        fields = ["patient", "provider", "active"]


@extend_schema(tags=["patients"])
class AccessGrantViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    viewsets.GenericViewSet,
):
    """Managers' grants of clinical access, with the reason; revoked, never deleted."""

    serializer_class = s.AccessGrantSerializer
    permission_classes = [IsManager]
    filterset_class = AccessGrantFilter
    ordering_fields = ["granted_at"]

    def get_queryset(self) -> QuerySet:
        return AccessGrant.objects.select_related("patient", "provider", "granted_by", "revoked_by")

    def perform_create(self, serializer) -> None:
        data = serializer.validated_data
        serializer.instance = grants.grant_access(
            patient=data["patient"],
            provider=data["provider"],
            reason=data["reason"],
            ends_at=data.get("ends_at"),
            actor=self.request.user,
            request=self.request,
        )

    @extend_schema(request=None, responses=s.AccessGrantSerializer)
    @action(detail=True, methods=["post"], url_path="revoke", url_name="revoke")
    def revoke(self, request: Request, pk=None) -> Response:
        grant = grants.revoke_grant(self.get_object(), actor=request.user, request=request)
        return Response(self.get_serializer(self.get_queryset().get(pk=grant.pk)).data)


class BreaksTheGlass(BasePermission):
    """Managers review; clinicians open (and see their own); front desk never."""

    message = "Only clinicians and managers."

    def has_permission(self, request, view) -> bool:
        if request.method == "POST":
            return roles.is_clinician(request.user) and not roles.is_manager(request.user)
        return roles.is_manager(request.user) or roles.is_clinician(request.user)


@extend_schema(tags=["patients"])
class EmergencyAccessViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    viewsets.GenericViewSet,
):
    """Break the glass: a clinician opens a record without a care relationship, in an
    emergency, for ``CLINICAL_EMERGENCY_ACCESS_HOURS``. The reason is required and audited."""

    serializer_class = s.EmergencyAccessSerializer
    permission_classes = [BreaksTheGlass]
    filterset_fields = ["patient", "provider"]
    ordering_fields = ["opened_at"]

    def get_queryset(self) -> QuerySet:
        queryset = EmergencyAccess.objects.select_related("patient", "provider", "opened_by")
        if roles.is_manager(self.request.user):
            return queryset
        return queryset.filter(provider=provider_for(self.request.user))

    def create(self, request: Request, *args, **kwargs) -> Response:
        body = self.get_serializer(data=request.data)
        body.is_valid(raise_exception=True)
        access = grants.break_the_glass(
            patient=body.validated_data["patient"],
            reason=body.validated_data["reason"],
            actor=request.user,
            request=request,
        )
        fresh = self.get_queryset().get(pk=access.pk)
        return Response(self.get_serializer(fresh).data, status=status.HTTP_201_CREATED)
