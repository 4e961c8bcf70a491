"""URL map: admin, the staff API and the public booking-widget API under ``/api/v1/``, the
OpenAPI schema and docs, health probes."""

from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from clinic import health, widget
from patients import pages as patient_pages
from scheduling.api.calendar_views import feed as calendar_feed

api_v1 = [
    path("public/", include("clinic.api.public_urls")),
    path("public/", include("providers.api.public_urls")),
    path("public/", include("patients.api.public_urls")),
    path("public/", include("scheduling.api.public_urls")),
    path("", include("clinic.api.urls")),
    path("", include("providers.api.urls")),
    path("", include("patients.api.urls")),
    path("", include("scheduling.api.urls")),
    path("", include("notifications.api.urls")),
    path("", include("plans.api.urls")),
]

urlpatterns = [
    path("admin/schedule/series/", include("scheduling.admin_series")),
    path("admin/schedule/", include("scheduling.admin_schedule")),
    path("admin/", admin.site.urls),
    path("book/", widget.booking_widget, name="booking-widget"),
    path("manage/", include("scheduling.page_urls")),
    path("waitlist/", include("scheduling.waitlist_page_urls")),
    path("unsubscribe/", patient_pages.unsubscribe, name="unsubscribe"),
    path("calendar/<str:token>.ics", calendar_feed, name="calendar-feed"),
    path("fhir/R4/", include("interop.urls")),
    path("api/v1/", include(api_v1)),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="api-docs"),
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
]

handler400 = "clinic.api.problems.bad_request_view"
handler403 = "clinic.api.problems.permission_denied_view"
handler404 = "clinic.api.problems.not_found_view"
handler500 = "clinic.api.problems.server_error_view"
