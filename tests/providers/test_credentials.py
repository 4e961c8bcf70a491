"""Credentials are refused with a field error when their dates are inverted, when a licence has no
jurisdiction, or when an endorsement names an act the discipline cannot perform anywhere, in the
service, the staff API and the admin alike; nothing is half-written."""

import datetime as dt

import pytest

from clinic.errors import ValidationProblem
from providers import services
from providers.models import Act, Credential, Provider
from tests.conftest import make_staff_user
from tests.factories.providers import CredentialFactory, DisciplineFactory, ProviderFactory

pytestmark = pytest.mark.django_db


def massage_therapist():
    return ProviderFactory(
        discipline=DisciplineFactory(code="massage_therapist"), credentials=False
    )


def base(**extra):
    data = {
        "kind": Credential.Kind.REGISTRATION,
        "number": "R-1",
        "issuing_body": "College",
        "jurisdiction": "CA-ON",
        "valid_from": dt.date(2026, 1, 1),
        "valid_until": dt.date(2027, 1, 1),
    }
    return {**data, **extra}


def test_inverted_dates_are_refused_on_valid_until():
    provider = massage_therapist()
    with pytest.raises(ValidationProblem) as caught:
        services.create_credential(provider, **base(valid_until=dt.date(2025, 12, 31)))
    assert [(e.field, e.code) for e in caught.value.errors] == [("valid_until", "dates_inverted")]
    assert not Credential.objects.filter(provider=provider).exists()


def test_endorsing_an_act_the_discipline_never_performs_is_refused():
    provider = massage_therapist()
    with pytest.raises(ValidationProblem) as caught:
        services.create_credential(
            provider, **base(endorsements=[Act.objects.get(code="dry_needling")])
        )
    assert [(e.field, e.code) for e in caught.value.errors] == [
        ("endorsements", "endorsement_outside_discipline")
    ]
    assert not Credential.objects.exists()


def test_endorsing_an_act_the_discipline_may_perform_is_accepted():
    physio = ProviderFactory(credentials=False)
    credential = services.create_credential(
        physio,
        **base(kind="licence", endorsements=[Act.objects.get(code="dry_needling")]),
    )
    assert list(credential.endorsements.values_list("code", flat=True)) == ["dry_needling"]


def test_licence_without_jurisdiction_is_refused():
    with pytest.raises(ValidationProblem) as caught:
        services.create_credential(massage_therapist(), **base(kind="licence", jurisdiction=""))
    assert caught.value.errors[0].field == "jurisdiction"


def test_update_checks_the_merged_credential():
    credential = CredentialFactory(valid_from=dt.date(2026, 1, 1))
    with pytest.raises(ValidationProblem):
        services.update_credential(credential, valid_until=dt.date(2025, 1, 1))
    credential.refresh_from_db()
    assert credential.valid_until is None


def test_changing_discipline_is_refused_while_an_endorsement_would_fall_outside_it():
    physio = ProviderFactory(credentials__endorsements=["dry_needling"])
    with pytest.raises(ValidationProblem) as caught:
        services.update_provider(physio, discipline=DisciplineFactory(code="personal_trainer"))
    assert caught.value.errors[0].field == "discipline"
    physio.refresh_from_db()
    assert physio.discipline.code == "physiotherapist"


def test_api_refuses_inverted_dates_as_problem_json_naming_the_field(manager_client):
    provider = massage_therapist()
    body = {**base(valid_until="2025-01-01", valid_from="2026-01-01"), "provider": provider.pk}
    response = manager_client.post("/api/v1/credentials/", body, format="json")
    assert response.status_code == 422
    assert response["Content-Type"] == "application/problem+json"
    assert response.json()["errors"][0]["field"] == "valid_until"
    assert response.json()["errors"][0]["code"] == "dates_inverted"
    assert not Credential.objects.exists()


def test_api_refuses_endorsement_outside_discipline(manager_client):
    provider = massage_therapist()
    body = {
        **base(valid_from="2026-01-01", valid_until="2027-01-01"),
        "provider": provider.pk,
        "endorsements": ["spinal_manipulation"],
    }
    response = manager_client.post("/api/v1/credentials/", body, format="json")
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "endorsements"


def test_front_desk_cannot_add_credentials(front_desk_client):
    provider = massage_therapist()
    body = {**base(valid_from="2026-01-01", valid_until="2027-01-01"), "provider": provider.pk}
    response = front_desk_client.post("/api/v1/credentials/", body, format="json")
    assert response.status_code == 403


def _inline_post(provider, **credential):
    data = {
        "display_name": provider.display_name,
        "discipline": provider.discipline.pk,
        "bio": "",
        "email": "",
        "user": "",
        "is_active": "on",
        "credentials-TOTAL_FORMS": "1",
        "credentials-INITIAL_FORMS": "0",
        "credentials-MIN_NUM_FORMS": "0",
        "credentials-MAX_NUM_FORMS": "1000",
        "credentials-0-kind": "registration",
        "credentials-0-number": "R-9",
        "credentials-0-issuing_body": "College",
        "credentials-0-jurisdiction": "CA-ON",
        "credentials-0-valid_from": "2026-01-01",
        "credentials-0-valid_until": "2027-01-01",
        "credentials-0-status": "active",
    }
    data.update({f"credentials-0-{k}": v for k, v in credential.items()})
    return data


@pytest.fixture
def admin_manager(client):
    user = make_staff_user("admin-manager", "manager")
    client.force_login(user)
    return client


def test_admin_inline_refuses_inverted_dates_with_a_field_error(admin_manager):
    provider = massage_therapist()
    response = admin_manager.post(
        f"/admin/providers/provider/{provider.pk}/change/",
        _inline_post(provider, valid_until="2025-01-01"),
    )
    assert response.status_code == 200  # the form again, with errors
    errors = response.context["inline_admin_formsets"][0].formset.errors[0]
    assert "valid_until" in errors
    assert not Credential.objects.exists()


def test_admin_inline_refuses_endorsement_outside_discipline(admin_manager):
    provider = massage_therapist()
    needling = Act.objects.get(code="dry_needling")
    response = admin_manager.post(
        f"/admin/providers/provider/{provider.pk}/change/",
        _inline_post(provider, endorsements=[str(needling.pk)]),
    )
    assert response.status_code == 200
    errors = response.context["inline_admin_formsets"][0].formset.errors[0]
    assert "endorsements" in errors


def test_admin_inline_saves_a_good_credential(admin_manager):
    provider = massage_therapist()
    response = admin_manager.post(
        f"/admin/providers/provider/{provider.pk}/change/", _inline_post(provider)
    )
    assert response.status_code == 302
    assert provider.credentials.get().number == "R-9"


def test_front_desk_cannot_change_providers_in_admin(client):
    provider = massage_therapist()
    client.force_login(make_staff_user("admin-desk", "front_desk"))
    assert client.get(f"/admin/providers/provider/{provider.pk}/change/").status_code == 200
    response = client.post(
        f"/admin/providers/provider/{provider.pk}/change/", _inline_post(provider)
    )
    assert response.status_code == 403
    assert not Credential.objects.exists()


def test_admin_add_provider_checks_inline_endorsements_against_the_new_discipline(admin_manager):
    trainer = DisciplineFactory(code="personal_trainer")
    data = _inline_post(
        ProviderFactory.build(display_name="New Trainer", discipline=trainer),
        kind="certification",
        jurisdiction="",
        endorsements=[str(Act.objects.get(code="dry_needling").pk)],
    )
    response = admin_manager.post("/admin/providers/provider/add/", data)
    assert response.status_code == 200
    errors = response.context["inline_admin_formsets"][0].formset.errors[0]
    assert "endorsements" in errors
    assert not Credential.objects.exists()
    assert not Provider.objects.filter(display_name="New Trainer").exists()


def test_acts_cannot_be_deleted_in_admin(admin_manager):
    act = Act.objects.get(code="dry_needling")
    response = admin_manager.post(f"/admin/providers/act/{act.pk}/delete/", {"post": "yes"})
    assert response.status_code == 403
    assert Act.objects.filter(pk=act.pk).exists()
