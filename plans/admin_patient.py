"""Care plans on the patient's page in the admin, for the roles that may read them: the rows come
from ``plans.selectors.plans_visible_to`` and the inline exists only for roles that see clinical
content (``patients.access.sees_clinical_content``); patients knows nothing of plans."""

from django.contrib import admin
from django.http import HttpRequest

from patients.access import sees_clinical_content
from patients.admin import PatientAdmin
from plans import selectors
from plans.models import CarePlan


class PatientCarePlanInline(admin.TabularInline):
    model = CarePlan
    fields = ["title", "phase", "lead", "location"]
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True
    verbose_name_plural = "care plans"

    def get_queryset(self, request: HttpRequest):
        plans = super().get_queryset(request).select_related("lead__discipline", "location")
        return selectors.plans_visible_to(request.user, plans)

    def has_view_permission(self, request: HttpRequest, obj=None) -> bool:
        """Shown on a GET only (a save of the patient's details does not carry these rows)."""
        return (
            request.method in ("GET", "HEAD")
            and sees_clinical_content(request.user)
            and super().has_view_permission(request, obj)
        )

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


PatientAdmin.inlines = [*PatientAdmin.inlines, PatientCarePlanInline]
