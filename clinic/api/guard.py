"""The input guard: one middleware that refuses what no endpoint can use, for every route."""

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse, JsonResponse

from clinic.api import limits, problems


class InputGuardMiddleware:
    """Refuse, before any view runs, what no endpoint can use: a body over the size cap (413),
    and NUL characters or unpaired surrogates in the path, the query string or a header (400).

    Under ``/api/`` the answer is problem+json naming the field, under ``/fhir/`` an
    OperationOutcome; elsewhere (admin, widget page) Django's own 400 page. A NUL would
    otherwise reach PostgreSQL (a 500 on an admin search).
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        api = request.path.startswith("/api/")
        if api and _declared_length(request) > limits.max_body_bytes():
            return problems.json_problem(
                "payload-too-large",
                "Payload too large.",
                413,
                f"The request body is larger than {limits.max_body_bytes()} bytes.",
            )
        errors = _input_problems(request)
        if not errors:
            return self.get_response(request)
        first = errors[0]
        if request.path.startswith("/fhir/"):
            return _operation_outcome(f"{first['field']}: {first['message']}")
        if not api:
            return problems.bad_request_view(request)
        return problems.json_problem(
            "validation-error",
            "Invalid input.",
            400,
            f"{first['field']}: {first['message']}",
            errors,
        )


def _operation_outcome(diagnostics: str) -> HttpResponse:
    """The FHIR API's own error shape, so a FHIR client reads this refusal like any other."""
    body = {
        "resourceType": "OperationOutcome",
        "issue": [{"severity": "error", "code": "invalid", "diagnostics": diagnostics}],
    }
    return JsonResponse(body, status=400, content_type="application/fhir+json")


def _declared_length(request: HttpRequest) -> int:
    try:
        return int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return 0


def _input_problems(request: HttpRequest) -> list[dict[str, str]]:
    found: list[tuple[str, str]] = []
    if reason := limits.text_problem(request.path):
        found.append(("path", reason))
    for key, values in request.GET.lists():
        name = limits.printable_name(key)
        for text in (key, *values):
            if reason := limits.text_problem(text):
                found.append((name, reason))
                break
    for key, value in request.META.items():
        if (
            key.startswith("HTTP_")
            and isinstance(value, str)
            and (reason := limits.text_problem(value))
        ):
            found.append((key[5:].replace("_", "-").title(), reason))
    return [
        {"field": field, "code": "invalid_character", "message": message}
        for field, message in found[: limits.MAX_REPORTED_FIELDS]
    ]
