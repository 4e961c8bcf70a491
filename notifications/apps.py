from django.apps import AppConfig


class NotificationsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "notifications"
    # Every role reads the ledger (no clinical content in it); managers may also retry failed
    # rows, through the service, never by editing them. See clinic/roles.py.
    role_permissions = {
        "notification": {"front_desk": "view", "clinician": "view", "manager": "view"},
    }
