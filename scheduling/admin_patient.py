"""The patient's page in the admin, from scheduling's side: upcoming and past visits with their
status, the patient's call-back requests, and "Book for this patient". Registered onto the
patients app's ``PatientAdmin`` here, so patients keeps knowing nothing of scheduling.

Who sees which rows is decided elsewhere: the page itself by the patient visibility rule
(``PatientAdmin.get_queryset``), visits by ``selectors.appointments_for`` (clinicians their own
schedule), call-backs by the role permissions (front desk and managers). No visit reason here.
"""

from django.contrib import admin
from django.http import HttpRequest
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html

from patients.admin import PatientAdmin
from scheduling import selectors
from scheduling.models import Appointment, CallbackRequest


class _ReadOnly(admin.TabularInline):
    extra = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_view_permission(self, request, obj=None) -> bool:
        """Shown, never submitted: a save of the patient's details does not carry these rows
        (nor need their management forms)."""
        return request.method in ("GET", "HEAD") and super().has_view_permission(request, obj)


class _Visits(_ReadOnly):
    model = Appointment
    fields = ["when", "service", "provider", "location", "status", "reference"]
    readonly_fields = fields
    upcoming = True

    def get_queryset(self, request: HttpRequest):
        now = timezone.now()
        qs = selectors.appointments_for(request.user).select_related("provider__discipline")
        if self.upcoming:
            return qs.filter(start__gte=now).order_by("start", "id")
        return qs.filter(start__lt=now).order_by("-start", "-id")

    @admin.display(description="when (local)")
    def when(self, appointment: Appointment) -> str:
        return appointment.local_start.strftime("%a %Y-%m-%d %H:%M %Z")


class UpcomingVisitsInline(_Visits):
    verbose_name = "upcoming visit"
    verbose_name_plural = "upcoming visits"


class PastVisitsInline(_Visits):
    verbose_name = "past visit"
    verbose_name_plural = "past visits"
    upcoming = False


class CallbackInline(_ReadOnly):
    model = CallbackRequest
    verbose_name = "call-back request"
    verbose_name_plural = "call-back requests"
    fields = ["created_at", "status", "preferred_time", "handled_by", "handled_at"]
    readonly_fields = fields


def book_for_patient(patient_admin: PatientAdmin, patient) -> str:
    """The links that open the booking form, and the series form, with this patient chosen."""
    return format_html(
        '<a class="button" href="{}?patient={}">Book for this patient</a> '
        '<a class="button" href="{}?patient={}">Book a series</a>',
        reverse("admin:scheduling_appointment_add"),
        patient.pk,
        reverse("admin-series"),
        patient.pk,
    )


book_for_patient.short_description = "booking"

PatientAdmin.inlines = [
    *PatientAdmin.inlines,
    UpcomingVisitsInline,
    PastVisitsInline,
    CallbackInline,
]
PatientAdmin.book = book_for_patient
PatientAdmin.readonly_fields = [*PatientAdmin.readonly_fields, "book"]
