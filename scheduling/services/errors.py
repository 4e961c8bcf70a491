"""The refusals scheduling raises: each a problem with a stable slug and the field it names."""

from clinic.errors import ConflictProblem, FieldProblem, RuleProblem

SLOT_UNAVAILABLE = "slot-unavailable"


OUTSIDE_POLICY = "outside-booking-policy"


def slot_unavailable(detail: str = "This time is no longer available.", code: str = "taken"):
    return ConflictProblem(
        detail,
        slug=SLOT_UNAVAILABLE,
        title="The slot is not available.",
        errors=[FieldProblem("start", code, detail)],
    )


def outside_policy(detail: str, code: str, field: str = "start") -> RuleProblem:
    return RuleProblem(
        detail,
        OUTSIDE_POLICY,
        "Outside the booking policy.",
        [FieldProblem(field, code, detail)],
    )


def inactive_service(detail: str, field: str = "service", code: str = "inactive") -> RuleProblem:
    return RuleProblem(
        detail,
        "inactive-service",
        "Unknown or inactive service.",
        [FieldProblem(field, code, detail)],
    )


def invalid_transition(detail: str) -> ConflictProblem:
    return ConflictProblem(
        detail,
        slug="invalid-transition",
        title="Not possible in the appointment's current state.",
        errors=[FieldProblem("status", "invalid_transition", detail)],
    )
