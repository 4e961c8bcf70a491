"""Admin for visit notes and their templates.

"Write note" on an appointment's page (``write/<appointment>/``) starts the visit's note with the
template of the author's discipline, or opens it when it exists. The note's page is a form built
from the template's fields; saving autosaves the draft, "Sign" signs it, and a signed note offers
only an addendum. Every change goes through ``plans.notes.lifecycle``, so the admin refuses what
the API refuses (scope, precautions, signed notes), shown as form errors. Front desk has no
access; clinicians see their own notes and their patients'; each page is audited.
"""

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse

from clinic.audit import AuditedAdminMixin, record_event
from clinic.errors import DomainError
from clinic.models import AuditEvent
from patients.access import provider_for, sees_clinical_content
from plans.models import BodyRegion, FieldKind, NoteTemplate, TemplateField, VisitNote
from plans.notes import lifecycle, selectors
from providers.models import Act
from scheduling import admin_links
from scheduling.models import Appointment

TEXTAREA = forms.Textarea(attrs={"rows": 3, "cols": 80})


def _name(section: str, key: str) -> str:
    return f"{section}__{key}"


def _form_field(field: TemplateField) -> forms.Field:
    common = {"label": field.label, "required": False, "help_text": field.help_text}
    kind = field.kind
    if kind in (FieldKind.TEXT, FieldKind.DIAGNOSIS):
        return forms.CharField(widget=TEXTAREA, max_length=10_000, **common)
    if kind == FieldKind.PAIN:
        return forms.IntegerField(min_value=0, max_value=10, **common)
    if kind == FieldKind.NUMBER:
        return forms.DecimalField(max_digits=8, decimal_places=2, **common)
    if kind == FieldKind.BODY_REGIONS:
        return forms.MultipleChoiceField(
            choices=BodyRegion.choices, widget=forms.CheckboxSelectMultiple, **common
        )
    if kind == FieldKind.CHOICE:
        choices = [("", "---------")] + [(o, o) for o in field.options]
        return forms.ChoiceField(choices=choices, **common)
    if kind == FieldKind.MULTI_CHOICE:
        return forms.MultipleChoiceField(
            choices=[(o, o) for o in field.options], widget=forms.CheckboxSelectMultiple, **common
        )
    if kind == FieldKind.INTERVENTIONS:
        return forms.MultipleChoiceField(
            choices=list(Act.objects.values_list("code", "name")),
            widget=forms.CheckboxSelectMultiple,
            **common,
        )
    hint = {
        FieldKind.RANGE_OF_MOTION: 'e.g. [{"movement": "Knee flexion", "degrees": 110}]',
        FieldKind.EXERCISES: 'e.g. [{"exercise": 12, "sets": 3, "reps": 10, "tolerance": "well"}]',
    }.get(kind, "")
    common["help_text"] = common["help_text"] or hint
    return forms.JSONField(widget=TEXTAREA, **common)


class NoteForm(forms.Form):
    """One form field per template field, named ``<section>__<key>``."""

    def __init__(self, *args, note: VisitNote, **kwargs):
        super().__init__(*args, **kwargs)
        self.note = note
        for field in note.template.fields.all():
            name = _name(field.section, field.key)
            self.fields[name] = _form_field(field)
            self.initial[name] = (note.content.get(field.section) or {}).get(field.key)
        if note.is_signed:
            for form_field in self.fields.values():
                form_field.disabled = True
            self.fields["addendum"] = forms.CharField(
                label="Addendum (signed and dated when saved)",
                widget=TEXTAREA,
                required=False,
                max_length=10_000,
            )

    def content(self) -> dict:
        content: dict[str, dict] = {}
        for field in self.note.template.fields.all():
            value = self.cleaned_data.get(_name(field.section, field.key))
            if value not in (None, "", []):
                if field.kind == FieldKind.NUMBER:
                    value = float(value)
                content.setdefault(field.section, {})[field.key] = value
        return content

    def add_refusal(self, error: DomainError) -> None:
        self.add_error(None, error.detail)
        for problem in error.errors:
            parts = problem.field.split(".")
            if len(parts) >= 3 and parts[0] == "content":
                name = _name(parts[1], parts[2].split("[")[0])
                if name in self.fields:
                    self.add_error(name, f"{problem.code}: {problem.message}")


def _write_link(request: HttpRequest, appointment: Appointment) -> tuple[str, str] | None:
    """The appointment page's "Write note" (or "Open note"), for its provider and readers."""
    provider = provider_for(request.user)
    if provider is None or provider.pk != appointment.provider_id:
        note = VisitNote.objects.filter(appointment=appointment).first()
        visible = note and selectors.visible_notes(request.user).filter(pk=note.pk).exists()
        if not visible:
            return None
        return "Open note", reverse("admin:plans_visitnote_change", args=[note.pk])
    if appointment.status == Appointment.Status.CANCELLED:
        return None
    return "Write note", reverse("admin:plans_visitnote_write", args=[appointment.pk])


admin_links.register(_write_link)


class TemplateFieldInline(admin.TabularInline):
    model = TemplateField
    extra = 1
    fields = ["section", "key", "label", "kind", "options", "act", "help_text", "position"]


@admin.register(NoteTemplate)
class NoteTemplateAdmin(admin.ModelAdmin):
    """Clinics add fields here, without code; an act on a field makes filling it a scope check."""

    list_display = ["name", "discipline"]
    list_select_related = ["discipline"]
    inlines = [TemplateFieldInline]


@admin.register(VisitNote)
class VisitNoteAdmin(AuditedAdminMixin, admin.ModelAdmin):
    list_display = ["id", "visit_at", "patient", "author", "status", "is_late"]
    list_filter = ["status", "is_late"]
    list_select_related = ["patient", "author__discipline"]
    date_hierarchy = "visit_at"
    audit_patient_path = "patient_id"

    def get_queryset(self, request: HttpRequest):
        return selectors.visible_notes(request.user).select_related("template", "location")

    def has_module_permission(self, request: HttpRequest) -> bool:
        return sees_clinical_content(request.user) and super().has_module_permission(request)

    def has_view_permission(self, request: HttpRequest, obj=None) -> bool:
        return sees_clinical_content(request.user) and super().has_view_permission(request, obj)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # a note starts from its appointment ("Write note")

    def get_readonly_fields(self, request: HttpRequest, obj=None) -> list[str]:
        """Every field: a note is written through its own page (``change_view``) and the
        lifecycle services, never through a model form (so no patient chooser either)."""
        return [field.name for field in self.model._meta.fields]

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def get_urls(self):
        write = path(
            "write/<int:appointment_id>/",
            self.admin_site.admin_view(self.write_view),
            name="plans_visitnote_write",
        )
        return [write, *super().get_urls()]

    def write_view(self, request: HttpRequest, appointment_id: int) -> HttpResponse:
        if not sees_clinical_content(request.user):
            raise PermissionDenied
        appointment = get_object_or_404(Appointment, pk=appointment_id)
        note = VisitNote.objects.filter(appointment=appointment).first()
        if note is None:
            try:
                note = lifecycle.start_note(
                    appointment, user=request.user, request=request, channel="admin"
                )
            except DomainError as error:
                if error.status in (403, 404):
                    raise PermissionDenied from error
                self.message_user(request, error.detail, messages.ERROR)
                return HttpResponseRedirect(reverse("admin:plans_visitnote_changelist"))
        return HttpResponseRedirect(reverse("admin:plans_visitnote_change", args=[note.pk]))

    def change_view(self, request: HttpRequest, object_id, form_url="", extra_context=None):
        if not self.has_view_permission(request):
            raise PermissionDenied
        ident = str(object_id)
        numeric = ident.isascii() and ident.isdigit() and len(ident) <= 18
        note = self.get_queryset(request).filter(pk=int(ident)).first() if numeric else None
        if note is None:
            raise Http404("No such visit note.")
        form = NoteForm(request.POST or None, note=note)
        if request.method == "POST":
            if form.is_valid() and self._save(request, note, form):
                return HttpResponseRedirect(request.path)
        else:
            record_event(
                actor=request.user,
                action=AuditEvent.Action.READ,
                object_type=lifecycle.OBJECT_TYPE,
                object_id=note.pk,
                patient_id=note.patient_id,
                request=request,
                summary="admin page",
                channel="admin",
            )
        context = {
            **self.admin_site.each_context(request),
            "title": f"Visit note: {note.appointment.service.name}, {note.visit_at:%Y-%m-%d}",
            "note": note,
            "form": form,
            "opts": self.model._meta,
            "precautions": selectors.precautions_for(note),
            "interventions": selectors.intervention_match(note),
            "addenda": note.addenda.select_related("author"),
            "may_write": provider_for(request.user) == note.author,
        }
        return TemplateResponse(request, "admin/plans/visitnote/note.html", context)

    def _save(self, request: HttpRequest, note: VisitNote, form: NoteForm) -> bool:
        try:
            if note.is_signed:
                text = form.cleaned_data.get("addendum", "")
                lifecycle.add_addendum(
                    note, user=request.user, text=text, request=request, channel="admin"
                )
                self.message_user(request, "Addendum signed.", messages.SUCCESS)
                return True
            note = lifecycle.save_draft(
                note, user=request.user, content=form.content(), request=request, channel="admin"
            )
            if "_sign" in request.POST:
                lifecycle.sign_note(note, user=request.user, request=request, channel="admin")
                self.message_user(request, "Note signed.", messages.SUCCESS)
            else:
                self.message_user(request, "Draft saved.", messages.SUCCESS)
            return True
        except DomainError as error:
            if error.status == 403:
                raise PermissionDenied from error
            form.add_refusal(error)
            return False
