from django.urls import path
from rest_framework.routers import SimpleRouter

from clinic.api import views

router = SimpleRouter()
router.register("locations", views.LocationViewSet, basename="location")
router.register("rooms", views.RoomViewSet, basename="room")

urlpatterns = [
    path("clinic-settings/", views.ClinicSettingsView.as_view(), name="clinic-settings"),
    *router.urls,
]
