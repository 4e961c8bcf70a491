"""Domain errors: raised by service functions, rendered by the API as RFC 9457 problems.

A service refuses bad input by raising one of these; the API's exception handler turns it into
``application/problem+json`` and the admin shows it as a form error. Each subclass names a stable
problem ``type`` slug, so widgets can branch on it.
"""

from dataclasses import dataclass, field


@dataclass(frozen=True)
class FieldProblem:
    """One offending field: which field, which rule (stable code), and a sentence for people."""

    field: str
    code: str
    message: str

    def as_dict(self) -> dict[str, str]:
        return {"field": self.field, "code": self.code, "message": self.message}


@dataclass
class DomainError(Exception):
    """A rule refused the request. ``slug`` becomes the problem type, ``status`` the HTTP status."""

    detail: str
    errors: list[FieldProblem] = field(default_factory=list)
    slug: str = "domain-rule"
    title: str = "The request breaks a clinic rule."
    status: int = 422

    def __post_init__(self) -> None:
        super().__init__(self.detail)

    def __str__(self) -> str:
        return self.detail


class ValidationProblem(DomainError):
    """Input that is well-formed but breaks a field rule (422)."""

    def __init__(self, detail: str, errors: list[FieldProblem] | None = None):
        super().__init__(detail, errors or [], "validation-error", "Invalid input.", 422)


class NotFoundProblem(DomainError):
    def __init__(self, detail: str = "Not found.", errors: list[FieldProblem] | None = None):
        super().__init__(detail, errors or [], "not-found", "Not found.", 404)


class ConflictProblem(DomainError):
    """A state conflict (409) with a caller-chosen slug, e.g. ``slot-unavailable``."""

    def __init__(
        self,
        detail: str,
        slug: str = "conflict",
        title: str = "Conflict with the current state.",
        errors: list[FieldProblem] | None = None,
    ):
        super().__init__(detail, errors or [], slug, title, 409)


class RuleProblem(DomainError):
    """A domain rule refused the request (422) with a caller-chosen slug, e.g. ``out-of-scope``."""

    def __init__(
        self,
        detail: str,
        slug: str,
        title: str,
        errors: list[FieldProblem] | None = None,
    ):
        super().__init__(detail, errors or [], slug, title, 422)


class PermissionProblem(DomainError):
    def __init__(
        self, detail: str = "You may not do this.", errors: list[FieldProblem] | None = None
    ):
        super().__init__(detail, errors or [], "permission-denied", "Permission denied.", 403)
