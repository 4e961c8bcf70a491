"""Book a series from the admin: ``/admin/schedule/series/`` (linked from the schedule and from a
care plan's page).

One form, two steps: "Preview" shows every planned visit with its conflict and a free time the
same day (``preview_series``), nothing written; "Book" books them (``book_series``), all or only
the free ones. The form parses and calls the services; every refusal is shown in the service's
own words on the field it names (``add_domain_error``). Patients are chosen under the patient
list's rule (``visible_patients``); the booking rule keeps a clinician on their own calendar.
"""

from datetime import datetime

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse

from clinic.errors import DomainError
from clinic.forms import add_domain_error
from clinic.models import Location
from patients.access import visible_patients
from patients.models import Patient
from providers.models import Provider
from scheduling.api.serializers import FIRST_YEAR, LAST_YEAR
from scheduling.models import Service
from scheduling.series_models import MAX_SERIES_VISITS
from scheduling.services import SeriesRule, book_series, preview_series
from scheduling.services.series import WEEKDAY_CODES

WEEKDAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
# The service's field names, as this form calls them.
ALIASES = {
    "rule.by_weekday": "by_weekday",
    "rule.count": "count",
    "rule.until": "until",
    "rule": "count",
    "care_plan": "care_plan",
}


class SeriesForm(forms.Form):
    patient = forms.ModelChoiceField(
        queryset=Patient.objects.none(),
        widget=forms.NumberInput(attrs={"min": 1}),
        help_text="The record number: find the patient above, or open this from their page.",
    )
    service = forms.ModelChoiceField(queryset=Service.objects.filter(is_active=True))
    location = forms.ModelChoiceField(queryset=Location.objects.filter(is_active=True))
    provider = forms.ModelChoiceField(queryset=Provider.objects.filter(is_active=True))
    start = forms.CharField(
        label="First visit",
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}),
        help_text="Local time at the location.",
    )
    by_weekday = forms.MultipleChoiceField(
        label="Weekly on",
        choices=list(zip(WEEKDAY_CODES, WEEKDAY_NAMES, strict=True)),
        widget=forms.CheckboxSelectMultiple,
        required=False,
        help_text="Leave empty with a care plan: its session frequency proposes the days.",
    )
    count = forms.IntegerField(
        label="Number of visits",
        min_value=1,
        max_value=MAX_SERIES_VISITS,
        required=False,
        help_text=f"At most {MAX_SERIES_VISITS}; or give a last date instead.",
    )
    until = forms.DateField(
        label="Last date",
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
    )
    on_conflict = forms.ChoiceField(
        label="When a visit conflicts",
        choices=[("refuse", "Book nothing"), ("skip", "Book only the free visits")],
        initial="refuse",
        widget=forms.RadioSelect,
    )
    care_plan = forms.IntegerField(
        required=False, min_value=1, max_value=2**63 - 1, widget=forms.HiddenInput
    )

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["patient"].queryset = visible_patients(user)

    def clean(self):
        data = super().clean()
        location, raw = data.get("location"), data.get("start")
        if location is not None and raw:
            try:
                naive = datetime.fromisoformat(raw)
            except ValueError:
                self.add_error("start", "Give a date and time, e.g. 2027-01-12T10:00.")
            else:
                if FIRST_YEAR <= naive.year <= LAST_YEAR:
                    data["start_at"] = naive.replace(tzinfo=location.zone)
                else:
                    self.add_error("start", f"Give a date between {FIRST_YEAR} and {LAST_YEAR}.")
        return data

    def service_kwargs(self, user) -> dict:
        data = self.cleaned_data
        rule = None
        if data["by_weekday"] or data.get("count") or data.get("until"):
            rule = SeriesRule(
                by_weekday=tuple(data["by_weekday"]),
                count=data.get("count"),
                until=data.get("until"),
            )
        return {
            "service": data["service"],
            "location": data["location"],
            "provider": data["provider"],
            "patient": data["patient"],
            "start": data["start_at"],
            "rule": rule,
            "care_plan_id": data.get("care_plan"),
            "actor": user,
        }


def series_view(request: HttpRequest) -> HttpResponse:
    """GET: the form (prefilled from the query: patient, provider, location, service,
    care_plan); POST ``action=preview`` or ``action=book``. Times are written out in the
    location's zone here: the admin's own zone is the server's."""
    if not request.user.has_perm("scheduling.add_appointment"):
        raise PermissionDenied
    if request.method == "POST":
        form = SeriesForm(request.POST, user=request.user)
    else:
        form = SeriesForm(initial=request.GET.dict(), user=request.user)
    plan = None
    if request.method == "POST" and form.is_valid():
        kwargs = form.service_kwargs(request.user)
        try:
            if request.POST.get("action") == "book":
                booking = book_series(
                    **kwargs,
                    on_conflict=form.cleaned_data["on_conflict"],
                    request=request,
                    channel="admin",
                )
                skipped = f", {len(booking.skipped)} skipped" if booking.skipped else ""
                messages.success(
                    request, f"Series booked: {len(booking.appointments)} visits{skipped}."
                )
                first = booking.appointments[0].local_start.date()
                location = booking.series.location_id
                url = reverse("admin-schedule")
                return HttpResponseRedirect(f"{url}?location={location}&date={first:%Y-%m-%d}")
            plan = preview_series(**kwargs)
        except DomainError as error:
            add_domain_error(form, error, ALIASES)
    zone = plan.location.zone if plan else None
    context = {
        **admin.site.each_context(request),
        "title": "Book a series of visits",
        "form": form,
        "plan": plan,
        "visits": [
            {
                "number": v.index + 1,
                "when": f"{v.start.astimezone(zone):%a %d %b %Y, %H:%M %Z}",
                "conflict": v.conflict,
                "alternative": f"{v.alternative.astimezone(zone):%H:%M %Z}"
                if v.alternative
                else "",
            }
            for v in (plan.visits if plan else [])
        ],
        "free": sum(1 for v in plan.visits if v.free) if plan else 0,
    }
    return TemplateResponse(request, "admin/scheduling/series.html", context)


urlpatterns = [path("", admin.site.admin_view(series_view), name="admin-series")]
