"""Serializers: parse requests and render responses; the rules live in ``scheduling.services``."""

import json
from collections.abc import Callable
from datetime import date, datetime, timedelta, tzinfo
from typing import Any

from django.http import QueryDict
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers
from rest_framework.exceptions import ErrorDetail
from rest_framework.settings import api_settings

from clinic import rules_cache
from clinic.models import Location
from clinic.validators import validate_date_of_birth, validate_phone
from patients.api.fields import VisiblePatientField
from patients.models import Patient
from providers.models import Act, Provider
from scheduling.bookability import offering_problems
from scheduling.models import (
    Appointment,
    AppointmentEvent,
    AvailabilityException,
    BookingPolicyOverride,
    CallbackRequest,
    Closure,
    FreeConsultOutcome,
    Offering,
    Service,
    WeeklyAvailability,
)
from scheduling.requirements import DATE_OF_BIRTH, REASON
from scheduling.selectors import PublicStarts, event_data_for, service_disciplines

MAX_SEARCH_DAYS = 62


# Dates a calendar can sensibly hold; anything else is a typo (and would overflow date maths).
FIRST_YEAR, LAST_YEAR = 2000, 2100


class AwareDateTimeField(serializers.DateTimeField):
    """ISO 8601 with an offset, as API.md requires; a bare local time is ambiguous."""

    default_error_messages = {
        "naive": "Give the time with its UTC offset, e.g. -05:00.",
        "out_of_range": f"Use a time between {FIRST_YEAR} and {LAST_YEAR}.",
    }

    def to_internal_value(self, value):
        if isinstance(value, str):
            try:
                parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
            except ValueError:
                parsed = None
            if parsed is not None and parsed.tzinfo is None:
                self.fail("naive")
        result = super().to_internal_value(value)
        if not FIRST_YEAR <= result.year <= LAST_YEAR:
            self.fail("out_of_range")
        return result


class CalendarDateField(serializers.DateField):
    default_error_messages = {"out_of_range": f"Use a date between {FIRST_YEAR} and {LAST_YEAR}."}

    def to_internal_value(self, value):
        result = super().to_internal_value(value)
        if not FIRST_YEAR <= result.year <= LAST_YEAR:
            self.fail("out_of_range")
        return result


def local_iso(value: datetime, location: Location) -> str:
    """A UTC instant shown in the location's zone, with its offset."""
    return value.astimezone(location.zone).isoformat()


_UNIX_ORDINAL = date(1970, 1, 1).toordinal()


class LocalIso:
    """Whole epoch seconds as ``local_iso`` writes them (``isoformat`` in ``zone``), without a
    datetime each: a month of "any provider" answers thousands of times.

    Per UTC day, the zone's offset at its first and last second: where they agree, the day has
    that one offset (no zone changes its offset and back within a day) and a time is its local
    date and clock text plus the offset; a day the offset changes on (daylight saving) and an
    offset that is not whole minutes go through ``datetime``. Texts are remembered, since a
    slot's end is most often another slot's start."""

    def __init__(self, zone: tzinfo) -> None:
        self.zone = zone
        self._texts: dict[int, str] = {}
        self._offsets: dict[int, tuple[int, str] | None] = {}
        self._dates: dict[int, str] = {}
        self._clocks: dict[int, str] = {}

    def __call__(self, seconds: int) -> str:
        text = self._texts.get(seconds)
        if text is None:
            text = self._texts[seconds] = self._format(seconds)
        return text

    def _format(self, seconds: int) -> str:
        utc_day = seconds // 86400
        if utc_day in self._offsets:
            offset = self._offsets[utc_day]
        else:
            offset = self._offsets[utc_day] = self._day_offset(utc_day)
        if offset is None:
            return datetime.fromtimestamp(seconds, self.zone).isoformat()
        offset_s, suffix = offset
        day, clock = divmod(seconds + offset_s, 86400)
        day_text = self._dates.get(day)
        if day_text is None:
            day_text = self._dates[day] = date.fromordinal(_UNIX_ORDINAL + day).isoformat()
        clock_text = self._clocks.get(clock)
        if clock_text is None:
            hours, rest = divmod(clock, 3600)
            clock_text = self._clocks[clock] = f"{hours:02d}:{rest // 60:02d}:{rest % 60:02d}"
        return f"{day_text}T{clock_text}{suffix}"

    def _day_offset(self, utc_day: int) -> tuple[int, str] | None:
        first = datetime.fromtimestamp(utc_day * 86400, self.zone).utcoffset()
        last = datetime.fromtimestamp(utc_day * 86400 + 86399, self.zone).utcoffset()
        if first != last or first is None or first % timedelta(minutes=1):
            return None
        offset_s = int(first.total_seconds())
        hours, minutes = divmod(abs(offset_s) // 60, 60)
        return offset_s, f"{'-' if offset_s < 0 else '+'}{hours:02d}:{minutes:02d}"


# --- Public ---------------------------------------------------------------------------------


class PublicServiceSerializer(serializers.Serializer):
    """One row of ``selectors.public_services`` (a service, its disciplines, the currency of
    where it is booked, what a booking must give), as the widget reads it."""

    id = serializers.IntegerField(source="service.pk")
    name = serializers.CharField(source="service.name")
    description = serializers.CharField(source="service.description")
    disciplines = serializers.ListField(child=serializers.CharField())
    duration_minutes = serializers.IntegerField(source="service.duration_minutes")
    modality = serializers.ChoiceField(
        source="service.modality", choices=Service._meta.get_field("modality").choices
    )
    price = serializers.DecimalField(source="service.price", max_digits=8, decimal_places=2)
    currency = serializers.CharField(help_text="ISO 4217 code of the location's currency.")
    is_free_consult = serializers.BooleanField(source="service.is_free_consult")
    capacity = serializers.IntegerField(source="service.capacity")
    required_fields = serializers.ListField(
        child=serializers.ChoiceField(choices=[DATE_OF_BIRTH, REASON]),
        help_text=(
            "Booking-body fields this service needs besides the always-required ones "
            "(dotted paths, e.g. patient.date_of_birth); a booking without them is refused "
            "with 422 validation-error naming each."
        ),
    )


class PublicServiceQuerySerializer(serializers.Serializer):
    location = serializers.PrimaryKeyRelatedField(
        queryset=Location.objects.filter(is_active=True), required=False
    )
    discipline = serializers.SlugField(required=False)


class AvailabilityQuerySerializer(serializers.Serializer):
    service = serializers.PrimaryKeyRelatedField(
        queryset=Service.objects.filter(is_active=True, online_bookable=True)
    )
    location = serializers.PrimaryKeyRelatedField(queryset=Location.objects.filter(is_active=True))
    start = CalendarDateField()
    end = CalendarDateField()
    provider = serializers.PrimaryKeyRelatedField(
        queryset=Provider.objects.filter(is_active=True), required=False
    )

    def validate(self, attrs):
        days = (attrs["end"] - attrs["start"]).days
        if days < 0:
            raise serializers.ValidationError({"end": "The end date is before the start date."})
        if days > MAX_SEARCH_DAYS:
            raise serializers.ValidationError(
                {"end": f"Search at most {MAX_SEARCH_DAYS} days at a time."}
            )
        return attrs


_SEARCH_DATE = CalendarDateField()
_PK_MESSAGES = serializers.PrimaryKeyRelatedField.default_error_messages
_FIELD_MESSAGES = serializers.Field.default_error_messages


def _required() -> serializers.ValidationError:
    return serializers.ValidationError(_FIELD_MESSAGES["required"], code="required")


def _search_date(params: QueryDict, name: str) -> date:
    """``CalendarDateField`` on a query parameter (the last of repeated values)."""
    if name not in params:
        raise _required()
    return _SEARCH_DATE.to_internal_value(params[name])


def _search_instance(
    params: QueryDict, name: str, required: bool, load: Callable[[int], Any]
) -> Any:
    """``PrimaryKeyRelatedField`` on a query parameter, with ``load`` in place of its queryset:
    the last of repeated values; blank is absent when optional, null when required."""
    if name not in params:
        if required:
            raise _required()
        return None
    value = params[name]
    if value == "":
        if required:
            raise serializers.ValidationError(_FIELD_MESSAGES["null"], code="null")
        return None
    try:
        found = load(int(value))  # what the pk lookup's get_prep_value does with the text
    except (TypeError, ValueError):
        raise serializers.ValidationError(
            _PK_MESSAGES["incorrect_type"].format(data_type=type(value).__name__),
            code="incorrect_type",
        ) from None
    if found is None:
        raise serializers.ValidationError(
            _PK_MESSAGES["does_not_exist"].format(pk_value=value), code="does_not_exist"
        )
    return found


def availability_query(
    params: QueryDict, view: rules_cache.RulesView | None = None
) -> dict[str, Any]:
    """``AvailabilityQuerySerializer``'s validated data, or its ``ValidationError`` with the
    same fields, codes and messages (tested against it), with the service, location and
    provider read through the rules cache instead of three queries: every widget search
    starts here. ``view``: the caller's read of the rules token, when it has one."""
    view = rules_cache.view_or_read(view)

    def service(pk: int) -> Service | None:
        found = view.instance(("service", pk), Service.objects.filter(pk=pk).first)
        return found if found and found.is_active and found.online_bookable else None

    def location(pk: int) -> Location | None:
        found = view.instance(("location", pk), Location.objects.filter(pk=pk).first)
        return found if found and found.is_active else None

    def provider(pk: int) -> Provider | None:
        return view.instance(
            ("active provider", pk), Provider.objects.filter(pk=pk, is_active=True).first
        )

    fields: list[tuple[str, Callable[[], Any]]] = [
        ("service", lambda: _search_instance(params, "service", True, service)),
        ("location", lambda: _search_instance(params, "location", True, location)),
        ("start", lambda: _search_date(params, "start")),
        ("end", lambda: _search_date(params, "end")),
        ("provider", lambda: _search_instance(params, "provider", False, provider)),
    ]
    data: dict[str, Any] = {}
    errors: dict[str, Any] = {}
    for name, parse in fields:
        try:
            value = parse()
        except serializers.ValidationError as error:
            errors[name] = error.detail
        else:
            if value is not None:
                data[name] = value
    if not errors:
        days = (data["end"] - data["start"]).days
        if days < 0:
            errors["end"] = [ErrorDetail("The end date is before the start date.", "invalid")]
        elif days > MAX_SEARCH_DAYS:
            errors["end"] = [
                ErrorDetail(f"Search at most {MAX_SEARCH_DAYS} days at a time.", "invalid")
            ]
    if errors:
        raise serializers.ValidationError(errors)
    return data


class PublicSlotSerializer(serializers.Serializer):
    start = serializers.DateTimeField()
    end = serializers.DateTimeField()
    provider = serializers.IntegerField()
    spots_left = serializers.IntegerField()


class AvailabilityResponseSerializer(serializers.Serializer):
    """The availability answer for ``{"service", "location", "slots"}`` (slots: the
    ``selectors.PublicStarts`` of ``public_starts``): times in the location's zone with their
    offsets.

    A month of a busy service is thousands of slots, so ``to_representation`` writes the
    declared fields directly instead of running a field object per value (the declared fields
    still describe the schema), and ``availability_json`` writes the same answer as JSON text
    without building it first."""

    service = serializers.IntegerField()
    location = serializers.IntegerField()
    timezone = serializers.CharField()
    slots = PublicSlotSerializer(many=True)

    def to_representation(self, instance: dict) -> dict:
        location = instance["location"]
        found = instance["slots"]
        iso, duration_s = LocalIso(location.zone), found.duration_s
        return {
            "service": instance["service"].pk,
            "location": location.pk,
            "timezone": location.timezone,
            "slots": [
                {
                    "start": iso(start),
                    "end": iso(start + duration_s),
                    "provider": provider_id,
                    "spots_left": spots_left,
                }
                for start, provider_id, spots_left in found.starts
            ],
        }


def availability_json(service: Service, location: Location, found: PublicStarts) -> bytes:
    """``AvailabilityResponseSerializer``'s answer as the JSON renderer writes it (compact,
    same key order), without a dict per slot: the times are ASCII digits and signs, the rest
    integers, so only the zone name needs JSON's escaping."""
    iso, duration_s = LocalIso(location.zone), found.duration_s
    slots = ",".join(
        [
            f'{{"start":"{iso(start)}","end":"{iso(start + duration_s)}",'
            f'"provider":{provider_id},"spots_left":{spots_left}}}'
            for start, provider_id, spots_left in found.starts
        ]
    )
    zone = json.dumps(location.timezone, ensure_ascii=False)
    head = f'{{"service":{service.pk},"location":{location.pk},"timezone":{zone},"slots":['
    return f"{head}{slots}]}}".encode()


# The patient's e-mail column: a longer address, which the validator lets through (it allows
# 320 characters), is refused here naming the field, as the schema says.
EMAIL_MAX_LENGTH = Patient._meta.get_field("email").max_length


class BookingPatientSerializer(serializers.Serializer):
    first_name = serializers.CharField(max_length=100)
    last_name = serializers.CharField(max_length=100)
    email = serializers.EmailField(max_length=EMAIL_MAX_LENGTH)
    phone = serializers.CharField(
        max_length=40, required=False, allow_blank=True, default="", validators=[validate_phone]
    )
    date_of_birth = serializers.DateField(
        required=False, allow_null=True, default=None, validators=[validate_date_of_birth]
    )


class ConsentField(serializers.DictField):
    child = serializers.BooleanField()


class BookingRequestSerializer(serializers.Serializer):
    service = serializers.IntegerField()
    location = serializers.IntegerField()
    provider = serializers.IntegerField(required=False, allow_null=True, default=None)
    start = AwareDateTimeField()
    patient = BookingPatientSerializer()
    consent = ConsentField(required=False, default=dict)
    reason = serializers.CharField(required=False, allow_blank=True, default="", max_length=2000)


# Built once: a serializer deep-copies its declared fields, the nested patient serializer's
# too, on every instantiation, three quarters of validating a booking body. Its validation
# keeps no state between calls (the fields, once built, are only read).
_BOOKING_REQUEST = BookingRequestSerializer()


def booking_request(data: Any) -> dict[str, Any]:
    """``BookingRequestSerializer(data=data)``'s validated data, or the ``ValidationError`` its
    ``is_valid(raise_exception=True)`` raises (same fields, codes and messages: tested against
    it), validated by the serializer's own fields built once per process instead of per
    booking. The schema still documents the request from the serializer."""
    try:
        return _BOOKING_REQUEST.run_validation(data)
    except serializers.ValidationError as error:
        detail = error.detail
        if (
            isinstance(detail, list)
            and len(detail) == 1
            and getattr(detail[0], "code", "") == "null"
        ):
            # Serializer.errors' wording for a body that is JSON null.
            detail = {api_settings.NON_FIELD_ERRORS_KEY: [ErrorDetail("No data provided", "null")]}
        raise serializers.ValidationError(detail) from None


class PublicBookingSerializer(serializers.Serializer):
    """The booking as its holder sees it (create, view, cancel, reschedule)."""

    reference = serializers.CharField()
    status = serializers.CharField()
    service = serializers.IntegerField(source="service_id")
    provider = serializers.IntegerField(source="provider_id")
    location = serializers.IntegerField(source="location_id")
    start = serializers.SerializerMethodField()
    end = serializers.SerializerMethodField()
    manage_token = serializers.CharField()
    service_name = serializers.CharField(source="service.name")
    provider_name = serializers.CharField(source="provider.display_name")
    location_name = serializers.CharField(source="location.name")
    timezone = serializers.CharField(source="location.timezone")
    modality = serializers.CharField(source="service.modality")

    @extend_schema_field(OpenApiTypes.DATETIME)
    def get_start(self, obj: Appointment) -> str:
        return local_iso(obj.start, obj.location)

    @extend_schema_field(OpenApiTypes.DATETIME)
    def get_end(self, obj: Appointment) -> str:
        return local_iso(obj.end, obj.location)


def public_booking(appointment: Appointment) -> dict[str, Any]:
    """``PublicBookingSerializer(appointment).data`` (tested against it, to the rendered byte),
    written directly: every answer of the booking endpoints is one, and the serializer's
    field objects cost more than the rest of rendering it."""
    service, provider, location = appointment.service, appointment.provider, appointment.location
    return {
        "reference": str(appointment.reference),
        "status": str(appointment.status),
        "service": int(appointment.service_id),
        "provider": int(appointment.provider_id),
        "location": int(appointment.location_id),
        "start": local_iso(appointment.start, location),
        "end": local_iso(appointment.end, location),
        "manage_token": str(appointment.manage_token),
        "service_name": str(service.name),
        "provider_name": str(provider.display_name),
        "location_name": str(location.name),
        "timezone": str(location.timezone),
        "modality": str(service.modality),
    }


class TokenSerializer(serializers.Serializer):
    token = serializers.CharField(max_length=100)


class PublicCancelSerializer(TokenSerializer):
    reason = serializers.CharField(required=False, allow_blank=True, default="", max_length=300)


class PublicRescheduleSerializer(TokenSerializer):
    start = AwareDateTimeField()
    provider = serializers.IntegerField(required=False, allow_null=True, default=None)


class CallbackRequestCreateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200)
    phone = serializers.CharField(max_length=40, validators=[validate_phone])
    # No default: "" is not a valid e-mail, so a default of "" would make the schema invalid.
    email = serializers.EmailField(required=False, allow_blank=True, max_length=EMAIL_MAX_LENGTH)
    preferred_time = serializers.CharField(
        required=False, allow_blank=True, default="", max_length=200
    )
    message = serializers.CharField(required=False, allow_blank=True, default="", max_length=4000)
    consent = ConsentField()


class PublicCallbackSerializer(serializers.ModelSerializer):
    class Meta:
        model = CallbackRequest
        fields = ["id", "status", "created_at"]


# --- Staff ----------------------------------------------------------------------------------


class ServiceSerializer(serializers.ModelSerializer):
    required_acts = serializers.SlugRelatedField(
        slug_field="code", many=True, queryset=Act.objects.all(), allow_empty=False
    )
    disciplines = serializers.SerializerMethodField()

    class Meta:
        model = Service
        fields = [
            "id",
            "code",
            "name",
            "description",
            "required_acts",
            "disciplines",
            "duration_minutes",
            "buffer_before_minutes",
            "buffer_after_minutes",
            "modality",
            "price",
            "online_bookable",
            "capacity",
            "room_kind",
            "is_free_consult",
            "is_active",
        ]

    def get_disciplines(self, obj: Service) -> list[str]:
        known = self.context.get("disciplines", {})
        if obj.pk not in known:
            known = service_disciplines([obj])
        return known.get(obj.pk, [])

    def validate(self, attrs):
        free = attrs.get("is_free_consult", getattr(self.instance, "is_free_consult", False))
        price = attrs.get("price", getattr(self.instance, "price", 0))
        if free and price:
            raise serializers.ValidationError({"price": "A free consult costs nothing."})
        return attrs


class UnbookableSerializer(serializers.Serializer):
    code = serializers.CharField()
    message = serializers.CharField()


class OfferingSerializer(serializers.ModelSerializer):
    """An offering, with whether it can ever be booked and, if not, why (staff are told:
    DOMAIN.md section 4). A list passes the page's reasons in ``context["offering_problems"]``."""

    bookable = serializers.SerializerMethodField()
    unbookable_reasons = serializers.SerializerMethodField()

    class Meta:
        model = Offering
        fields = [
            "id",
            "provider",
            "service",
            "location",
            "is_active",
            "bookable",
            "unbookable_reasons",
        ]

    def _problems(self, obj: Offering) -> list:
        known = self.context.setdefault("offering_problems", {})
        if obj.pk not in known:
            known.update(offering_problems([obj]))
        return known[obj.pk]

    def get_bookable(self, obj: Offering) -> bool:
        return not self._problems(obj)

    @extend_schema_field(UnbookableSerializer(many=True))
    def get_unbookable_reasons(self, obj: Offering) -> list[dict]:
        return [{"code": p.code, "message": p.message} for p in self._problems(obj)]


class WeeklyAvailabilitySerializer(serializers.ModelSerializer):
    class Meta:
        model = WeeklyAvailability
        fields = [
            "id",
            "provider",
            "location",
            "weekday",
            "start_time",
            "end_time",
            "valid_from",
            "valid_until",
        ]

    def validate(self, attrs):
        start = attrs.get("start_time", getattr(self.instance, "start_time", None))
        end = attrs.get("end_time", getattr(self.instance, "end_time", None))
        if start and end and start >= end:
            raise serializers.ValidationError({"end_time": "Ends after it starts."})
        first = attrs.get("valid_from", getattr(self.instance, "valid_from", None))
        last = attrs.get("valid_until", getattr(self.instance, "valid_until", None))
        if first and last and last < first:
            raise serializers.ValidationError({"valid_until": "On or after valid_from."})
        return attrs


class AvailabilityExceptionSerializer(serializers.ModelSerializer):
    start = AwareDateTimeField()
    end = AwareDateTimeField()

    class Meta:
        model = AvailabilityException
        fields = ["id", "provider", "location", "kind", "start", "end", "reason"]

    def validate(self, attrs):
        start = attrs.get("start", getattr(self.instance, "start", None))
        end = attrs.get("end", getattr(self.instance, "end", None))
        if start and end and start >= end:
            raise serializers.ValidationError({"end": "Ends after it starts."})
        kind = attrs.get("kind", getattr(self.instance, "kind", None))
        location = attrs.get("location", getattr(self.instance, "location", None))
        if kind == AvailabilityException.Kind.EXTRA_HOURS and location is None:
            raise serializers.ValidationError({"location": "Extra hours need a location."})
        return attrs


class ClosureSerializer(serializers.ModelSerializer):
    class Meta:
        model = Closure
        fields = ["id", "location", "start_date", "end_date", "reason"]

    def validate(self, attrs):
        first = attrs.get("start_date", getattr(self.instance, "start_date", None))
        last = attrs.get("end_date", getattr(self.instance, "end_date", None))
        if first and last and last < first:
            raise serializers.ValidationError({"end_date": "On or after start_date."})
        return attrs


class BookingPolicyOverrideSerializer(serializers.ModelSerializer):
    class Meta:
        model = BookingPolicyOverride
        fields = [
            "id",
            "location",
            "service",
            "slot_step_minutes",
            "minimum_notice_minutes",
            "same_day_booking",
            "booking_horizon_days",
            "late_cancellation_hours",
            "max_upcoming_online_bookings",
            "one_free_consult_per_patient",
        ]

    def validate(self, attrs):
        location = attrs.get("location", getattr(self.instance, "location", None))
        service = attrs.get("service", getattr(self.instance, "service", None))
        if (location is None) == (service is None):
            raise serializers.ValidationError(
                {"location": "Override either one location or one service."}
            )
        return attrs


class AppointmentSerializer(serializers.ModelSerializer):
    """Staff view of an appointment. ``reason`` (the patient's words about their complaint) is
    clinical content, so front desk does not get it."""

    patient_name = serializers.CharField(source="patient.full_name", read_only=True)
    provider_name = serializers.CharField(source="provider.display_name", read_only=True)
    service_name = serializers.CharField(source="service.name", read_only=True)
    location_name = serializers.CharField(source="location.name", read_only=True)
    local_start = serializers.SerializerMethodField()
    cancelled_by = serializers.CharField(
        read_only=True, help_text="patient or staff; blank unless cancelled."
    )

    class Meta:
        model = Appointment
        fields = [
            "id",
            "reference",
            "status",
            "patient",
            "patient_name",
            "provider",
            "provider_name",
            "service",
            "service_name",
            "location",
            "location_name",
            "room",
            "start",
            "end",
            "local_start",
            "source",
            "is_free_consult",
            "reason",
            "cancel_reason",
            "cancelled_by",
            "cancelled_at",
            "late_cancellation",
            "needs_rebooking",
            "rebooking_reason",
            "ical_uid",
            "ical_sequence",
            "created_at",
        ]
        read_only_fields = fields

    @extend_schema_field(OpenApiTypes.DATETIME)
    def get_local_start(self, obj: Appointment) -> str:
        return local_iso(obj.start, obj.location)

    def to_representation(self, instance):
        data = super().to_representation(instance)
        if self.context.get("hide_clinical"):
            data.pop("reason", None)
        return data


class StaffBookingSerializer(serializers.Serializer):
    patient = VisiblePatientField()
    service = serializers.PrimaryKeyRelatedField(queryset=Service.objects.all())
    location = serializers.PrimaryKeyRelatedField(queryset=Location.objects.all())
    provider = serializers.PrimaryKeyRelatedField(
        queryset=Provider.objects.all(), required=False, allow_null=True, default=None
    )
    start = AwareDateTimeField()
    reason = serializers.CharField(required=False, allow_blank=True, default="", max_length=2000)


class StaffCancelSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=300)
    by = serializers.ChoiceField(
        choices=Appointment.CancelledBy.choices, default=Appointment.CancelledBy.STAFF
    )


class StaffRescheduleSerializer(serializers.Serializer):
    start = AwareDateTimeField()
    provider = serializers.PrimaryKeyRelatedField(
        queryset=Provider.objects.all(), required=False, allow_null=True, default=None
    )


class FirstAppointmentSerializer(serializers.Serializer):
    service = serializers.PrimaryKeyRelatedField(queryset=Service.objects.all())
    location = serializers.PrimaryKeyRelatedField(queryset=Location.objects.all())
    provider = serializers.PrimaryKeyRelatedField(
        queryset=Provider.objects.all(), required=False, allow_null=True, default=None
    )
    start = AwareDateTimeField()


class ConsultOutcomeRequestSerializer(serializers.Serializer):
    recommended_path = serializers.ChoiceField(choices=FreeConsultOutcome.Path.choices)
    notes = serializers.CharField(required=False, allow_blank=True, default="")
    first_appointment = FirstAppointmentSerializer(required=False, allow_null=True, default=None)


class ConsultOutcomeSerializer(serializers.ModelSerializer):
    first_appointment = serializers.SlugRelatedField(slug_field="reference", read_only=True)

    class Meta:
        model = FreeConsultOutcome
        fields = ["id", "appointment", "recommended_path", "notes", "first_appointment"]


class AppointmentEventSerializer(serializers.ModelSerializer):
    data = serializers.SerializerMethodField()

    class Meta:
        model = AppointmentEvent
        fields = ["id", "kind", "occurred_at", "actor_label", "data"]

    @extend_schema_field(OpenApiTypes.OBJECT)
    def get_data(self, obj: AppointmentEvent) -> dict:
        return event_data_for(obj, clinical=not self.context.get("hide_clinical"))


class StaffSlotQuerySerializer(AvailabilityQuerySerializer):
    service = serializers.PrimaryKeyRelatedField(queryset=Service.objects.filter(is_active=True))


class CallbackRequestSerializer(serializers.ModelSerializer):
    email = serializers.CharField(read_only=True, help_text="Blank when none was given.")

    class Meta:
        model = CallbackRequest
        fields = [
            "id",
            "name",
            "phone",
            "email",
            "preferred_time",
            "message",
            "consent",
            "patient",
            "status",
            "handled_by",
            "handled_at",
            "staff_note",
            "created_at",
        ]
        read_only_fields = [f for f in fields if f not in ("status", "staff_note")]
