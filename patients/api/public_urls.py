"""Public booking-widget routes of this app, mounted under ``/api/v1/public/``."""

from django.urls import path

from patients.api import views

urlpatterns = [
    path("triage/", views.TriageView.as_view(), name="public-triage"),
    path("unsubscribe/", views.UnsubscribeView.as_view(), name="public-unsubscribe"),
]
