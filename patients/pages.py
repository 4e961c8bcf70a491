"""The unsubscribe page that every e-mail's link and ``List-Unsubscribe`` header name.

GET shows one button; its POST (with Django's CSRF token) withdraws and says "done". A mail
client's RFC 8058 one-click POST to the same URL (form body ``List-Unsubscribe=One-Click``, no
cookies, so no CSRF token) withdraws too: the signed token in the URL is the whole authority,
nothing rides on a session, so there is nothing for a cross-site request to borrow. Any other
POST must pass the CSRF check. A forged or damaged token is a 404, as with the API.
"""

from django.http import HttpRequest, HttpResponse
from django.middleware.csrf import CsrfViewMiddleware
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from clinic.audit import client_address
from clinic.errors import NotFoundProblem
from clinic.pages import not_found_page, render_page
from patients import selectors, services, tokens
from patients.models import Consent

ONE_CLICK = ("List-Unsubscribe", "One-Click")  # RFC 8058 section 3.1


def masked_email(email: str) -> str:
    """Enough of the address for a patient to recognise it, too little to harvest it."""
    local, _, domain = email.partition("@")
    return f"{local[:1]}***@{domain}" if domain else "***"


def _csrf_refusal(request: HttpRequest) -> HttpResponse | None:
    """Django's own CSRF check, for the page's button (the view is exempt for one-click)."""
    return CsrfViewMiddleware(lambda r: HttpResponse()).process_view(request, None, (), {})


@csrf_exempt
@require_http_methods(["GET", "HEAD", "POST"])
def unsubscribe(request: HttpRequest) -> HttpResponse:
    token = request.GET.get("token", "") or request.POST.get("token", "")
    try:
        patient, purpose = tokens.read_unsubscribe_token(token)
    except NotFoundProblem as error:
        return not_found_page(request, error)
    context = {
        "token": token,
        "purpose_label": Consent.Purpose(purpose).label.lower(),
        "email": masked_email(patient.email),
    }
    if request.method != "POST":
        context["granted"] = selectors.has_consent(patient, purpose)
        return render_page(request, "patients/pages/unsubscribe.html", context)
    one_click = request.POST.get(ONE_CLICK[0]) == ONE_CLICK[1]
    if not one_click:
        refusal = _csrf_refusal(request)
        if refusal is not None:
            return refusal
    services.withdraw_consent(
        patient,
        purpose,
        source=Consent.Source.EMAIL_LINK,
        client_address=client_address(request),
        request=request,
    )
    return render_page(request, "patients/pages/unsubscribed.html", context)
