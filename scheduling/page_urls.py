"""The patient's booking pages (server-rendered HTML), mounted at ``/manage/``."""

from django.urls import path

from scheduling import patient_pages

urlpatterns = [
    path("<str:reference>/", patient_pages.manage_booking, name="manage-booking"),
    path("<str:reference>/cancel/", patient_pages.cancel_booking, name="manage-booking-cancel"),
    path(
        "<str:reference>/reschedule/",
        patient_pages.reschedule_booking,
        name="manage-booking-reschedule",
    ),
]
