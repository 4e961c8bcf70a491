"""One exception handler that renders every API error as RFC 9457 problem details.

Validation errors, domain errors, 401/403/404/405/429 and Django's own ``Http404`` /
``PermissionDenied`` / ``ValidationError`` all leave as ``application/problem+json`` with a
stable ``type`` per error kind and an ``errors`` list naming the offending fields.
"""

from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.views import defaults
from rest_framework import exceptions
from rest_framework.response import Response
from rest_framework.views import exception_handler

from clinic.errors import DomainError

PROBLEM_CONTENT_TYPE = "application/problem+json"

_DRF_SLUGS: dict[type[exceptions.APIException], tuple[str, str]] = {
    exceptions.ParseError: ("malformed-request", "The request body could not be parsed."),
    exceptions.AuthenticationFailed: ("not-authenticated", "Authentication failed."),
    exceptions.NotAuthenticated: ("not-authenticated", "Authentication required."),
    exceptions.PermissionDenied: ("permission-denied", "Permission denied."),
    exceptions.NotFound: ("not-found", "Not found."),
    exceptions.MethodNotAllowed: ("method-not-allowed", "Method not allowed."),
    exceptions.NotAcceptable: ("not-acceptable", "Not acceptable."),
    exceptions.UnsupportedMediaType: ("unsupported-media-type", "Unsupported media type."),
    exceptions.Throttled: ("throttled", "Too many requests."),
    exceptions.ValidationError: ("validation-error", "Invalid input."),
}


def problem_type(slug: str) -> str:
    """The stable URI that names an error kind."""
    return f"{settings.PROBLEM_TYPE_BASE}{slug}"


def problem_body(
    slug: str, title: str, status_code: int, detail: str, errors: list[dict[str, str]] | None = None
) -> dict[str, Any]:
    return {
        "type": problem_type(slug),
        "title": title,
        "status": status_code,
        "detail": detail,
        "errors": errors or [],
    }


def _flatten(detail: Any, prefix: str = "") -> list[dict[str, str]]:
    """Turn DRF's nested error detail into ``[{field, code, message}]`` with dotted field paths."""
    if isinstance(detail, dict):
        out: list[dict[str, str]] = []
        for key, value in detail.items():
            name = "" if key in ("non_field_errors", "__all__") else str(key)
            out += _flatten(value, f"{prefix}.{name}".strip(".") if name else prefix)
        return out
    if isinstance(detail, list):
        out = []
        for index, value in enumerate(detail):
            nested = isinstance(value, dict | list)
            out += _flatten(value, f"{prefix}.{index}".strip(".") if nested else prefix)
        return out
    code = getattr(detail, "code", None) or "invalid"
    return [{"field": prefix or "non_field_errors", "code": str(code), "message": str(detail)}]


def _summary(errors: list[dict[str, str]], fallback: str) -> str:
    if not errors:
        return fallback
    first = errors[0]
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    return f"{first['field']}: {first['message']}{more}"


def problem_response(body: dict[str, Any], headers: dict[str, str] | None = None) -> Response:
    response = Response(body, status=body["status"], headers=headers)
    response.content_type = PROBLEM_CONTENT_TYPE
    return response


def problem_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """DRF ``EXCEPTION_HANDLER``: every error becomes problem+json."""
    if isinstance(exc, DomainError):
        body = problem_body(
            exc.slug, exc.title, exc.status, exc.detail, [e.as_dict() for e in exc.errors]
        )
        return problem_response(body)
    if isinstance(exc, DjangoValidationError):
        exc = exceptions.ValidationError(
            exc.message_dict if hasattr(exc, "error_dict") else {"non_field_errors": exc.messages}
        )
    elif isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied()

    response = exception_handler(exc, context)
    if response is None or not isinstance(exc, exceptions.APIException):
        return response

    slug, title = next(
        (value for cls, value in _DRF_SLUGS.items() if isinstance(exc, cls)),
        ("error", "Request failed."),
    )
    if isinstance(exc, exceptions.ValidationError):
        errors = _flatten(exc.detail)
        body = problem_body(slug, title, response.status_code, _summary(errors, title), errors)
    else:
        body = problem_body(slug, title, response.status_code, str(exc.detail))
    response.data = body
    response.content_type = PROBLEM_CONTENT_TYPE
    return response


def _plain_problem(
    request: HttpRequest, slug: str, title: str, code: int, detail: str, fallback
) -> HttpResponse:
    """Problem+json under ``/api/``; Django's own HTML pages elsewhere (admin, widget page)."""
    if not request.path.startswith("/api/"):
        return fallback()
    return JsonResponse(
        problem_body(slug, title, code, detail), status=code, content_type=PROBLEM_CONTENT_TYPE
    )


def not_found_view(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return _plain_problem(
        request,
        "not-found",
        "Not found.",
        404,
        "No resource at this address.",
        lambda: defaults.page_not_found(request, exception),
    )


def server_error_view(request: HttpRequest) -> HttpResponse:
    return _plain_problem(
        request,
        "server-error",
        "Server error.",
        500,
        "An unexpected error occurred; it is logged.",
        lambda: defaults.server_error(request),
    )


def bad_request_view(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return _plain_problem(
        request,
        "bad-request",
        "Bad request.",
        400,
        "The request was malformed.",
        lambda: defaults.bad_request(request, exception),
    )


def permission_denied_view(
    request: HttpRequest, exception: Exception | None = None
) -> HttpResponse:
    return _plain_problem(
        request,
        "permission-denied",
        "Permission denied.",
        403,
        "You may not do this.",
        lambda: defaults.permission_denied(request, exception),
    )
