"""Staff roles (DOMAIN.md section 8) as Django groups, and the questions code asks about them.

Front desk: contact details, appointments, call-backs; never clinical content.
Clinician: their own schedule; clinical records of patients they treat or were referred.
Manager: everything, configuration and the audit log.
Superusers count as managers.
"""

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser

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


def has_staff_role(user: User) -> bool:
    """Any of the three roles; an authenticated user with none of them sees nothing."""
    return is_manager(user) or bool(_group_names(user) & set(ROLES))
