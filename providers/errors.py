"""The refusal every entry point raises when a provider's scope does not cover an act."""

from collections.abc import Iterable

from clinic.errors import FieldProblem, RuleProblem

OUT_OF_SCOPE_SLUG = "out-of-scope"


class OutOfScope(RuleProblem):
    """422 ``out-of-scope``: one field error per reason, each with the reason's stable code.

    Built from ``(code, message)`` pairs so this module does not depend on ``providers.scope``.
    """

    def __init__(
        self,
        reasons: Iterable[tuple[str, str]],
        field: str = "provider",
        detail: str | None = None,
    ):
        pairs = list(reasons)
        errors = [FieldProblem(field, code, message) for code, message in pairs]
        if detail is None:
            detail = " ".join(message for _, message in pairs) or "The act is out of scope."
        super().__init__(
            detail,
            OUT_OF_SCOPE_SLUG,
            "The provider's scope of practice does not cover this.",
            errors,
        )
