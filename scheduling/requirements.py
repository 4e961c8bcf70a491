"""What an online booking of a service must say about the patient and the visit.

One owner for the rule: ``book_online`` refuses a booking that leaves one out, and the public
services list advertises the same names (``required_fields``) so a widget asks for them first.
Names are the booking body's paths (``patient.date_of_birth``).
"""

from clinic.errors import FieldProblem
from scheduling.models import Service

DATE_OF_BIRTH = "patient.date_of_birth"
REASON = "reason"


def required_fields(service: Service) -> list[str]:
    """Care needs the person's age and why they come; a free consult is the conversation that
    finds out, so it asks neither."""
    if service.is_free_consult:
        return []
    return [DATE_OF_BIRTH, REASON]


def missing_fields(service: Service, patient_details: dict, reason: str) -> list[FieldProblem]:
    """One problem per required field left empty in a booking body."""
    given = {DATE_OF_BIRTH: patient_details.get("date_of_birth"), REASON: (reason or "").strip()}
    return [
        FieldProblem(name, "required", "This field is required for this service.")
        for name in required_fields(service)
        if not given[name]
    ]
