"""The patient's pages for one booking, opened from the link in every appointment e-mail.

``/manage/<reference>/?token=`` shows the visit in the location's local time, where it is or how
it is joined; from there the patient may cancel (after a confirm step) or move it to a time the
one availability search offers, through the one reschedule service, under the same rules as the
widget's API (late window, undo window, booking policy). Forms carry Django's CSRF token and the
booking's token; a wrong token is the same 404 as the API's (``scheduling.holder``).
"""

from datetime import date, datetime, timedelta
from itertools import groupby
from urllib.parse import urlencode

from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_http_methods

from clinic.errors import DomainError, FieldProblem, NotFoundProblem, ValidationProblem
from clinic.pages import not_found_page, render_page
from scheduling import selectors, services
from scheduling.holder import booking_for_holder
from scheduling.models import UPCOMING_STATUSES, Appointment
from scheduling.notifications import local_label
from scheduling.visit_details import visit_place

WEEK = timedelta(days=7)
# The years a patient can page to or pick; past them the week's arithmetic leaves what a date holds.
FIRST_YEAR, LAST_YEAR = 2000, 2100
DONE_MESSAGES = {
    "cancelled": "Your appointment is cancelled. We have e-mailed you a confirmation.",
    "moved": "Your appointment has moved to the new time. We will e-mail you the details.",
}


def page_url(name: str, appointment: Appointment, **query: str) -> str:
    """A path to one of this booking's pages, with its token."""
    path = reverse(name, args=[appointment.reference])
    return f"{path}?{urlencode({'token': appointment.manage_token, **query})}"


def _token(request: HttpRequest) -> str:
    source = request.POST if request.method == "POST" else request.GET
    return source.get("token", "")


def _may_change(appointment: Appointment, now: datetime) -> bool:
    return appointment.status in UPCOMING_STATUSES and appointment.start > now


def _context(appointment: Appointment, now: datetime) -> dict:
    changeable = _may_change(appointment, now)
    late = changeable and services.is_late(appointment, now)
    return {
        "appointment": appointment,
        "token": appointment.manage_token,
        "when": local_label(appointment.start, appointment),
        "place": visit_place(appointment),
        "status_label": appointment.get_status_display(),
        "is_cancelled": appointment.status == Appointment.Status.CANCELLED,
        "may_change": changeable and not late,
        "too_late": late,
        "manage_url": page_url("manage-booking", appointment),
        "cancel_url": page_url("manage-booking-cancel", appointment),
        "reschedule_url": page_url("manage-booking-reschedule", appointment),
    }


def _render(
    request: HttpRequest, template: str, appointment: Appointment, status: int = 200, **extra
) -> HttpResponse:
    context = {**_context(appointment, timezone.now()), **extra}
    return render_page(
        request,
        f"scheduling/pages/{template}",
        context,
        status=status,
        phone=appointment.location.phone,
    )


def _see_manage_page(appointment: Appointment, done: str) -> HttpResponse:
    """After a change, back to the booking (303: a reload does not post the form again)."""
    response = HttpResponseRedirect(page_url("manage-booking", appointment, done=done))
    response.status_code = 303
    return response


@require_http_methods(["GET", "HEAD"])
def manage_booking(request: HttpRequest, reference: str) -> HttpResponse:
    try:
        appointment = booking_for_holder(reference, _token(request))
    except NotFoundProblem as error:
        return not_found_page(request, error)
    message = DONE_MESSAGES.get(request.GET.get("done", ""), "")
    return _render(request, "manage.html", appointment, message=message)


@require_http_methods(["GET", "HEAD", "POST"])
def cancel_booking(request: HttpRequest, reference: str) -> HttpResponse:
    """GET asks "are you sure?"; only the confirming POST cancels."""
    try:
        appointment = booking_for_holder(reference, _token(request))
    except NotFoundProblem as error:
        return not_found_page(request, error)
    if request.method != "POST":
        return _render(request, "cancel.html", appointment)
    reason = request.POST.get("reason", "")
    try:
        if "\x00" in reason:
            raise ValidationProblem(
                "The reason may not contain NUL characters.",
                [FieldProblem("reason", "invalid", "Remove the NUL characters.")],
            )
        services.cancel_appointment(
            appointment,
            reason=reason,
            by=Appointment.CancelledBy.PATIENT,
            refuse_late=True,
        )
    except DomainError as error:
        return _render(request, "cancel.html", appointment, status=error.status, error=error.detail)
    return _see_manage_page(appointment, "cancelled")


def _first_day(request: HttpRequest, appointment: Appointment, today: date) -> date:
    try:
        day = date.fromisoformat(request.GET.get("from", "") or request.POST.get("from", ""))
    except ValueError:
        day = today
    if day.year > LAST_YEAR:
        day = today
    return max(day, today)


def _slot_days(appointment: Appointment, first: date) -> list[dict]:
    """The provider's free starts for the week from ``first``, grouped by local day."""
    zone = appointment.location.zone
    slots = selectors.public_slots(
        service=appointment.service,
        location=appointment.location,
        start_date=first,
        end_date=first + WEEK - timedelta(days=1),
        provider=appointment.provider,
    )
    local = [s.start.astimezone(zone) for s in slots if s.start != appointment.start]
    days = []
    for day, starts in groupby(local, key=lambda moment: moment.date()):
        times = [
            {
                "value": moment.isoformat(),
                "label": f"{moment:%I:%M %p}".lstrip("0"),
                "id": f"slot-{moment:%Y%m%d%H%M}",
            }
            for moment in starts
        ]
        days.append({"label": f"{day:%A, %B} {day.day}", "times": times})
    return days


def _parse_start(value: str) -> datetime:
    try:
        start = datetime.fromisoformat(value)
    except ValueError:
        start = None
    if start is not None and not FIRST_YEAR <= start.year <= LAST_YEAR:
        start = None
    if start is None or start.tzinfo is None:
        raise ValidationProblem(
            "Choose one of the times listed.",
            [FieldProblem("start", "required", "Choose one of the times listed.")],
        )
    return start


@require_http_methods(["GET", "HEAD", "POST"])
def reschedule_booking(request: HttpRequest, reference: str) -> HttpResponse:
    """A week of real times (the availability search); the chosen one goes through the
    reschedule service, which checks it again under the lock."""
    try:
        appointment = booking_for_holder(reference, _token(request))
    except NotFoundProblem as error:
        return not_found_page(request, error)
    today = timezone.now().astimezone(appointment.location.zone).date()
    first = _first_day(request, appointment, today)
    status, error = 200, ""
    if request.method == "POST":
        try:
            start = _parse_start(request.POST.get("start", ""))
            services.reschedule_appointment(
                appointment,
                start=start,
                source=Appointment.Source.ONLINE,
                refuse_late=True,
            )
        except DomainError as problem:
            status, error = problem.status, problem.detail
            appointment = booking_for_holder(reference, appointment.manage_token)
        else:
            return _see_manage_page(appointment, "moved")
    last = first + WEEK - timedelta(days=1)
    earlier = max(first - WEEK, today)
    return _render(
        request,
        "reschedule.html",
        appointment,
        status=status,
        error=error,
        days=_slot_days(appointment, first) if _may_change(appointment, timezone.now()) else [],
        first=first.isoformat(),
        week_label=f"{first:%A, %B} {first.day} to {last:%A, %B} {last.day}",
        earlier_url=_week_url(appointment, earlier) if first > today else "",
        later_url=_week_url(appointment, first + WEEK),
    )


def _week_url(appointment: Appointment, first: date) -> str:
    return page_url("manage-booking-reschedule", appointment, **{"from": first.isoformat()})
