"""Role-based permission classes for the staff API (DOMAIN.md section 8)."""

from rest_framework.permissions import SAFE_METHODS, BasePermission

from clinic import roles


class IsStaffMember(BasePermission):
    """Any staff role may use the endpoint."""

    message = "Only clinic staff may use this endpoint."

    def has_permission(self, request, view) -> bool:
        return roles.has_staff_role(request.user)


class IsManager(BasePermission):
    message = "Only managers may use this endpoint."

    def has_permission(self, request, view) -> bool:
        return roles.is_manager(request.user)


class StaffReadManagerWrite(BasePermission):
    """Configuration data: every role reads it, only managers change it."""

    message = "Only managers may change clinic configuration."

    def has_permission(self, request, view) -> bool:
        if request.method in SAFE_METHODS:
            return roles.has_staff_role(request.user)
        return roles.is_manager(request.user)
