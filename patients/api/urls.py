"""Staff API routes of this app, mounted under ``/api/v1/``."""

from rest_framework.routers import SimpleRouter

from patients.api import access_views, views

router = SimpleRouter()
router.register("patients", views.PatientViewSet, basename="patient")
router.register("referrals", views.ReferralViewSet, basename="referral")
router.register("access-grants", access_views.AccessGrantViewSet, basename="accessgrant")
router.register("emergency-access", access_views.EmergencyAccessViewSet, basename="emergencyaccess")
router.register("audit-events", views.AuditEventViewSet, basename="auditevent")

urlpatterns = router.urls
