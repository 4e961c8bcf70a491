"""Admin for patients, consent, referrals and the audit log, under the same rules as the API.

Which pages a role sees comes from its group permissions (``clinic.roles``); which rows it sees
comes from ``patients.access``: a clinician lists only the patients they may read clinically.
Consent and audit rows are never edited here: consent is recorded through the service (history
stays intact), and the audit log is read-only for managers.
"""

from django import forms
from django.contrib import admin, messages
from django.http import HttpRequest

from clinic import roles
from clinic.audit import AuditedAdminMixin
from clinic.errors import DomainError
from clinic.forms import add_domain_error, add_problems
from clinic.models import AuditEvent
from patients import grants, referrals, services
from patients.access import clinical_patient_ids_for, visible_patients
from patients.choosers import PatientChooserMixin
from patients.models import (
    AccessGrant,
    Consent,
    EmergencyAccess,
    Patient,
    Referral,
    ReferralStatusChange,
)
from patients.selectors import current_consents, email_is


class ReadOnlyInline(admin.TabularInline):
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


class ConsentInline(ReadOnlyInline):
    model = Consent
    fields = ["purpose", "granted", "recorded_at", "source", "wording_version", "recorded_by"]
    readonly_fields = fields
    ordering = ["-recorded_at", "-id"]


class ReferralInline(ReadOnlyInline):
    """Shown only to roles with the referral view permission (clinicians and managers)."""

    model = Referral
    fk_name = "patient"
    fields = ["to_discipline", "to_provider", "from_provider", "status", "created_at", "reason"]
    readonly_fields = fields


def _restrict(queryset, request: HttpRequest, field: str = "pk"):
    """Clinicians see only their patients' rows; other roles the queryset as it is."""
    if roles.is_manager(request.user) or not roles.is_clinician(request.user):
        return queryset
    ids = clinical_patient_ids_for(request.user)
    return queryset.filter(**{f"{field}__in": ids})


class PatientAdminForm(forms.ModelForm):
    class Meta:
        model = Patient
        fields = list(services.CONTACT_FIELDS)

    def clean(self):
        """The same rule the database enforces, as a form error instead of a failed save."""
        data = super().clean()
        email, status = data.get("email"), data.get("status")
        if email and status != Patient.Status.ARCHIVED:
            clash = Patient.objects.exclude(status=Patient.Status.ARCHIVED).filter(
                email_is(email.strip())
            )
            if self.instance.pk:
                clash = clash.exclude(pk=self.instance.pk)
            if clash.exists():
                self.add_error("email", "A non-archived patient already has this e-mail address.")
        return data


@admin.register(Patient)
class PatientAdmin(AuditedAdminMixin, admin.ModelAdmin):
    form = PatientAdminForm
    list_display = ["last_name", "first_name", "email", "phone", "status", "preferred_location"]
    list_filter = ["status", "preferred_location", "preferred_language"]
    search_fields = ["first_name", "last_name", "email", "phone"]
    list_select_related = ["preferred_location"]
    readonly_fields = ["consents_now", "created_at", "updated_at"]
    inlines = [ConsentInline, ReferralInline]
    audit_patient_path = "pk"

    @admin.display(description="consents now")
    def consents_now(self, patient: Patient) -> str:
        """The current state (the latest record per purpose); the history is listed below."""
        if patient.pk is None:
            return "-"
        state = current_consents(patient)
        return ", ".join(
            f"{purpose}: {'yes' if given else 'no'}" for purpose, given in state.items()
        )

    def get_queryset(self, request):
        # The patient list, and so every admin patient autocomplete (patients.choosers).
        return visible_patients(request.user, super().get_queryset(request))

    def has_delete_permission(self, request, obj=None) -> bool:
        # Patients are archived, never deleted: their consent and audit history must remain.
        return False

    def save_model(self, request, obj: Patient, form, change: bool) -> None:
        """Contact changes go through the services, which write the audit row themselves."""
        if change:
            fields = {name: form.cleaned_data[name] for name in form.changed_data}
            services.update_patient(
                Patient.objects.get(pk=obj.pk),
                actor=request.user,
                request=request,
                channel="admin",
                **fields,
            )
        else:
            created = services.create_patient(
                actor=request.user, request=request, channel="admin", **form.cleaned_data
            )
            obj.pk = created.pk


class ReferralAdminForm(forms.ModelForm):
    class Meta:
        model = Referral
        fields = ["patient", "from_provider", "to_discipline", "to_provider", "reason", "status"]

    def __init__(self, *args, request: HttpRequest, **kwargs):
        super().__init__(*args, **kwargs)
        self.request = request
        if "patient" in self.fields:
            self.fields["patient"].queryset = visible_patients(request.user)

    def clean(self):
        data = super().clean()
        instance = self.instance
        status = data.get("status")
        if instance.pk and status and status != instance.status:
            try:
                referrals.check_referral_status_change(
                    Referral.objects.get(pk=instance.pk), status=status, actor=self.request.user
                )
            except DomainError as exc:
                add_domain_error(self, exc)
        if not instance.pk:
            try:
                referrals.referrer_for(self.request.user, data.get("from_provider"))
            except DomainError as exc:
                add_domain_error(self, exc)
        if not instance.pk and not self.errors:
            add_problems(
                self,
                referrals.referral_problems(
                    patient=data["patient"],
                    from_provider=data["from_provider"],
                    to_discipline=data["to_discipline"],
                    to_provider=data.get("to_provider"),
                    reason=data.get("reason", ""),
                ),
            )
        return data


class ReferralHistoryInline(ReadOnlyInline):
    model = ReferralStatusChange
    fields = ["from_status", "to_status", "changed_at", "changed_by", "note"]
    readonly_fields = fields


@admin.register(Referral)
class ReferralAdmin(PatientChooserMixin, AuditedAdminMixin, admin.ModelAdmin):
    """Referrals. A new referral starts open; its status moves along the allowed transitions,
    each kept in the history below."""

    form = ReferralAdminForm
    list_display = ["patient", "to_discipline", "to_provider", "from_provider", "status"]
    list_filter = ["status", "to_discipline"]
    list_select_related = [
        "patient",
        "to_discipline",
        "to_provider__discipline",
        "from_provider__discipline",
    ]
    search_fields = ["patient__last_name", "patient__email", "reason"]
    inlines = [ReferralHistoryInline]
    autocomplete_fields = ["patient"]

    def get_form(self, request, obj=None, change=False, **kwargs):
        form_class = super().get_form(request, obj, change, **kwargs)

        class RequestForm(form_class):
            def __init__(self, *args, **inner):
                super().__init__(*args, request=request, **inner)

        return RequestForm

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return ["status"]
        return ["patient", "from_provider", "to_discipline", "to_provider", "reason"]

    def get_queryset(self, request):
        return _restrict(super().get_queryset(request), request, "patient_id")

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def save_model(self, request, obj: Referral, form, change: bool) -> None:
        """Writes go through the services (history, audit row)."""
        if change:
            if "status" in form.changed_data:
                referrals.change_referral_status(
                    Referral.objects.get(pk=obj.pk),
                    status=form.cleaned_data["status"],
                    actor=request.user,
                    request=request,
                    channel="admin",
                )
            return
        created = referrals.create_referral(
            patient=form.cleaned_data["patient"],
            from_provider=form.cleaned_data["from_provider"],
            to_discipline=form.cleaned_data["to_discipline"],
            to_provider=form.cleaned_data.get("to_provider"),
            reason=form.cleaned_data["reason"],
            actor=request.user,
            request=request,
            channel="admin",
        )
        obj.pk = created.pk

    def save_related(self, request, form, formsets, change) -> None:
        """History rows are written by the service, never from the form."""

    def construct_change_message(self, request, form, formsets, add=False):
        """The history inline is never saved from the form, so it has nothing to report."""
        return super().construct_change_message(request, form, [], add)


@admin.register(AccessGrant)
class AccessGrantAdmin(PatientChooserMixin, admin.ModelAdmin):
    """Managers' grants of clinical access: given with a reason, revoked (never deleted)."""

    list_display = ["patient", "provider", "reason", "granted_by", "granted_at", "ends_at"]
    list_filter = [("revoked_at", admin.EmptyFieldListFilter)]
    list_select_related = ["patient", "provider__discipline", "granted_by"]
    search_fields = ["patient__last_name", "patient__email", "provider__display_name", "reason"]
    autocomplete_fields = ["patient"]
    fields = ["patient", "provider", "reason", "ends_at"]
    actions = ["revoke"]

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return []
        return [*self.fields, "granted_by", "granted_at", "revoked_at", "revoked_by"]

    def get_fields(self, request, obj=None):
        return self.fields if obj is None else self.get_readonly_fields(request, obj)

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def save_model(self, request, obj: AccessGrant, form, change: bool) -> None:
        """Through the service, which checks the reason and writes the audit row."""
        try:
            created = grants.grant_access(
                patient=form.cleaned_data["patient"],
                provider=form.cleaned_data["provider"],
                reason=form.cleaned_data["reason"],
                ends_at=form.cleaned_data.get("ends_at"),
                actor=request.user,
                request=request,
                channel="admin",
            )
        except DomainError as exc:
            self.message_user(request, exc.detail, messages.ERROR)
            return
        obj.pk = created.pk

    @admin.action(description="Revoke the selected grants")
    def revoke(self, request: HttpRequest, queryset) -> None:
        for grant in queryset:
            grants.revoke_grant(grant, actor=request.user, request=request, channel="admin")


class ManagersReadOnlyAdmin(admin.ModelAdmin):
    """A log that managers read and nobody adds to, changes or deletes from here."""

    def get_readonly_fields(self, request, obj=None):
        return [field.name for field in self.model._meta.fields]

    def has_view_permission(self, request, obj=None) -> bool:
        return roles.is_manager(request.user)

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(EmergencyAccess)
class EmergencyAccessAdmin(ManagersReadOnlyAdmin):
    """Every "break the glass": who opened which record, when and why. Managers review it; rows
    are written only by clinicians through the API, never here."""

    list_display = ["opened_at", "patient", "provider", "opened_by", "reason", "expires_at"]
    list_select_related = ["patient", "provider__discipline", "opened_by"]
    search_fields = ["patient__last_name", "patient__email", "provider__display_name", "reason"]
    date_hierarchy = "opened_at"


@admin.register(AuditEvent)
class AuditEventAdmin(ManagersReadOnlyAdmin):
    """The audit log: managers read it; nobody adds, changes or deletes a row."""

    list_display = ["occurred_at", "actor_label", "action", "object_type", "object_id", "channel"]
    list_filter = ["action", "object_type", "channel"]
    search_fields = ["actor_label", "object_id", "request_id", "summary"]
    date_hierarchy = "occurred_at"
