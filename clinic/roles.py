"""Staff roles (DOMAIN.md section 8) as Django groups, and the questions code asks about them.

Front desk: contact details, appointments, call-backs; never clinical content.
Clinician: their own schedule; clinical records of patients they treat or were referred.
Manager: everything, configuration and the audit log.
Superusers count as managers.
"""

from collections.abc import Iterable

from django.apps import apps as django_apps
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.core.exceptions import ImproperlyConfigured

FRONT_DESK = "front_desk"
CLINICIAN = "clinician"
MANAGER = "manager"
ROLES = (FRONT_DESK, CLINICIAN, MANAGER)

User = AbstractBaseUser | AnonymousUser


def _group_names(user: User) -> set[str]:
    if not user or not user.is_authenticated:
        return set()
    cached = getattr(user, "_role_names", None)
    if cached is None:
        cached = set(user.groups.values_list("name", flat=True))
        user._role_names = cached
    return cached


def is_manager(user: User) -> bool:
    return bool(
        user and user.is_authenticated and (user.is_superuser or MANAGER in _group_names(user))
    )


def is_clinician(user: User) -> bool:
    return CLINICIAN in _group_names(user)


def is_front_desk(user: User) -> bool:
    return FRONT_DESK in _group_names(user)


def runs_the_desk(user: User) -> bool:
    """Managers and front desk: who runs every calendar, the call-back queue and contact
    details (but not, for front desk, clinical content)."""
    return is_manager(user) or is_front_desk(user)


def has_staff_role(user: User) -> bool:
    """Any of the three roles; an authenticated user with none of them sees nothing."""
    return is_manager(user) or bool(_group_names(user) & set(ROLES))


# --- Group permissions, declared per app -------------------------------------------------------
#
# Each app says on its AppConfig which roles get which model permissions, e.g.
#
#     role_permissions = {
#         "patient": {FRONT_DESK: "view add change", CLINICIAN: "view"},
#         "auditevent": {MANAGER: "view"},
#     }
#
# A model nobody declares is for managers only, and managers get all four permissions on every
# model of a project app unless the model names MANAGER itself (then exactly what it names).
# ``sync_role_permissions`` makes each group's permissions exactly this set; it runs after every
# ``migrate`` (and test flush), so a new model or declaration is picked up without a migration.

PROJECT_APPS = ("clinic", "providers", "patients", "scheduling", "plans", "notifications")
ALL_ACTIONS = ("view", "add", "change", "delete")
# Managers run the clinic: they manage staff logins and API tokens too.
MANAGER_EXTRA_PERMISSIONS = (
    ("auth", "view_user"),
    ("auth", "add_user"),
    ("auth", "change_user"),
    ("auth", "view_group"),
    ("authtoken", "view_tokenproxy"),
    ("authtoken", "add_tokenproxy"),
    ("authtoken", "delete_tokenproxy"),
    # Admin login lockouts (django-axes): managers see them and lift them.
    ("axes", "view_accessattempt"),
    ("axes", "delete_accessattempt"),
    ("axes", "view_accessfailurelog"),
    ("axes", "view_accesslog"),
)


def _actions(spec: str | Iterable[str]) -> list[str]:
    actions = spec.split() if isinstance(spec, str) else list(spec)
    unknown = set(actions) - set(ALL_ACTIONS)
    if unknown:
        raise ImproperlyConfigured(f"Unknown permission actions {sorted(unknown)} in role spec.")
    return actions


def role_permission_codes() -> dict[str, set[tuple[str, str]]]:
    """``{role: {(app_label, codename), ...}}`` from the apps' declarations."""
    wanted: dict[str, set[tuple[str, str]]] = {role: set() for role in ROLES}
    wanted[MANAGER].update(MANAGER_EXTRA_PERMISSIONS)
    for config in django_apps.get_app_configs():
        if config.label not in PROJECT_APPS:
            continue
        declared = {
            config.get_model(name)._meta.model_name: spec
            for name, spec in (getattr(config, "role_permissions", None) or {}).items()
        }
        for model in config.get_models():
            per_role = declared.get(model._meta.model_name, {})
            for role in ROLES:
                if role in per_role:
                    actions = _actions(per_role[role])
                elif role == MANAGER:
                    actions = list(ALL_ACTIONS)
                else:
                    actions = []
                wanted[role].update(
                    (config.label, f"{action}_{model._meta.model_name}") for action in actions
                )
    return wanted


def sync_role_permissions(using: str = "default") -> None:
    """Create the three groups if missing and set their permissions to the declared ones."""
    from django.contrib.auth.models import Group, Permission

    wanted = role_permission_codes()
    available = {
        (app_label, codename): pk
        for pk, app_label, codename in Permission.objects.using(using).values_list(
            "pk", "content_type__app_label", "codename"
        )
    }
    for role in ROLES:
        group, _ = Group.objects.using(using).get_or_create(name=role)
        ids = sorted(available[key] for key in wanted[role] if key in available)
        current = set(group.permissions.values_list("pk", flat=True))
        if current != set(ids):
            group.permissions.set(ids)


def sync_roles_after_migrate(sender, using: str = "default", **kwargs) -> None:
    """``post_migrate`` receiver: acts once, after the last app's permissions exist."""
    with_models = [c for c in django_apps.get_app_configs() if c.models_module is not None]
    if with_models and sender.label == with_models[-1].label:
        sync_role_permissions(using=using)
