"""A plan's phases: assessment, rehabilitation, maintenance (with its discharge
rule), refer-back and close.
"""

from datetime import datetime
from typing import Any

from django.db import transaction

from clinic import roles
from clinic.errors import FieldProblem, PermissionProblem, RuleProblem, ValidationProblem
from clinic.models import ClinicSettings
from patients.access import can_view_clinical
from patients.referrals import create_referral
from patients.services import record_care_relationship
from plans import selectors
from plans.models import CarePlan, MeasureKind
from plans.refer_back_rules import require_physiotherapist
from plans.services._guards import (
    DESIGN_PROGRAM,
    DIAGNOSE,
    INVALID_TRANSITION,
    PRESCRIBE_PLAN,
    Actor,
    Phase,
    _event,
    _lock,
    _now,
    _provider,
    _require_lead,
    _require_owner,
    _require_phase,
    _require_scope,
)
from plans.services.outcomes import _record_measure
from providers import scope
from providers.models import Provider


@transaction.atomic
def create_plan(
    *,
    actor: Actor,
    patient,
    location,
    title: str,
    lead: Provider | None = None,
    at: datetime | None = None,
) -> CarePlan:
    """Open a plan in assessment. Its lead assesses, so the lead must be able to diagnose. A
    staff user opens plans only for patients whose clinical record they may see (managers for
    anyone); ``actor.user=None`` is the system (demo data)."""
    at = _now(at)
    user = actor.user
    if user is not None and not (roles.is_manager(user) or can_view_clinical(user, patient)):
        raise PermissionProblem(
            "You may open plans only for patients you treat or were referred.",
            [FieldProblem("patient", "not_your_patient", "You do not treat this patient.")],
        )
    lead = lead or _provider(actor)
    if not title.strip():
        raise ValidationProblem("Give the plan a title.", [FieldProblem("title", "required", "")])
    scope.decide(lead, DIAGNOSE, location, at).raise_if_refused("lead")
    plan = CarePlan.objects.create(
        patient=patient, location=location, title=title.strip(), lead=lead
    )
    _event(
        plan,
        actor,
        "created",
        f"Plan opened in assessment, led by {lead.display_name}.",
        at,
        after={"phase": plan.phase, "lead": lead.pk, "location": location.pk},
    )
    record_care_relationship(patient, lead, "care_plan")
    return plan


@transaction.atomic
def start_rehabilitation(plan: CarePlan, *, actor: Actor, at: datetime | None = None) -> CarePlan:
    """Assessment -> rehabilitation: needs a diagnosis and a lead who may prescribe a plan."""
    at = _now(at)
    plan = _lock(plan)
    provider = _provider(actor)
    _require_scope(provider, PRESCRIBE_PLAN, plan, at)
    _require_lead(plan, provider, "start rehabilitation")
    _require_phase(plan, (Phase.ASSESSMENT,), "start rehabilitation")
    if not plan.diagnoses.exists():
        raise RuleProblem(
            "Record a diagnosis before starting rehabilitation.",
            INVALID_TRANSITION,
            "The plan is not ready for this transition.",
            [FieldProblem("diagnoses", "required", "At least one diagnosis is needed.")],
        )
    plan.phase = Phase.REHABILITATION
    plan.save(update_fields=["phase", "updated_at"])
    _event(
        plan,
        actor,
        "phase_changed",
        "Assessment complete; rehabilitation started.",
        at,
        before={"phase": Phase.ASSESSMENT},
        after={"phase": Phase.REHABILITATION},
    )
    return plan


@transaction.atomic
def move_to_maintenance(
    plan: CarePlan,
    *,
    actor: Actor,
    owner: Provider,
    override_reason: str = "",
    at: datetime | None = None,
) -> CarePlan:
    """Rehabilitation -> maintenance by the lead, when the discharge criteria hold or with an
    override reason that the history keeps. The owner must be able to design exercise programs."""
    at = _now(at)
    plan = _lock(plan)
    provider = _provider(actor)
    _require_scope(provider, PRESCRIBE_PLAN, plan, at)
    _require_lead(plan, provider, "hand the plan over to maintenance")
    _require_phase(plan, (Phase.REHABILITATION,), "move to maintenance")
    _require_scope(owner, DESIGN_PROGRAM, plan, at, field="maintenance_owner")
    override_reason = override_reason.strip()
    criteria = selectors.discharge_criteria(plan)
    if not criteria.met and not override_reason:
        raise RuleProblem(
            "The discharge criteria are not met: "
            + " ".join(criteria.reasons)
            + " Give an override reason to hand over anyway.",
            "discharge-criteria-not-met",
            "Discharge criteria not met.",
            [FieldProblem("override_reason", "criteria_not_met", r) for r in criteria.reasons],
        )
    plan.phase = Phase.MAINTENANCE
    plan.maintenance_owner = owner
    plan.save(update_fields=["phase", "maintenance_owner", "updated_at"])
    how = "criteria met" if criteria.met else "criteria overridden"
    _event(
        plan,
        actor,
        "phase_changed",
        f"Handed over to {owner.display_name} for maintenance ({how}).",
        at,
        before={"phase": Phase.REHABILITATION, "maintenance_owner": None},
        after={
            "phase": Phase.MAINTENANCE,
            "maintenance_owner": owner.pk,
            "criteria": criteria.as_dict() | {"overridden": not criteria.met},
        },
        reason=override_reason,
    )
    record_care_relationship(plan.patient, owner, "care_plan")
    return plan


@transaction.atomic
def refer_back(
    plan: CarePlan,
    *,
    actor: Actor,
    reason: str,
    pain: Any = None,
    red_flag: bool = False,
    physiotherapist: Provider | None = None,
    at: datetime | None = None,
) -> CarePlan:
    """Maintenance -> rehabilitation when pain passes the clinic's threshold or a red flag
    appears. The plan returns to a physiotherapist who may diagnose and prescribe a treatment
    plan (by default the previous lead); the maintenance owner steps back. Referring needs no act in
    scope (DOMAIN.md section 2: any provider may refer), only a role on the plan."""
    at = _now(at)
    plan = _lock(plan)
    provider = _provider(actor)
    if provider.pk not in (plan.maintenance_owner_id, plan.lead_id):
        _require_owner(plan, provider, "refer the plan back")
    _require_phase(plan, (Phase.MAINTENANCE,), "refer back to rehabilitation")
    reason = reason.strip()
    if not reason:
        raise ValidationProblem(
            "Say why the plan is referred back.", [FieldProblem("reason", "required", "")]
        )
    settings = ClinicSettings.load()
    if pain is not None:
        _record_measure(plan, actor, provider, MeasureKind.PAIN, "pain", pain, reason, at)
    latest = selectors.last_pain_values(plan, 1)
    pain_high = bool(latest) and latest[0] > settings.refer_back_pain_threshold
    if not (pain_high or red_flag):
        raise RuleProblem(
            f"Refer back when pain is above {settings.refer_back_pain_threshold}/10 or a red flag "
            f"appears (last pain: {latest[0] if latest else 'none recorded'}).",
            "refer-back-not-indicated",
            "Referral back to rehabilitation is not indicated.",
            [FieldProblem("pain", "below_threshold", "Pain is not above the threshold.")],
        )
    physio = physiotherapist or plan.lead
    _require_scope(physio, PRESCRIBE_PLAN, plan, at, field="physiotherapist")
    _require_scope(physio, DIAGNOSE, plan, at, field="physiotherapist")
    require_physiotherapist(physio)
    before = {
        "phase": plan.phase,
        "lead": plan.lead_id,
        "maintenance_owner": plan.maintenance_owner_id,
    }
    plan.phase = Phase.REHABILITATION
    plan.lead = physio
    plan.maintenance_owner = None
    plan.save(update_fields=["phase", "lead", "maintenance_owner", "updated_at"])
    referral = None
    if physio.pk != provider.pk:
        # Tracked like any referral (DOMAIN.md section 2) until the physiotherapist completes it.
        referral = create_referral(
            patient=plan.patient,
            from_provider=provider,
            to_discipline=physio.discipline,
            to_provider=physio,
            reason=reason,
            actor=actor.user if getattr(actor.user, "pk", None) else None,
        )
    why = "red flag" if red_flag else f"pain {latest[0]}/10"
    _event(
        plan,
        actor,
        "referred_back",
        f"Referred back to rehabilitation under {physio.display_name} ({why}).",
        at,
        before=before,
        after={
            "phase": plan.phase,
            "lead": physio.pk,
            "maintenance_owner": None,
            "red_flag": red_flag,
            "pain": str(latest[0]) if latest else None,
            "referral": referral.pk if referral else None,
        },
        reason=reason,
    )
    record_care_relationship(plan.patient, physio, "care_plan")
    return plan


@transaction.atomic
def close_plan(
    plan: CarePlan, *, actor: Actor, reason: str, note: str = "", at: datetime | None = None
) -> CarePlan:
    """Close a plan as discharged or abandoned: the lead (in scope to run a treatment plan) or,
    in maintenance, the maintenance owner (in scope to design programs)."""
    at = _now(at)
    plan = _lock(plan)
    provider = _provider(actor)
    if plan.phase == Phase.MAINTENANCE and provider.pk == plan.maintenance_owner_id:
        _require_scope(provider, DESIGN_PROGRAM, plan, at)
    else:
        _require_lead(plan, provider, "close the plan")
        _require_scope(provider, PRESCRIBE_PLAN, plan, at)
    _require_phase(plan, (Phase.ASSESSMENT, Phase.REHABILITATION, Phase.MAINTENANCE), "close it")
    if reason not in CarePlan.ClosedReason.values:
        raise ValidationProblem(
            "A plan closes as discharged or abandoned.",
            [FieldProblem("reason", "invalid_choice", "discharged or abandoned")],
        )
    before = {"phase": plan.phase}
    plan.phase = Phase.CLOSED
    plan.closed_reason = reason
    plan.closed_note = note.strip()
    plan.save(update_fields=["phase", "closed_reason", "closed_note", "updated_at"])
    _event(
        plan,
        actor,
        "phase_changed",
        f"Plan closed ({plan.get_closed_reason_display().lower()}).",
        at,
        before=before,
        after={"phase": Phase.CLOSED, "closed_reason": reason},
        reason=plan.closed_note,
    )
    return plan
