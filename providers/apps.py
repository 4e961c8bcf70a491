from django.apps import AppConfig


class ProvidersConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "providers"
    # Scope data is not clinical: every role reads it (front desk books by it); managers edit it.
    role_permissions = {
        "discipline": {"front_desk": "view", "clinician": "view"},
        "act": {"front_desk": "view", "clinician": "view"},
        "scoperule": {"front_desk": "view", "clinician": "view"},
        "credentialrequirement": {"front_desk": "view", "clinician": "view"},
        "provider": {"front_desk": "view", "clinician": "view"},
        "credential": {"front_desk": "view", "clinician": "view"},
    }

    def ready(self) -> None:
        # Connects the receivers that announce a credential covering less (providers.signals).
        from providers import signals  # noqa: F401
