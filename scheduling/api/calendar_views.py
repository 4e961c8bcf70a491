"""The providers' calendar feeds: the subscription URL itself (``/calendar/{token}.ics``, the
token is the only credential) and the staff endpoints that show and rotate a provider's link."""

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404
from django.utils.cache import get_conditional_response
from django.utils.http import http_date
from django.views.decorators.http import require_safe
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from clinic.api.permissions import IsStaffMember
from providers.models import Provider
from scheduling import calendar_feed
from scheduling.models import CalendarFeed

CACHE_CONTROL = "private, max-age=300"


@require_safe
def feed(request: HttpRequest, token: str) -> HttpResponse:
    """The feed for calendar apps; 404 for a rotated, revoked or unknown token. Answers 304 to
    a matching ``If-None-Match`` (or an unchanged ``If-Modified-Since``)."""
    found = calendar_feed.feed_for_token(token)
    if found is None:
        raise Http404("No such calendar feed.")
    document = calendar_feed.build(found)
    validators = {
        "ETag": document.etag,
        "Last-Modified": http_date(document.last_modified.timestamp()),
        "Cache-Control": CACHE_CONTROL,
    }
    # A matching If-None-Match (or unchanged If-Modified-Since) answers 304 before the body,
    # the expensive part, is built.
    response = get_conditional_response(
        request,
        etag=document.etag,
        last_modified=int(document.last_modified.timestamp()),
        response=HttpResponse(status=200),
    )
    if response.status_code == 200:
        response = HttpResponse(document.body, content_type="text/calendar; charset=utf-8")
        response["Content-Disposition"] = 'inline; filename="schedule.ics"'
    for header, value in validators.items():
        response[header] = value
    calendar_feed.record_access(found, request, document, response.status_code)
    return response


class CalendarFeedSerializer(serializers.Serializer):
    provider = serializers.IntegerField()
    url = serializers.URLField(
        allow_null=True, help_text="The secret subscription link; null until one is made."
    )
    created_at = serializers.DateTimeField(allow_null=True)


class _FeedLink(APIView):
    """A provider's secret calendar-feed link: the provider themselves and managers."""

    permission_classes = [IsStaffMember]

    def _provider(self, request: Request, pk: int) -> Provider:
        provider = get_object_or_404(Provider, pk=pk)
        calendar_feed.check_may_manage(request.user, provider)
        return provider

    def _answer(self, provider: Provider) -> Response:
        found = CalendarFeed.objects.filter(provider=provider).first()
        token = calendar_feed.token_of(found)
        return Response(
            {
                "provider": provider.pk,
                "url": calendar_feed.feed_url(token) if token else None,
                "created_at": found.created_at if found else None,
            }
        )


class ProviderCalendarFeed(_FeedLink):
    @extend_schema(tags=["scheduling"], responses=CalendarFeedSerializer)
    def get(self, request: Request, pk: int) -> Response:
        return self._answer(self._provider(request, pk))


class RotateProviderCalendarFeed(_FeedLink):
    @extend_schema(tags=["scheduling"], request=None, responses=CalendarFeedSerializer)
    def post(self, request: Request, pk: int) -> Response:
        """A new link; the old one stops working at once."""
        provider = self._provider(request, pk)
        calendar_feed.rotate(provider, actor=request.user, request=request)
        return self._answer(provider)
