from django.apps import AppConfig


class PlansConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "plans"
    verbose_name = "Care plans"

    def ready(self) -> None:
        from plans import notifications

        notifications.register()
