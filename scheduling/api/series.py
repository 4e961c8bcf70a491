"""Staff API for recurring visits: ``POST /api/v1/appointments/series/`` previews (``preview:
true``, the default) or books a series; ``.../series/{id}/cancel/`` and ``.../move/`` change
"this visit", "this and the following" or "all". The views parse and call
``scheduling.services.series``; who may book whose calendar is the booking rule's
(``schedule_provider_for`` from the actor), which series a user may change is
``series_for(user)``."""

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from clinic.api.permissions import IsStaffMember
from clinic.audit import AuditedViewMixin
from clinic.errors import NotFoundProblem
from clinic.models import Location
from patients.access import sees_clinical_content
from patients.api.fields import VisiblePatientField
from providers.models import Provider
from scheduling.api.serializers import AppointmentSerializer, AwareDateTimeField
from scheduling.models import Appointment, Service
from scheduling.series_models import MAX_SERIES_VISITS, Series
from scheduling.series_selectors import series_for
from scheduling.services import series as series_services
from scheduling.services.series_preview import PlannedVisit


class RuleSerializer(serializers.Serializer):
    freq = serializers.ChoiceField(choices=["weekly"], default="weekly")
    by_weekday = serializers.ListField(
        child=serializers.ChoiceField(choices=list(series_services.WEEKDAY_CODES)),
        min_length=1,
        max_length=7,
        help_text="RFC 5545 weekday codes: MO TU WE TH FR SA SU.",
    )
    count = serializers.IntegerField(
        required=False, allow_null=True, min_value=1, max_value=MAX_SERIES_VISITS
    )
    until = serializers.DateField(
        required=False, allow_null=True, help_text="Last local date, inclusive."
    )

    @staticmethod
    def rule_of(data: dict) -> series_services.SeriesRule:
        return series_services.SeriesRule(
            by_weekday=tuple(data["by_weekday"]),
            count=data.get("count"),
            until=data.get("until"),
            freq=data["freq"],
        )


class SeriesPlanSerializer(serializers.Serializer):
    service = serializers.PrimaryKeyRelatedField(queryset=Service.objects.all())
    location = serializers.PrimaryKeyRelatedField(queryset=Location.objects.all())
    provider = serializers.PrimaryKeyRelatedField(queryset=Provider.objects.all())
    patient = VisiblePatientField()
    start = AwareDateTimeField(help_text="The first visit.")
    rule = RuleSerializer(
        required=False, allow_null=True, help_text="Optional with a care plan: it proposes one."
    )
    care_plan = serializers.IntegerField(
        required=False, allow_null=True, min_value=1, max_value=2**63 - 1
    )
    preview = serializers.BooleanField(default=True)
    on_conflict = serializers.ChoiceField(
        choices=list(series_services.ON_CONFLICT), default="refuse"
    )
    reason = serializers.CharField(required=False, allow_blank=True, default="", max_length=2000)


class ConflictSerializer(serializers.Serializer):
    code = serializers.CharField()
    message = serializers.CharField()


class SlotSerializer(serializers.Serializer):
    start = serializers.DateTimeField()
    end = serializers.DateTimeField()


class PlannedVisitSerializer(serializers.Serializer):
    index = serializers.IntegerField()
    start = serializers.DateTimeField()
    end = serializers.DateTimeField()
    local_start = serializers.CharField()
    conflict = ConflictSerializer(allow_null=True)
    alternative = SlotSerializer(allow_null=True)


class RuleOutSerializer(serializers.Serializer):
    freq = serializers.CharField()
    by_weekday = serializers.ListField(child=serializers.CharField())
    count = serializers.IntegerField(allow_null=True)
    until = serializers.DateField(allow_null=True)
    rrule = serializers.CharField()


class PreviewSerializer(serializers.Serializer):
    preview = serializers.BooleanField()
    service = serializers.IntegerField()
    location = serializers.IntegerField()
    provider = serializers.IntegerField()
    patient = serializers.IntegerField()
    care_plan = serializers.IntegerField(allow_null=True)
    timezone = serializers.CharField()
    rule = RuleOutSerializer()
    visits = PlannedVisitSerializer(many=True)
    free = serializers.IntegerField()
    conflicting = serializers.IntegerField()


class SeriesSerializer(serializers.ModelSerializer):
    class Meta:
        model = Series
        fields = [
            "id",
            "patient",
            "provider",
            "service",
            "location",
            "care_plan_id",
            "first_start",
            "by_weekday",
            "count",
            "until",
            "rrule",
            "created_at",
        ]
        read_only_fields = fields


class SeriesBookingSerializer(serializers.Serializer):
    series = SeriesSerializer()
    appointments = AppointmentSerializer(many=True)
    skipped = PlannedVisitSerializer(many=True)


class SeriesCancelSerializer(serializers.Serializer):
    from_ = serializers.DateField(
        required=False, allow_null=True, help_text="This visit's date: it and those after it."
    )
    scope = serializers.ChoiceField(
        choices=list(series_services.SCOPES),
        required=False,
        allow_null=True,
        help_text="this, following (the default with from) or all (the default without).",
    )
    reason = serializers.CharField(max_length=300)

    def get_fields(self):
        fields = super().get_fields()
        fields["from"] = fields.pop("from_")
        return fields


class SeriesMoveSerializer(SeriesCancelSerializer):
    reason = None
    time = serializers.TimeField(help_text="The new local start time, HH:MM, on each visit's day.")
    provider = serializers.PrimaryKeyRelatedField(
        queryset=Provider.objects.all(), required=False, allow_null=True, default=None
    )


class SeriesChangeSerializer(serializers.Serializer):
    series = SeriesSerializer()
    appointments = AppointmentSerializer(many=True)


def _visit(visit: PlannedVisit, zone) -> dict:
    alternative = None
    if visit.alternative is not None:
        length = visit.end - visit.start
        alternative = {"start": visit.alternative, "end": visit.alternative + length}
    conflict = visit.conflict
    return {
        "index": visit.index,
        "start": visit.start,
        "end": visit.end,
        "local_start": visit.start.astimezone(zone).isoformat(),
        "conflict": {"code": conflict.code, "message": conflict.message} if conflict else None,
        "alternative": alternative,
    }


def _rule(rule: series_services.SeriesRule) -> dict:
    return {
        "freq": rule.freq,
        "by_weekday": list(rule.by_weekday),
        "count": rule.count,
        "until": rule.until,
        "rrule": rule.as_rrule(),
    }


class _SeriesView(AuditedViewMixin, APIView):
    permission_classes = [IsStaffMember]
    audit_patient_path = "patient_id"
    audit_reads = False

    def _appointments(self, appointments: list[Appointment]) -> list[dict]:
        rows = Appointment.objects.select_related(
            "patient", "provider", "service", "location", "room"
        ).filter(pk__in=[a.pk for a in appointments])
        context = {
            "request": self.request,
            "hide_clinical": not sees_clinical_content(self.request.user),
        }
        return AppointmentSerializer(rows, many=True, context=context).data

    def _series_data(self, series: Series) -> dict:
        """The series as this user may read it: which care plan it came from is clinical."""
        data = SeriesSerializer(series).data
        if not sees_clinical_content(self.request.user):
            data.pop("care_plan_id")
        return data

    def _series(self, pk: int) -> Series:
        series = series_for(self.request.user).filter(pk=pk).select_related("location").first()
        if series is None:
            raise NotFoundProblem("No such series.")
        return series


@extend_schema(tags=["scheduling"])
class SeriesView(_SeriesView):
    """Preview (``preview: true``) or book (``preview: false``) a recurring series."""

    @extend_schema(
        request=SeriesPlanSerializer,
        responses={200: PreviewSerializer, 201: SeriesBookingSerializer},
        operation_id="appointments_series_create",
    )
    def post(self, request: Request) -> Response:
        body = SeriesPlanSerializer(data=request.data, context={"request": request})
        body.is_valid(raise_exception=True)
        data = body.validated_data
        rule = RuleSerializer.rule_of(data["rule"]) if data.get("rule") else None
        common = {
            "service": data["service"],
            "location": data["location"],
            "provider": data["provider"],
            "patient": data["patient"],
            "start": data["start"],
            "rule": rule,
            "care_plan_id": data.get("care_plan"),
            "actor": request.user,
        }
        zone = data["location"].zone
        if data["preview"]:
            plan = series_services.preview_series(**common)
            visits = [_visit(v, zone) for v in plan.visits]
            free = sum(1 for v in plan.visits if v.free)
            return Response(
                PreviewSerializer(
                    {
                        "preview": True,
                        "service": plan.service.pk,
                        "location": plan.location.pk,
                        "provider": plan.provider.pk,
                        "patient": plan.patient.pk,
                        "care_plan": plan.care_plan_id,
                        "timezone": plan.location.timezone,
                        "rule": _rule(plan.rule),
                        "visits": visits,
                        "free": free,
                        "conflicting": len(visits) - free,
                    }
                ).data
            )
        booking = series_services.book_series(
            **common, on_conflict=data["on_conflict"], reason=data["reason"], request=request
        )
        payload = {
            "series": self._series_data(booking.series),
            "appointments": self._appointments(booking.appointments),
            "skipped": [_visit(v, zone) for v in booking.skipped],
        }
        return Response(payload, status=status.HTTP_201_CREATED)


@extend_schema(tags=["scheduling"])
class SeriesCancelView(_SeriesView):
    """Cancel this visit (``scope: this``), it and those after it (``from``), or all."""

    @extend_schema(request=SeriesCancelSerializer, responses={200: SeriesChangeSerializer})
    def post(self, request: Request, pk: int) -> Response:
        series = self._series(pk)
        body = SeriesCancelSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        cancelled = series_services.cancel_series(
            series,
            reason=data["reason"],
            on=data.get("from"),
            scope=data.get("scope"),
            actor=request.user,
            request=request,
        )
        return Response(
            {"series": self._series_data(series), "appointments": self._appointments(cancelled)}
        )


@extend_schema(tags=["scheduling"])
class SeriesMoveView(_SeriesView):
    """Move this visit, it and those after it, or all to a new local time on their days."""

    @extend_schema(request=SeriesMoveSerializer, responses={200: SeriesChangeSerializer})
    def post(self, request: Request, pk: int) -> Response:
        series = self._series(pk)
        body = SeriesMoveSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        moved = series_services.move_series(
            series,
            at=data["time"],
            on=data.get("from"),
            scope=data.get("scope"),
            provider=data["provider"],
            actor=request.user,
            request=request,
        )
        return Response(
            {"series": self._series_data(series), "appointments": self._appointments(moved)}
        )
