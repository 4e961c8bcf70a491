"""Managers edit scope rules; every create, change and delete is kept with who, when, before and
after, whether made through the API or the admin. Other roles read and cannot edit."""

import datetime as dt

import pytest

from providers.models import Act, Discipline, ScopeRule, ScopeRuleChange
from providers.scope import decide
from tests.conftest import client_for, make_staff_user
from tests.factories.providers import CredentialFactory, DisciplineFactory, ProviderFactory

pytestmark = pytest.mark.django_db


def test_api_change_is_recorded_with_who_and_before_after(manager_client, manager_user):
    rule = ScopeRule.objects.get(
        discipline__code="physiotherapist", act__code="acupuncture", jurisdiction=""
    )
    response = manager_client.patch(
        f"/api/v1/scope-rules/{rule.pk}/", {"requires_endorsement": False}, format="json"
    )
    assert response.status_code == 200
    change = ScopeRuleChange.objects.get()
    assert change.changed_by == manager_user
    assert change.action == "update"
    assert change.channel == "api"
    assert change.before["requires_endorsement"] is True
    assert change.after["requires_endorsement"] is False
    assert (change.discipline_code, change.act_code) == ("physiotherapist", "acupuncture")


def test_new_override_changes_the_decision_and_is_recorded(manager_client, toronto):
    trainer = ProviderFactory(
        discipline=DisciplineFactory(code="personal_trainer"),
        locations=[toronto],
        credentials=False,
    )
    CredentialFactory(provider=trainer, kind="certification", jurisdiction="")
    at = dt.datetime(2026, 12, 1, 17, tzinfo=dt.UTC)
    assert decide(trainer, "fitness_training", toronto, at).allowed
    response = manager_client.post(
        "/api/v1/scope-rules/",
        {
            "discipline": "personal_trainer",
            "act": "fitness_training",
            "jurisdiction": "CA-ON",
            "allowed": False,
            "note": "Test override",
        },
        format="json",
    )
    assert response.status_code == 201, response.json()
    assert decide(trainer, "fitness_training", toronto, at).codes == ("forbidden_in_jurisdiction",)
    change = ScopeRuleChange.objects.get()
    assert change.action == "create"
    assert change.before is None
    assert change.after["allowed"] is False


def test_duplicate_rule_is_refused_naming_the_field(manager_client):
    response = manager_client.post(
        "/api/v1/scope-rules/",
        {"discipline": "physiotherapist", "act": "dry_needling", "jurisdiction": "US-NY"},
        format="json",
    )
    assert response.status_code == 422
    assert response.json()["errors"][0]["code"] == "duplicate_rule"
    assert not ScopeRuleChange.objects.exists()


def test_a_duplicate_created_between_the_check_and_the_insert_is_refused_not_a_500(
    manager_client, monkeypatch
):
    """Two managers adding the same override at once: the second is told, nothing is half-kept."""
    from providers import services

    real_problems = services.rule_problems
    # The other manager's insert commits after this request checked for a clash.
    monkeypatch.setattr(
        services,
        "rule_problems",
        lambda rule: [p for p in real_problems(rule) if p.code != "duplicate_rule"],
    )
    response = manager_client.post(
        "/api/v1/scope-rules/",
        {"discipline": "physiotherapist", "act": "dry_needling", "jurisdiction": "US-NY"},
        format="json",
    )
    assert response.status_code == 422
    assert response.json()["errors"][0]["code"] == "duplicate_rule"
    assert ScopeRule.objects.filter(jurisdiction="US-NY", act__code="dry_needling").count() == 1
    assert not ScopeRuleChange.objects.exists()


def test_forbidden_rule_needing_an_endorsement_is_refused(manager_client):
    response = manager_client.post(
        "/api/v1/scope-rules/",
        {
            "discipline": "personal_trainer",
            "act": "diagnose",
            "jurisdiction": "CA-ON",
            "allowed": False,
            "requires_endorsement": True,
        },
        format="json",
    )
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "requires_endorsement"


def test_api_delete_keeps_what_the_rule_said(manager_client):
    rule = ScopeRule.objects.get(
        discipline__code="physiotherapist", act__code="dry_needling", jurisdiction="US-NY"
    )
    assert manager_client.delete(f"/api/v1/scope-rules/{rule.pk}/").status_code == 204
    change = ScopeRuleChange.objects.get()
    assert change.action == "delete"
    assert change.before["allowed"] is False
    assert change.after is None
    assert change.jurisdiction == "US-NY"


def test_unchanged_save_records_nothing(manager_client):
    rule = ScopeRule.objects.filter(jurisdiction="").first()
    manager_client.patch(f"/api/v1/scope-rules/{rule.pk}/", {"note": rule.note}, format="json")
    assert not ScopeRuleChange.objects.exists()


def test_front_desk_reads_rules_and_history_but_cannot_edit(front_desk_client):
    rule = ScopeRule.objects.first()
    assert front_desk_client.get("/api/v1/scope-rules/").status_code == 200
    assert front_desk_client.get("/api/v1/scope-rule-changes/").status_code == 200
    response = front_desk_client.patch(
        f"/api/v1/scope-rules/{rule.pk}/", {"allowed": False}, format="json"
    )
    assert response.status_code == 403
    assert not ScopeRuleChange.objects.exists()


def test_clinician_cannot_edit_rules():
    clinician = client_for(make_staff_user("rule-clinician", "clinician"))
    rule = ScopeRule.objects.first()
    response = clinician.delete(f"/api/v1/scope-rules/{rule.pk}/")
    assert response.status_code == 403
    assert ScopeRule.objects.filter(pk=rule.pk).exists()


def test_admin_edit_is_recorded_with_the_manager(client):
    manager = make_staff_user("rule-admin-manager", "manager")
    client.force_login(manager)
    rule = ScopeRule.objects.get(
        discipline__code="physiotherapist", act__code="dry_needling", jurisdiction="CA-ON"
    )
    response = client.post(
        f"/admin/providers/scoperule/{rule.pk}/change/",
        {
            "discipline": Discipline.objects.get(code="physiotherapist").pk,
            "act": Act.objects.get(code="dry_needling").pk,
            "jurisdiction": "CA-ON",
            "allowed": "on",
            "note": "Endorsement dropped for the test",
        },
    )
    assert response.status_code == 302
    change = ScopeRuleChange.objects.get()
    assert change.changed_by == manager
    assert change.channel == "admin"
    assert change.before["requires_endorsement"] is True
    assert change.after["requires_endorsement"] is False


def test_admin_refuses_rule_edits_from_front_desk(client):
    client.force_login(make_staff_user("rule-admin-desk", "front_desk"))
    rule = ScopeRule.objects.first()
    assert client.get(f"/admin/providers/scoperule/{rule.pk}/change/").status_code == 200
    response = client.post(f"/admin/providers/scoperule/{rule.pk}/delete/", {"post": "yes"})
    assert response.status_code == 403
    assert ScopeRule.objects.filter(pk=rule.pk).exists()
