"""The patient's waitlist pages, opened from the offer e-mail (``/waitlist/<id>/?token=``).

The entry page shows what the patient waits for and the time held for them, with a button that
claims it, asking for what an online booking of the service requires (``required_fields``)
(a POST: mail scanners that follow links claim nothing); the withdraw page asks
"are you sure?" and only its POST takes the entry off the list; the confirm page (the link of a
widget entry's confirmation e-mail) confirms the place on its button's POST only. Same token
check and same 404 for a wrong token as the widget's API
(``scheduling.waitlist_selectors.entry_for_holder``).
"""

from datetime import date
from urllib.parse import urlencode

from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django.utils.dateparse import parse_date
from django.views.decorators.http import require_http_methods

from clinic.errors import DomainError, NotFoundProblem
from clinic.pages import not_found_page, render_page
from clinic.validators import validate_date_of_birth
from notifications import clock
from scheduling import services
from scheduling.patient_pages import page_url
from scheduling.requirements import DATE_OF_BIRTH, REASON, required_fields
from scheduling.waitlist_models import WaitlistEntry
from scheduling.waitlist_notifications import local_label
from scheduling.waitlist_selectors import current_offer, entry_for_holder

DONE = {
    "confirmed": "Your place is confirmed. We will e-mail you when a time opens up.",
    "booked": "Your appointment is booked. We will e-mail you the details.",
    "withdrawn": "You have left the waitlist. We will not offer you more times.",
}


def _url(name: str, entry: WaitlistEntry, **query: str) -> str:
    return f"{reverse(name, args=[entry.pk])}?{urlencode({'token': entry.token, **query})}"


def _token(request: HttpRequest) -> str:
    source = request.POST if request.method == "POST" else request.GET
    return source.get("token", "")


def _render(request, template: str, entry: WaitlistEntry, status: int = 200, **extra):
    offer = current_offer(entry)
    now = clock.now()
    open_offer = offer if offer is not None and offer.expires_at > now else None
    context = {
        "entry": entry,
        "token": entry.token,
        "status_label": entry.get_status_display(),
        "offer": open_offer,
        "when": local_label(open_offer.start, entry.location) if open_offer else "",
        "expires": local_label(open_offer.expires_at, entry.location) if open_offer else "",
        "waiting": entry.status in (WaitlistEntry.Status.WAITING, WaitlistEntry.Status.OFFERED),
        "unconfirmed": entry.confirmed_at is None and entry.status == WaitlistEntry.Status.WAITING,
        "confirm_url": _url("waitlist-entry-confirm", entry),
        "needs_date_of_birth": DATE_OF_BIRTH in required_fields(entry.service),
        "needs_reason": REASON in required_fields(entry.service),
        "entry_url": _url("waitlist-entry", entry),
        "withdraw_url": _url("waitlist-entry-withdraw", entry),
        **extra,
    }
    return render_page(
        request,
        f"scheduling/pages/{template}",
        context,
        status=status,
        phone=entry.location.phone,
    )


def _see(url: str) -> HttpResponse:
    response = HttpResponseRedirect(url)
    response.status_code = 303  # a reload does not post the form again
    return response


@require_http_methods(["GET", "HEAD", "POST"])
def waitlist_entry(request: HttpRequest, entry_id: int) -> HttpResponse:
    """The entry and its offer; the POST claims the offer through the one claim service."""
    try:
        entry = entry_for_holder(entry_id, _token(request))
    except NotFoundProblem as error:
        return not_found_page(request, error)
    if request.method != "POST":
        message = DONE.get(request.GET.get("done", ""), "")
        return _render(request, "waitlist_entry.html", entry, message=message)
    given = {
        "date_of_birth": request.POST.get("date_of_birth", "")[:10],
        "reason": request.POST.get("reason", "").strip()[:2000],
    }
    try:
        appointment = services.claim_offer(
            entry,
            patient_details={"date_of_birth": _date_of_birth(given["date_of_birth"])},
            reason=given["reason"],
        )
    except DomainError as error:
        entry.refresh_from_db()
        errors = {problem.field: problem.message for problem in error.errors}
        return _render(
            request,
            "waitlist_entry.html",
            entry,
            status=error.status,
            error=error.detail,
            dob_error=errors.get(DATE_OF_BIRTH, ""),
            reason_error=errors.get(REASON, ""),
            given=given,
        )
    return _see(page_url("manage-booking", appointment))


def _date_of_birth(raw: str) -> date | None:
    """The form's date of birth, or None when it is not a plausible one (then the claim is
    refused naming the field)."""
    try:
        value = parse_date(raw.strip())
        if value is not None:
            validate_date_of_birth(value)
    except (ValueError, ValidationError):
        return None
    return value


@require_http_methods(["GET", "HEAD", "POST"])
def withdraw_entry(request: HttpRequest, entry_id: int) -> HttpResponse:
    """GET asks "are you sure?"; only the confirming POST withdraws."""
    try:
        entry = entry_for_holder(entry_id, _token(request))
    except NotFoundProblem as error:
        return not_found_page(request, error)
    if request.method != "POST":
        return _render(request, "waitlist_withdraw.html", entry)
    services.withdraw_entry(entry)
    return _see(_url("waitlist-entry", entry, done="withdrawn"))


@require_http_methods(["GET", "HEAD", "POST"])
def confirm_entry(request: HttpRequest, entry_id: int) -> HttpResponse:
    """GET shows what was asked for and a button (a mail scanner following the link changes
    nothing); only the button's POST confirms. Confirming again is harmless."""
    try:
        entry = entry_for_holder(entry_id, _token(request))
    except NotFoundProblem as error:
        return not_found_page(request, error)
    if request.method != "POST":
        return _render(request, "waitlist_confirm.html", entry)
    entry = services.confirm_entry(entry)
    done = "confirmed" if entry.confirmed_at is not None else ""
    return _see(_url("waitlist-entry", entry, done=done))
