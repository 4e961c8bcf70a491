"""Referrals: any provider refers to a discipline (or a provider of it), tracked to completion."""

import pytest

from clinic.errors import ConflictProblem, PermissionProblem, ValidationProblem
from patients.models import CareRelationship, Referral
from patients.referrals import change_referral_status, create_referral
from tests.conftest import client_for
from tests.factories.patients import PatientFactory, clinician_user, link_patient, staff_user
from tests.factories.providers import DisciplineFactory, ProviderFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def trainer():
    return clinician_user(
        "trainer", provider=ProviderFactory(discipline=DisciplineFactory(code="personal_trainer"))
    )


@pytest.fixture
def physio():
    return clinician_user(
        "physio", provider=ProviderFactory(discipline=DisciplineFactory(code="physiotherapist"))
    )


def test_a_trainer_refers_a_client_with_numbness_to_physiotherapy_and_it_runs_to_completion(
    trainer, physio
):
    patient = PatientFactory()
    link_patient(patient, trainer.provider)
    response = client_for(trainer).post(
        "/api/v1/referrals/",
        {
            "patient": patient.pk,
            "to_discipline": "physiotherapist",
            "reason": "New numbness in the left foot during lunges.",
        },
        format="json",
    )
    assert response.status_code == 201, response.json()
    referral_id = response.json()["id"]
    assert response.json()["from_provider"] == trainer.provider.pk
    physio_client = client_for(physio)
    assert physio_client.get(f"/api/v1/patients/{patient.pk}/").status_code == 200
    for status in ("accepted", "completed"):
        response = physio_client.post(
            f"/api/v1/referrals/{referral_id}/status/", {"status": status}, format="json"
        )
        assert response.status_code == 200, response.json()
    body = response.json()
    assert body["status"] == "completed"
    assert body["to_provider"] == physio.provider.pk
    assert [(h["from_status"], h["to_status"], h["changed_by"]) for h in body["history"]] == [
        ("", "open", "trainer"),
        ("open", "accepted", "physio"),
        ("accepted", "completed", "physio"),
    ]
    assert CareRelationship.objects.filter(patient=patient, provider=physio.provider).exists()


def test_a_finished_referral_cannot_be_reopened(physio, trainer):
    referral = create_referral(
        patient=PatientFactory(),
        from_provider=trainer.provider,
        to_discipline=physio.provider.discipline,
        reason="Knee pain",
        actor=trainer,
    )
    change_referral_status(referral, status="declined", actor=physio)
    with pytest.raises(ConflictProblem) as err:
        change_referral_status(referral, status="accepted", actor=physio)
    assert err.value.slug == "invalid-transition"
    assert Referral.objects.get(pk=referral.pk).history.count() == 2


def test_only_the_receiving_side_or_a_manager_moves_a_referral(physio, trainer):
    referral = create_referral(
        patient=PatientFactory(),
        from_provider=trainer.provider,
        to_discipline=physio.provider.discipline,
        reason="Shoulder pain",
    )
    with pytest.raises(PermissionProblem):
        change_referral_status(referral, status="accepted", actor=trainer)
    change_referral_status(referral, status="accepted", actor=staff_user("mgr", "manager"))
    assert Referral.objects.get(pk=referral.pk).status == "accepted"


def test_the_referrer_may_withdraw_an_open_referral(physio, trainer):
    referral = create_referral(
        patient=PatientFactory(),
        from_provider=trainer.provider,
        to_discipline=physio.provider.discipline,
        reason="Hip pain",
    )
    change_referral_status(referral, status="declined", actor=trainer, note="Resolved")
    assert Referral.objects.get(pk=referral.pk).history.last().note == "Resolved"


def test_a_named_provider_must_belong_to_the_discipline_and_not_be_the_referrer(trainer, physio):
    with pytest.raises(ValidationProblem) as err:
        create_referral(
            patient=PatientFactory(),
            from_provider=trainer.provider,
            to_discipline=DisciplineFactory(code="massage_therapist"),
            to_provider=physio.provider,
            reason="Tension",
        )
    assert err.value.errors[0].code == "discipline_mismatch"
    with pytest.raises(ValidationProblem) as err:
        create_referral(
            patient=PatientFactory(),
            from_provider=physio.provider,
            to_discipline=physio.provider.discipline,
            to_provider=physio.provider,
            reason="Self",
        )
    assert err.value.errors[0].code == "self_referral"
    assert not Referral.objects.exists()


def test_a_clinician_cannot_refer_a_patient_they_do_not_treat(trainer):
    stranger = PatientFactory()
    response = client_for(trainer).post(
        "/api/v1/referrals/",
        {"patient": stranger.pk, "to_discipline": "physiotherapist", "reason": "x"},
        format="json",
    )
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "patient"


def test_a_clinician_cannot_refer_in_someone_elses_name(trainer, physio):
    patient = PatientFactory()
    link_patient(patient, trainer.provider)
    response = client_for(trainer).post(
        "/api/v1/referrals/",
        {
            "patient": patient.pk,
            "from_provider": physio.provider.pk,
            "to_discipline": "massage_therapist",
            "reason": "Tension",
        },
        format="json",
    )
    assert response.status_code == 403


def test_a_manager_names_the_referring_provider(manager_client, trainer):
    patient = PatientFactory()
    body = {"patient": patient.pk, "to_discipline": "physiotherapist", "reason": "Numbness"}
    response = manager_client.post("/api/v1/referrals/", body, format="json")
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "from_provider"
    body["from_provider"] = trainer.provider.pk
    assert manager_client.post("/api/v1/referrals/", body, format="json").status_code == 201


def _decline_through(entry: str, user, referral: Referral, client) -> None:
    if entry == "api":
        client_for(user).post(
            f"/api/v1/referrals/{referral.pk}/status/", {"status": "declined"}, format="json"
        )
        return
    client.force_login(user)
    client.post(
        f"/admin/patients/referral/{referral.pk}/change/",
        {
            "status": "declined",
            "history-TOTAL_FORMS": "0",
            "history-INITIAL_FORMS": "0",
        },
    )


@pytest.mark.parametrize("entry", ["api", "admin"])
def test_status_changes_follow_one_rule_through_the_api_and_the_admin(
    entry, client, physio, trainer
):
    """The referrer may withdraw (decline) their own open referral and an unrelated clinician
    may not, whichever way they ask: the admin asks the service, it does not restate the rule."""
    patient = PatientFactory()
    link_patient(patient, trainer.provider)
    referral = create_referral(
        patient=patient,
        from_provider=trainer.provider,
        to_discipline=physio.provider.discipline,
        reason="Knee pain",
        actor=trainer,
    )
    outsider = clinician_user(
        "outsider", provider=ProviderFactory(discipline=DisciplineFactory(code="massage_therapist"))
    )
    link_patient(patient, outsider.provider)
    _decline_through(entry, outsider, referral, client)
    assert Referral.objects.get(pk=referral.pk).status == "open"
    _decline_through(entry, trainer, referral, client)
    assert Referral.objects.get(pk=referral.pk).status == "declined"
    assert [c.changed_by for c in Referral.objects.get(pk=referral.pk).history.all()][-1] == trainer
