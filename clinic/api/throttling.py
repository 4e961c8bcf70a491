"""Throttles: the public widget API is limited per client, reads and writes separately."""

from rest_framework.throttling import AnonRateThrottle, UserRateThrottle


class PublicReadThrottle(AnonRateThrottle):
    scope = "public_read"

    def allow_request(self, request, view) -> bool:
        if request.method not in ("GET", "HEAD", "OPTIONS"):
            return True
        return super().allow_request(request, view)


class PublicWriteThrottle(AnonRateThrottle):
    scope = "public_write"

    def allow_request(self, request, view) -> bool:
        if request.method in ("GET", "HEAD", "OPTIONS"):
            return True
        return super().allow_request(request, view)


class StaffThrottle(UserRateThrottle):
    scope = "staff"
