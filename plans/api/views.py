"""Staff API for care plans and the exercise library (DOMAIN.md sections 6 and 8).

Care plans are clinical records: front desk never sees them, clinicians see the plans of
patients they treat or were referred, managers all. Every read and change is written to the
audit log. Each change is one action calling one service function; its refusals come back as
problem+json (``out-of-scope``, ``precaution-conflict``, ``discharge-criteria-not-met``, ...).
"""

from django.db import transaction
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.permissions import SAFE_METHODS, BasePermission
from rest_framework.request import Request
from rest_framework.response import Response

from clinic import roles
from clinic.audit import AuditedViewMixin
from clinic.errors import NotFoundProblem
from clinic.models import Location
from patients.access import sees_clinical_content, visible_patients
from plans import selectors, services
from plans.api import serializers as s
from plans.models import (
    CarePlan,
    Exercise,
    ExercisePrescription,
    PlannedIntervention,
    Precaution,
    ProgramVersion,
)
from providers.models import Provider


class ClinicalStaff(BasePermission):
    """Clinicians (row-filtered to their patients) and managers; never front desk."""

    message = "Only clinicians and managers may see care plans."

    def has_permission(self, request, view) -> bool:
        return sees_clinical_content(request.user)


class LibraryAccess(BasePermission):
    """Every staff role reads the exercise library; managers and clinicians edit it."""

    message = "Only managers and clinicians may change the exercise library."

    def has_permission(self, request, view) -> bool:
        if request.method in SAFE_METHODS:
            return roles.has_staff_role(request.user)
        return sees_clinical_content(request.user)


@extend_schema(tags=["care plans"])
class ExerciseViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    viewsets.GenericViewSet,
):
    """The exercise library. Retire an exercise with ``is_active: false``; prescriptions keep
    pointing at it, so it is never deleted. ``?tag=impact`` lists exercises loading a movement."""

    serializer_class = s.ExerciseSerializer
    queryset = Exercise.objects.all()
    permission_classes = [LibraryAccess]
    filterset_fields = ["body_region", "category", "is_active"]
    search_fields = ["name", "instructions"]
    ordering_fields = ["name", "body_region", "category"]

    def perform_create(self, serializer) -> None:
        serializer.instance = services.save_exercise(Exercise(), **serializer.validated_data)

    def perform_update(self, serializer) -> None:
        serializer.instance = services.save_exercise(
            serializer.instance, **serializer.validated_data
        )

    def get_queryset(self):
        queryset = super().get_queryset()
        tag = self.request.query_params.get("tag")
        if tag:
            # Tags are a short JSON list; matching in Python keeps SQLite and PostgreSQL alike.
            ids = [e.pk for e in queryset.only("pk", "tags") if tag in e.tags]
            queryset = queryset.filter(pk__in=ids)
        return queryset


def _input(serializer_class, request: Request) -> dict:
    serializer = serializer_class(data=request.data)
    serializer.is_valid(raise_exception=True)
    return dict(serializer.validated_data)


REFUSALS = (
    "Refusals are problem+json: 403 `permission-denied` (not the plan's lead or maintenance "
    "owner, or no provider linked to the login), 404 (a plan you may not see), 422 with `type` "
    "`out-of-scope` (each reason code in `errors`), `precaution-conflict` (naming the "
    "precaution), `discharge-criteria-not-met`, `refer-back-not-indicated`, "
    "`invalid-transition` (the plan's phase does not allow it) or `validation-error`."
)


def _detail(summary: str, request=None, created: bool = False):
    """Schema of a plan action: its input, and the plan as it is afterwards."""
    code = status.HTTP_201_CREATED if created else status.HTTP_200_OK
    return extend_schema(
        summary=summary,
        description=REFUSALS,
        request=request,
        responses={code: s.CarePlanSerializer},
    )


@extend_schema(tags=["care plans"])
class CarePlanViewSet(
    AuditedViewMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    viewsets.GenericViewSet,
):
    """Care plans with their diagnoses, precautions, goals, interventions, prescriptions and
    outcome measures. Plans change only through the actions below, each checked against the
    acting provider's scope, their role on the plan and the plan's phase."""

    serializer_class = s.CarePlanSerializer
    permission_classes = [ClinicalStaff]
    filterset_fields = ["patient", "phase", "location", "lead", "maintenance_owner"]
    search_fields = ["title", "patient__last_name", "patient__first_name"]
    ordering_fields = ["created_at", "updated_at", "phase"]
    audit_patient_path = "patient_id"

    def get_queryset(self):
        return selectors.plans_visible_to(self.request.user)

    # --- helpers ------------------------------------------------------------------------------

    def _actor(self) -> services.Actor:
        return services.actor_for(self.request.user, self.request, "api")

    def _plan(self) -> CarePlan:
        return self.get_object()

    def _changed(self, plan: CarePlan, code: int = status.HTTP_200_OK) -> Response:
        """Answer with the plan as it is now (the service wrote the history and audit rows)."""
        fresh = selectors.plans_with_details().get(pk=plan.pk)
        return Response(s.CarePlanSerializer(fresh).data, status=code)

    def _part(self, model, plan: CarePlan, part_id: int):
        part = model.objects.filter(pk=part_id, plan=plan).first()
        if part is None:
            raise NotFoundProblem(f"No such {model._meta.verbose_name} on this plan.")
        return part

    # --- create -------------------------------------------------------------------------------

    @_detail("Open a plan in assessment", s.CreatePlanInput, created=True)
    @transaction.atomic
    def create(self, request: Request) -> Response:
        data = _input(s.CreatePlanInput, request)
        patient = get_object_or_404(visible_patients(request.user), pk=data["patient"])
        location = get_object_or_404(Location, pk=data["location"])
        lead = None
        if data.get("lead"):
            lead = get_object_or_404(Provider, pk=data["lead"])
        plan = services.create_plan(
            actor=self._actor(), patient=patient, location=location, title=data["title"], lead=lead
        )
        fresh = selectors.plans_with_details().get(pk=plan.pk)
        return Response(s.CarePlanSerializer(fresh).data, status=status.HTTP_201_CREATED)

    # --- reads --------------------------------------------------------------------------------

    @extend_schema(
        summary="The plan's history, oldest first (paginated)",
        responses=s.PlanEventSerializer(many=True),
    )
    @action(detail=True, methods=["get"], filter_backends=[])
    def history(self, request: Request, pk=None) -> Response:
        plan = self._plan()
        self.audit_reads_of([plan], summary="history")
        page = self.paginate_queryset(plan.events.order_by("at", "id"))
        return self.get_paginated_response(s.PlanEventSerializer(page, many=True).data)

    @extend_schema(
        summary="Whether the plan may move to maintenance without an override",
        responses=s.DischargeCriteriaSerializer,
    )
    @action(detail=True, methods=["get"], url_path="discharge-criteria")
    def discharge_criteria(self, request: Request, pk=None) -> Response:
        plan = self._plan()
        self.audit_reads_of([plan], summary="discharge criteria")
        return Response(selectors.discharge_criteria(plan).as_dict())

    @extend_schema(
        summary="The current home exercise program, as the patient's e-mail shows it",
        responses=s.ProgramVersionSerializer,
    )
    @action(detail=True, methods=["get"])
    def program(self, request: Request, pk=None) -> Response:
        plan = self._plan()
        self.audit_reads_of([plan], summary="program")
        version = plan.program_versions.order_by("-number").first()
        if version is None:
            # Nothing prescribed yet: an empty program, version 0.
            version = ProgramVersion(plan=plan, number=0, content=selectors.program_content(plan))
        return Response(s.ProgramVersionSerializer(version).data)

    # --- assessment ---------------------------------------------------------------------------

    @_detail(
        "Record a diagnosis (a provider who may diagnose, leading the plan)",
        s.DiagnosisInput,
        created=True,
    )
    @action(detail=True, methods=["post"])
    @transaction.atomic
    def diagnoses(self, request: Request, pk=None) -> Response:
        plan, data = self._plan(), _input(s.DiagnosisInput, request)
        services.record_diagnosis(plan, actor=self._actor(), **data)
        return self._changed(plan, status.HTTP_201_CREATED)

    @_detail("Record a precaution (movement tags to avoid)", s.PrecautionInput, created=True)
    @action(detail=True, methods=["post"])
    @transaction.atomic
    def precautions(self, request: Request, pk=None) -> Response:
        plan, data = self._plan(), _input(s.PrecautionInput, request)
        services.add_precaution(plan, actor=self._actor(), **data)
        return self._changed(plan, status.HTTP_201_CREATED)

    @_detail("Lift a precaution", s.ReasonInput)
    @action(detail=True, methods=["post"], url_path=r"precautions/(?P<precaution_id>[0-9]+)/lift")
    @transaction.atomic
    def lift_precaution(self, request: Request, pk=None, precaution_id=None) -> Response:
        plan, data = self._plan(), _input(s.ReasonInput, request)
        precaution = self._part(Precaution, plan, precaution_id)
        services.remove_precaution(precaution, actor=self._actor(), reason=data["reason"])
        return self._changed(plan)

    # --- rehabilitation -----------------------------------------------------------------------

    @_detail("Set a measurable goal", s.GoalInput, created=True)
    @action(detail=True, methods=["post"])
    @transaction.atomic
    def goals(self, request: Request, pk=None) -> Response:
        plan, data = self._plan(), _input(s.GoalInput, request)
        services.add_goal(plan, actor=self._actor(), **data)
        return self._changed(plan, status.HTTP_201_CREATED)

    @_detail(
        "Plan an intervention (an act the lead may perform)", s.InterventionInput, created=True
    )
    @action(detail=True, methods=["post"])
    @transaction.atomic
    def interventions(self, request: Request, pk=None) -> Response:
        plan, data = self._plan(), _input(s.InterventionInput, request)
        services.add_intervention(plan, actor=self._actor(), **data)
        return self._changed(plan, status.HTTP_201_CREATED)

    @_detail("Remove a planned intervention")
    @action(
        detail=True,
        methods=["post"],
        url_path=r"interventions/(?P<intervention_id>[0-9]+)/remove",
    )
    @transaction.atomic
    def remove_intervention(self, request: Request, pk=None, intervention_id=None) -> Response:
        plan = self._plan()
        intervention = self._part(PlannedIntervention, plan, intervention_id)
        services.remove_intervention(intervention, actor=self._actor())
        return self._changed(plan)

    @_detail("Set the session frequency", s.FrequencyInput)
    @action(detail=True, methods=["post"])
    @transaction.atomic
    def frequency(self, request: Request, pk=None) -> Response:
        plan, data = self._plan(), _input(s.FrequencyInput, request)
        services.set_session_frequency(plan, actor=self._actor(), **data)
        return self._changed(plan)

    # --- the exercise program -----------------------------------------------------------------

    @_detail(
        "Prescribe an exercise (refused against a precaution)", s.PrescriptionInput, created=True
    )
    @action(detail=True, methods=["post"])
    @transaction.atomic
    def prescriptions(self, request: Request, pk=None) -> Response:
        plan, data = self._plan(), _input(s.PrescriptionInput, request)
        exercise = data.pop("exercise")
        services.prescribe_exercise(plan, actor=self._actor(), exercise=exercise, **data)
        return self._changed(plan, status.HTTP_201_CREATED)

    @_detail("Change a prescription's dosage (a new version)", s.PrescriptionChangeInput)
    @action(
        detail=True,
        methods=["post"],
        url_path=r"prescriptions/(?P<prescription_id>[0-9]+)/change",
    )
    @transaction.atomic
    def change_prescription(self, request: Request, pk=None, prescription_id=None) -> Response:
        plan, data = self._plan(), _input(s.PrescriptionChangeInput, request)
        prescription = self._part(ExercisePrescription, plan, prescription_id)
        services.change_prescription(prescription, actor=self._actor(), **data)
        return self._changed(plan)

    @_detail("Stop a prescription", s.OptionalReasonInput)
    @action(
        detail=True,
        methods=["post"],
        url_path=r"prescriptions/(?P<prescription_id>[0-9]+)/stop",
    )
    @transaction.atomic
    def stop_prescription(self, request: Request, pk=None, prescription_id=None) -> Response:
        plan, data = self._plan(), _input(s.OptionalReasonInput, request)
        prescription = self._part(ExercisePrescription, plan, prescription_id)
        services.stop_prescription(prescription, actor=self._actor(), **data)
        return self._changed(plan)

    # --- outcome measures ---------------------------------------------------------------------

    @_detail("Record an outcome measure", s.MeasureInput, created=True)
    @action(detail=True, methods=["post"])
    @transaction.atomic
    def measures(self, request: Request, pk=None) -> Response:
        plan, data = self._plan(), _input(s.MeasureInput, request)
        at = data.pop("recorded_at")
        services.record_outcome(plan, actor=self._actor(), at=at, **data)
        return self._changed(plan, status.HTTP_201_CREATED)

    # --- phase transitions --------------------------------------------------------------------

    @_detail("Assessment -> rehabilitation")
    @action(detail=True, methods=["post"], url_path="start-rehabilitation")
    @transaction.atomic
    def start_rehabilitation(self, request: Request, pk=None) -> Response:
        plan = self._plan()
        services.start_rehabilitation(plan, actor=self._actor())
        return self._changed(plan)

    @_detail(
        "Rehabilitation -> maintenance (criteria met, or an override reason)", s.MaintenanceInput
    )
    @action(detail=True, methods=["post"], url_path="move-to-maintenance")
    @transaction.atomic
    def move_to_maintenance(self, request: Request, pk=None) -> Response:
        plan, data = self._plan(), _input(s.MaintenanceInput, request)
        owner = data["maintenance_owner"]
        services.move_to_maintenance(
            plan, actor=self._actor(), owner=owner, override_reason=data["override_reason"]
        )
        return self._changed(plan)

    @_detail("Maintenance -> rehabilitation (pain above threshold or a red flag)", s.ReferBackInput)
    @action(detail=True, methods=["post"], url_path="refer-back")
    @transaction.atomic
    def refer_back(self, request: Request, pk=None) -> Response:
        plan, data = self._plan(), _input(s.ReferBackInput, request)
        physio = data.pop("physiotherapist", None)
        services.refer_back(plan, actor=self._actor(), physiotherapist=physio, **data)
        return self._changed(plan)

    @_detail("Close the plan (discharged or abandoned)", s.CloseInput)
    @action(detail=True, methods=["post"])
    @transaction.atomic
    def close(self, request: Request, pk=None) -> Response:
        plan, data = self._plan(), _input(s.CloseInput, request)
        services.close_plan(plan, actor=self._actor(), **data)
        return self._changed(plan)
