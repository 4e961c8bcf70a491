"""Clinical access (DOMAIN.md section 8): treat, have treated, or were referred; managers all."""

import pytest

from clinic import roles
from patients.access import can_view_clinical, clinical_patient_ids_for
from patients.models import CareRelationship, Referral
from patients.referrals import change_referral_status
from patients.services import record_care_relationship
from tests.factories.patients import (
    PatientFactory,
    ReferralFactory,
    clinician_user,
    link_patient,
    staff_user,
)
from tests.factories.providers import DisciplineFactory, ProviderFactory

pytestmark = pytest.mark.django_db


def massage_provider():
    return ProviderFactory(discipline=DisciplineFactory(code="massage_therapist"))


def test_a_clinician_sees_the_patients_they_treat_and_no_others():
    mine, theirs = PatientFactory(), PatientFactory()
    user = clinician_user("physio-a")
    link_patient(mine, user.provider)
    assert can_view_clinical(user, mine)
    assert not can_view_clinical(user, theirs)
    assert set(clinical_patient_ids_for(user).values_list("pk", flat=True)) == {mine.pk}


def test_a_referral_to_the_provider_or_their_discipline_grants_access():
    named, unnamed = PatientFactory(), PatientFactory()
    provider = massage_provider()
    user = clinician_user("massage-a", provider=provider)
    ReferralFactory(patient=named, to_discipline=provider.discipline, to_provider=provider)
    ReferralFactory(patient=unnamed, to_discipline=provider.discipline)
    assert can_view_clinical(user, named)
    assert can_view_clinical(user, unnamed)


def test_a_referral_taken_by_a_colleague_no_longer_opens_the_record_to_the_discipline():
    patient = PatientFactory()
    first = clinician_user("massage-1", provider=massage_provider())
    second = clinician_user("massage-2", provider=massage_provider())
    referral = ReferralFactory(patient=patient, to_discipline=first.provider.discipline)
    change_referral_status(referral, status=Referral.Status.ACCEPTED, actor=first)
    referral.refresh_from_db()
    assert referral.to_provider == first.provider
    assert can_view_clinical(first, patient)
    assert not can_view_clinical(second, patient)


def test_a_declined_referral_grants_nothing():
    patient = PatientFactory()
    user = clinician_user("massage-d", provider=massage_provider())
    referral = ReferralFactory(patient=patient, to_discipline=user.provider.discipline)
    change_referral_status(referral, status=Referral.Status.DECLINED, actor=user)
    assert not can_view_clinical(user, patient)


def test_front_desk_and_role_less_users_never_see_clinical_records():
    patient = PatientFactory()
    for user in (staff_user("desk-x", roles.FRONT_DESK), staff_user("nobody", None)):
        assert not can_view_clinical(user, patient)
        assert not clinical_patient_ids_for(user).exists()


def test_a_clinician_login_without_a_provider_record_sees_nothing():
    patient = PatientFactory()
    user = staff_user("clin-no-provider", roles.CLINICIAN)
    assert not can_view_clinical(user, patient)


def test_managers_see_every_patient():
    manager = staff_user("boss", roles.MANAGER)
    assert clinical_patient_ids_for(manager) is None
    assert can_view_clinical(manager, PatientFactory())


def test_a_care_relationship_keeps_how_and_when_it_began():
    """Seeing a provider again (a booking after a referral) adds nothing and rewrites nothing."""
    patient, provider = PatientFactory(), massage_provider()
    record_care_relationship(patient, provider, CareRelationship.Source.REFERRAL)
    first = CareRelationship.objects.get(patient=patient, provider=provider)
    record_care_relationship(patient, provider, CareRelationship.Source.APPOINTMENT)
    again = CareRelationship.objects.get(patient=patient, provider=provider)
    assert (again.pk, again.source, again.first_at) == (
        first.pk,
        CareRelationship.Source.REFERRAL,
        first.first_at,
    )
