from django.urls import path

from clinic.api import views

urlpatterns = [
    path("locations/", views.PublicLocationList.as_view(), name="public-locations"),
]
