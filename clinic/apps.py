from django.apps import AppConfig
from django.db.backends.signals import connection_created
from django.db.models.signals import post_migrate


class ClinicConfig(AppConfig):
    name = "clinic"
    verbose_name = "Clinic"
    # Which roles get which model permissions (see clinic/roles.py); undeclared: managers only.
    role_permissions = {
        "location": {"front_desk": "view", "clinician": "view"},
        "room": {"front_desk": "view", "clinician": "view"},
        "clinicsettings": {"front_desk": "view", "clinician": "view"},
        "auditevent": {"manager": "view"},
    }

    def ready(self) -> None:
        from clinic import roles, stale_plans

        post_migrate.connect(roles.sync_roles_after_migrate, dispatch_uid="clinic.sync_roles")
        connection_created.connect(stale_plans.install, dispatch_uid="clinic.stale_plans")
