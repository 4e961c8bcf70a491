"""Admin for providers, credentials and scope rules.

Every staff role may look; only managers change anything. Forms ask the same service checks as
the API, so a credential with inverted dates or an impossible endorsement is refused with a field
error here too. Scope-rule saves go through the service, which keeps the history.
"""

from django import forms
from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest
from django.template.response import TemplateResponse
from django.urls import path
from django.utils import timezone
from django.utils.html import format_html, format_html_join

from clinic import roles
from clinic.forms import add_problems
from providers import selectors, services
from providers.models import (
    Act,
    Credential,
    CredentialRequirement,
    Discipline,
    Provider,
    ScopeRule,
    ScopeRuleChange,
)


class ManagerEditsMixin:
    """Any staff role views; managers add, change and delete."""

    def has_module_permission(self, request) -> bool:
        return roles.has_staff_role(request.user)

    def has_view_permission(self, request, obj=None) -> bool:
        return roles.has_staff_role(request.user)

    def has_add_permission(self, request, *args) -> bool:
        return roles.is_manager(request.user)

    def has_change_permission(self, request, obj=None) -> bool:
        return roles.is_manager(request.user)

    def has_delete_permission(self, request, obj=None) -> bool:
        return roles.is_manager(request.user)


class CredentialForm(forms.ModelForm):
    class Meta:
        model = Credential
        fields = [
            "kind",
            "number",
            "issuing_body",
            "jurisdiction",
            "valid_from",
            "valid_until",
            "status",
            "endorsements",
        ]

    def clean(self) -> dict:
        data = super().clean()
        provider = data.get("provider") or getattr(self.instance, "provider", None)
        discipline = getattr(provider, "discipline", None)
        if discipline is not None:
            add_problems(
                self,
                services.credential_problems(
                    discipline=discipline,
                    kind=data.get("kind", ""),
                    jurisdiction=data.get("jurisdiction", ""),
                    valid_from=data.get("valid_from"),
                    valid_until=data.get("valid_until"),
                    endorsements=data.get("endorsements") or [],
                ),
            )
        return data


class CredentialInline(ManagerEditsMixin, admin.StackedInline):
    model = Credential
    form = CredentialForm
    extra = 0
    filter_horizontal = ["endorsements"]


@admin.register(Provider)
class ProviderAdmin(ManagerEditsMixin, admin.ModelAdmin):
    list_display = ["display_name", "discipline", "is_active"]
    list_filter = ["discipline", "is_active", "locations"]
    list_select_related = ["discipline"]
    search_fields = ["display_name", "email"]
    filter_horizontal = ["locations"]
    raw_id_fields = ["user"]
    inlines = [CredentialInline]
    readonly_fields = ["scope_today"]

    @admin.display(description="Scope today")
    def scope_today(self, obj: Provider) -> str:
        """The same decision the API's scope view gives, per location, for today's local date."""
        if obj.pk is None:
            return "Save the provider to see their scope."
        sections = []
        for location in obj.locations.all():
            on = timezone.now().astimezone(location.zone).date()
            rows = format_html_join(
                "",
                "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
                (
                    (
                        item.act.code,
                        "allowed" if item.decision.allowed else "refused",
                        "; ".join(f"{r.code}: {r.message}" for r in item.decision.reasons),
                    )
                    for item in selectors.provider_scope(obj, location, on)
                ),
            )
            sections.append(
                format_html(
                    "<h4>{} ({}, {})</h4><table><tbody>{}</tbody></table>",
                    location.name,
                    location.jurisdiction,
                    on,
                    rows,
                )
            )
        return format_html_join("", "{}", ((section,) for section in sections))


@admin.register(Credential)
class CredentialAdmin(ManagerEditsMixin, admin.ModelAdmin):
    form = CredentialForm
    list_display = ["provider", "kind", "number", "jurisdiction", "valid_until", "status"]
    list_filter = ["kind", "status", "jurisdiction"]
    list_select_related = ["provider__discipline"]  # the provider column names the discipline
    search_fields = ["provider__display_name", "number"]
    filter_horizontal = ["endorsements"]

    fields = ["provider", *CredentialForm.Meta.fields]


class CatalogueAdmin(ManagerEditsMixin, admin.ModelAdmin):
    """Disciplines and acts are edited, never deleted: deleting an act would silently drop its
    rules and endorsements, around the rule history."""

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Discipline)
class DisciplineAdmin(CatalogueAdmin):
    list_display = ["name", "code", "is_public"]
    search_fields = ["name", "code"]


@admin.register(Act)
class ActAdmin(CatalogueAdmin):
    list_display = ["code", "name", "is_clinical"]
    search_fields = ["name", "code"]


class ScopeRuleForm(forms.ModelForm):
    class Meta:
        model = ScopeRule
        fields = ["discipline", "act", "jurisdiction", "allowed", "requires_endorsement", "note"]

    def clean(self) -> dict:
        data = super().clean()
        if not self.errors:
            candidate = ScopeRule(pk=self.instance.pk, **data)
            add_problems(self, services.rule_problems(candidate))
        return data


@admin.register(ScopeRule)
class ScopeRuleAdmin(ManagerEditsMixin, admin.ModelAdmin):
    """Rules editable by managers; each save is recorded with who and when."""

    form = ScopeRuleForm
    list_display = ["discipline", "act", "jurisdiction", "allowed", "requires_endorsement", "note"]
    list_filter = ["jurisdiction", "discipline", "allowed", "requires_endorsement"]
    list_select_related = ["discipline", "act"]
    change_list_template = "admin/providers/scoperule/change_list.html"

    def save_model(self, request, obj, form, change) -> None:
        services.save_scope_rule(obj, actor=request.user, channel="admin")

    def delete_model(self, request, obj) -> None:
        services.delete_scope_rule(obj, actor=request.user, channel="admin")

    def delete_queryset(self, request, queryset) -> None:
        for rule in queryset.select_related("discipline", "act"):
            services.delete_scope_rule(rule, actor=request.user, channel="admin")

    def get_urls(self) -> list:
        matrix = path(
            "matrix/",
            self.admin_site.admin_view(self.matrix_view),
            name="providers_scoperule_matrix",
        )
        return [matrix, *super().get_urls()]

    def matrix_view(self, request: HttpRequest) -> TemplateResponse:
        """Read-only discipline x act grid for one jurisdiction (blank: the defaults)."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        jurisdictions = selectors.known_jurisdictions()
        chosen = request.GET.get("jurisdiction", "")
        if chosen and chosen not in jurisdictions:
            chosen = ""
        context = {
            **self.admin_site.each_context(request),
            "title": "Scope of practice matrix",
            "opts": self.model._meta,
            "matrix": selectors.scope_matrix(chosen),
            "jurisdictions": jurisdictions,
            "chosen": chosen,
        }
        return TemplateResponse(request, "admin/providers/scope_matrix.html", context)


@admin.register(ScopeRuleChange)
class ScopeRuleChangeAdmin(ManagerEditsMixin, admin.ModelAdmin):
    """History is read-only for everyone."""

    list_display = ["changed_at", "changed_by_label", "action", "discipline_code", "act_code"]
    list_filter = ["action", "jurisdiction", "discipline_code", "channel"]
    readonly_fields = [f.name for f in ScopeRuleChange._meta.fields]

    def has_add_permission(self, request, *args) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(CredentialRequirement)
class CredentialRequirementAdmin(ManagerEditsMixin, admin.ModelAdmin):
    list_display = [
        "discipline",
        "jurisdiction",
        "accepts_licence",
        "accepts_registration",
        "accepts_certification",
    ]
    list_filter = ["jurisdiction", "discipline"]
