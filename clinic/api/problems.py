"""One exception handler that renders every API error as RFC 9457 problem details.

Validation errors, domain errors, 401/403/404/405/429 and Django's own ``Http404`` /
``PermissionDenied`` / ``ValidationError`` all leave as ``application/problem+json`` with a
stable ``type`` per error kind and an ``errors`` list naming the offending fields.
"""

import logging
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import DataError, IntegrityError
from django.db.models import ProtectedError, RestrictedError
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.views import defaults
from rest_framework import exceptions
from rest_framework.response import Response
from rest_framework.views import exception_handler

from clinic.api.limits import PayloadTooLarge
from clinic.errors import DomainError

PROBLEM_CONTENT_TYPE = "application/problem+json"
logger = logging.getLogger(__name__)

_DRF_SLUGS: dict[type[exceptions.APIException], tuple[str, str]] = {
    exceptions.ParseError: ("malformed-request", "The request body could not be parsed."),
    PayloadTooLarge: ("payload-too-large", "Payload too large."),
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
    if isinstance(exc, DataError):
        # The database refused a value the validators let through (a NUL character, a time-zone
        # offset past +/-15:59, a number out of range): the client's input, not a server fault.
        # Log the kind only: the database's message quotes the value, which may be health data.
        logger.warning("Database refused a request value (%s)", type(exc.__cause__).__name__)
        return problem_response(
            problem_body(
                "validation-error",
                "Invalid input.",
                400,
                "A value in the request cannot be stored or searched for (for example a NUL "
                "character, or a time-zone offset beyond 15:59).",
            )
        )
    if isinstance(exc, IntegrityError) and type(exc.__cause__).__name__ == "CheckViolation":
        # A CHECK constraint caught a value no validator refused: still the client's input.
        constraint = getattr(getattr(exc.__cause__, "diag", None), "constraint_name", "")
        logger.warning("Database CHECK %s refused a request value", constraint)
        return problem_response(
            problem_body(
                "validation-error",
                "Invalid input.",
                400,
                "A value in the request is outside what the clinic's records can hold.",
            )
        )
    if isinstance(exc, ProtectedError | RestrictedError):
        # Deleting a row other records still point at (a location with appointments, a service
        # that was booked): refuse as a conflict, naming the kinds of records that hold it.
        kinds = sorted({str(obj._meta.verbose_name_plural) for obj in exc.protected_objects})
        return problem_response(
            problem_body(
                "in-use",
                "Still in use.",
                409,
                f"This cannot be deleted while {', '.join(kinds)} refer to it; "
                "deactivate it instead.",
            )
        )
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


def json_problem(
    slug: str, title: str, code: int, detail: str, errors: list[dict[str, str]] | None = None
) -> JsonResponse:
    """A problem answered outside DRF (middleware, Django's error handlers)."""
    return JsonResponse(
        problem_body(slug, title, code, detail, errors),
        status=code,
        content_type=PROBLEM_CONTENT_TYPE,
    )


def _plain_problem(
    request: HttpRequest, slug: str, title: str, code: int, detail: str, fallback
) -> HttpResponse:
    """Problem+json under ``/api/``; Django's own HTML pages elsewhere (admin, widget page)."""
    if not request.path.startswith("/api/"):
        return fallback()
    return json_problem(slug, title, code, detail)


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


# --- OpenAPI: document the problem responses every operation can give ---------------------------

PROBLEM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "RFC 9457 problem details.",
    "properties": {
        "type": {"type": "string", "format": "uri", "description": "Names the error kind."},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "errors": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "field": {"type": "string"},
                    "code": {"type": "string"},
                    "message": {"type": "string"},
                },
                "required": ["field", "code", "message"],
            },
        },
    },
    "required": ["type", "title", "status", "detail", "errors"],
}

_PROBLEM_DESCRIPTIONS = {
    "400": "Malformed request or invalid field values (`validation-error`, `malformed-request`).",
    "401": "Authentication required (`not-authenticated`).",
    "403": "The user's role may not do this (`permission-denied`).",
    "404": "No such resource, no match for the token, or a page past the end (`not-found`).",
    "409": "Conflicts with the current state (`invalid-transition`, `slot-unavailable`, ...).",
    "413": "The request body is over the size limit (`payload-too-large`).",
    "415": "Unsupported request media type (`unsupported-media-type`).",
    "422": "A clinic rule refused the request; `type` names the rule.",
    "429": "Too many requests from this client (`throttled`); see `Retry-After`.",
}


def _problem_response(code: str) -> dict[str, Any]:
    return {
        "description": _PROBLEM_DESCRIPTIONS[code],
        "content": {PROBLEM_CONTENT_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}},
    }


def document_problem_responses(result: dict[str, Any], generator, request, public) -> dict:
    """drf-spectacular post-processing hook: add the ``Problem`` component and the error responses
    the exception handler can produce to every operation, keeping any an endpoint documents."""
    schemas = result.setdefault("components", {}).setdefault("schemas", {})
    schemas["Problem"] = PROBLEM_SCHEMA
    _local_times_are_partial_times(schemas)
    for path, operations in result.get("paths", {}).items():
        for method, operation in operations.items():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            # Path and query values are checked for NUL characters (clinic.api.guard).
            parameters = [p for p in operation.get("parameters", []) if p.get("in") != "header"]
            has_body = "requestBody" in operation
            anonymous = operation.get("security") in ([{}], [])
            codes = []
            if has_body or parameters:
                codes.append("400")
            if not anonymous:
                codes += ["401", "403"]
            # Unknown ids, tokens that match nothing and pages past the end.
            codes.append("404")
            if has_body:
                codes += ["413", "415"]
            if method in ("post", "put", "patch", "delete"):
                codes += ["409", "422"]
            if anonymous and path.startswith("/api/v1/public/"):
                codes.append("429")
            responses = operation["responses"]
            for code in codes:
                responses.setdefault(code, _problem_response(code))
    return result


def _local_times_are_partial_times(node: Any) -> None:
    """Wall-clock times (opening hours) carry no offset: RFC 3339 calls that a ``partial-time``;
    its ``time`` format requires an offset and would reject every value the API sends."""
    if isinstance(node, dict):
        if node.get("type") == "string" and node.get("format") == "time":
            node["format"] = "partial-time"
            node["pattern"] = r"^([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9](\.[0-9]+)?)?$"
        for value in node.values():
            _local_times_are_partial_times(value)
    elif isinstance(node, list):
        for value in node:
            _local_times_are_partial_times(value)
