"""Writes for clinical access that real care does not explain: a manager's grant with a reason,
and a clinician's "break the glass" in an emergency. Both are audited in the same transaction;
``patients.access`` reads them.
"""

import unicodedata
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from clinic import roles
from clinic.audit import object_label, record_event
from clinic.errors import FieldProblem, PermissionProblem, RuleProblem, ValidationProblem
from clinic.models import AuditEvent
from patients.access import can_view_clinical, provider_for
from patients.models import AccessGrant, EmergencyAccess, Patient


def emergency_access_hours() -> int:
    """How long a broken glass stays open (setting ``CLINICAL_EMERGENCY_ACCESS_HOURS``)."""
    return int(getattr(settings, "CLINICAL_EMERGENCY_ACCESS_HOURS", 12))


def _reason(reason: str) -> str:
    reason = (reason or "").strip()
    # Zero-width or punctuation-only text reads as blank in the audit log: it is no reason.
    if not any(unicodedata.category(ch)[0] in "LN" for ch in reason):
        raise ValidationProblem(
            "Say why access is needed.",
            [FieldProblem("reason", "required", "A reason is required; it is audited.")],
        )
    if len(reason) > 300:
        raise ValidationProblem(
            "The reason is too long.",
            [FieldProblem("reason", "max_length", "At most 300 characters.")],
        )
    return reason


def grant_access(
    *,
    patient: Patient,
    provider,
    reason: str,
    actor,
    ends_at: datetime | None = None,
    request=None,
    channel: str = "api",
) -> AccessGrant:
    """A manager records that ``provider`` may read ``patient``'s clinical records, and why."""
    if actor is not None and not roles.is_manager(actor):
        raise PermissionProblem("Only managers grant access to clinical records.")
    reason = _reason(reason)
    now = timezone.now()
    if ends_at is not None and ends_at <= now:
        raise ValidationProblem(
            "The grant would already be over.",
            [FieldProblem("ends_at", "in_past", "Choose a time in the future, or leave it empty.")],
        )
    with transaction.atomic():
        grant = AccessGrant.objects.create(
            patient=patient,
            provider=provider,
            reason=reason,
            granted_by=actor,
            granted_at=now,
            ends_at=ends_at,
        )
        record_event(
            actor=actor,
            action=AuditEvent.Action.CREATE,
            object_type=object_label(AccessGrant),
            object_id=grant.pk,
            patient_id=patient.pk,
            request=request,
            changes={"provider": provider.pk, "ends_at": ends_at},
            summary=f"access granted: {reason}",
            channel=channel,
        )
    return grant


def revoke_grant(grant: AccessGrant, *, actor, request=None, channel: str = "api") -> AccessGrant:
    """End a grant now; the row stays, so the record of who could read what is kept."""
    if actor is not None and not roles.is_manager(actor):
        raise PermissionProblem("Only managers revoke access grants.")
    with transaction.atomic():
        grant = AccessGrant.objects.select_for_update().get(pk=grant.pk)
        if grant.revoked_at is not None:
            return grant
        grant.revoked_at = timezone.now()
        grant.revoked_by = actor
        grant.save(update_fields=["revoked_at", "revoked_by"])
        record_event(
            actor=actor,
            action=AuditEvent.Action.UPDATE,
            object_type=object_label(AccessGrant),
            object_id=grant.pk,
            patient_id=grant.patient_id,
            request=request,
            changes={"revoked_at": grant.revoked_at},
            summary="access grant revoked",
            channel=channel,
        )
    return grant


def break_the_glass(
    *, patient: Patient, actor, reason: str, request=None, channel: str = "api"
) -> EmergencyAccess:
    """A clinician opens a record without a care relationship, in an emergency.

    Refused for anyone but a clinician linked to a provider (managers already see everything,
    front desk never sees clinical content); refused when the clinician already has access, so
    every row is a real exception for managers to review.
    """
    if not roles.is_clinician(actor) or roles.is_manager(actor):
        raise PermissionProblem("Only clinicians break the glass.")
    provider = provider_for(actor)
    if provider is None:
        raise PermissionProblem("Your login is not linked to a provider record.")
    reason = _reason(reason)
    if can_view_clinical(actor, patient):
        raise RuleProblem(
            "You already have access to this patient's records.",
            slug="access-not-needed",
            title="No emergency access needed.",
            errors=[FieldProblem("patient", "already_visible", "You already have access.")],
        )
    now = timezone.now()
    with transaction.atomic():
        access = EmergencyAccess.objects.create(
            patient=patient,
            provider=provider,
            opened_by=actor,
            reason=reason,
            opened_at=now,
            expires_at=now + timedelta(hours=emergency_access_hours()),
        )
        record_event(
            actor=actor,
            action=AuditEvent.Action.CREATE,
            object_type=object_label(EmergencyAccess),
            object_id=access.pk,
            patient_id=patient.pk,
            request=request,
            changes={"expires_at": access.expires_at},
            summary=f"break the glass: {reason}",
            channel=channel,
        )
    return access
