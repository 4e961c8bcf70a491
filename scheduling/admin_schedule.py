"""The front desk's day in the admin: ``/admin/schedule/?location=&date=&view=day|week``.

A server-rendered grid from ``scheduling.schedule`` (the staff API's selector) and a small
script (``scheduling/schedule.js``) for the panels. Every change posts to ``book`` or ``act``
here, which call the booking services (one booking rule for the widget, the API and the desk)
and show each refusal as an admin message on the schedule. The page never shows a visit's
reason: the appointment page does, to the roles that may read it.
"""

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_POST

from clinic.errors import DomainError, FieldProblem, ValidationProblem
from clinic.models import Location
from patients.access import visible_patients
from patients.models import Patient
from patients.services import create_patient
from providers.models import Provider
from scheduling import schedule as calendar
from scheduling import selectors, services
from scheduling.availability import search
from scheduling.models import BLOCKING_STATUSES, UPCOMING_STATUSES, Appointment, Service
from scheduling.policy import resolve_policy

STEP = timedelta(minutes=15)
LOCATION_KEY = "schedule_location"
DAY, WEEK = "day", "week"
ACTIONS = {
    "confirm": "Confirmed",
    "arrive": "Checked in",
    "complete": "Completed",
    "no_show": "Marked as a no-show",
}


def _need(request: HttpRequest, action: str) -> None:
    if not request.user.has_perm(f"scheduling.{action}_appointment"):
        raise PermissionDenied


def _parse_local(value: str, location: Location) -> datetime | None:
    """A ``datetime-local`` value (``2027-01-12T10:00``) as wall-clock time at the location."""
    try:
        naive = datetime.fromisoformat(value)
    except (TypeError, ValueError):
        return None
    if not FIRST_YEAR <= naive.year <= LAST_YEAR:
        return None
    return naive.replace(tzinfo=location.zone) if naive.tzinfo is None else naive


# The years a desk can page to; outside them a week's arithmetic leaves what a date holds.
FIRST_YEAR, LAST_YEAR = 2000, 2100


def _local_date(value: str) -> date | None:
    """A ``?date=`` within the years the schedule pages through, else None."""
    try:
        day = date.fromisoformat(value)
    except (TypeError, ValueError):
        return None
    return day if FIRST_YEAR <= day.year <= LAST_YEAR else None


def _pk(value: str | None) -> int:
    """A posted id; anything but ASCII digits is 0, which finds nothing (a 404, never a 500)."""
    value = value or ""
    return int(value) if value.isascii() and value.isdigit() and len(value) <= 18 else 0


def _back(request: HttpRequest) -> HttpResponseRedirect:
    target = request.POST.get("next") or request.GET.get("next", "")
    if not url_has_allowed_host_and_scheme(target, {request.get_host()}, request.is_secure()):
        target = reverse("admin-schedule")
    return HttpResponseRedirect(target)


def _refused(request: HttpRequest, exc: DomainError) -> HttpResponseRedirect:
    messages.error(request, exc.detail)
    return _back(request)


# --- The grid -------------------------------------------------------------------------------


@dataclass
class Block:
    """Appointments overlapping in one column, shown as one cell; a group class's participants
    share a session."""

    start: datetime
    end: datetime
    sessions: list[list[calendar.Entry]] = field(default_factory=list)


def _sessions(entries: list[calendar.Entry]) -> list[list[calendar.Entry]]:
    """The column's live appointments by session, in time order: a group class's participants
    together, each one-to-one visit alone."""
    sessions: dict[str, list[calendar.Entry]] = {}
    for entry in entries:
        if entry.appointment.status in BLOCKING_STATUSES:
            sessions.setdefault(entry.appointment.slot_key, []).append(entry)
    return sorted(sessions.values(), key=lambda s: s[0].appointment.start)


def _blocks(entries: list[calendar.Entry]) -> list[Block]:
    blocks: list[Block] = []
    for session in _sessions(entries):
        first = session[0].appointment
        if blocks and first.start < blocks[-1].end:
            blocks[-1].sessions.append(session)
            blocks[-1].end = max(blocks[-1].end, first.end)
        else:
            blocks.append(Block(first.start, first.end, [session]))
    return blocks


def _inside(at: datetime, intervals) -> bool:
    return any(start <= at < end for start, end in intervals)


def _day_rows(day: calendar.Day, location: Location, now: datetime) -> list[dict]:
    """15-minute rows (local time) from the day's first to last hour of work or appointments;
    each column's cells: a block (with its row span), free working time, time off, or off."""
    zone = location.zone
    starts = [w[0] for c in day.columns for w in c.working] + [
        e.appointment.start for c in day.columns for e in c.entries
    ]
    ends = [w[1] for c in day.columns for w in c.working] + [
        e.appointment.end for c in day.columns for e in c.entries
    ]
    first_hour = min([8, *(s.astimezone(zone).hour for s in starts)])
    last = max([datetime.combine(day.date, datetime.min.time(), zone).replace(hour=18), *ends])
    at = datetime.combine(day.date, datetime.min.time(), zone).replace(hour=first_hour)
    end = min(last.astimezone(zone), day.end.astimezone(zone))
    times: list[datetime] = []
    while at < end:
        times.append(at)
        at = (at.astimezone(UTC) + STEP).astimezone(zone)
    columns: list[list[dict]] = []
    for column in day.columns:
        blocks = _blocks(column.entries)
        cells: list[dict] = []
        covered_until = None
        for at in times:
            if covered_until is not None and at < covered_until:
                continue
            block = next((b for b in blocks if at <= b.start < at + STEP), None)
            if block is not None:
                span = max(1, -(-(block.end - at) // STEP))
                covered_until = at + span * STEP
                cells.append({"block": block, "rowspan": span, "at": at})
            elif column.provider and _inside(at, column.working):
                past = at <= now  # nobody is booked into time that has gone
                cells.append(
                    {"free": not past, "past": past, "at": at, "provider": column.provider}
                )
            elif _inside(at, column.time_off):
                cells.append({"time_off": True, "at": at})
            else:
                cells.append({"off": True, "at": at})
        columns.append(cells)
    # A table row holds the cells that start at its time (row spans cover the others).
    by_time: list[list[dict]] = [[] for _ in times]
    index = {t: i for i, t in enumerate(times)}
    for cells in columns:
        for cell in cells:
            by_time[index[cell["at"]]].append(cell)
    return [{"time": t, "cells": cells} for t, cells in zip(times, by_time, strict=True)]


def _policies(entries, location: Location) -> dict:
    """The booking policy of each service on the page (for the late-cancellation flag): one
    read per service, not per appointment."""
    policies = {}
    for entry in entries:
        service = entry.appointment.service
        if service.pk not in policies:
            policies[service.pk] = resolve_policy(service, location)
    return policies


def _panel_data(entries, location: Location, now: datetime) -> dict[int, dict]:
    """What the appointment panel shows: no reason, no clinical content."""
    policies = _policies(entries, location)
    zone = location.zone
    data = {}
    for entry in entries:
        a = entry.appointment
        upcoming = a.status in UPCOMING_STATUSES
        data[a.pk] = {
            "id": a.pk,
            "reference": a.reference,
            "patient": a.patient.full_name,
            "patient_url": reverse("admin:patients_patient_change", args=[a.patient_id]),
            "service": a.service.name,
            "status": a.get_status_display(),
            "when": f"{a.start.astimezone(zone):%a %d %b %H:%M}-{a.end.astimezone(zone):%H:%M}",
            "room": a.room.name if a.room_id else "",
            "seats": f"{entry.spots_taken} of {entry.capacity}" if entry.capacity > 1 else "",
            "late": upcoming and now >= policies[a.service_id].late_cancellation_starts(a.start),
            "actions": [
                name for name, allowed in services.TRANSITIONS.items() if a.status in allowed[0]
            ]
            + (["cancel", "reschedule"] if upcoming else []),
            "date": f"{a.start.astimezone(zone):%Y-%m-%d}",
            "url": reverse("admin:scheduling_appointment_change", args=[a.pk]),
        }
    return data


# --- Views ----------------------------------------------------------------------------------


def schedule_view(request: HttpRequest) -> HttpResponse:
    """The grid: providers (or rooms) as columns for a day, or providers by days for a week."""
    _need(request, "view")
    locations = list(Location.objects.filter(is_active=True).order_by("is_virtual", "name"))
    today = timezone.localdate()
    wanted = request.GET.get("location") or str(request.session.get(LOCATION_KEY, ""))
    location = next((loc for loc in locations if str(loc.pk) == wanted), None)
    if location is None:
        location = calendar.default_location(request.user, today)
    elif request.GET.get("location"):
        request.session[LOCATION_KEY] = location.pk  # the desk's location from now on
    if location is None:
        messages.info(request, "Add a location to see its schedule.")
        return HttpResponseRedirect(reverse("admin:index"))
    zone = location.zone
    day = _local_date(request.GET.get("date", "")) or timezone.localdate(timezone=zone)
    view = WEEK if request.GET.get("view") == WEEK else DAY
    by = (
        calendar.BY_ROOM if request.GET.get("columns") == calendar.BY_ROOM else calendar.BY_PROVIDER
    )
    if view == WEEK:
        by, first, days = calendar.BY_PROVIDER, day - timedelta(days=day.weekday()), 7
    else:
        first, days = day, 1
    try:
        provider = calendar.column_provider_for(request.user, None)
    except DomainError as exc:
        messages.error(request, exc.detail)
        return HttpResponseRedirect(reverse("admin:index"))
    schedule = calendar.schedule_for(
        location=location, first=first, days=days, provider=provider, by=by
    )
    entries = [e for d in schedule.days for c in d.columns for e in c.entries]
    now = timezone.now()
    context = {
        **admin.site.each_context(request),
        "title": (
            f"Schedule: {location.name}, "
            + (f"week of {first:%A %d %B %Y}" if view == WEEK else f"{day:%A %d %B %Y}")
        ),
        "location": location,
        "locations": locations,
        "day": day,
        "view": view,
        "by": by,
        "schedule": schedule,
        "step": (7 if view == WEEK else 1),
        "previous": day - timedelta(days=7 if view == WEEK else 1),
        "next": day + timedelta(days=7 if view == WEEK else 1),
        "today": timezone.localdate(timezone=zone),
        "can_book": request.user.has_perm("scheduling.add_appointment"),
        "can_change": request.user.has_perm("scheduling.change_appointment"),
        "can_add_patient": request.user.has_perm("patients.add_patient"),
        "panels": _panel_data(entries, location, now),
        "cancelled": [e for e in entries if e.appointment.status == Appointment.Status.CANCELLED],
    }
    if view == DAY:
        only = schedule.days[0]
        context["rows"] = _day_rows(only, location, now)
        context["columns"] = only.columns
        context["closed"] = only
    else:
        context["week"] = _week(schedule)
    ids = [p.pk for p in schedule.providers]
    bookable = calendar.bookable_services(location, ids, day) if context["can_book"] else {}
    context["services"] = sorted(
        {s for found in bookable.values() for s in found}, key=lambda s: s.name
    )
    context["bookable"] = {pid: [s.pk for s in found] for pid, found in bookable.items()}
    return TemplateResponse(request, "admin/scheduling/schedule.html", context)


def _week(schedule: calendar.Schedule) -> list[dict]:
    """Rows per provider, a cell per day with that day's hours and appointments."""
    rows = []
    for provider in schedule.providers:
        cells = []
        for day in schedule.days:
            column = next((c for c in day.columns if c.provider == provider), None)
            sessions = _sessions(column.entries) if column else []
            cells.append({"day": day, "column": column, "sessions": sessions})
        rows.append({"provider": provider, "cells": cells})
    return rows


NEW_PATIENT_FIELDS = ("first_name", "last_name", "email", "phone", "date_of_birth")


def _new_patient(request: HttpRequest) -> dict[str, object] | None:
    """The booking panel's "new patient" fields, or None when none was filled in. Only staff who
    may register patients get them; a date of birth that is not a date is refused here."""
    fields = {name: request.POST.get(f"new_{name}", "").strip() for name in NEW_PATIENT_FIELDS}
    if not any(fields.values()):
        return None
    if not request.user.has_perm("patients.add_patient"):
        raise PermissionDenied
    if fields["date_of_birth"]:
        try:
            fields["date_of_birth"] = date.fromisoformat(fields["date_of_birth"])
        except ValueError:
            raise ValidationProblem(
                "The date of birth is not a date.",
                [FieldProblem("date_of_birth", "invalid", "Give the date as YYYY-MM-DD.")],
            ) from None
    return {name: value for name, value in fields.items() if value}


@require_POST
def book_view(request: HttpRequest) -> HttpResponse:
    """Book a patient into free time through ``book_appointment``; a person not yet registered
    is registered through ``create_patient`` in the same transaction, so a refused booking
    leaves no new record behind."""
    _need(request, "add")
    location = get_object_or_404(Location, pk=_pk(request.POST.get("location")))
    provider = get_object_or_404(Provider, pk=_pk(request.POST.get("provider")))
    patient = visible_patients(request.user).filter(pk=_pk(request.POST.get("patient"))).first()
    try:
        new_patient = None if patient else _new_patient(request)
    except DomainError as exc:
        return _refused(request, exc)
    service = Service.objects.filter(pk=_pk(request.POST.get("service"))).first()
    start = _parse_local(request.POST.get("start", ""), location)
    missing = [
        label
        for label, value in (
            ("a patient", patient or new_patient),
            ("a service", service),
            ("a start", start),
        )
        if value is None
    ]
    if missing:
        messages.error(request, f"Choose {' and '.join(missing)} to book.")
        return _back(request)
    try:
        with transaction.atomic():
            if patient is None:
                patient = create_patient(
                    actor=request.user, request=request, channel="admin", **new_patient
                )
            appointment = services.book_appointment(
                service=service,
                location=location,
                start=start,
                patient=patient,
                provider=provider,
                source=Appointment.Source.STAFF,
                actor=request.user,
            )
    except DomainError as exc:
        return _refused(request, exc)
    messages.success(
        request,
        f"Booked {patient.full_name} for {service.name} with {provider.display_name} at "
        f"{appointment.local_start:%a %d %b %H:%M} ({appointment.reference}).",
    )
    return _back(request)


@require_POST
def act_view(request: HttpRequest, pk: int) -> HttpResponse:
    """Confirm, check in, complete, no-show, cancel or move one appointment."""
    _need(request, "change")
    appointment = get_object_or_404(selectors.appointments_for(request.user), pk=pk)
    action = request.POST.get("action", "")
    try:
        if action in ACTIONS:
            services.change_status(appointment, action, actor=request.user)
            done = ACTIONS[action]
        elif action == "cancel":
            reason = request.POST.get("reason", "").strip()
            if "\x00" in reason:
                messages.error(request, "The reason may not contain NUL characters.")
                return _back(request)
            cancelled = services.cancel_appointment(appointment, reason=reason, actor=request.user)
            done = "Cancelled (late cancellation)" if cancelled.late_cancellation else "Cancelled"
        elif action == "reschedule":
            provider = appointment.provider
            if request.POST.get("provider"):
                provider = get_object_or_404(Provider, pk=_pk(request.POST["provider"]))
            start = _parse_local(request.POST.get("start", ""), appointment.location)
            if start is None:
                messages.error(request, "Choose a new time.")
                return _back(request)
            moved = services.reschedule_appointment(
                appointment,
                start=start,
                provider=provider,
                actor=request.user,
            )
            done = f"Moved to {moved.local_start:%a %d %b %H:%M} with {moved.provider.display_name}"
        else:
            messages.error(request, "Unknown action.")
            return _back(request)
    except DomainError as exc:
        return _refused(request, exc)
    messages.success(request, f"{done}: {appointment.reference}, {appointment.patient.full_name}.")
    return _back(request)


@require_GET
def times_view(request: HttpRequest, pk: int) -> JsonResponse:
    """Free start times for moving an appointment on a local date (its own time counts as
    free), from the same availability search a booking is judged by."""
    _need(request, "change")
    appointment = get_object_or_404(selectors.appointments_for(request.user), pk=pk)
    location = appointment.location
    day = _local_date(request.GET.get("date", ""))
    if day is None:
        return JsonResponse(
            {"times": [], "error": f"Give a date as YYYY-MM-DD, {FIRST_YEAR} to {LAST_YEAR}."},
            status=400,
        )
    result = search(
        service=appointment.service,
        location=location,
        start_date=day,
        end_date=day,
        provider_ids=[appointment.provider_id],
        online=False,
        ignore_appointment_id=appointment.pk,
    )
    zone = location.zone
    return JsonResponse(
        {
            "times": [
                {
                    "value": f"{slot.start.astimezone(zone):%Y-%m-%dT%H:%M}",
                    "label": f"{slot.start.astimezone(zone):%H:%M}",
                }
                for slot in result.slots
            ]
        }
    )


@require_GET
def patients_view(request: HttpRequest) -> JsonResponse:
    """The booking panel's patient quick search, within the patient visibility rule."""
    _need(request, "add")
    patients = visible_patients(request.user)
    found = selectors.quick_search(patients, request.GET.get("q", ""))
    return JsonResponse(
        {
            "patients": [
                {
                    "id": p.pk,
                    "label": " · ".join(
                        part
                        for part in (
                            p.full_name,
                            f"{p.date_of_birth:%Y-%m-%d}" if p.date_of_birth else "",
                            p.phone,
                        )
                        if part
                    ),
                }
                for p in found
            ]
        }
    )


@require_GET
def search_view(request: HttpRequest) -> HttpResponse:
    """The search box on every admin page: patients by name, e-mail, phone, date of birth or
    booking reference, as far as the patient visibility rule lets this user see them."""
    patient_admin = admin.site._registry[Patient]
    if not patient_admin.has_view_permission(request):
        raise PermissionDenied
    text = request.GET.get("q", "")
    found = selectors.quick_search(visible_patients(request.user), text)
    context = {
        **admin.site.each_context(request),
        "title": f"Search: {text}" if text else "Search",
        "q": text,
        "patients": found,
    }
    return TemplateResponse(request, "admin/scheduling/search.html", context)


def _staff(view):
    return admin.site.admin_view(view)


urlpatterns = [
    path("", _staff(schedule_view), name="admin-schedule"),
    path("book/", _staff(book_view), name="admin-schedule-book"),
    path("appointments/<int:pk>/", _staff(act_view), name="admin-schedule-act"),
    path("appointments/<int:pk>/times/", _staff(times_view), name="admin-schedule-times"),
    path("patients/", _staff(patients_view), name="admin-schedule-patients"),
    path("search/", _staff(search_view), name="admin-search"),
]
