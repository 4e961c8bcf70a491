"""The checks every care-plan write makes (who acts, scope, ownership, phase),
and the history row with its audit row.
"""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from django.utils import timezone

from clinic.audit import object_label, record_event
from clinic.errors import FieldProblem, PermissionProblem, RuleProblem, ValidationProblem
from clinic.models import AuditEvent
from patients.access import provider_for
from plans.models import MEASURE_BOUNDS, CarePlan, MeasureKind, MovementTag, PlanEvent
from providers import scope
from providers.models import Provider

DIAGNOSE = "diagnose"


PRESCRIBE_PLAN = "prescribe_treatment_plan"


DESIGN_PROGRAM = "exercise_program_design"


Phase = CarePlan.Phase


CLINICAL_PHASES = (Phase.ASSESSMENT, Phase.REHABILITATION)


INVALID_TRANSITION = "invalid-transition"


@dataclass(frozen=True)
class Actor:
    """Who makes a change: the provider acting (for scope) and the user logged in (for history)."""

    provider: Provider | None
    user: Any = None
    request: Any = None  # for the audit row: the client's address and user agent
    channel: str = "api"

    @property
    def label(self) -> str:
        if self.provider is not None:
            return self.provider.display_name
        return getattr(self.user, "username", "") or "system"


def actor_for(user, request=None, channel: str = "api") -> Actor:
    """The acting provider of a staff user; clinical changes need one. ``request`` and
    ``channel`` go into the audit row each change writes."""
    return Actor(provider_for(user), user, request, channel)


def _now(at: datetime | None) -> datetime:
    return at or timezone.now()


def _provider(actor: Actor) -> Provider:
    if actor.provider is None:
        raise PermissionProblem(
            "Only a provider can change a care plan; this account is not linked to one.",
            [FieldProblem("provider", "no_provider", "The user is not linked to a provider.")],
        )
    return actor.provider


def _require_scope(
    provider: Provider, act: str, plan: CarePlan, at: datetime, field: str = "provider"
) -> None:
    scope.decide(provider, act, plan.location, at).raise_if_refused(field)


def _require_lead(plan: CarePlan, provider: Provider, doing: str) -> None:
    if plan.lead_id != provider.pk:
        raise PermissionProblem(
            f"Only the plan's lead ({plan.lead.display_name}) may {doing}.",
            [FieldProblem("provider", "not_plan_lead", "The provider is not the plan's lead.")],
        )


def _require_owner(plan: CarePlan, provider: Provider, doing: str) -> None:
    if plan.maintenance_owner_id != provider.pk:
        raise PermissionProblem(
            f"Only the plan's maintenance owner may {doing}.",
            [
                FieldProblem(
                    "provider", "not_maintenance_owner", "The provider is not the plan's owner."
                )
            ],
        )


def _require_phase(plan: CarePlan, allowed: Iterable[str], doing: str) -> None:
    allowed = tuple(allowed)
    if plan.phase not in allowed:
        names = " or ".join(Phase(p).label.lower() for p in allowed)
        raise RuleProblem(
            f"Cannot {doing} while the plan is in {plan.get_phase_display().lower()}; "
            f"only in {names}.",
            INVALID_TRANSITION,
            "The plan's phase does not allow this.",
            [FieldProblem("phase", "invalid_phase", f"The plan is {plan.phase}.")],
        )


def _require_program_author(plan: CarePlan, provider: Provider, at: datetime) -> None:
    """In rehabilitation the lead writes the program, in maintenance the maintenance owner;
    either way their scope must cover exercise program design."""
    _require_phase(plan, (Phase.REHABILITATION, Phase.MAINTENANCE), "change the exercise program")
    _require_scope(provider, DESIGN_PROGRAM, plan, at)
    if plan.phase == Phase.REHABILITATION:
        _require_lead(plan, provider, "change the exercise program in rehabilitation")
    else:
        _require_owner(plan, provider, "change the exercise program in maintenance")


def _require_clinical_author(plan: CarePlan, provider: Provider, at: datetime, doing: str) -> None:
    """Diagnosis and precautions: a provider who may diagnose, leading the plan, before
    maintenance."""
    _require_scope(provider, DIAGNOSE, plan, at)
    _require_lead(plan, provider, doing)
    _require_phase(plan, CLINICAL_PHASES, doing)


def _lock(plan: CarePlan) -> CarePlan:
    return CarePlan.objects.select_for_update().select_related("lead", "location").get(pk=plan.pk)


def _event(
    plan: CarePlan,
    actor: Actor,
    kind: str,
    summary: str,
    at: datetime,
    before: Any = None,
    after: Any = None,
    reason: str = "",
) -> PlanEvent:
    """The plan's history row and the audit row of the same change, in its transaction: every
    plan write goes through here, so no entry point can change a plan unaudited."""
    user = actor.user if getattr(actor.user, "pk", None) else None
    record_event(
        actor=user,
        action=AuditEvent.Action.CREATE if kind == "created" else AuditEvent.Action.UPDATE,
        object_type=object_label(CarePlan),
        object_id=plan.pk,
        patient_id=plan.patient_id,
        request=actor.request,
        changes={"kind": kind, "before": before, "after": after},
        summary=summary[:300],
        channel=actor.channel,
    )
    return PlanEvent.objects.create(
        plan=plan,
        at=at,
        actor=user,
        provider=actor.provider,
        actor_label=actor.label,
        kind=kind,
        summary=summary[:300],
        before=before,
        after=after,
        reason=reason,
    )


def _decimal(value: Any, field: str) -> Decimal:
    try:
        number = Decimal(str(value))
    except (InvalidOperation, ValueError):
        raise ValidationProblem(
            f"{field} must be a number.", [FieldProblem(field, "invalid", "Not a number.")]
        ) from None
    if not number.is_finite():
        raise ValidationProblem(
            f"{field} must be a number.", [FieldProblem(field, "invalid", "Not a number.")]
        )
    return number.quantize(Decimal("0.1"))


def _in_scale(kind: str, value: Decimal, field: str) -> None:
    if kind not in MeasureKind.values:
        raise ValidationProblem(
            f"Unknown measure kind '{kind}'.",
            [FieldProblem("kind", "invalid_choice", f"One of {', '.join(MeasureKind.values)}.")],
        )
    bounds = MEASURE_BOUNDS.get(kind)
    if bounds and not bounds[0] <= value <= bounds[1]:
        raise ValidationProblem(
            f"A {kind} value must be between {bounds[0]} and {bounds[1]}.",
            [FieldProblem(field, "out_of_scale", f"Between {bounds[0]} and {bounds[1]}.")],
        )


def _check_tags(tags: Any) -> list[str]:
    if not isinstance(tags, list) or not tags or not all(isinstance(t, str) for t in tags):
        raise ValidationProblem(
            "List the movement tags to avoid.",
            [FieldProblem("tags", "required", "A non-empty list of movement tags.")],
        )
    unknown = sorted(set(tags) - set(MovementTag.values))
    if unknown:
        raise ValidationProblem(
            f"Unknown movement tags: {', '.join(unknown)}.",
            [FieldProblem("tags", "invalid_choice", f"Unknown: {', '.join(unknown)}.")],
        )
    return list(dict.fromkeys(tags))
