"""Public booking-widget routes of this app, mounted under ``/api/v1/public/``."""

from django.urls import path

from providers.api import views

urlpatterns = [
    path("disciplines/", views.PublicDisciplineList.as_view(), name="public-disciplines"),
    path("providers/", views.PublicProviderList.as_view(), name="public-providers"),
]
