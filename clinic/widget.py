"""The booking widget page at ``/book/``.

Plain HTML, CSS and JavaScript with no dependencies that talk only to the public API
(``/api/v1/public/``), so a clinic can embed the page in an iframe on its own site or copy the
three files there. Framing is allowed only to the clinic's configured origins, and the page's
content security policy lets it load nothing but its own files and call nothing but this API.
"""

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.clickjacking import xframe_options_exempt
from django.views.decorators.http import require_safe

PUBLIC_API_BASE = "/api/v1/public/"


def content_security_policy() -> str:
    """Same-origin everything; the clinic's own sites (the CORS origins) may frame the page."""
    ancestors = " ".join(["'self'", *settings.CORS_ALLOWED_ORIGINS])
    return "; ".join(
        [
            "default-src 'none'",
            "script-src 'self'",
            "style-src 'self'",
            "img-src 'self' data:",
            "connect-src 'self'",
            "form-action 'self'",
            "base-uri 'none'",
            f"frame-ancestors {ancestors}",
        ]
    )


@require_safe
@xframe_options_exempt
def booking_widget(request: HttpRequest) -> HttpResponse:
    """Serve the widget; ``?reference=&token=`` (the e-mail's manage link) opens the booking."""
    response = render(request, "widget/book.html", {"api_base": PUBLIC_API_BASE})
    response["Content-Security-Policy"] = content_security_policy()
    return response
