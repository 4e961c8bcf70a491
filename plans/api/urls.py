"""Staff API routes of this app, mounted under ``/api/v1/``."""

from rest_framework.routers import SimpleRouter

from plans.api import notes, views

router = SimpleRouter()
router.register("care-plans", views.CarePlanViewSet, basename="care-plan")
router.register("exercises", views.ExerciseViewSet, basename="exercise")
router.register("visit-notes", notes.VisitNoteViewSet, basename="visit-note")

urlpatterns = router.urls
