from django.apps import AppConfig


class InteropConfig(AppConfig):
    """FHIR R4 read API over every other app: the one app allowed to know them all (it only
    reads, through their selectors and access rules, and nothing imports it)."""

    default_auto_field = "django.db.models.BigAutoField"
    name = "interop"
    verbose_name = "Interoperability"
