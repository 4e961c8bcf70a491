"""Admin for care plans and the exercise library.

A plan's parts are shown as read-only inlines: every change goes through ``plans.services`` from
the "Plan actions" page (phase transitions, precautions, prescriptions, measures), so the admin
checks scope, role and phase exactly as the API does, and a refusal is shown as a form error.
Front desk never sees plans; clinicians see only their patients' plans; every page is audited.
"""

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html

import plans.admin_patient  # noqa: F401  (care plans on the patient page)
from clinic.audit import AuditedAdminMixin
from clinic.errors import DomainError
from clinic.forms import add_domain_error
from clinic.models import AuditEvent
from patients.access import sees_clinical_content
from plans import selectors, services
from plans.admin_series import book_sessions_link
from plans.models import (
    BodyRegion,
    CarePlan,
    Diagnosis,
    Exercise,
    ExercisePrescription,
    Goal,
    MeasureKind,
    MovementTag,
    OutcomeMeasure,
    PlanEvent,
    PlannedIntervention,
    Precaution,
)
from plans.refer_back_rules import REFER_BACK_DISCIPLINE
from providers.models import Provider


def _clinical(request: HttpRequest) -> bool:
    return sees_clinical_content(request.user)


class ExerciseAdminForm(forms.ModelForm):
    tags = forms.MultipleChoiceField(
        choices=MovementTag.choices, required=False, widget=forms.CheckboxSelectMultiple
    )

    class Meta:
        model = Exercise
        fields = ["slug", "name", "body_region", "category", "instructions", "tags", "is_active"]

    def clean_tags(self) -> list[str]:
        tags = list(self.cleaned_data.get("tags") or [])
        conflicts = services.exercise_tag_conflicts(self.instance, tags)
        if conflicts:
            raise forms.ValidationError(
                ["Prescribed under precautions these tags would break:", *conflicts]
            )
        return tags


@admin.register(Exercise)
class ExerciseAdmin(admin.ModelAdmin):
    form = ExerciseAdminForm
    list_display = ["name", "body_region", "category", "tag_list", "is_active"]
    list_filter = ["body_region", "category", "is_active"]
    search_fields = ["name", "instructions"]
    prepopulated_fields = {"slug": ["name"]}

    @admin.display(description="Tags")
    def tag_list(self, obj: Exercise) -> str:
        return ", ".join(obj.tags)

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


class ReadOnlyInline(admin.TabularInline):
    extra = 0
    can_delete = False
    show_change_link = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_view_permission(self, request, obj=None) -> bool:
        return _clinical(request)


class DiagnosisInline(ReadOnlyInline):
    model = Diagnosis
    fields = ["condition", "body_region", "cause", "notes", "recorded_by", "recorded_at"]
    readonly_fields = fields


class PrecautionInline(ReadOnlyInline):
    model = Precaution
    fields = ["label", "is_active", "recorded_by", "recorded_at"]
    readonly_fields = fields


class GoalInline(ReadOnlyInline):
    model = Goal
    fields = ["kind", "measure", "baseline", "target", "due_date", "met_at"]
    readonly_fields = fields


class InterventionInline(ReadOnlyInline):
    model = PlannedIntervention
    fields = ["act", "description", "is_active"]
    readonly_fields = fields


class PrescriptionInline(ReadOnlyInline):
    model = ExercisePrescription
    fields = ["exercise", "dosage", "notes", "version", "is_active", "prescribed_by"]
    readonly_fields = fields

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("exercise", "prescribed_by")


class MeasureInline(ReadOnlyInline):
    model = OutcomeMeasure
    fields = ["kind", "label", "value", "recorded_at", "recorded_by"]
    readonly_fields = fields


class EventInline(ReadOnlyInline):
    model = PlanEvent
    verbose_name_plural = "history"
    fields = ["at", "actor_label", "kind", "summary", "reason", "before", "after"]
    readonly_fields = fields


ACTIONS = [
    ("record_diagnosis", "Record a diagnosis"),
    ("add_goal", "Set a goal"),
    ("start_rehabilitation", "Start rehabilitation"),
    ("move_to_maintenance", "Move to maintenance"),
    ("refer_back", "Refer back to rehabilitation"),
    ("close", "Close the plan"),
    ("add_precaution", "Add a precaution"),
    ("prescribe", "Prescribe an exercise"),
    ("measure", "Record an outcome measure"),
]


class PlanActionForm(forms.Form):
    """One form for every action; each uses the fields its help text names."""

    action = forms.ChoiceField(choices=ACTIONS)
    condition = forms.CharField(required=False, help_text="Diagnosis")
    body_region = forms.ChoiceField(
        choices=[("", "---"), *BodyRegion.choices], required=False, help_text="Diagnosis"
    )
    cause = forms.ChoiceField(
        choices=[("", "---"), *Diagnosis.Cause.choices], required=False, help_text="Diagnosis"
    )
    goal_measure = forms.CharField(
        required=False, help_text="Goal: what is measured (with the measure kind below)"
    )
    baseline = forms.DecimalField(required=False, decimal_places=1, help_text="Goal")
    target = forms.DecimalField(required=False, decimal_places=1, help_text="Goal")
    due_date = forms.DateField(required=False, help_text="Goal (YYYY-MM-DD)")
    maintenance_owner = forms.ModelChoiceField(
        Provider.objects.filter(is_active=True), required=False, help_text="Move to maintenance"
    )
    override_reason = forms.CharField(
        required=False, widget=forms.Textarea(attrs={"rows": 2}), help_text="Move to maintenance"
    )
    reason = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="Refer back; close (note)",
    )
    pain = forms.DecimalField(
        required=False, min_value=0, max_value=10, decimal_places=1, help_text="Refer back"
    )
    red_flag = forms.BooleanField(required=False, help_text="Refer back")
    physiotherapist = forms.ModelChoiceField(
        Provider.objects.filter(is_active=True, discipline__code=REFER_BACK_DISCIPLINE),
        required=False,
        help_text="Refer back",
    )
    closed_reason = forms.ChoiceField(
        choices=[("", "---"), *CarePlan.ClosedReason.choices], required=False, help_text="Close"
    )
    tags = forms.MultipleChoiceField(
        choices=MovementTag.choices, required=False, help_text="Add a precaution"
    )
    note = forms.CharField(required=False, help_text="Add a precaution; prescribe; measure")
    exercise = forms.ModelChoiceField(
        Exercise.objects.filter(is_active=True), required=False, help_text="Prescribe"
    )
    sets = forms.IntegerField(required=False, min_value=1, help_text="Prescribe")
    reps = forms.IntegerField(required=False, min_value=1, help_text="Prescribe")
    hold_seconds = forms.IntegerField(required=False, min_value=1, help_text="Prescribe")
    load = forms.CharField(required=False, help_text="Prescribe")
    times_per_week = forms.IntegerField(required=False, min_value=1, help_text="Prescribe")
    measure_kind = forms.ChoiceField(
        choices=[("", "---"), *MeasureKind.choices], required=False, help_text="Measure; goal"
    )
    measure_label = forms.CharField(required=False, help_text="Measure")
    value = forms.DecimalField(required=False, decimal_places=1, help_text="Measure")


def run_action(plan: CarePlan, actor: services.Actor, data: dict) -> str:
    """Call the one service the chosen action names; returns what to tell the user."""
    name = data["action"]
    if name == "record_diagnosis":
        services.record_diagnosis(
            plan,
            actor=actor,
            condition=data["condition"],
            body_region=data["body_region"],
            cause=data["cause"],
        )
    elif name == "add_goal":
        if data["due_date"] is None:
            raise forms.ValidationError({"due_date": "Give the goal a due date."})
        services.add_goal(
            plan,
            actor=actor,
            kind=data["measure_kind"],
            measure=data["goal_measure"],
            baseline=data["baseline"],
            target=data["target"],
            due_date=data["due_date"],
        )
    elif name == "start_rehabilitation":
        services.start_rehabilitation(plan, actor=actor)
    elif name == "move_to_maintenance":
        if data["maintenance_owner"] is None:
            raise forms.ValidationError({"maintenance_owner": "Choose the maintenance owner."})
        services.move_to_maintenance(
            plan,
            actor=actor,
            owner=data["maintenance_owner"],
            override_reason=data["override_reason"],
        )
    elif name == "refer_back":
        services.refer_back(
            plan,
            actor=actor,
            reason=data["reason"],
            pain=data["pain"],
            red_flag=data["red_flag"],
            physiotherapist=data["physiotherapist"],
        )
    elif name == "close":
        services.close_plan(plan, actor=actor, reason=data["closed_reason"], note=data["reason"])
    elif name == "add_precaution":
        services.add_precaution(plan, actor=actor, tags=list(data["tags"]), note=data["note"])
    elif name == "prescribe":
        if data["exercise"] is None:
            raise forms.ValidationError({"exercise": "Choose an exercise."})
        services.prescribe_exercise(
            plan,
            actor=actor,
            exercise=data["exercise"],
            sets=data["sets"],
            reps=data["reps"],
            hold_seconds=data["hold_seconds"],
            load=data["load"],
            times_per_week=data["times_per_week"],
            notes=data["note"],
        )
    else:
        services.record_outcome(
            plan,
            actor=actor,
            kind=data["measure_kind"],
            label=data["measure_label"],
            value=data["value"],
            note=data["note"],
        )
    return dict(ACTIONS)[name]


ACTION_ALIASES = {
    "close": {"reason": "closed_reason"},
    "add_goal": {"kind": "measure_kind", "measure": "goal_measure"},
    "measure": {"kind": "measure_kind", "label": "measure_label"},
}


@admin.register(CarePlan)
class CarePlanAdmin(AuditedAdminMixin, admin.ModelAdmin):
    list_display = ["title", "patient", "phase", "lead", "maintenance_owner", "location"]
    list_filter = ["phase", "location"]
    search_fields = ["title", "patient__last_name", "patient__first_name"]
    list_select_related = [
        "patient",
        "lead__discipline",
        "maintenance_owner__discipline",
        "location",
    ]
    readonly_fields = [
        "patient",
        "location",
        "title",
        "phase",
        "lead",
        "maintenance_owner",
        "sessions_per_week",
        "planned_weeks",
        "program_version",
        "closed_reason",
        "closed_note",
        "criteria",
        "actions_link",
        "sessions_link",
    ]
    fields = readonly_fields
    inlines = [
        DiagnosisInline,
        PrecautionInline,
        GoalInline,
        InterventionInline,
        PrescriptionInline,
        MeasureInline,
        EventInline,
    ]

    def get_queryset(self, request):
        return selectors.plans_visible_to(request.user, super().get_queryset(request))

    def has_view_permission(self, request, obj=None) -> bool:
        return _clinical(request) and super().has_view_permission(request, obj)

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    @admin.display(description="Discharge criteria")
    def criteria(self, obj: CarePlan) -> str:
        result = selectors.discharge_criteria(obj)
        return "met" if result.met else "not met: " + " ".join(result.reasons)

    @admin.display(description="Actions")
    def actions_link(self, obj: CarePlan) -> str:
        url = reverse("admin:plans_careplan_actions", args=[obj.pk])
        return format_html('<a class="button" href="{}">Plan actions</a>', url)

    @admin.display(description="Sessions")
    def sessions_link(self, obj: CarePlan) -> str:
        return book_sessions_link(obj)

    def get_urls(self):
        custom = [
            path(
                "<int:object_id>/actions/",
                self.admin_site.admin_view(self.actions_view),
                name="plans_careplan_actions",
            )
        ]
        return custom + super().get_urls()

    def actions_view(self, request: HttpRequest, object_id: int) -> HttpResponse:
        plan = self.get_queryset(request).filter(pk=object_id).first()
        if plan is None or not self.has_view_permission(request, plan):
            raise PermissionDenied
        form = PlanActionForm(request.POST or None)
        if request.method == "GET":
            self._audit(request, AuditEvent.Action.READ, plan, summary="plan actions page")
        if request.method == "POST" and form.is_valid():
            try:
                with transaction.atomic():
                    done = run_action(
                        plan, services.actor_for(request.user, request, "admin"), form.cleaned_data
                    )
            except DomainError as error:
                action = form.cleaned_data.get("action", "")
                add_domain_error(form, error, {"action": "", **ACTION_ALIASES.get(action, {})})
            except forms.ValidationError as error:
                for field, problems in error.message_dict.items():
                    for message in problems:
                        form.add_error(field, message)
            else:
                messages.success(request, f"{done}: done.")
                return HttpResponseRedirect(reverse("admin:plans_careplan_change", args=[plan.pk]))
        context = {
            **self.admin_site.each_context(request),
            "title": f"Plan actions: {plan}",
            "plan": plan,
            "form": form,
            "opts": self.model._meta,
        }
        return TemplateResponse(request, "admin/plans/careplan/actions.html", context)


# Visit notes and their templates (registered on import).
from plans import admin_notes  # noqa: E402, F401
