"""Public booking-widget routes of this app, mounted under ``/api/v1/public/``."""

urlpatterns: list = []
