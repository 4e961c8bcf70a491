"""Staff API routes of this app, mounted under ``/api/v1/``."""

from django.urls import path
from rest_framework.routers import SimpleRouter

from scheduling.api import calendar_views, series, views, waitlist
from scheduling.api.schedule import ScheduleView

router = SimpleRouter()
router.register("services", views.ServiceViewSet, basename="service")
router.register("offerings", views.OfferingViewSet, basename="offering")
router.register("availability", views.WeeklyAvailabilityViewSet, basename="availability")
router.register(
    "availability-exceptions", views.AvailabilityExceptionViewSet, basename="availability-exception"
)
router.register("closures", views.ClosureViewSet, basename="closure")
router.register("booking-policies", views.BookingPolicyOverrideViewSet, basename="booking-policy")
router.register("appointments", views.AppointmentViewSet, basename="appointment")
router.register("callback-requests", views.CallbackRequestViewSet, basename="callback-request")
router.register("waitlist", waitlist.WaitlistViewSet, basename="waitlist")

urlpatterns = [
    path("schedule/", ScheduleView.as_view(), name="schedule"),
    # Recurring series, before the router: "series" is not an appointment id.
    path("appointments/series/", series.SeriesView.as_view(), name="appointment-series"),
    path(
        "appointments/series/<int:pk>/cancel/",
        series.SeriesCancelView.as_view(),
        name="appointment-series-cancel",
    ),
    path(
        "appointments/series/<int:pk>/move/",
        series.SeriesMoveView.as_view(),
        name="appointment-series-move",
    ),
    path(
        "providers/<int:pk>/calendar-feed/",
        calendar_views.ProviderCalendarFeed.as_view(),
        name="provider-calendar-feed",
    ),
    path(
        "providers/<int:pk>/calendar-feed/rotate/",
        calendar_views.RotateProviderCalendarFeed.as_view(),
        name="provider-calendar-feed-rotate",
    ),
    *router.urls,
]
