"""Who a plan goes back to when maintenance refers it back (DOMAIN.md section 6).

Leading rehabilitation needs the acts (diagnose, prescribe a treatment plan); going *back* to it
from maintenance needs more: the plan returns under a physiotherapist, not merely anyone whose
discipline holds those acts (a chiropractor does too).
"""

from clinic.errors import FieldProblem, ValidationProblem
from providers.models import Provider

REFER_BACK_DISCIPLINE = "physiotherapist"


def require_physiotherapist(provider: Provider, field: str = "physiotherapist") -> None:
    """Refuse (422, naming ``field``) a refer-back to someone who is not a physiotherapist."""
    if provider.discipline.code != REFER_BACK_DISCIPLINE:
        raise ValidationProblem(
            f"A plan referred back to rehabilitation returns under a physiotherapist; "
            f"{provider.display_name} is a {provider.discipline.name.lower()}.",
            [FieldProblem(field, "not_physiotherapist", "Choose a physiotherapist.")],
        )
