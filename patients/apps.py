from django.apps import AppConfig


class PatientsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "patients"
    # Front desk: contact details and consent; clinicians: referrals (clinical). Access grants
    # and emergency accesses are the managers' (undeclared: managers only). See clinic/roles.py.
    role_permissions = {
        "patient": {
            "front_desk": "view add change",
            "clinician": "view",
            "manager": "view add change",
        },
        "consent": {"front_desk": "view", "clinician": "view", "manager": "view"},
        "carerelationship": {"clinician": "view", "manager": "view"},
        "referral": {"clinician": "view add change", "manager": "view add change"},
        "referralstatuschange": {"clinician": "view", "manager": "view"},
        "accessgrant": {"manager": "view add"},
        "emergencyaccess": {"manager": "view"},
    }
