"""Staff API for visit notes (``/api/v1/visit-notes/``, DOMAIN.md section 9).

Clinicians and managers only (front desk gets 403 everywhere, lists included); a clinician sees
the notes they wrote and those of their patients. The appointment's provider starts, autosaves
(PATCH) and signs the note and adds addenda; each action is one call to ``plans.notes`` and is
audited there with the note's id; reads are audited by the mixin. ``chart/?patient=`` is the
patient's signed chart as a PDF (an audited export).
"""

import json
from functools import cached_property

from django.http import HttpResponse
from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_field,
)
from rest_framework import mixins, renderers, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from clinic.audit import AuditedViewMixin
from clinic.errors import FieldProblem, NotFoundProblem, ValidationProblem
from patients.access import can_view_clinical
from patients.models import Patient
from plans.api.views import ClinicalStaff
from plans.models import CarePlan, NoteAddendum, Precaution, TemplateField, VisitNote
from plans.notes import export, lifecycle, selectors
from scheduling.models import Appointment


class PDFRenderer(renderers.BaseRenderer):
    """Lets a client ask for ``Accept: application/pdf``; refusals still go out as JSON."""

    media_type = "application/pdf"
    format = "pdf"
    charset = None
    render_style = "binary"

    def render(self, data, accepted_media_type=None, renderer_context=None) -> bytes:
        if isinstance(data, bytes):
            return data
        return json.dumps(data).encode()


REFUSALS = (
    "Refusals are problem+json: 403 `permission-denied` (not the appointment's provider), 409 "
    "`note-signed` (a signed note never changes: add an addendum), `note-exists` (one note per "
    "appointment), `note-not-signed` (addenda are for signed notes), 422 `out-of-scope` (a filled "
    "field is an act the author may not perform there on the visit's day; `errors[].field` names "
    "it, e.g. `content.assessment.diagnosis`, `code` the reason), `precaution-conflict` (an "
    "exercise loads a movement a care plan's precautions forbid) or `validation-error`."
)


class TemplateFieldSerializer(serializers.ModelSerializer):
    class Meta:
        model = TemplateField
        fields = ["section", "key", "label", "kind", "options", "act", "help_text"]


def _once_per_answer(serializer, key: tuple, render):
    """What ``render()`` gives, computed once per answer for ``key`` when the view keeps a
    page's renderings (``rendered`` in the context): a page's notes share a few templates and
    each patient's precautions, and building them again per note was most of a list's time."""
    rendered = serializer.context.get("rendered")
    if rendered is None:
        return render()
    if key not in rendered:
        rendered[key] = render()
    return rendered[key]


class TemplateSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    discipline = serializers.CharField(source="discipline.code")
    fields = TemplateFieldSerializer(many=True)

    def to_representation(self, instance) -> dict:
        parent = super().to_representation
        return _once_per_answer(self, ("template", instance.pk), lambda: parent(instance))


class PrecautionShownSerializer(serializers.ModelSerializer):
    label = serializers.CharField()
    plan_title = serializers.CharField(source="plan.title")

    class Meta:
        model = Precaution
        fields = ["id", "plan", "plan_title", "tags", "label"]


class AddendumSerializer(serializers.ModelSerializer):
    class Meta:
        model = NoteAddendum
        fields = ["id", "author", "text", "signed_at"]


class InterventionMatchSerializer(serializers.Serializer):
    act = serializers.CharField()
    planned = serializers.BooleanField()
    planned_intervention = serializers.IntegerField(allow_null=True)


class VisitNoteSerializer(serializers.ModelSerializer):
    template = TemplateSerializer()
    content = serializers.JSONField()
    precautions = serializers.SerializerMethodField()
    interventions = serializers.SerializerMethodField()
    addenda = AddendumSerializer(many=True)

    class Meta:
        model = VisitNote
        fields = [
            "id",
            "appointment",
            "patient",
            "author",
            "location",
            "care_plan",
            "status",
            "visit_at",
            "signed_at",
            "is_late",
            "template",
            "content",
            "precautions",
            "interventions",
            "addenda",
            "created_at",
            "updated_at",
        ]
        # An answer only: notes are written through the start, draft and addendum inputs, so
        # no field here is a patient (or appointment) chooser.
        read_only_fields = fields

    @cached_property
    def _precautions_out(self) -> serializers.ListSerializer:
        return PrecautionShownSerializer(many=True)

    @cached_property
    def _interventions_out(self) -> serializers.ListSerializer:
        return InterventionMatchSerializer(many=True)

    @extend_schema_field(PrecautionShownSerializer(many=True))
    def get_precautions(self, note: VisitNote) -> list[dict]:
        """The patient's active care-plan precautions, shown while charting."""
        page = self.context.get("precautions")
        if page is None:
            return self._precautions_out.to_representation(selectors.precautions_for(note))
        return _once_per_answer(
            self,
            ("precautions", note.patient_id),
            lambda: self._precautions_out.to_representation(page[note.patient_id]),
        )

    @extend_schema_field(InterventionMatchSerializer(many=True))
    def get_interventions(self, note: VisitNote) -> list[dict]:
        """Interventions delivered, each matched to the plan's planned interventions."""
        page = self.context.get("planned")
        planned = page.get(note.care_plan_id, {}) if page is not None else None
        matched = selectors.intervention_match(note, planned)
        return self._interventions_out.to_representation(matched)


class StartNoteInput(serializers.Serializer):
    appointment = serializers.IntegerField()
    care_plan = serializers.IntegerField(required=False, allow_null=True)
    content = serializers.JSONField(required=False)


class DraftInput(serializers.Serializer):
    care_plan = serializers.IntegerField(required=False, allow_null=True)
    content = serializers.JSONField(required=False)


class AddendumInput(serializers.Serializer):
    text = serializers.CharField(max_length=10_000, trim_whitespace=True)


def _input(serializer_class, request: Request) -> dict:
    serializer = serializer_class(data=request.data)
    serializer.is_valid(raise_exception=True)
    return dict(serializer.validated_data)


def _care_plan(data: dict, patient_id: int):
    if "care_plan" not in data:
        return lifecycle.UNSET
    if data["care_plan"] is None:
        return None
    plan = CarePlan.objects.filter(pk=data["care_plan"], patient_id=patient_id).first()
    if plan is None:
        raise ValidationProblem(
            "No such care plan for this patient.",
            [FieldProblem("care_plan", "not_found", "Not a care plan of this patient.")],
        )
    return plan


@extend_schema(tags=["visit notes"])
class VisitNoteViewSet(
    AuditedViewMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    viewsets.GenericViewSet,
):
    """Visit notes: the template of the author's discipline, the content by section, the
    patient's precautions and the interventions matched to the care plan."""

    serializer_class = VisitNoteSerializer
    permission_classes = [ClinicalStaff]
    filterset_fields = ["patient", "author", "status", "appointment", "care_plan", "is_late"]
    ordering_fields = ["visit_at", "signed_at"]
    audit_patient_path = "patient_id"

    def get_queryset(self):
        return (
            selectors.visible_notes(self.request.user)
            .select_related("template__discipline", "location")
            .prefetch_related("template__fields", "addenda")
            .order_by("-visit_at", "-id")
        )

    def paginate_queryset(self, queryset) -> list | None:
        """A page's precautions and planned interventions are read once for the whole page."""
        page = super().paginate_queryset(queryset)
        if page is not None:
            self._page_context = {
                "precautions": selectors.precautions_by_patient({n.patient_id for n in page}),
                "planned": selectors.planned_acts_by_plan({n.care_plan_id for n in page}),
                "rendered": {},
            }
        return page

    def get_serializer_context(self) -> dict:
        return {**super().get_serializer_context(), **getattr(self, "_page_context", {})}

    def _answer(self, note: VisitNote, code=status.HTTP_200_OK) -> Response:
        fresh = self.get_queryset().get(pk=note.pk)
        return Response(VisitNoteSerializer(fresh).data, status=code)

    @extend_schema(
        summary="Start the note of an appointment (its provider only)",
        description=REFUSALS,
        request=StartNoteInput,
        responses={201: VisitNoteSerializer},
    )
    def create(self, request: Request) -> Response:
        data = _input(StartNoteInput, request)
        appointment = Appointment.objects.filter(pk=data["appointment"]).first()
        if appointment is None:
            raise NotFoundProblem(
                "No such appointment.", [FieldProblem("appointment", "not_found", "")]
            )
        # Authorship first: the care-plan check must not tell anyone else whose plan an id is.
        lifecycle.require_author(request.user, appointment)
        plan = _care_plan(data, appointment.patient_id)
        note = lifecycle.start_note(
            appointment,
            user=request.user,
            care_plan=None if plan is lifecycle.UNSET else plan,
            content=data.get("content"),
            request=request,
        )
        return self._answer(note, status.HTTP_201_CREATED)

    @extend_schema(
        summary="Autosave a draft: replace its content (and plan link)",
        description=REFUSALS,
        request=DraftInput,
        responses={200: VisitNoteSerializer},
    )
    def partial_update(self, request: Request, pk=None) -> Response:
        note = self.get_object()
        data = _input(DraftInput, request)
        note = lifecycle.save_draft(
            note,
            user=request.user,
            content=data.get("content", lifecycle.UNSET),
            care_plan=_care_plan(data, note.patient_id),
            request=request,
        )
        return self._answer(note)

    @extend_schema(
        summary="Sign the note (locks it for good)",
        description=REFUSALS,
        request=None,
        responses={200: VisitNoteSerializer},
    )
    @action(detail=True, methods=["post"])
    def sign(self, request: Request, pk=None) -> Response:
        note = lifecycle.sign_note(self.get_object(), user=request.user, request=request)
        return self._answer(note)

    @extend_schema(
        summary="Add a signed, dated addendum to a signed note",
        description=REFUSALS,
        request=AddendumInput,
        responses={201: VisitNoteSerializer},
    )
    @action(detail=True, methods=["post"])
    def addenda(self, request: Request, pk=None) -> Response:
        data = _input(AddendumInput, request)
        note = self.get_object()
        lifecycle.add_addendum(note, user=request.user, text=data["text"], request=request)
        return self._answer(note, status.HTTP_201_CREATED)

    @extend_schema(
        summary="A patient's signed chart as a PDF (records request; audited export)",
        parameters=[OpenApiParameter("patient", int, required=True)],
        responses={
            (200, "application/pdf"): OpenApiResponse(OpenApiTypes.BINARY),
        },
    )
    @action(
        detail=False,
        methods=["get"],
        filter_backends=[],
        pagination_class=None,
        renderer_classes=[renderers.JSONRenderer, PDFRenderer],
    )
    def chart(self, request: Request) -> HttpResponse:
        raw = request.query_params.get("patient", "")
        if not (raw.isascii() and raw.isdigit()) or len(raw) > 18:
            raise serializers.ValidationError({"patient": ["Give the patient's id."]})
        patient = get_object_or_404(Patient, pk=int(raw))
        if not can_view_clinical(request.user, patient):
            raise NotFoundProblem("No such patient.")
        pdf = export.chart_pdf(patient, user=request.user, request=request)
        response = HttpResponse(pdf, content_type="application/pdf")
        response["Content-Disposition"] = f'attachment; filename="chart-{patient.pk}.pdf"'
        return response
