from django.apps import AppConfig


class NotificationsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "notifications"
    # Every role reads the ledger, each only the rows about subjects they may see
    # (``selectors.visible_notifications``); managers may also retry failed rows, through the
    # service, never by editing them. See clinic/roles.py.
    role_permissions = {
        "notification": {"front_desk": "view", "clinician": "view", "manager": "view"},
    }
