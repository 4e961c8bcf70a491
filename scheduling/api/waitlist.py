"""The waitlist's endpoints (API.md): the widget's ``/api/v1/public/waitlist/`` (join, view,
claim, withdraw, reached with the entry's id and secret token) and the front desk's
``/api/v1/waitlist/`` (list with offer history, add, offer a time by hand, withdraw).

Views parse and call one service or selector; refusals come back as problem+json.
"""

from drf_spectacular.utils import OpenApiExample, OpenApiParameter, extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from clinic.api.public import PublicAPIMixin
from clinic.audit import client_address
from scheduling import services
from scheduling.api import waitlist_serializers as s
from scheduling.api.serializers import PublicBookingSerializer, public_booking
from scheduling.api.views import IsFrontDeskOrManager
from scheduling.waitlist_models import WaitlistEntry
from scheduling.waitlist_selectors import current_offer, entry_for_holder, waitlist_for


def _windows(data: list) -> list[dict]:
    return [
        {"weekday": window.get("weekday"), "from": window["from"], "to": window["to"]}
        for window in data
    ]


def _entry_answer(entry: WaitlistEntry) -> dict:
    offer = current_offer(entry)
    return s.PublicWaitlistEntrySerializer(entry, context={"offer": offer}).data


@extend_schema(
    tags=["public"],
    request=s.PublicWaitlistRequestSerializer,
    responses={201: s.PublicWaitlistCreatedSerializer},
    examples=[
        OpenApiExample(
            "Weekday mornings in March",
            request_only=True,
            value={
                "service": 3,
                "location": 1,
                "earliest_date": "2027-03-01",
                "latest_date": "2027-03-31",
                "windows": [{"weekday": 0, "from": "08:00", "to": "12:00"}],
                "patient": {
                    "first_name": "Ada",
                    "last_name": "Lovelace",
                    "email": "ada@example.org",
                    "phone": "+1 905 555 0100",
                },
                "consent": {"reminders": True},
            },
        )
    ],
)
class PublicWaitlistCreate(PublicAPIMixin, APIView):
    """Join the waitlist; a new person becomes a lead. Keep the token: it opens the entry. The
    entry is offered times only after the person confirms it from the e-mailed link."""

    def post(self, request: Request) -> Response:
        body = s.PublicWaitlistRequestSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        entry = services.join_waitlist_online(
            service_id=data["service"],
            location_id=data["location"],
            provider_id=data["provider"],
            earliest_date=data["earliest_date"],
            latest_date=data["latest_date"],
            windows=_windows(data["windows"]),
            patient_details=dict(data["patient"]),
            consent=dict(data["consent"]),
            client_address=client_address(request),
        )
        answer = {
            "id": entry.pk,
            "token": entry.token,
            "status": entry.status,
            "confirmed": entry.confirmed_at is not None,
        }
        return Response(answer, status=status.HTTP_201_CREATED)


@extend_schema(
    tags=["public"],
    parameters=[OpenApiParameter("token", str, required=True)],
    responses={200: s.PublicWaitlistEntrySerializer},
)
class PublicWaitlistDetail(PublicAPIMixin, APIView):
    def get(self, request: Request, entry_id: int) -> Response:
        entry = entry_for_holder(entry_id, request.query_params.get("token", ""))
        return Response(_entry_answer(entry))


@extend_schema(
    tags=["public"],
    request=s.WaitlistClaimSerializer,
    responses={201: PublicBookingSerializer},
)
class PublicWaitlistClaim(PublicAPIMixin, APIView):
    """Book the time held for this entry: 422 naming ``reason`` or ``patient.date_of_birth``
    when the service requires them (as an online booking does), 409 ``offer-expired`` once the
    hold is over or the offer was claimed, 409 ``slot-unavailable`` if the booking is refused."""

    def post(self, request: Request, entry_id: int) -> Response:
        body = s.WaitlistClaimSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        entry = entry_for_holder(entry_id, data["token"])
        appointment = services.claim_offer(
            entry, patient_details=dict(data["patient"]), reason=data["reason"]
        )
        return Response(public_booking(appointment), status=status.HTTP_201_CREATED)


@extend_schema(
    tags=["public"],
    request=s.WaitlistTokenSerializer,
    responses={200: s.PublicWaitlistEntrySerializer},
)
class PublicWaitlistWithdraw(PublicAPIMixin, APIView):
    """Leave the waitlist; a time held for the entry goes to the next one."""

    def post(self, request: Request, entry_id: int) -> Response:
        body = s.WaitlistTokenSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        entry = entry_for_holder(entry_id, body.validated_data["token"])
        return Response(_entry_answer(services.withdraw_entry(entry)))


@extend_schema(tags=["scheduling"])
class WaitlistViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    viewsets.GenericViewSet,
):
    """The waitlist for the front desk and managers: filter by location, service and status;
    each entry carries its offer history (who offered what, when, and how it ended)."""

    permission_classes = [IsFrontDeskOrManager]
    serializer_class = s.StaffWaitlistEntrySerializer
    queryset = WaitlistEntry.objects.all()
    filterset_fields = ["location", "service", "status", "provider"]

    def get_queryset(self):
        return waitlist_for(self.request.user, super().get_queryset())

    def get_serializer_class(self):
        if self.action == "create":
            return s.StaffWaitlistCreateSerializer
        if self.action == "offer":
            return s.StaffOfferSerializer
        return s.StaffWaitlistEntrySerializer

    @extend_schema(
        request=s.StaffWaitlistCreateSerializer, responses={201: s.StaffWaitlistEntrySerializer}
    )
    def create(self, request: Request) -> Response:
        body = s.StaffWaitlistCreateSerializer(data=request.data, context={"request": request})
        body.is_valid(raise_exception=True)
        data = body.validated_data
        entry = services.join_waitlist(
            patient=data["patient"],
            service=data["service"],
            location=data["location"],
            provider=data.get("provider"),
            earliest_date=data["earliest_date"],
            latest_date=data["latest_date"],
            windows=_windows(data["windows"]),
            source=WaitlistEntry.Source.STAFF,
            actor=request.user,
        )
        answer = s.StaffWaitlistEntrySerializer(self.get_queryset().get(pk=entry.pk)).data
        return Response(answer, status=status.HTTP_201_CREATED)

    @extend_schema(request=s.StaffOfferSerializer, responses={201: s.StaffWaitlistEntrySerializer})
    @action(detail=True, methods=["post"])
    def offer(self, request: Request, pk: str) -> Response:
        """Offer this entry a time by hand (held as any offer; the patient is e-mailed)."""
        entry = self.get_object()
        body = s.StaffOfferSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        services.offer_by_hand(
            entry,
            provider=body.validated_data["provider"],
            start=body.validated_data["start"],
            actor=request.user,
        )
        answer = s.StaffWaitlistEntrySerializer(self.get_queryset().get(pk=entry.pk)).data
        return Response(answer, status=status.HTTP_201_CREATED)

    @extend_schema(request=None, responses={200: s.StaffWaitlistEntrySerializer})
    @action(detail=True, methods=["post"])
    def withdraw(self, request: Request, pk: str) -> Response:
        """Take the entry off the waitlist (the patient asked by phone); an open hold ends."""
        entry = services.withdraw_entry(self.get_object(), actor=request.user)
        return Response(s.StaffWaitlistEntrySerializer(self.get_queryset().get(pk=entry.pk)).data)
