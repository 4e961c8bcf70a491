"""Public booking-widget routes of this app, mounted under ``/api/v1/public/``."""

from django.urls import path

from scheduling.api import public_views as views
from scheduling.api import waitlist

urlpatterns = [
    path("services/", views.PublicServiceList.as_view(), name="public-services"),
    path("availability/", views.PublicAvailability.as_view(), name="public-availability"),
    path("bookings/", views.PublicBookingCreate.as_view(), name="public-bookings"),
    path(
        "bookings/<str:reference>/",
        views.PublicBookingDetail.as_view(),
        name="public-booking-detail",
    ),
    path(
        "bookings/<str:reference>/cancel/",
        views.PublicBookingCancel.as_view(),
        name="public-booking-cancel",
    ),
    path(
        "bookings/<str:reference>/confirm/",
        views.PublicBookingConfirm.as_view(),
        name="public-booking-confirm",
    ),
    path(
        "bookings/<str:reference>/reschedule/",
        views.PublicBookingReschedule.as_view(),
        name="public-booking-reschedule",
    ),
    path(
        "callback-requests/",
        views.PublicCallbackCreate.as_view(),
        name="public-callback-requests",
    ),
    # The waitlist (issue 19).
    path("waitlist/", waitlist.PublicWaitlistCreate.as_view(), name="public-waitlist"),
    path(
        "waitlist/<int:entry_id>/",
        waitlist.PublicWaitlistDetail.as_view(),
        name="public-waitlist-detail",
    ),
    path(
        "waitlist/<int:entry_id>/claim/",
        waitlist.PublicWaitlistClaim.as_view(),
        name="public-waitlist-claim",
    ),
    path(
        "waitlist/<int:entry_id>/withdraw/",
        waitlist.PublicWaitlistWithdraw.as_view(),
        name="public-waitlist-withdraw",
    ),
]
