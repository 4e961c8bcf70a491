import importlib
import importlib.util

from django.apps import AppConfig


class SchedulingConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "scheduling"

    def ready(self) -> None:
        from providers.service_directory import register_service_directory
        from scheduling.directory import OfferingDirectory

        register_service_directory(OfferingDirectory())
        # Appointment e-mails connect their signal receivers when their module is imported.
        if importlib.util.find_spec("scheduling.notifications") is not None:
            importlib.import_module("scheduling.notifications")
