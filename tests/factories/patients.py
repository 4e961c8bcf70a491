"""Factories for patients, consent, care relationships and referrals.

``PatientFactory`` gives an ``active`` patient with a unique e-mail and no consent records; use
``grant_consents(patient, ...)`` / ``withdraw_consents`` for consent history (they go through the
service, as the product does). ``clinician_user(provider=...)`` gives a clinician login linked to a
provider; ``link_patient(patient, provider)`` lets that clinician read the patient (a grant).
"""

import factory
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group

from clinic import roles
from patients import services
from patients.models import AccessGrant, CareRelationship, Consent, Patient, Referral
from tests.factories.providers import DisciplineFactory, ProviderFactory


class PatientFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Patient

    first_name = factory.Sequence(lambda n: f"Pat{n}")
    last_name = factory.Sequence(lambda n: f"Ient{n}")
    email = factory.Sequence(lambda n: f"patient{n}@example.org")
    phone = factory.Sequence(lambda n: f"+1 905 555 {n % 10000:04d}")
    preferred_language = "en"
    status = Patient.Status.ACTIVE


class CareRelationshipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = CareRelationship
        django_get_or_create = ["patient", "provider"]

    patient = factory.SubFactory(PatientFactory)
    provider = factory.SubFactory(ProviderFactory)
    source = CareRelationship.Source.APPOINTMENT


class ReferralFactory(factory.django.DjangoModelFactory):
    """An open referral from a physiotherapist to massage therapy."""

    class Meta:
        model = Referral

    patient = factory.SubFactory(PatientFactory)
    from_provider = factory.SubFactory(ProviderFactory)
    to_discipline = factory.SubFactory(DisciplineFactory, code="massage_therapist")
    reason = "Muscle tension in the upper back after rehab."


def grant_consents(
    patient: Patient, *purposes: str, source: str = Consent.Source.ONLINE_FORM
) -> None:
    """Record consent for ``purposes`` (all three when none is named)."""
    chosen = purposes or tuple(Consent.Purpose.values)
    services.record_consents(patient, choices=dict.fromkeys(chosen, True), source=source)


def withdraw_consents(patient: Patient, *purposes: str, source: str = Consent.Source.STAFF) -> None:
    chosen = purposes or tuple(Consent.Purpose.values)
    services.record_consents(patient, choices=dict.fromkeys(chosen, False), source=source)


def staff_user(username: str, role: str | None):
    """A login with one role (or none); the groups exist after migrate or a flush. No password
    (tests use tokens or ``force_login``), so no slow hashing."""
    user = get_user_model().objects.create_user(
        username=username, password=None, is_staff=role is not None
    )
    if role:
        user.groups.add(Group.objects.get_or_create(name=role)[0])
    return user


def clinician_user(username: str = "clinician", provider=None, **provider_kwargs):
    """A clinician login linked to ``provider`` (a new physiotherapist when None)."""
    user = staff_user(username, roles.CLINICIAN)
    provider = provider or ProviderFactory(**provider_kwargs)
    provider.user = user
    provider.save(update_fields=["user"])
    return user


def link_patient(patient: Patient, provider) -> AccessGrant:
    """The provider treats the patient: a manager's grant, the shortest real fact of care (tests
    of the facts themselves, appointments, plans, referrals, build those instead)."""
    return AccessGrant.objects.create(
        patient=patient, provider=provider, reason="Treats the patient (test)."
    )
