"""Plain server-rendered pages for patients (manage a booking, unsubscribe), in the clinic's name.

No developer chrome and no script: the pages work with a keyboard and a screen reader and in
any browser. Links from e-mails carry secret tokens in the query string, so the pages are never
cached, send no referrer to other sites, and may load nothing but their own stylesheet.
"""

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from clinic.errors import DomainError
from clinic.models import ClinicSettings

CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'none'",
        "style-src 'self'",
        "img-src 'self'",
        "form-action 'self'",
        "base-uri 'none'",
        "frame-ancestors 'none'",
    ]
)


def render_page(
    request: HttpRequest, template: str, context: dict, *, status: int = 200, phone: str = ""
) -> HttpResponse:
    """Render a patient page with the clinic's name and the headers every such page needs."""
    base = {"clinic_name": ClinicSettings.load().name, "clinic_phone": phone}
    response = render(request, template, {**base, **context}, status=status)
    response["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
    response["Cache-Control"] = "no-store"
    response["Referrer-Policy"] = "same-origin"
    response["X-Robots-Tag"] = "noindex"
    return response


def not_found_page(request: HttpRequest, error: DomainError) -> HttpResponse:
    """A wrong or stale link: a 404 page in words, never the API's developer view."""
    return render_page(request, "pages/not_found.html", {"detail": error.detail}, status=404)
