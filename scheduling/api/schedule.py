"""``GET /api/v1/schedule/``: the front desk's calendar for another front end (the admin's
schedule page reads the same selector). Staff only; clinicians get their own column."""

from datetime import datetime

from django.utils import timezone
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from clinic.api.permissions import IsStaffMember
from clinic.errors import FieldProblem, ValidationProblem
from clinic.models import Location
from providers.models import Provider
from scheduling import schedule as calendar
from scheduling.api.serializers import CalendarDateField, local_iso
from scheduling.models import Appointment


class ScheduleQuerySerializer(serializers.Serializer):
    location = serializers.PrimaryKeyRelatedField(
        queryset=Location.objects.filter(is_active=True),
        required=False,
        help_text="Default: where the user works today (clinicians), else the first location.",
    )
    date = CalendarDateField(required=False, help_text="First local date; default today there.")
    days = serializers.IntegerField(min_value=1, max_value=calendar.MAX_DAYS, default=1)
    provider = serializers.PrimaryKeyRelatedField(
        queryset=Provider.objects.all(),
        required=False,
        help_text="One provider's column only (clinicians: their own, the default).",
    )
    columns = serializers.ChoiceField(
        choices=[calendar.BY_PROVIDER, calendar.BY_ROOM],
        default=calendar.BY_PROVIDER,
        help_text="A column per provider (with working hours) or per room.",
    )


class IntervalSerializer(serializers.Serializer):
    start = serializers.DateTimeField()
    end = serializers.DateTimeField()


class NamedSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()


class ScheduleAppointmentSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    reference = serializers.CharField()
    start = serializers.DateTimeField()
    end = serializers.DateTimeField()
    status = serializers.ChoiceField(choices=Appointment.Status.choices)
    service = NamedSerializer()
    provider = serializers.IntegerField()
    patient = NamedSerializer()
    room = NamedSerializer(allow_null=True)
    spots_taken = serializers.IntegerField(help_text="Participants of this session (group class).")
    capacity = serializers.IntegerField(help_text="Places in the session: 1, or N for a class.")
    late_cancellation = serializers.BooleanField()


class ScheduleColumnSerializer(serializers.Serializer):
    provider = NamedSerializer(allow_null=True)
    room = NamedSerializer(allow_null=True)
    working = IntervalSerializer(many=True, help_text="Bookable hours, time off taken out.")
    time_off = IntervalSerializer(many=True)
    appointments = ScheduleAppointmentSerializer(many=True)


class ScheduleDaySerializer(serializers.Serializer):
    date = serializers.DateField()
    closed = serializers.BooleanField()
    closure_reason = serializers.CharField()
    columns = ScheduleColumnSerializer(many=True)


class ScheduleSerializer(serializers.Serializer):
    location = serializers.IntegerField()
    timezone = serializers.CharField()
    days = ScheduleDaySerializer(many=True)


def schedule_data(schedule: calendar.Schedule) -> dict:
    """The calendar (read with ``visits=True``) as JSON, times in the location's zone with their
    offset. Built as plain dicts: the serializers above only describe it for the schema (a test
    checks the answer against that schema). Instants, services, patients and rooms recur across
    a week: each is written out once and its dict shared."""
    location = schedule.location
    shown: dict[datetime, str] = {}
    services: dict[int, dict] = {}
    patients: dict[int, dict] = {}
    rooms: dict[int, dict] = {}

    def iso(instant: datetime) -> str:
        text = shown.get(instant)
        if text is None:
            text = shown[instant] = local_iso(instant, location)
        return text

    def span(interval) -> dict:
        return {"start": iso(interval[0]), "end": iso(interval[1])}

    def appointment(entry: calendar.Entry) -> dict:
        a = entry.appointment
        service = services.get(a.service_id)
        if service is None:
            service = services[a.service_id] = {"id": a.service_id, "name": a.service_name}
        patient = patients.get(a.patient_id)
        if patient is None:
            patient = patients[a.patient_id] = {"id": a.patient_id, "name": a.patient_name}
        room = None
        if a.room_id:
            room = rooms.get(a.room_id)
            if room is None:
                room = rooms[a.room_id] = {"id": a.room_id, "name": a.room_name}
        return {
            "id": a.pk,
            "reference": a.reference,
            "start": iso(a.start),
            "end": iso(a.end),
            "status": a.status,
            "service": service,
            "provider": a.provider_id,
            "patient": patient,
            "room": room,
            "spots_taken": entry.spots_taken,
            "capacity": entry.capacity,
            "late_cancellation": a.late_cancellation,
        }

    def column(col: calendar.Column) -> dict:
        return {
            "provider": (
                {"id": col.provider.pk, "name": col.provider.display_name} if col.provider else None
            ),
            "room": {"id": col.room.pk, "name": col.room.name} if col.room else None,
            "working": [span(w) for w in col.working],
            "time_off": [span(o) for o in col.time_off],
            "appointments": [appointment(e) for e in col.entries],
        }

    return {
        "location": location.pk,
        "timezone": location.timezone,
        "days": [
            {
                "date": day.date.isoformat(),
                "closed": day.closed,
                "closure_reason": day.closure_reason,
                "columns": [column(c) for c in day.columns],
            }
            for day in schedule.days
        ],
    }


class ScheduleView(APIView):
    """The calendar of one location for 1 to 7 local days: a column per provider with working
    hours (weekly hours and extra hours, less time off; none on a closed day) and appointments
    with status, patient, service, room and seats taken. Never the visit's reason. Front desk
    and managers see every column; clinicians their own (403 for a colleague's)."""

    permission_classes = [IsStaffMember]

    @extend_schema(
        tags=["scheduling"],
        parameters=[ScheduleQuerySerializer],
        responses={200: ScheduleSerializer},
        operation_id="schedule_retrieve",
    )
    def get(self, request: Request) -> Response:
        query = ScheduleQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        data = query.validated_data
        location = data.get("location") or calendar.default_location(
            request.user, timezone.localdate()
        )
        if location is None:
            raise ValidationProblem(
                "The clinic has no active location.",
                [FieldProblem("location", "required", "Choose a location.")],
            )
        schedule = calendar.schedule_for(
            location=location,
            first=data.get("date") or timezone.localdate(timezone=location.zone),
            days=data["days"],
            provider=calendar.column_provider_for(request.user, data.get("provider")),
            by=data["columns"],
            visits=True,
        )
        return Response(schedule_data(schedule))
