"""The waitlist in the admin: the front desk's list per location and service with each entry's
status and offer history, a withdraw action, and "Offer a time" on an entry's page, which calls
the same service as the staff API (``offer_by_hand``). Entries are added by the widget and the
staff API, whose services judge them; the admin edits none of their fields. The settings (hold
period, care-plan patients first) are the manager's.
"""

from datetime import datetime

from django import forms
from django.contrib import admin, messages
from django.http import HttpRequest, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse

from clinic import roles
from clinic.errors import DomainError
from clinic.forms import add_domain_error
from providers.models import Provider
from scheduling import services
from scheduling.models import Offering
from scheduling.waitlist_models import WaitlistEntry, WaitlistOffer, WaitlistSettings
from scheduling.waitlist_selectors import waitlist_for


class OfferInline(admin.TabularInline):
    """Who was offered what, when, by whom, and how it ended: history, never edited."""

    model = WaitlistOffer
    extra = 0
    can_delete = False
    fields = ["start", "provider", "status", "offered_at", "expires_at", "offered_by", "ended_at"]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


class OfferTimeForm(forms.Form):
    provider = forms.ModelChoiceField(queryset=Provider.objects.none())
    start = forms.DateTimeField(
        label="Start (the location's local time)",
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
        input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M"],
    )

    def __init__(self, entry: WaitlistEntry, *args, **kwargs):
        super().__init__(*args, **kwargs)
        providers = Provider.objects.filter(
            pk__in=Offering.objects.filter(
                service=entry.service, location=entry.location, is_active=True
            ).values("provider_id"),
            is_active=True,
        )
        if entry.provider_id:
            providers = providers.filter(pk=entry.provider_id)
        self.fields["provider"].queryset = providers


@admin.register(WaitlistEntry)
class WaitlistEntryAdmin(admin.ModelAdmin):
    list_display = [
        "patient",
        "service",
        "location",
        "provider",
        "status",
        "earliest_date",
        "latest_date",
        "created_at",
    ]
    list_filter = ["location", "service", "status"]
    search_fields = ["patient__last_name", "patient__first_name", "patient__email"]
    readonly_fields = [
        "patient",
        "service",
        "location",
        "provider",
        "earliest_date",
        "latest_date",
        "windows",
        "status",
        "source",
        "created_at",
        "created_by",
        "confirmed_at",
        "closed_at",
    ]
    fields = readonly_fields
    inlines = [OfferInline]
    actions = ["withdraw"]
    change_form_template = "admin/scheduling/waitlistentry/change_form.html"

    def get_queryset(self, request: HttpRequest):
        return waitlist_for(request.user, super().get_queryset(request))

    def has_add_permission(self, request) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    @admin.action(description="Withdraw from the waitlist")
    def withdraw(self, request: HttpRequest, queryset) -> None:
        for entry in queryset:
            services.withdraw_entry(entry, actor=request.user)
        self.message_user(request, "Withdrawn; any time held for them goes to the next entry.")

    def get_urls(self):
        offer = self.admin_site.admin_view(self.offer_view)
        return [
            path("<int:entry_id>/offer/", offer, name="scheduling_waitlistentry_offer"),
            *super().get_urls(),
        ]

    def offer_view(self, request: HttpRequest, entry_id: int):
        """Offer the entry a time by hand (front desk and managers)."""
        entry = get_object_or_404(self.get_queryset(request), pk=entry_id)
        if not roles.runs_the_desk(request.user) or not self.has_change_permission(request, entry):
            return HttpResponseRedirect(reverse("admin:index"))
        form = OfferTimeForm(entry, request.POST or None)
        if request.method == "POST" and form.is_valid():
            local: datetime = form.cleaned_data["start"].replace(tzinfo=None)
            start = local.replace(tzinfo=entry.location.zone)
            try:
                services.offer_by_hand(
                    entry, provider=form.cleaned_data["provider"], start=start, actor=request.user
                )
            except DomainError as error:
                add_domain_error(form, error, {"start": "start", "provider": "provider"})
            else:
                self.message_user(request, "Offered; the patient is e-mailed.", messages.SUCCESS)
                return HttpResponseRedirect(
                    reverse("admin:scheduling_waitlistentry_change", args=[entry.pk])
                )
        context = {
            **self.admin_site.each_context(request),
            "title": f"Offer a time to {entry.patient}",
            "entry": entry,
            "form": form,
            "opts": self.model._meta,
        }
        return TemplateResponse(request, "admin/scheduling/waitlistentry/offer.html", context)


@admin.register(WaitlistSettings)
class WaitlistSettingsAdmin(admin.ModelAdmin):
    list_display = ["__str__", "hold_minutes", "care_plan_patients_first"]

    def has_add_permission(self, request) -> bool:
        return not WaitlistSettings.objects.exists() and super().has_add_permission(request)

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
