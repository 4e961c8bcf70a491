from drf_spectacular.utils import extend_schema
from rest_framework import viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from clinic.api.permissions import IsManager, IsStaffMember
from notifications import services
from notifications.api.serializers import NotificationSerializer
from notifications.models import Notification
from notifications.selectors import visible_notifications


@extend_schema(tags=["notifications"])
class NotificationViewSet(viewsets.ReadOnlyModelViewSet):
    """The e-mail ledger: what was planned, sent, skipped (and why) or failed. Staff read it."""

    serializer_class = NotificationSerializer
    queryset = Notification.objects.all()
    permission_classes = [IsStaffMember]
    filterset_fields = ["status", "kind", "subject_type", "subject_id", "reason"]
    search_fields = ["recipient", "subject_line"]
    ordering_fields = ["planned_for", "sent_at", "id"]

    def get_queryset(self):
        return visible_notifications(self.request.user)

    @extend_schema(request=None, responses=NotificationSerializer)
    @action(detail=True, methods=["post"], permission_classes=[IsManager])
    def retry(self, request: Request, pk: str | None = None) -> Response:
        """Managers send a failed e-mail again now, with a fresh set of attempts."""
        notification = services.retry_now(self.get_object())
        return Response(self.get_serializer(notification).data)
