"""Staff API routes of this app, mounted under ``/api/v1/``."""

from rest_framework.routers import SimpleRouter

from plans.api import views

router = SimpleRouter()
router.register("care-plans", views.CarePlanViewSet, basename="care-plan")
router.register("exercises", views.ExerciseViewSet, basename="exercise")

urlpatterns = router.urls
