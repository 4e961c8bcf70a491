"""Referrals: who refers whom to which discipline, the allowed status changes and who may make
them, each change kept in the referral's history and audited.

``check_referral_status_change`` is the one decision the API and the admin form both ask.
"""

from django.db import transaction
from django.utils import timezone

from clinic import roles
from clinic.audit import object_label, record_event
from clinic.errors import (
    ConflictProblem,
    FieldProblem,
    PermissionProblem,
    ValidationProblem,
)
from clinic.models import AuditEvent
from clinic.roles import User
from patients.access import provider_for
from patients.models import CareRelationship, Patient, Referral, ReferralStatusChange
from patients.services import record_care_relationship

REFERRAL_TRANSITIONS: dict[str, frozenset[str]] = {
    Referral.Status.OPEN: frozenset({Referral.Status.ACCEPTED, Referral.Status.DECLINED}),
    Referral.Status.ACCEPTED: frozenset({Referral.Status.COMPLETED, Referral.Status.DECLINED}),
    Referral.Status.COMPLETED: frozenset(),
    Referral.Status.DECLINED: frozenset(),
}


def referrer_for(user, from_provider=None):
    """Whom a staff user's referral is from. A clinician refers only as themselves (their own
    provider when none is named); a manager names the referrer, or refers as their own provider."""
    if roles.is_manager(user):
        referrer = from_provider or provider_for(user)
        if referrer is None:
            raise ValidationProblem(
                "Name the referring provider.",
                [FieldProblem("from_provider", "required", "Required for a manager.")],
            )
        return referrer
    own = provider_for(user)
    if own is None:
        raise PermissionProblem("Your login is not linked to a provider record.")
    if from_provider is not None and from_provider.pk != own.pk:
        raise PermissionProblem(
            "You may only refer as yourself.",
            [FieldProblem("from_provider", "not_self", "You may only refer as yourself.")],
        )
    return own


def referral_problems(
    *, patient: Patient, from_provider, to_discipline, to_provider=None, reason: str = ""
) -> list[FieldProblem]:
    """Why a referral cannot be made (empty when it can); the admin form shows these before
    ``create_referral`` is asked to write."""
    problems: list[FieldProblem] = []
    if not (reason or "").strip():
        problems.append(FieldProblem("reason", "required", "Say why the patient is referred."))
    if to_provider is not None and to_provider.discipline_id != to_discipline.pk:
        problems.append(
            FieldProblem(
                "to_provider",
                "discipline_mismatch",
                f"{to_provider.display_name} is not a {to_discipline.name}.",
            )
        )
    if to_provider is not None and to_provider.pk == from_provider.pk:
        problems.append(
            FieldProblem("to_provider", "self_referral", "A provider cannot refer to themselves.")
        )
    if patient.status == Patient.Status.ARCHIVED:
        problems.append(FieldProblem("patient", "archived", "The patient record is archived."))
    return problems


def create_referral(
    *,
    patient: Patient,
    from_provider,
    to_discipline,
    reason: str,
    to_provider=None,
    actor: User | None = None,
    request=None,
    channel: str = "api",
) -> Referral:
    """A provider refers a patient to a discipline (and maybe a named provider of it)."""
    problems = referral_problems(
        patient=patient,
        from_provider=from_provider,
        to_discipline=to_discipline,
        to_provider=to_provider,
        reason=reason,
    )
    if problems:
        raise ValidationProblem("The referral cannot be made.", problems)
    now = timezone.now()
    with transaction.atomic():
        referral = Referral.objects.create(
            patient=patient,
            from_provider=from_provider,
            to_discipline=to_discipline,
            to_provider=to_provider,
            reason=reason.strip(),
            created_by=actor,
            created_at=now,
            status_changed_at=now,
            status_changed_by=actor,
        )
        ReferralStatusChange.objects.create(
            referral=referral, to_status=referral.status, changed_at=now, changed_by=actor
        )
        record_care_relationship(patient, from_provider, CareRelationship.Source.REFERRAL)
        record_event(
            actor=actor,
            action=AuditEvent.Action.CREATE,
            object_type=object_label(Referral),
            object_id=referral.pk,
            patient_id=patient.pk,
            request=request,
            changes={
                "to_discipline": to_discipline.code,
                "to_provider": to_provider.pk if to_provider else None,
                "from_provider": from_provider.pk,
            },
            channel=channel,
        )
    return referral


def may_handle_referral(user, referral: Referral) -> bool:
    """Managers, the named receiving provider, or (when none is named) any clinician of the
    receiving discipline; the referring provider may decline (withdraw) their own referral."""
    if roles.is_manager(user):
        return True
    if not roles.is_clinician(user):
        return False
    provider = provider_for(user)
    if provider is None:
        return False
    if referral.to_provider_id is not None:
        return referral.to_provider_id == provider.pk
    return referral.to_discipline_id == provider.discipline_id


def check_referral_status_change(referral: Referral, *, status: str, actor: User | None) -> None:
    """Refuse a status change the actor may not make or the transitions do not allow: the
    receiving provider or a manager moves a referral, and the referring provider may withdraw
    (decline) their own open referral. ``actor=None`` is the system. The API and the admin both
    ask here, before anything is written."""
    is_referrer_withdrawing = (
        status == Referral.Status.DECLINED
        and referral.status == Referral.Status.OPEN
        and (provider := provider_for(actor)) is not None
        and provider.pk == referral.from_provider_id
    )
    is_system = actor is None
    if not (is_system or may_handle_referral(actor, referral) or is_referrer_withdrawing):
        raise PermissionProblem(
            "Only the receiving provider or a manager may do this.",
            [FieldProblem("status", "not_handler", "Only the receiving provider or a manager.")],
        )
    if status not in REFERRAL_TRANSITIONS[referral.status]:
        raise ConflictProblem(
            f"A referral that is {referral.status} cannot become {status}.",
            slug="invalid-transition",
            title="Invalid status change.",
            errors=[FieldProblem("status", "invalid_transition", "Not allowed from here.")],
        )


def change_referral_status(
    referral: Referral,
    *,
    status: str,
    actor: User | None,
    note: str = "",
    request=None,
    channel: str = "api",
) -> Referral:
    """Move a referral along open -> accepted -> completed (or declined), keeping who and when.

    A clinician who accepts an unnamed referral becomes its receiving provider, and so reads
    the patient's records (``patients.access``). ``actor=None`` is the system (management
    commands, demo data); views always pass the requesting user.
    """
    if status not in Referral.Status.values:
        raise ValidationProblem(
            "Unknown referral status.",
            [FieldProblem("status", "invalid_choice", f"Use one of {Referral.Status.values}.")],
        )
    with transaction.atomic():
        referral = Referral.objects.select_for_update().get(pk=referral.pk)
        check_referral_status_change(referral, status=status, actor=actor)
        previous = referral.status
        now = timezone.now()
        referral.status = status
        referral.status_changed_at = now
        referral.status_changed_by = actor
        fields = ["status", "status_changed_at", "status_changed_by"]
        receiver = provider_for(actor) if roles.is_clinician(actor) else None
        if (
            status == Referral.Status.ACCEPTED
            and referral.to_provider_id is None
            and receiver is not None
        ):
            referral.to_provider = receiver
            fields.append("to_provider")
        referral.save(update_fields=fields)
        ReferralStatusChange.objects.create(
            referral=referral,
            from_status=previous,
            to_status=status,
            changed_at=now,
            changed_by=actor,
            note=note[:300],
        )
        if status == Referral.Status.ACCEPTED and referral.to_provider_id is not None:
            record_care_relationship(
                referral.patient, referral.to_provider, CareRelationship.Source.REFERRAL
            )
        record_event(
            actor=actor,
            action=AuditEvent.Action.UPDATE,
            object_type=object_label(Referral),
            object_id=referral.pk,
            patient_id=referral.patient_id,
            request=request,
            changes={"status": [previous, status]},
            summary=note[:300],
            channel=channel,
        )
    return referral
