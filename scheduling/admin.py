"""Admin for scheduling: configuration, the appointment list with its lifecycle actions, the
call-back queue, and a day view per location that front desk can work from.

Booking and rescheduling in the admin go through ``scheduling.services`` (the same function as
the APIs): a scope, policy or conflict refusal is shown as a form error, never a 500. Times are
typed in the location's local time.
"""

import contextlib
from datetime import datetime
from zoneinfo import ZoneInfo

from django import forms
from django.contrib import admin, messages
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import path, reverse
from django.utils import timezone

import scheduling.admin_patient  # noqa: F401  (visits and call-backs on the patient page)
from clinic.audit import AuditedAdminMixin
from clinic.errors import DomainError
from clinic.forms import add_domain_error
from clinic.models import AuditEvent, Location
from patients.access import clinical_patient_ids_for, sees_clinical_content
from patients.choosers import PatientChooserMixin
from providers.models import Provider
from scheduling import (
    admin_links,
    admin_waitlist,  # noqa: F401  (the waitlist, issue 19)
    calendar_feed,
    selectors,
    services,
)
from scheduling.admin_bookability import UnbookableWarningMixin
from scheduling.models import (
    Appointment,
    AppointmentEvent,
    AvailabilityException,
    BookingPolicyOverride,
    CalendarFeed,
    CallbackRequest,
    Closure,
    FreeConsultOutcome,
    Offering,
    Service,
    WeeklyAvailability,
)

START_ALIAS = {"start": "start_local"}


def _with_request(form: type[forms.ModelForm], request: HttpRequest) -> type[forms.ModelForm]:
    """The admin builds forms without the request; ours refuse on behalf of the user."""

    class WithRequest(form):
        def __init__(self, *args, **kw):
            super().__init__(*args, request=request, **kw)

    return WithRequest


def _local(value: datetime, location: Location) -> datetime:
    """The admin widget's date and time read as wall-clock time at the location."""
    naive = timezone.make_naive(value) if timezone.is_aware(value) else value
    return naive.replace(tzinfo=location.zone)


@admin.register(Service)
class ServiceAdmin(admin.ModelAdmin):
    list_display = [
        "name",
        "duration_minutes",
        "modality",
        "price",
        "capacity",
        "online_bookable",
        "is_free_consult",
        "is_active",
    ]
    list_filter = ["modality", "online_bookable", "is_free_consult", "is_active"]
    search_fields = ["name", "code"]
    filter_horizontal = ["required_acts"]
    prepopulated_fields = {"code": ["name"]}


class ProviderListFilter(admin.RelatedFieldListFilter):
    """Providers are shown with their discipline: load them together, not one query each."""

    def field_choices(self, field, request, model_admin) -> list[tuple[int, str]]:
        providers = Provider.objects.select_related("discipline").order_by("display_name")
        return [(p.pk, str(p)) for p in providers]


class OfferingForm(forms.ModelForm):
    class Meta:
        model = Offering
        fields = ["provider", "service", "location", "is_active"]

    def clean(self):
        """The scope rule is the service's; an inactive offering needs no scope."""
        data = super().clean()
        provider, service, location = (data.get(k) for k in ("provider", "service", "location"))
        if provider and service and location and data.get("is_active"):
            try:
                services.check_offering_scope(provider, service, location)
            except DomainError as exc:
                add_domain_error(self, exc, START_ALIAS)
        return data


@admin.register(Offering)
class OfferingAdmin(UnbookableWarningMixin, admin.ModelAdmin):
    form = OfferingForm
    list_display = ["provider", "service", "location", "is_active", "bookable"]
    list_select_related = ["provider__discipline", "service", "location"]
    list_filter = ["location", "service", "is_active"]
    search_fields = ["provider__display_name", "service__name"]


@admin.register(WeeklyAvailability)
class WeeklyAvailabilityAdmin(admin.ModelAdmin):
    list_display = ["provider", "location", "weekday", "start_time", "end_time", "valid_from"]
    list_select_related = ["provider__discipline", "location"]
    list_filter = ["location", "weekday", ("provider", ProviderListFilter)]


@admin.register(AvailabilityException)
class AvailabilityExceptionAdmin(admin.ModelAdmin):
    list_display = ["provider", "kind", "location", "start", "end", "reason"]
    list_select_related = ["provider__discipline", "location"]
    list_filter = ["kind", "location", ("provider", ProviderListFilter)]


@admin.register(Closure)
class ClosureAdmin(admin.ModelAdmin):
    list_display = ["location", "start_date", "end_date", "reason"]
    list_filter = ["location"]


@admin.register(BookingPolicyOverride)
class BookingPolicyOverrideAdmin(admin.ModelAdmin):
    list_display = ["__str__", "minimum_notice_minutes", "booking_horizon_days"]


class BookingForm(forms.ModelForm):
    """New appointment: booked through ``book_appointment`` while the form is validated, so
    every refusal lands on the form."""

    start_local = forms.SplitDateTimeField(
        label="Start (local time at the location)", widget=admin.widgets.AdminSplitDateTime
    )

    class Meta:
        model = Appointment
        fields = ["patient", "service", "location", "provider", "reason"]

    def __init__(self, *args, request=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.request = request
        self.fields["provider"].required = False
        self.fields["provider"].help_text = "Leave blank for any free provider in scope."

    def clean(self):
        data = super().clean()
        if self.errors:
            return data
        try:
            self.instance = services.book_appointment(
                service=data["service"],
                location=data["location"],
                start=_local(data["start_local"], data["location"]),
                patient=data["patient"],
                provider=data.get("provider"),
                source=Appointment.Source.STAFF,
                actor=self.request.user if self.request else None,
                reason=data.get("reason", ""),
            )
        except DomainError as exc:
            add_domain_error(self, exc, START_ALIAS)
        return data

    def _post_clean(self) -> None:
        """No model validation here: the booking service validates (and writes) the appointment;
        copying the form's fields back onto it (a blank "any provider") would only misread it."""


class RescheduleForm(forms.ModelForm):
    """Change an appointment: moving it goes through ``reschedule_appointment``."""

    start_local = forms.SplitDateTimeField(
        label="Start (local time at the location)", widget=admin.widgets.AdminSplitDateTime
    )

    class Meta:
        model = Appointment
        fields = ["provider"]

    def __init__(self, *args, request=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.request = request
        if self.instance.pk:
            self.initial["start_local"] = self.instance.local_start.replace(tzinfo=None)

    def clean(self):
        data = super().clean()
        if self.errors:
            return data
        appointment = Appointment.objects.get(pk=self.instance.pk)
        start = _local(data["start_local"], appointment.location)
        provider = data.get("provider")
        if start == appointment.start and provider == appointment.provider:
            return data
        try:
            self.instance = services.reschedule_appointment(
                appointment,
                start=start,
                provider=provider,
                actor=self.request.user if self.request else None,
            )
        except DomainError as exc:
            add_domain_error(self, exc, START_ALIAS)
        return data

    def _post_clean(self) -> None:
        """No model validation here: the booking service validates (and writes) the appointment;
        copying the form's fields back onto it (a blank "any provider") would only misread it."""


def _local_data(data: dict, zone) -> dict:
    """An event's recorded times (UTC ISO strings) as the location's wall-clock time."""
    shown = {}
    for key, value in data.items():
        if isinstance(value, dict):
            value = _local_data(value, zone)
        elif key == "start" and isinstance(value, str):
            with contextlib.suppress(ValueError):
                value = datetime.fromisoformat(value).astimezone(zone).strftime("%Y-%m-%d %H:%M %Z")
        shown[key] = value
    return shown


class EventInline(admin.TabularInline):
    """The appointment's history, in the location's time zone."""

    model = AppointmentEvent
    extra = 0
    can_delete = False
    fields = ["when", "kind", "actor_label", "details"]
    readonly_fields = fields

    def get_queryset(self, request: HttpRequest):
        return super().get_queryset(request).select_related("appointment__location")

    @admin.display(description="when (local)")
    def when(self, event: AppointmentEvent) -> str:
        zone = event.appointment.location.zone
        return event.occurred_at.astimezone(zone).strftime("%Y-%m-%d %H:%M %Z")

    @admin.display(description="data")
    def details(self, event: AppointmentEvent) -> dict:
        """Front desk reads the history without its clinical details."""
        clinical = sees_clinical_content(self._request.user) if self._request else False
        data = selectors.event_data_for(event, clinical=clinical)
        return _local_data(data, event.appointment.location.zone)

    def get_formset(self, request: HttpRequest, obj=None, **kwargs):
        self._request = request
        return super().get_formset(request, obj, **kwargs)

    def has_add_permission(self, request, obj=None) -> bool:
        return False


def _status_action(name: str, label: str):
    def run(modeladmin, request: HttpRequest, queryset) -> None:
        done = 0
        for appointment in queryset:
            try:
                services.change_status(appointment, name, actor=request.user)
                done += 1
            except DomainError as exc:
                modeladmin.message_user(
                    request, f"{appointment.reference}: {exc.detail}", messages.ERROR
                )
        if done:
            modeladmin.message_user(request, f"{label}: {done} appointment(s).", messages.SUCCESS)

    run.__name__ = f"mark_{name}"
    run.short_description = label
    return run


class WhenFilter(admin.SimpleListFilter):
    """The desk works from today onward; the past is one click away."""

    title = "when"
    parameter_name = "when"

    def lookups(self, request, model_admin) -> list[tuple[str, str]]:
        return [("past", "Before today"), ("all", "Any time")]

    def choices(self, changelist):
        yield {
            "selected": self.value() is None,
            "query_string": changelist.get_query_string(remove=[self.parameter_name]),
            "display": "Today onward",
        }
        for value, label in self.lookup_choices:
            yield {
                "selected": self.value() == value,
                "query_string": changelist.get_query_string({self.parameter_name: value}),
                "display": label,
            }

    def queryset(self, request, queryset):
        # The first of the clinic's local midnights, so no location loses its morning.
        zones = {ZoneInfo(name) for name in Location.objects.values_list("timezone", flat=True)}
        now = timezone.now()
        start = min(
            (
                datetime.combine(now.astimezone(zone).date(), datetime.min.time(), tzinfo=zone)
                for zone in zones
            ),
            default=now.replace(hour=0, minute=0, second=0, microsecond=0),
        )
        if self.value() == "all":
            return queryset
        if self.value() == "past":
            return queryset.filter(start__lt=start).order_by("-start", "-id")
        return queryset.filter(start__gte=start)


@admin.register(Appointment)
class AppointmentAdmin(PatientChooserMixin, AuditedAdminMixin, admin.ModelAdmin):
    autocomplete_fields = ["patient"]
    list_display = [
        "local_time",
        "patient",
        "provider",
        "service",
        "location",
        "status",
        "reference",
    ]
    list_filter = [
        WhenFilter,
        "location",
        ("provider", ProviderListFilter),
        "status",
        "source",
        "needs_rebooking",
    ]
    date_hierarchy = "start"
    change_list_template = "admin/scheduling/appointment/change_list.html"
    search_fields = ["reference", "patient__last_name", "patient__email"]
    list_select_related = ["patient", "provider__discipline", "service", "location"]
    inlines = [EventInline]
    actions = [
        _status_action("confirm", "Confirm"),
        _status_action("arrive", "Mark arrived"),
        _status_action("complete", "Mark completed"),
        _status_action("no_show", "Mark no-show"),
        "cancel_selected",
    ]
    readonly_fields = [
        "reference",
        "patient",
        "service",
        "location",
        "room",
        "local_time",
        "status",
        "source",
        "cancel_reason",
        "cancelled_by",
        "late_cancellation",
    ]

    @admin.display(description="Start (local)", ordering="start")
    def local_time(self, obj: Appointment) -> str:
        return obj.local_start.strftime("%a %Y-%m-%d %H:%M %Z")

    def _clinical(self, request: HttpRequest) -> bool:
        return sees_clinical_content(request.user)

    def get_queryset(self, request: HttpRequest):
        return selectors.appointments_for(request.user, super().get_queryset(request))

    def get_form(self, request: HttpRequest, obj=None, change=False, **kwargs):
        kwargs["form"] = RescheduleForm if obj is not None else BookingForm
        if obj is None and not self._clinical(request):
            kwargs["exclude"] = ["reason"]
        return _with_request(super().get_form(request, obj, change=change, **kwargs), request)

    def get_changeform_initial_data(self, request: HttpRequest) -> dict:
        """The day view's "book" links carry provider, location and a local ``start``."""
        initial = super().get_changeform_initial_data(request)
        try:
            initial["start_local"] = datetime.fromisoformat(request.GET.get("start", ""))
        except ValueError:
            initial.pop("start", None)
        return initial

    def get_fields(self, request: HttpRequest, obj=None):
        if obj is None:
            fields = ["patient", "service", "location", "provider", "start_local"]
            return [*fields, "reason"] if self._clinical(request) else fields
        return [*self.readonly_fields, "provider", "start_local"]

    def get_readonly_fields(self, request: HttpRequest, obj=None):
        return self.readonly_fields if obj is not None else []

    def save_model(self, request, obj, form, change) -> None:
        """The form already booked or moved the appointment through the service; log it."""
        if change and not form.changed_data:
            return
        self._audit(
            request,
            AuditEvent.Action.UPDATE if change else AuditEvent.Action.CREATE,
            obj,
            changes={"start": obj.start.isoformat(), "provider": obj.provider_id},
        )

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    @admin.action(description="Cancel (at the desk)")
    def cancel_selected(self, request: HttpRequest, queryset) -> None:
        for appointment in queryset:
            try:
                services.cancel_appointment(
                    appointment, reason="Cancelled at the desk", actor=request.user
                )
            except DomainError as exc:
                self.message_user(request, f"{appointment.reference}: {exc.detail}", messages.ERROR)

    def get_urls(self):
        day = path(
            "day/",
            self.admin_site.admin_view(self.day_view),
            name="scheduling_appointment_day",
        )
        return [day, *super().get_urls()]

    def change_view(self, request: HttpRequest, object_id, form_url="", extra_context=None):
        appointment = self.get_object(request, object_id)
        links = admin_links.links_for(request, appointment) if appointment else []
        extra = {**(extra_context or {}), "appointment_links": links}
        return super().change_view(request, object_id, form_url, extra)

    def changelist_view(self, request: HttpRequest, extra_context=None):
        schedule = {"schedule_url": reverse("admin-schedule")}
        return super().changelist_view(request, {**(extra_context or {}), **schedule})

    def day_view(self, request: HttpRequest) -> HttpResponse:
        """The old day view's address: the schedule page replaced it (same parameters)."""
        query = request.GET.urlencode()
        return HttpResponseRedirect(reverse("admin-schedule") + (f"?{query}" if query else ""))


class OutcomeForm(forms.ModelForm):
    """Correcting an outcome goes through ``record_consult_outcome``, which decides who may."""

    class Meta:
        model = FreeConsultOutcome
        fields = ["recommended_path", "notes"]

    def __init__(self, *args, request=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.request = request

    def clean(self):
        data = super().clean()
        if self.errors:
            return data
        try:
            self.instance = services.record_consult_outcome(
                self.instance.appointment,
                recommended_path=data["recommended_path"],
                notes=data.get("notes", ""),
                actor=self.request.user,
            )
        except DomainError as exc:
            add_domain_error(self, exc, START_ALIAS)
        return data

    def _post_clean(self) -> None:
        """The service has validated and written the outcome."""


@admin.register(FreeConsultOutcome)
class FreeConsultOutcomeAdmin(AuditedAdminMixin, admin.ModelAdmin):
    """Clinical content: rows of the patients the user may read clinically, reads audited, and
    only the consult's provider (or a manager) changes one."""

    form = OutcomeForm
    audit_patient_path = "appointment.patient_id"
    list_display = ["appointment", "recommended_path", "first_appointment", "recorded_at"]
    list_filter = ["recommended_path"]
    list_select_related = [
        "appointment__service",
        "appointment__location",
        "first_appointment__service",
        "first_appointment__location",
    ]
    readonly_fields = ["appointment", "first_appointment", "recorded_by", "recorded_at"]

    def get_queryset(self, request: HttpRequest):
        qs = super().get_queryset(request)
        ids = clinical_patient_ids_for(request.user)
        return qs if ids is None else qs.filter(appointment__patient_id__in=ids)

    def get_form(self, request: HttpRequest, obj=None, change=False, **kwargs):
        return _with_request(super().get_form(request, obj, change=change, **kwargs), request)

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        allowed = super().has_change_permission(request, obj)
        return allowed and (
            obj is None or services.may_record_outcome(request.user, obj.appointment)
        )

    def save_model(self, request, obj, form, change) -> None:
        """The form recorded the outcome through the service; log the change."""
        self._audit(request, AuditEvent.Action.UPDATE, obj, changes=dict(form.cleaned_data))


@admin.register(CallbackRequest)
class CallbackRequestAdmin(admin.ModelAdmin):
    list_display = ["name", "phone", "preferred_time", "status", "created_at", "handled_by"]
    list_filter = ["status"]
    search_fields = ["name", "phone", "email"]
    readonly_fields = [
        "name",
        "phone",
        "email",
        "preferred_time",
        "message",
        "consent",
        "patient",
        "handled_by",
        "handled_at",
        "created_at",
    ]
    actions = ["mark_contacted", "mark_closed"]

    def has_add_permission(self, request) -> bool:
        return False

    def save_model(self, request, obj, form, change) -> None:
        services.update_callback(obj, status=obj.status, note=obj.staff_note, actor=request.user)

    @admin.action(description="Mark contacted")
    def mark_contacted(self, request: HttpRequest, queryset) -> None:
        for callback in queryset:
            services.update_callback(callback, status="contacted", actor=request.user)

    @admin.action(description="Mark closed")
    def mark_closed(self, request: HttpRequest, queryset) -> None:
        for callback in queryset:
            services.update_callback(callback, status="closed", actor=request.user)


@admin.register(CalendarFeed)
class CalendarFeedAdmin(admin.ModelAdmin):
    """Providers' secret calendar-feed links (managers). Adding one for a provider, or the
    "rotate" action, makes a new link and shows it once here; the old link stops working.
    Deleting a row revokes the link without a replacement."""

    list_display = ["provider", "created_at", "created_by"]
    fields = ["provider"]
    actions = ["rotate_links"]

    def get_readonly_fields(self, request: HttpRequest, obj=None) -> list[str]:
        return ["provider"] if obj is not None else []

    def save_model(self, request: HttpRequest, obj: CalendarFeed, form, change: bool) -> None:
        token = calendar_feed.rotate(obj.provider, actor=request.user)
        saved = CalendarFeed.objects.get(provider=obj.provider)
        obj.pk, obj.created_at = saved.pk, saved.created_at
        self._show(request, obj.provider, token)

    def _show(self, request: HttpRequest, provider: Provider, token: str) -> None:
        messages.success(
            request,
            f"New calendar link for {provider.display_name}: {calendar_feed.feed_url(token)}",
        )

    @admin.action(description="Rotate the selected links (the old ones stop working)")
    def rotate_links(self, request: HttpRequest, queryset) -> None:
        for feed in queryset.select_related("provider"):
            self._show(
                request, feed.provider, calendar_feed.rotate(feed.provider, actor=request.user)
            )
