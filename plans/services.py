"""Every change to a care plan, one function per use case (DOMAIN.md section 6).

Each function answers three questions before it writes: may this provider do it (the scope
decision from ``providers.scope`` and being the plan's lead or maintenance owner), does the
plan's phase allow it, and do the clinical rules hold (discharge criteria, precautions). Then it
writes the change and a ``PlanEvent`` in the same transaction, with the plan row locked so two
transitions cannot interleave. A refusal raises a ``clinic.errors`` problem and changes nothing.
"""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from clinic import roles
from clinic.audit import object_label, record_event
from clinic.errors import FieldProblem, PermissionProblem, RuleProblem, ValidationProblem
from clinic.models import AuditEvent, ClinicSettings
from patients.access import can_view_clinical, provider_for
from patients.services import create_referral, record_care_relationship
from plans import selectors
from plans.models import (
    MEASURE_BOUNDS,
    CarePlan,
    Diagnosis,
    Exercise,
    ExercisePrescription,
    Goal,
    MeasureKind,
    MovementTag,
    OutcomeMeasure,
    PlanEvent,
    PlannedIntervention,
    Precaution,
    ProgramVersion,
)
from plans.refer_back_rules import require_physiotherapist
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


# --- checks -----------------------------------------------------------------------------------


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


# --- plan lifecycle ---------------------------------------------------------------------------


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


# --- assessment: diagnosis and precautions ----------------------------------------------------


@transaction.atomic
def record_diagnosis(
    plan: CarePlan,
    *,
    actor: Actor,
    condition: str,
    body_region: str,
    cause: str,
    notes: str = "",
    at: datetime | None = None,
) -> Diagnosis:
    at = _now(at)
    plan = _lock(plan)
    provider = _provider(actor)
    _require_clinical_author(plan, provider, at, "record a diagnosis")
    diagnosis = Diagnosis(
        plan=plan,
        condition=condition.strip(),
        body_region=body_region,
        cause=cause,
        notes=notes,
        recorded_by=provider,
        recorded_at=at,
    )
    _full_clean(diagnosis, exclude=["plan", "recorded_by"])
    diagnosis.save()
    _event(
        plan,
        actor,
        "diagnosis_recorded",
        f"Diagnosis: {diagnosis.condition}.",
        at,
        after={
            "id": diagnosis.pk,
            "condition": diagnosis.condition,
            "cause": cause,
            "body_region": body_region,
        },
    )
    return diagnosis


@transaction.atomic
def add_precaution(
    plan: CarePlan, *, actor: Actor, tags: list[str], note: str = "", at: datetime | None = None
) -> Precaution:
    at = _now(at)
    plan = _lock(plan)
    provider = _provider(actor)
    _require_clinical_author(plan, provider, at, "record a precaution")
    tags = _check_tags(tags)
    precaution = Precaution.objects.create(
        plan=plan, tags=tags, note=note.strip()[:300], recorded_by=provider, recorded_at=at
    )
    _event(
        plan,
        actor,
        "precaution_added",
        f"Precaution: {precaution.label}.",
        at,
        after={"id": precaution.pk, "tags": tags, "note": precaution.note},
    )
    # The program never keeps an exercise the precautions forbid: stop the ones this one does.
    for prescription in selectors.current_program(plan):
        if set(prescription.exercise.tags) & set(tags):
            _end_prescription(prescription, at)
            _event(
                plan,
                actor,
                "prescription_stopped",
                f"Stopped {prescription.exercise.name}: {precaution.label}.",
                at,
                before=_prescription_dict(prescription),
                reason=f"Conflicts with the new precaution: {precaution.label}.",
            )
    _publish_program(plan, at)
    return precaution


@transaction.atomic
def remove_precaution(
    precaution: Precaution, *, actor: Actor, reason: str, at: datetime | None = None
) -> Precaution:
    at = _now(at)
    plan = _lock(precaution.plan)
    provider = _provider(actor)
    _require_clinical_author(plan, provider, at, "lift a precaution")
    if not reason.strip():
        raise ValidationProblem(
            "Say why the precaution is lifted.", [FieldProblem("reason", "required", "")]
        )
    precaution = Precaution.objects.select_for_update().get(pk=precaution.pk, plan=plan)
    if not precaution.is_active:
        return precaution
    precaution.is_active = False
    precaution.save(update_fields=["is_active"])
    _event(
        plan,
        actor,
        "precaution_lifted",
        f"Precaution lifted: {precaution.label}.",
        at,
        before={"id": precaution.pk, "tags": precaution.tags, "active": True},
        after={"id": precaution.pk, "active": False},
        reason=reason.strip(),
    )
    _publish_program(plan, at)
    return precaution


# --- rehabilitation: goals, interventions, frequency -----------------------------------------


@transaction.atomic
def add_goal(
    plan: CarePlan,
    *,
    actor: Actor,
    kind: str,
    measure: str,
    baseline: Any,
    target: Any,
    due_date: date,
    at: datetime | None = None,
) -> Goal:
    at = _now(at)
    plan = _lock(plan)
    provider = _provider(actor)
    _require_scope(provider, PRESCRIBE_PLAN, plan, at)
    _require_lead(plan, provider, "set goals")
    _require_phase(plan, CLINICAL_PHASES, "set goals")
    baseline, target = _decimal(baseline, "baseline"), _decimal(target, "target")
    _in_scale(kind, baseline, "baseline")
    _in_scale(kind, target, "target")
    if baseline == target:
        raise ValidationProblem(
            "A goal's target must differ from its baseline.",
            [FieldProblem("target", "equals_baseline", "Same as the baseline.")],
        )
    if not measure.strip():
        raise ValidationProblem("Name what is measured.", [FieldProblem("measure", "required", "")])
    goal = Goal.objects.create(
        plan=plan,
        kind=kind,
        measure=measure.strip(),
        baseline=baseline,
        target=target,
        due_date=due_date,
    )
    _event(
        plan,
        actor,
        "goal_added",
        f"Goal: {goal.measure} from {baseline} to {target} by {due_date.isoformat()}.",
        at,
        after=_goal_dict(goal),
    )
    return goal


def _goal_dict(goal: Goal) -> dict:
    return {
        "id": goal.pk,
        "kind": goal.kind,
        "measure": goal.measure,
        "baseline": str(goal.baseline),
        "target": str(goal.target),
        "due_date": goal.due_date.isoformat(),
        "met": goal.met,
    }


@transaction.atomic
def add_intervention(
    plan: CarePlan, *, actor: Actor, act: str, description: str = "", at: datetime | None = None
) -> PlannedIntervention:
    """Plan an act; the lead must be able to perform it at the plan's location."""
    at = _now(at)
    plan = _lock(plan)
    provider = _provider(actor)
    _require_scope(provider, PRESCRIBE_PLAN, plan, at)
    _require_lead(plan, provider, "plan interventions")
    _require_phase(plan, CLINICAL_PHASES, "plan interventions")
    _require_scope(plan.lead, act, plan, at, field="act")
    intervention = PlannedIntervention.objects.create(
        plan=plan, act=act, description=description.strip()[:300]
    )
    _event(
        plan,
        actor,
        "intervention_added",
        f"Planned intervention: {act}.",
        at,
        after={"id": intervention.pk, "act": act, "description": intervention.description},
    )
    return intervention


@transaction.atomic
def remove_intervention(
    intervention: PlannedIntervention, *, actor: Actor, at: datetime | None = None
) -> PlannedIntervention:
    at = _now(at)
    plan = _lock(intervention.plan)
    provider = _provider(actor)
    _require_scope(provider, PRESCRIBE_PLAN, plan, at)
    _require_lead(plan, provider, "change planned interventions")
    _require_phase(plan, CLINICAL_PHASES, "change planned interventions")
    intervention = PlannedIntervention.objects.get(pk=intervention.pk, plan=plan)
    if intervention.is_active:
        intervention.is_active = False
        intervention.save(update_fields=["is_active"])
        _event(
            plan,
            actor,
            "intervention_removed",
            f"Intervention removed: {intervention.act}.",
            at,
            before={"id": intervention.pk, "active": True},
            after={"id": intervention.pk, "active": False},
        )
    return intervention


@transaction.atomic
def set_session_frequency(
    plan: CarePlan,
    *,
    actor: Actor,
    sessions_per_week: int,
    planned_weeks: int | None = None,
    at: datetime | None = None,
) -> CarePlan:
    at = _now(at)
    plan = _lock(plan)
    provider = _provider(actor)
    _require_scope(provider, PRESCRIBE_PLAN, plan, at)
    _require_lead(plan, provider, "set the session frequency")
    _require_phase(plan, CLINICAL_PHASES, "set the session frequency")
    if not 1 <= int(sessions_per_week) <= 14:
        raise ValidationProblem(
            "Between 1 and 14 sessions a week.",
            [FieldProblem("sessions_per_week", "out_of_range", "Between 1 and 14.")],
        )
    if planned_weeks is not None and not 1 <= int(planned_weeks) <= 104:
        raise ValidationProblem(
            "Between 1 and 104 weeks.",
            [FieldProblem("planned_weeks", "out_of_range", "Between 1 and 104.")],
        )
    before = {"sessions_per_week": plan.sessions_per_week, "planned_weeks": plan.planned_weeks}
    plan.sessions_per_week = sessions_per_week
    plan.planned_weeks = planned_weeks
    plan.save(update_fields=["sessions_per_week", "planned_weeks", "updated_at"])
    weeks = f" for {planned_weeks} weeks" if planned_weeks else ""
    _event(
        plan,
        actor,
        "frequency_changed",
        f"Sessions: {sessions_per_week} a week{weeks}.",
        at,
        before=before,
        after={"sessions_per_week": sessions_per_week, "planned_weeks": planned_weeks},
    )
    return plan


# --- the exercise program ---------------------------------------------------------------------

DOSAGE_FIELDS = ("sets", "reps", "hold_seconds", "load", "times_per_week", "notes")


def _prescription_dict(p: ExercisePrescription) -> dict:
    return {
        "id": p.pk,
        "exercise": p.exercise.slug,
        "sets": p.sets,
        "reps": p.reps,
        "hold_seconds": p.hold_seconds,
        "load": p.load,
        "times_per_week": p.times_per_week,
        "notes": p.notes,
        "version": p.version,
    }


def _refuse_precaution_conflict(plan: CarePlan, exercise: Exercise) -> None:
    conflicts = selectors.conflicting_precautions(plan, exercise.tags)
    if conflicts:
        named = "; ".join(p.label for p in conflicts)
        raise RuleProblem(
            f"{exercise.name} conflicts with the plan's precautions: {named}.",
            "precaution-conflict",
            "The exercise loads a movement the precautions forbid.",
            [FieldProblem("exercise", "precaution_conflict", p.label) for p in conflicts],
        )


def _full_clean(obj, exclude: list[str]) -> None:
    try:
        obj.full_clean(exclude=exclude, validate_constraints=False)
    except ValidationError as exc:
        problems = [
            FieldProblem(name, "invalid", str(message))
            for name, messages in exc.message_dict.items()
            for message in messages
        ]
        raise ValidationProblem(problems[0].message if problems else "Invalid.", problems) from None


def _build_prescription(
    plan: CarePlan, exercise: Exercise, provider: Provider, version: int, values: dict
) -> ExercisePrescription:
    if not exercise.is_active:
        raise ValidationProblem(
            f"{exercise.name} is retired from the library.",
            [FieldProblem("exercise", "inactive", "Retired exercise.")],
        )
    _refuse_precaution_conflict(plan, exercise)
    prescription = ExercisePrescription(
        plan=plan,
        exercise=exercise,
        prescribed_by=provider,
        version=version,
        sets=values.get("sets"),
        reps=values.get("reps"),
        hold_seconds=values.get("hold_seconds"),
        load=(values.get("load") or "").strip(),
        times_per_week=values.get("times_per_week"),
        notes=(values.get("notes") or "").strip(),
    )
    _full_clean(prescription, exclude=["plan", "exercise", "prescribed_by", "replaces"])
    if prescription.reps is None and prescription.hold_seconds is None:
        raise ValidationProblem(
            "Give repetitions, a hold time, or both.",
            [FieldProblem("reps", "required", "Repetitions or a hold time is needed.")],
        )
    return prescription


@transaction.atomic
def prescribe_exercise(
    plan: CarePlan,
    *,
    actor: Actor,
    exercise: Exercise,
    at: datetime | None = None,
    **dosage: Any,
) -> ExercisePrescription:
    """Add an exercise to the program. Refused when the exercise loads a movement that an
    active precaution forbids, naming the precaution."""
    at = _now(at)
    plan = _lock(plan)
    provider = _provider(actor)
    _require_program_author(plan, provider, at)
    prescription = _build_prescription(plan, exercise, provider, plan.program_version + 1, dosage)
    prescription.save()
    _event(
        plan,
        actor,
        "prescription_added",
        f"Prescribed {exercise.name}: {prescription.dosage}.",
        at,
        after=_prescription_dict(prescription),
    )
    _publish_program(plan, at)
    return prescription


def _lock_prescription(plan: CarePlan, prescription: ExercisePrescription) -> ExercisePrescription:
    """The prescription's row, locked, read again inside the plan's lock (never a stale copy)."""
    return (
        ExercisePrescription.objects.select_for_update()
        .select_related("exercise")
        .get(pk=prescription.pk, plan=plan)
    )


def _end_prescription(prescription: ExercisePrescription, at: datetime) -> None:
    """Prescriptions are never deleted: an ended one stays as history of the program."""
    prescription.is_active = False
    prescription.ended_at = at
    prescription.save(update_fields=["is_active", "ended_at"])


@transaction.atomic
def change_prescription(
    prescription: ExercisePrescription,
    *,
    actor: Actor,
    at: datetime | None = None,
    **changes: Any,
) -> ExercisePrescription:
    """Change the dosage: the old row is kept inactive and a new one replaces it."""
    at = _now(at)
    plan = _lock(prescription.plan)
    provider = _provider(actor)
    _require_program_author(plan, provider, at)
    old = _lock_prescription(plan, prescription)
    if not old.is_active:
        raise RuleProblem(
            "This prescription was already replaced or stopped.",
            INVALID_TRANSITION,
            "The prescription is no longer active.",
            [FieldProblem("prescription", "inactive", "Not active.")],
        )
    values = {name: getattr(old, name) for name in DOSAGE_FIELDS}
    values.update({k: v for k, v in changes.items() if k in DOSAGE_FIELDS})
    new = _build_prescription(plan, old.exercise, provider, plan.program_version + 1, values)
    _end_prescription(old, at)
    new.replaces = old
    new.save()
    _event(
        plan,
        actor,
        "prescription_changed",
        f"{old.exercise.name}: {old.dosage} -> {new.dosage}.",
        at,
        before=_prescription_dict(old),
        after=_prescription_dict(new),
    )
    _publish_program(plan, at)
    return new


@transaction.atomic
def stop_prescription(
    prescription: ExercisePrescription,
    *,
    actor: Actor,
    reason: str = "",
    at: datetime | None = None,
) -> ExercisePrescription:
    at = _now(at)
    plan = _lock(prescription.plan)
    provider = _provider(actor)
    _require_program_author(plan, provider, at)
    old = _lock_prescription(plan, prescription)
    if not old.is_active:
        return old
    _end_prescription(old, at)
    _event(
        plan,
        actor,
        "prescription_stopped",
        f"Stopped {old.exercise.name}.",
        at,
        before=_prescription_dict(old),
        after=None,
        reason=reason.strip(),
    )
    _publish_program(plan, at)
    return old


def _publish_program(plan: CarePlan, at: datetime) -> ProgramVersion:
    """Snapshot the program as a new version and plan its e-mail once the change commits."""
    from notifications import clock
    from plans import notifications

    plan.program_version += 1
    plan.save(update_fields=["program_version", "updated_at"])
    version = ProgramVersion.objects.create(
        plan=plan,
        number=plan.program_version,
        content=selectors.program_content(plan),
        created_at=clock.now(),
    )
    transaction.on_commit(lambda: notifications.plan_program_email(version.pk))
    return version


# --- the exercise library --------------------------------------------------------------------


def exercise_tag_conflicts(exercise: Exercise, tags: Iterable[str]) -> list[str]:
    """Plans where giving ``exercise`` these tags would put an active prescription against an
    active precaution; an edit to the library must not break a patient's precautions."""
    added = set(tags) - set(exercise.tags or [])
    if not exercise.pk or not added:
        return []
    conflicts = []
    prescriptions = ExercisePrescription.objects.filter(exercise=exercise, is_active=True)
    plans = CarePlan.objects.filter(pk__in=prescriptions.values("plan_id")).prefetch_related(
        "precautions"
    )
    for plan in plans:
        for precaution in plan.precautions.all():
            if precaution.is_active and added & set(precaution.tags):
                conflicts.append(f"{plan.title} (plan {plan.pk}): {precaution.label}")
    return conflicts


@transaction.atomic
def save_exercise(exercise: Exercise, **values: Any) -> Exercise:
    """Create or change a library exercise; refused when new tags clash with the precautions
    of a plan that prescribes it (stop the prescription or lift the precaution first)."""
    if exercise.pk:
        exercise = Exercise.objects.select_for_update().get(pk=exercise.pk)
    if "tags" in values:
        values["tags"] = list(dict.fromkeys(values["tags"]))
        conflicts = exercise_tag_conflicts(exercise, values["tags"])
        if conflicts:
            raise RuleProblem(
                f"{exercise.name} is prescribed under precautions these tags would break: "
                + "; ".join(conflicts)
                + ".",
                "precaution-conflict",
                "The exercise loads a movement the precautions forbid.",
                [FieldProblem("tags", "precaution_conflict", c) for c in conflicts],
            )
    for name, value in values.items():
        setattr(exercise, name, value)
    exercise.save()
    return exercise


# --- outcome measures -------------------------------------------------------------------------


def _record_measure(
    plan: CarePlan,
    actor: Actor,
    provider: Provider,
    kind: str,
    label: str,
    value: Any,
    note: str,
    at: datetime,
) -> OutcomeMeasure:
    value = _decimal(value, "value")
    _in_scale(kind, value, "value")
    label = (label or ("pain" if kind == MeasureKind.PAIN else "")).strip()
    if not label:
        raise ValidationProblem(
            "Name the activity, movement or measure.", [FieldProblem("label", "required", "")]
        )
    measure = OutcomeMeasure.objects.create(
        plan=plan,
        kind=kind,
        label=label[:120],
        value=value,
        recorded_at=at,
        recorded_by=provider,
        note=(note or "")[:300],
    )
    _event(
        plan,
        actor,
        "measure_recorded",
        f"{measure.get_kind_display()} {label}: {value}.",
        at,
        after={"id": measure.pk, "kind": kind, "label": label, "value": str(value)},
    )
    _update_goals(plan, measure, actor, at)
    return measure


def _update_goals(plan: CarePlan, measure: OutcomeMeasure, actor: Actor, at: datetime) -> None:
    """A goal is met while the latest matching measure reaches its target."""
    goals = Goal.objects.filter(plan=plan, kind=measure.kind, measure__iexact=measure.label)
    for goal in goals:
        reached = goal.reached_by(measure.value)
        if reached == goal.met:
            continue
        goal.met_at = at if reached else None
        goal.save(update_fields=["met_at"])
        verb = "met" if reached else "no longer met"
        _event(
            plan,
            actor,
            "goal_met" if reached else "goal_unmet",
            f"Goal {verb}: {goal.measure} ({measure.value}, target {goal.target}).",
            at,
            before={"id": goal.pk, "met": not reached},
            after={"id": goal.pk, "met": reached, "value": str(measure.value)},
        )


@transaction.atomic
def record_outcome(
    plan: CarePlan,
    *,
    actor: Actor,
    kind: str,
    value: Any,
    label: str = "",
    note: str = "",
    at: datetime | None = None,
) -> OutcomeMeasure:
    """Record a measure by the plan's lead or maintenance owner; goals follow it."""
    at = _now(at)
    plan = _lock(plan)
    provider = _provider(actor)
    if provider.pk not in (plan.lead_id, plan.maintenance_owner_id):
        _require_lead(plan, provider, "record outcome measures")
    _require_phase(
        plan, (Phase.ASSESSMENT, Phase.REHABILITATION, Phase.MAINTENANCE), "record measures"
    )
    return _record_measure(plan, actor, provider, kind, label, value, note, at)
