"""The booking widget's endpoints (API.md): services, availability, bookings, call-backs.

Anonymous and throttled. A booking is reached only with its reference *and* its secret token;
a wrong token and an unknown reference give the same 404 through the same code path.
"""

from drf_spectacular.utils import OpenApiExample, OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from clinic import rules_cache
from clinic.api.public import PublicAPIMixin
from clinic.api.renderers import RenderedJSON
from clinic.audit import client_address
from clinic.errors import FieldProblem, ValidationProblem
from providers.models import Provider
from scheduling import selectors, services
from scheduling.access import MANAGE_LINK
from scheduling.api import serializers as s
from scheduling.holder import booking_for_holder
from scheduling.idempotency import run_idempotent
from scheduling.models import Appointment


def _booking(reference: str, token: str) -> Appointment:
    return booking_for_holder(reference, token)


def _render(appointment: Appointment) -> dict:
    return s.public_booking(appointment)


@extend_schema(
    tags=["public"],
    parameters=[s.PublicServiceQuerySerializer],
    responses={200: s.PublicServiceSerializer(many=True)},
)
class PublicServiceList(PublicAPIMixin, APIView):
    """Online-bookable services that can really be booked (at ``location`` if given: an active
    provider in scope offers it there, with hours, and the location has a room of the kind it
    needs), optionally of one discipline. ``price`` is in ``currency``, the location's;
    ``required_fields`` names what a booking of the service must give."""

    def get(self, request: Request) -> Response:
        query = s.PublicServiceQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        rows = selectors.public_services(
            location=query.validated_data.get("location"),
            discipline=query.validated_data.get("discipline"),
        )
        return Response(s.PublicServiceSerializer(rows, many=True).data)


@extend_schema(
    tags=["public"],
    parameters=[s.AvailabilityQuerySerializer],
    responses={200: s.AvailabilityResponseSerializer},
)
class PublicAvailability(PublicAPIMixin, APIView):
    """Bookable start times, in the location's zone with offsets. ``start``/``end`` are local
    dates (inclusive), at most 62 days apart. Without ``provider``, each time appears once with
    the provider a booking would get and the places left across providers."""

    def get(self, request: Request) -> Response:
        view = rules_cache.read()  # one read of the rules token for the whole search
        data = s.availability_query(request.query_params, view)
        service, location = data["service"], data["location"]
        found = selectors.public_starts(
            service=service,
            location=location,
            start_date=data["start"],
            end_date=data["end"],
            provider=data.get("provider"),
            view=view,
        )
        answer = {"service": service, "location": location, "slots": found}
        return Response(
            RenderedJSON(
                s.availability_json(service, location, found),
                lambda: s.AvailabilityResponseSerializer(answer).data,
            )
        )


# The ids are those of a freshly seeded demo clinic (seed_demo): Pickering is location 1, the
# physiotherapy assessment service 3, Priya Patel provider 1. tests/test_openapi.py replays
# every request example against the demo clinic and expects success.
BOOKING_EXAMPLES = [
    OpenApiExample(
        "Book a named provider",
        request_only=True,
        value={
            "service": 3,
            "location": 1,
            "provider": 1,
            "start": "2027-03-03T09:00:00-05:00",
            "patient": {
                "first_name": "Ada",
                "last_name": "Lovelace",
                "email": "ada@example.org",
                "phone": "+1 905 555 0100",
                "date_of_birth": "1990-05-01",
            },
            "consent": {"reminders": True, "care_plans": True, "marketing": False},
            "reason": "Knee pain after running",
        },
    ),
    OpenApiExample(
        "Free consult with any provider",
        request_only=True,
        value={
            "service": 1,
            "location": 4,
            "start": "2027-03-02T12:15:00-05:00",
            "patient": {
                "first_name": "Grace",
                "last_name": "Hopper",
                "email": "grace@example.org",
                "phone": "+1 905 555 0101",
            },
            "consent": {"reminders": True, "care_plans": False, "marketing": False},
        },
    ),
    OpenApiExample(
        "Booked",
        response_only=True,
        status_codes=["201"],
        value={
            "reference": "K7Q2M9XD",
            "status": "booked",
            "service": 3,
            "provider": 1,
            "location": 1,
            "start": "2027-03-03T09:00:00-05:00",
            "end": "2027-03-03T10:00:00-05:00",
            "manage_token": "b0YxUuVQe1f3zJ1mJ2xv4w5s0kQ",
        },
    ),
]


@extend_schema(
    tags=["public"],
    examples=BOOKING_EXAMPLES,
    request=s.BookingRequestSerializer,
    parameters=[
        OpenApiParameter(
            "Idempotency-Key",
            str,
            OpenApiParameter.HEADER,
            description="Same key and body: the original response again, nothing booked twice.",
        )
    ],
    responses={201: s.PublicBookingSerializer},
)
class PublicBookingCreate(PublicAPIMixin, APIView):
    """Book. ``provider`` may be omitted: a free provider in scope is picked."""

    def post(self, request: Request) -> Response:
        data = s.booking_request(request.data)

        def book() -> tuple[int, dict]:
            appointment = services.book_online(
                service_id=data["service"],
                location_id=data["location"],
                provider_id=data["provider"],
                start=data["start"],
                patient_details=dict(data["patient"]),
                consent=dict(data["consent"]),
                reason=data["reason"],
                client_address=client_address(request),
            )
            return status.HTTP_201_CREATED, _render(appointment)

        code, payload, _ = run_idempotent(
            "public-booking", request.headers.get("Idempotency-Key"), request.data, book
        )
        return Response(payload, status=code)


@extend_schema(
    tags=["public"],
    parameters=[OpenApiParameter("token", str, required=True)],
    responses={200: s.PublicBookingSerializer},
)
class PublicBookingDetail(PublicAPIMixin, APIView):
    def get(self, request: Request, reference: str) -> Response:
        return Response(_render(_booking(reference, request.query_params.get("token", ""))))


@extend_schema(
    tags=["public"],
    examples=[
        OpenApiExample(
            "Cancel",
            request_only=True,
            value={"token": "b0YxUuVQe1f3zJ1mJ2xv4w5s0kQ", "reason": "Feeling better"},
        )
    ],
    request=s.PublicCancelSerializer,
    responses={200: s.PublicBookingSerializer},
)
class PublicBookingCancel(PublicAPIMixin, APIView):
    """Cancel, unless inside the late-cancellation window (409 ``late-cancellation``)."""

    def post(self, request: Request, reference: str) -> Response:
        body = s.PublicCancelSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        appointment = _booking(reference, body.validated_data["token"])
        appointment = services.cancel_appointment(
            appointment,
            reason=body.validated_data["reason"],
            by=Appointment.CancelledBy.PATIENT,
            refuse_late=True,
        )
        return Response(_render(appointment))


@extend_schema(
    tags=["public"],
    examples=[
        OpenApiExample("Confirm", request_only=True, value={"token": "b0YxUuVQe1f3zJ1mJ2xv4w5s0kQ"})
    ],
    request=s.TokenSerializer,
    responses={200: s.PublicBookingSerializer},
)
class PublicBookingConfirm(PublicAPIMixin, APIView):
    """The patient confirms with the link from their e-mail; confirming twice changes nothing.
    It proves the person behind an online booking holds the address (``scheduling.access``)."""

    def post(self, request: Request, reference: str) -> Response:
        body = s.TokenSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        appointment = _booking(reference, body.validated_data["token"])
        if appointment.status != Appointment.Status.CONFIRMED:
            appointment = services.change_status(appointment, "confirm", via=MANAGE_LINK)
        return Response(_render(appointment))


@extend_schema(
    tags=["public"],
    examples=[
        OpenApiExample(
            "Move to another time",
            request_only=True,
            value={"token": "b0YxUuVQe1f3zJ1mJ2xv4w5s0kQ", "start": "2027-03-03T14:00:00-05:00"},
        )
    ],
    request=s.PublicRescheduleSerializer,
    responses={200: s.PublicBookingSerializer},
)
class PublicBookingReschedule(PublicAPIMixin, APIView):
    """Move the booking; the reference and token stay the same."""

    def post(self, request: Request, reference: str) -> Response:
        body = s.PublicRescheduleSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        appointment = _booking(reference, data["token"])
        provider = None
        if data["provider"] is not None:
            provider = Provider.objects.filter(pk=data["provider"], is_active=True).first()
            if provider is None:
                raise ValidationProblem(
                    "No such provider.",
                    [FieldProblem("provider", "unknown", "No active provider has this id.")],
                )
        appointment = services.reschedule_appointment(
            appointment,
            start=data["start"],
            provider=provider,
            source=Appointment.Source.ONLINE,
            refuse_late=True,
        )
        return Response(_render(appointment))


@extend_schema(
    tags=["public"],
    request=s.CallbackRequestCreateSerializer,
    responses={201: s.PublicCallbackSerializer},
)
class PublicCallbackCreate(PublicAPIMixin, APIView):
    """Ask to be called back; lands in the front desk's queue."""

    def post(self, request: Request) -> Response:
        body = s.CallbackRequestCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        callback = services.request_callback(
            **body.validated_data, client_address=client_address(request)
        )
        return Response(s.PublicCallbackSerializer(callback).data, status=status.HTTP_201_CREATED)
