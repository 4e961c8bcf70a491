"""Throttles: the public widget API is limited per client, reads and writes separately."""

from rest_framework.settings import api_settings
from rest_framework.throttling import AnonRateThrottle, UserRateThrottle


class LiveRateMixin:
    """Look the rate up per request: DRF binds ``THROTTLE_RATES`` once at import, so a changed
    setting (``override_settings`` in tests) would otherwise be ignored."""

    scope: str

    def get_rate(self) -> str | None:
        return api_settings.DEFAULT_THROTTLE_RATES.get(self.scope)


class PublicReadThrottle(LiveRateMixin, AnonRateThrottle):
    scope = "public_read"

    def allow_request(self, request, view) -> bool:
        if request.method not in ("GET", "HEAD", "OPTIONS"):
            return True
        return super().allow_request(request, view)


class PublicWriteThrottle(LiveRateMixin, AnonRateThrottle):
    scope = "public_write"

    def allow_request(self, request, view) -> bool:
        if request.method in ("GET", "HEAD", "OPTIONS"):
            return True
        return super().allow_request(request, view)


class StaffThrottle(LiveRateMixin, UserRateThrottle):
    scope = "staff"
