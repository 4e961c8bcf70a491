"""Staff API routes of this app, mounted under ``/api/v1/``."""

from rest_framework.routers import SimpleRouter

from providers.api import views

router = SimpleRouter()
router.register("disciplines", views.DisciplineViewSet, basename="discipline")
router.register("acts", views.ActViewSet, basename="act")
router.register("scope-rules", views.ScopeRuleViewSet, basename="scope-rule")
router.register("scope-rule-changes", views.ScopeRuleChangeViewSet, basename="scope-rule-change")
router.register(
    "credential-requirements",
    views.CredentialRequirementViewSet,
    basename="credential-requirement",
)
router.register("credentials", views.CredentialViewSet, basename="credential")
router.register("providers", views.ProviderViewSet, basename="provider")

urlpatterns = router.urls
