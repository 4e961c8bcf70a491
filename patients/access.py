"""Who may read a patient's clinical records (DOMAIN.md section 8).

Managers: every patient. Clinicians: only through real care, derived each time from the facts:

- what other apps register with ``register_care_source`` (scheduling: an attended appointment,
  or an upcoming confirmed one someone other than the clinician vouched for; plans: a role on
  a care plan), and a care-plan role they once held (``CareRelationship`` rows of source
  ``care_plan``; rows a booking wrote before this rule grant nothing);
- a referral to them, or to their discipline while nobody has taken it (declined grants nothing);
- a manager's ``AccessGrant`` with a reason, while it is neither revoked nor ended;
- their own "break the glass" ``EmergencyAccess``, until it expires.

Nothing is stored that a cancellation would have to undo: a cancelled booking simply stops
being a fact of care. Front desk and users without a role: none. Every staff view, admin page
and patient chooser asks these functions; each answer is one SQL query whatever the list length.
"""

from collections.abc import Callable
from datetime import datetime

from django.db.models import Q, QuerySet
from django.utils import timezone

from clinic import roles
from patients.models import AccessGrant, CareRelationship, EmergencyAccess, Patient, Referral

_UNSET = object()

# name -> f(provider, now) giving a queryset of ``patient_id`` values (used as a subquery).
CareSource = Callable[..., QuerySet]
_care_sources: dict[str, CareSource] = {}


def register_care_source(name: str, patient_ids: CareSource) -> None:
    """Let an app that knows a fact of care (appointments, care plans) add it to the rule, so
    this app needs to know nothing of scheduling or plans. Call from ``AppConfig.ready``."""
    _care_sources[name] = patient_ids


def provider_for(user):
    """The provider record linked to a staff user, or None; cached on the user object."""
    if user is None or not getattr(user, "is_authenticated", False):
        return None
    cached = getattr(user, "_clinic_provider", _UNSET)
    if cached is _UNSET:
        from providers.models import Provider

        cached = Provider.objects.filter(user=user).first()
        user._clinic_provider = cached
    return cached


def referred_patient_ids(provider) -> QuerySet:
    referred = Referral.objects.exclude(status=Referral.Status.DECLINED).filter(
        Q(to_provider=provider)
        | Q(to_provider__isnull=True, to_discipline_id=provider.discipline_id)
    )
    return referred.values("patient_id")


def granted_patient_ids(provider, now: datetime) -> QuerySet:
    """Patients a manager's grant, still in force, lets ``provider`` read."""
    return (
        AccessGrant.objects.filter(provider=provider, revoked_at__isnull=True)
        .filter(Q(ends_at__isnull=True) | Q(ends_at__gt=now))
        .values("patient_id")
    )


def emergency_patient_ids(provider, now: datetime) -> QuerySet:
    return EmergencyAccess.objects.filter(provider=provider, expires_at__gt=now).values(
        "patient_id"
    )


def _clinician_patients(provider, now: datetime) -> QuerySet:
    # A former care-plan role (lead, maintenance owner) keeps access to what they wrote; plans
    # notes each role given with ``record_care_relationship(..., "care_plan")``.
    former_roles = CareRelationship.objects.filter(
        provider=provider, source=CareRelationship.Source.CARE_PLAN
    ).values("patient_id")
    facts = (
        Q(pk__in=former_roles)
        | Q(pk__in=referred_patient_ids(provider))
        | Q(pk__in=granted_patient_ids(provider, now))
        | Q(pk__in=emergency_patient_ids(provider, now))
    )
    for patient_ids in _care_sources.values():
        facts |= Q(pk__in=patient_ids(provider, now))
    return Patient.objects.filter(facts)


def sees_clinical_content(user) -> bool:
    """Is ``user`` in a role that may see clinical content at all (reasons, outcomes, referrals)?
    Which patients' content is then a question for ``clinical_patient_ids_for``."""
    return roles.is_manager(user) or roles.is_clinician(user)


def clinical_patient_ids_for(user, now: datetime | None = None) -> QuerySet | None:
    """Ids of the patients whose clinical records ``user`` may read; None means all (managers).

    Use it as a subquery: ``CarePlan.objects.filter(patient_id__in=ids)`` when not None.
    """
    if roles.is_manager(user):
        return None
    provider = provider_for(user) if roles.is_clinician(user) else None
    if provider is None:
        return Patient.objects.none().values("pk")
    return _clinician_patients(provider, now or timezone.now()).values("pk")


def can_view_clinical(user, patient: Patient | int) -> bool:
    """May ``user`` read this patient's clinical records?"""
    ids = clinical_patient_ids_for(user)
    if ids is None:
        return True
    patient_id = patient if isinstance(patient, int) else patient.pk
    return ids.filter(pk=patient_id).exists()


def visible_patients(user, queryset: QuerySet | None = None) -> QuerySet:
    """The patients ``user`` may see at all: the patient list's rule, and so every patient
    chooser's (admin selects and autocompletes, API fields). Front desk and managers see every
    record's contact details; a clinician only the patients they may read clinically; anyone
    else none."""
    queryset = Patient.objects.all() if queryset is None else queryset
    if roles.is_manager(user):
        return queryset
    if roles.is_clinician(user):
        return queryset.filter(pk__in=clinical_patient_ids_for(user))
    return queryset if roles.is_front_desk(user) else queryset.none()
