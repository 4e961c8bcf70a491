"""Who may read a patient's clinical records (DOMAIN.md section 8).

Managers: every patient. Clinicians: patients their provider record treats or has treated (a
``CareRelationship``) or was referred (a referral to them, or to their discipline while nobody
has taken it; a declined referral grants nothing). Front desk and users without a role: none.
Every staff view and admin page that shows clinical content asks these two functions.
"""

from django.db.models import Q, QuerySet

from clinic import roles
from patients.models import Patient, Referral

_UNSET = object()


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


def _clinician_patients(provider) -> QuerySet:
    referred = Referral.objects.exclude(status=Referral.Status.DECLINED).filter(
        Q(to_provider=provider)
        | Q(to_provider__isnull=True, to_discipline_id=provider.discipline_id)
    )
    return Patient.objects.filter(
        Q(care_relationships__provider=provider) | Q(pk__in=referred.values("patient_id"))
    )


def sees_clinical_content(user) -> bool:
    """Is ``user`` in a role that may see clinical content at all (reasons, outcomes, referrals)?
    Which patients' content is then a question for ``clinical_patient_ids_for``."""
    return roles.is_manager(user) or roles.is_clinician(user)


def clinical_patient_ids_for(user) -> QuerySet | None:
    """Ids of the patients whose clinical records ``user`` may read; None means all (managers).

    Use it as a subquery: ``CarePlan.objects.filter(patient_id__in=ids)`` when not None.
    """
    if roles.is_manager(user):
        return None
    provider = provider_for(user) if roles.is_clinician(user) else None
    if provider is None:
        return Patient.objects.none().values("pk")
    return _clinician_patients(provider).values("pk").distinct()


def can_view_clinical(user, patient: Patient | int) -> bool:
    """May ``user`` read this patient's clinical records?"""
    ids = clinical_patient_ids_for(user)
    if ids is None:
        return True
    patient_id = patient if isinstance(patient, int) else patient.pk
    return ids.filter(pk=patient_id).exists()
