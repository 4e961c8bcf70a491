"""Staff API for patients, consent, referrals and the audit log; public triage and unsubscribe.

Who sees what (DOMAIN.md section 8): front desk reads and edits contact details and consent but
never clinical parts; a clinician sees only the patients they may read clinically, with those
parts; managers see everything. Clinical reads and every change are written to the audit log.
"""

import django_filters
from django.db.models import Prefetch, QuerySet
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.permissions import SAFE_METHODS, BasePermission
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from clinic import roles
from clinic.api.parsers import FormParser, JSONParser, MultiPartParser
from clinic.api.permissions import IsManager
from clinic.api.public import PublicAPIMixin
from clinic.audit import AuditedViewMixin, client_address
from clinic.models import AuditEvent
from patients import referrals, selectors, services, tokens
from patients.access import clinical_patient_ids_for, sees_clinical_content
from patients.api import serializers as s
from patients.models import Consent, Patient, Referral, ReferralStatusChange
from patients.triage import triage


class PatientAccess(BasePermission):
    """Every role reads (clinicians only their own patients); front desk and managers write."""

    message = "Only front desk and managers may change patient details."

    def has_permission(self, request, view) -> bool:
        if request.method in SAFE_METHODS:
            return roles.has_staff_role(request.user)
        return roles.runs_the_desk(request.user)


class ClinicalStaff(BasePermission):
    """Clinical records: clinicians (row-filtered) and managers; never front desk."""

    message = "Only clinicians and managers may see clinical records."

    def has_permission(self, request, view) -> bool:
        return sees_clinical_content(request.user)


def _restrict_to_clinical(queryset: QuerySet, user, field: str = "pk") -> QuerySet:
    ids = clinical_patient_ids_for(user)
    return queryset if ids is None else queryset.filter(**{f"{field}__in": ids})


class PatientFilter(django_filters.FilterSet):
    class Meta:
        model = Patient
        fields = ["status", "preferred_location", "preferred_language"]


@extend_schema(tags=["patients"])
class PatientViewSet(
    AuditedViewMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    viewsets.GenericViewSet,
):
    """Patients. ``?search=`` matches name, e-mail and phone. Front desk gets contact details and
    consent; clinicians (their patients only) and managers also get referrals. Patients are
    archived (``status``), never deleted."""

    permission_classes = [PatientAccess]
    filterset_class = PatientFilter
    search_fields = ["first_name", "last_name", "email", "phone"]
    ordering_fields = ["last_name", "created_at", "updated_at"]
    audit_patient_path = "pk"

    def audits_read(self, request) -> bool:
        return sees_clinical_content(request.user)

    def get_queryset(self) -> QuerySet:
        user = self.request.user
        queryset = Patient.objects.prefetch_related("consents")
        if roles.is_clinician(user) and not roles.is_manager(user):
            queryset = _restrict_to_clinical(queryset, user)
        if sees_clinical_content(user):
            queryset = queryset.prefetch_related(
                Prefetch("referrals", queryset=Referral.objects.select_related("to_discipline"))
            )
        return queryset

    def get_serializer_class(self):
        if self.request.method in SAFE_METHODS and sees_clinical_content(self.request.user):
            return s.PatientClinicalSerializer
        return s.PatientSerializer

    def perform_create(self, serializer) -> None:
        serializer.instance = services.create_patient(
            actor=self.request.user, request=self.request, **serializer.validated_data
        )

    def perform_update(self, serializer) -> None:
        serializer.instance = services.update_patient(
            serializer.instance,
            actor=self.request.user,
            request=self.request,
            **serializer.validated_data,
        )

    @extend_schema(
        methods=["GET"], responses=s.ConsentSerializer(many=True), summary="Consent history"
    )
    @extend_schema(
        methods=["POST"],
        request=s.ConsentRecordSerializer,
        responses={201: s.ConsentStateSerializer},
        summary="Record consent decisions given to staff",
    )
    @action(detail=True, methods=["get", "post"], url_path="consents", pagination_class=None)
    def consents(self, request: Request, pk=None) -> Response:
        """GET: every consent record, newest first. POST: record decisions (source ``staff``)."""
        patient = self.get_object()
        if request.method == "GET":
            history = selectors.consent_history(patient).select_related("recorded_by")
            return Response(s.ConsentSerializer(history, many=True).data)
        body = s.ConsentRecordSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        services.record_consents(
            patient,
            choices=dict(body.validated_data["choices"]),
            source=Consent.Source.STAFF,
            wording_version=body.validated_data.get("wording_version", ""),
            actor=request.user,
            request=request,
        )
        return Response(selectors.current_consents(patient), status=status.HTTP_201_CREATED)


class ReferralFilter(django_filters.FilterSet):
    to_discipline = django_filters.CharFilter(field_name="to_discipline__code")

    class Meta:
        model = Referral
        fields = ["status", "patient", "from_provider", "to_provider", "to_discipline"]


@extend_schema(tags=["patients"])
class ReferralViewSet(
    AuditedViewMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    viewsets.GenericViewSet,
):
    """Referrals between disciplines, with their status history. Clinicians see referrals of
    the patients they may read clinically (including those referred to them)."""

    serializer_class = s.ReferralSerializer
    permission_classes = [ClinicalStaff]
    filterset_class = ReferralFilter
    ordering_fields = ["created_at", "status_changed_at"]

    def get_queryset(self) -> QuerySet:
        queryset = Referral.objects.select_related(
            "patient",
            "from_provider",
            "to_provider",
            "to_discipline",
            "created_by",
            "status_changed_by",
        ).prefetch_related(
            Prefetch("history", queryset=ReferralStatusChange.objects.select_related("changed_by"))
        )
        return _restrict_to_clinical(queryset, self.request.user, "patient_id")

    def perform_create(self, serializer) -> None:
        user = self.request.user
        data = serializer.validated_data
        serializer.instance = referrals.create_referral(
            patient=data["patient"],
            from_provider=referrals.referrer_for(user, data.get("from_provider")),
            to_discipline=data["to_discipline"],
            to_provider=data.get("to_provider"),
            reason=data["reason"],
            actor=user,
            request=self.request,
        )
        serializer.instance = self.get_queryset().get(pk=serializer.instance.pk)

    @extend_schema(request=s.ReferralStatusSerializer, responses=s.ReferralSerializer)
    @action(detail=True, methods=["post"], url_path="status", url_name="status")
    def change_status(self, request: Request, pk=None) -> Response:
        """Accept, complete or decline. The receiving provider (or, for an unnamed referral, a
        clinician of the discipline) or a manager; the referrer may decline an open one."""
        referral = self.get_object()
        body = s.ReferralStatusSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        referrals.change_referral_status(
            referral,
            status=body.validated_data["status"],
            note=body.validated_data["note"],
            actor=request.user,
            request=request,
        )
        return Response(self.get_serializer(self.get_queryset().get(pk=referral.pk)).data)


class AuditEventFilter(django_filters.FilterSet):
    occurred_after = django_filters.IsoDateTimeFilter(field_name="occurred_at", lookup_expr="gte")
    occurred_before = django_filters.IsoDateTimeFilter(field_name="occurred_at", lookup_expr="lt")

    class Meta:
        model = AuditEvent
        fields = ["actor", "action", "object_type", "object_id", "patient_id", "channel"]


@extend_schema(tags=["audit"])
class AuditEventViewSet(viewsets.ReadOnlyModelViewSet):
    """The append-only audit log, for managers."""

    serializer_class = s.AuditEventSerializer
    permission_classes = [IsManager]
    queryset = AuditEvent.objects.all()
    filterset_class = AuditEventFilter
    ordering_fields = ["occurred_at"]


# --- Public -----------------------------------------------------------------------------------


@extend_schema(
    tags=["public"],
    request=s.TriageRequestSerializer,
    responses={200: s.TriageResponseSerializer},
)
class TriageView(PublicAPIMixin, APIView):
    """Intake triage: turn the questionnaire into ranked disciplines with reasons. Red flags
    always put physiotherapy first. Not medical advice; nothing is stored."""

    def post(self, request: Request) -> Response:
        body = s.TriageRequestSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        result = triage(s.to_triage_answers(body.validated_data["answers"]))
        return Response(s.TriageResponseSerializer(result).data)


def _masked(email: str) -> str:
    local, _, domain = email.partition("@")
    return f"{local[:1]}***@{domain}" if domain else "***"


TOKEN_PARAMETER = OpenApiParameter(
    "token", OpenApiTypes.STR, OpenApiParameter.QUERY, required=True, description="From the link."
)


@extend_schema(tags=["public"], parameters=[TOKEN_PARAMETER])
class UnsubscribeView(PublicAPIMixin, APIView):
    """One-click withdrawal from an e-mail link (RFC 8058).

    GET shows what the link withdraws; POST withdraws it at once (a mail client's one-click POST
    sends ``List-Unsubscribe=One-Click`` as a form body). An invalid token is a 404 problem.
    """

    parser_classes = [FormParser, MultiPartParser, JSONParser]

    def _payload(self, patient: Patient, purpose: str, detail: str) -> dict:
        return s.UnsubscribeSerializer(
            {
                "purpose": purpose,
                "purpose_label": Consent.Purpose(purpose).label,
                "email": _masked(patient.email),
                "granted": selectors.has_consent(patient, purpose),
                "detail": detail,
            }
        ).data

    def _token(self, request: Request) -> str:
        token = request.query_params.get("token", "")
        if not token and hasattr(request.data, "get"):
            token = request.data.get("token", "")
        return token

    @extend_schema(responses={200: s.UnsubscribeSerializer})
    def get(self, request: Request) -> Response:
        patient, purpose = tokens.read_unsubscribe_token(self._token(request))
        label = Consent.Purpose(purpose).label.lower()
        return Response(
            self._payload(patient, purpose, f"Confirm to stop {label} to this address.")
        )

    @extend_schema(request=None, responses={200: s.UnsubscribeSerializer})
    def post(self, request: Request) -> Response:
        patient, purpose = tokens.read_unsubscribe_token(self._token(request))
        services.withdraw_consent(
            patient,
            purpose,
            source=Consent.Source.EMAIL_LINK,
            client_address=client_address(request),
            request=request,
        )
        label = Consent.Purpose(purpose).label.lower()
        return Response(self._payload(patient, purpose, f"Done: no more {label}."))
