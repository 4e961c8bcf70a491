"""Group permissions come from the apps' declarations and are synced idempotently."""

import pytest
from django.apps import apps
from django.contrib.auth.models import Group, Permission

from clinic import roles

pytestmark = pytest.mark.django_db

CLINICAL = {"referral", "referralstatuschange", "carerelationship"}


def codenames(role: str) -> set[str]:
    return set(Group.objects.get(name=role).permissions.values_list("codename", flat=True))


def test_front_desk_gets_contact_models_and_no_clinical_model():
    desk = codenames(roles.FRONT_DESK)
    assert {"view_patient", "add_patient", "change_patient", "view_consent"} <= desk
    assert not any(code.endswith(tuple(CLINICAL)) for code in desk)
    assert "view_auditevent" not in desk


def test_clinicians_read_referrals_but_not_the_audit_log():
    clinician = codenames(roles.CLINICIAN)
    assert {"view_referral", "add_referral", "view_patient"} <= clinician
    assert "change_patient" not in clinician
    assert "view_auditevent" not in clinician


def test_managers_get_every_project_model_and_only_view_on_the_audit_log():
    manager = codenames(roles.MANAGER)
    assert "view_auditevent" in manager
    assert not {"add_auditevent", "change_auditevent", "delete_auditevent"} & manager
    for app_label in roles.PROJECT_APPS:
        for model in apps.get_app_config(app_label).get_models():
            assert f"view_{model._meta.model_name}" in manager


def test_a_model_nobody_declares_is_for_managers_only():
    for role in (roles.FRONT_DESK, roles.CLINICIAN):
        assert "view_clinicsettings" in codenames(role)  # declared
    declared = {
        name.lower()
        for app_label in roles.PROJECT_APPS
        for name in (getattr(apps.get_app_config(app_label), "role_permissions", None) or {})
    }
    undeclared = [
        m._meta.model_name
        for app_label in roles.PROJECT_APPS
        for m in apps.get_app_config(app_label).get_models()
        if m._meta.model_name not in declared
    ]
    desk = codenames(roles.FRONT_DESK)
    assert not [name for name in undeclared if f"view_{name}" in desk]


def test_sync_is_idempotent_and_repairs_drift():
    before = {role: codenames(role) for role in roles.ROLES}
    desk = Group.objects.get(name=roles.FRONT_DESK)
    desk.permissions.add(Permission.objects.get(codename="view_referral"))
    roles.sync_role_permissions()
    roles.sync_role_permissions()
    assert {role: codenames(role) for role in roles.ROLES} == before


def test_only_managers_see_and_lift_admin_login_lockouts():
    assert {"view_accessattempt", "delete_accessattempt"} <= codenames(roles.MANAGER)
    for role in (roles.FRONT_DESK, roles.CLINICIAN):
        assert not any("access" in code for code in codenames(role))
