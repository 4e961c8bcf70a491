"""Base for the anonymous booking-widget API: no authentication, per-client throttles."""

from rest_framework.permissions import AllowAny

from clinic.api.throttling import PublicReadThrottle, PublicWriteThrottle


class PublicAPIMixin:
    """Mix into every ``/api/v1/public/`` view: anonymous, throttled, CORS handled by settings."""

    authentication_classes: list = []
    permission_classes = [AllowAny]
    throttle_classes = [PublicReadThrottle, PublicWriteThrottle]
