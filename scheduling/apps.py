from django.apps import AppConfig


class SchedulingConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "scheduling"
    # Front desk runs the calendar and the call-back queue; clinicians see and work their
    # schedule; configuration (services, hours, policy) is the manager's. See clinic/roles.py.
    role_permissions = {
        "appointment": {
            "front_desk": "view add change",
            "clinician": "view add change",
            "manager": "view add change",
        },
        "appointmentevent": {"front_desk": "view", "clinician": "view", "manager": "view"},
        "callbackrequest": {"front_desk": "view change", "manager": "view change"},
        "freeconsultoutcome": {"clinician": "view add change", "manager": "view add change"},
        "idempotencykey": {"manager": "view"},
        "service": {"front_desk": "view", "clinician": "view"},
        "offering": {"front_desk": "view", "clinician": "view"},
        "weeklyavailability": {"front_desk": "view", "clinician": "view"},
        "availabilityexception": {"front_desk": "view", "clinician": "view"},
        "closure": {"front_desk": "view", "clinician": "view"},
        "series": {"front_desk": "view", "clinician": "view", "manager": "view"},
        # The waitlist is the front desk's; its history is never edited by hand.
        "waitlistentry": {"front_desk": "view add change", "manager": "view add change"},
        "waitlistoffer": {"front_desk": "view", "manager": "view"},
        "waitlistopening": {"manager": "view"},
        "waitlistsettings": {"manager": "view change"},
    }

    def ready(self) -> None:
        from patients.access import register_care_source
        from providers.service_directory import register_service_directory
        from scheduling.access import appointment_patient_ids
        from scheduling.directory import OfferingDirectory

        register_care_source("appointments", appointment_patient_ids)

        register_service_directory(OfferingDirectory())
        # Appointment e-mails connect their signal receivers when their module is imported and
        # register their kinds with the ledger here; credential changes flag the visits they
        # no longer cover (providers.signals -> scheduling.rebooking's receivers).
        from scheduling import notifications, rebooking  # noqa: F401

        notifications.register()
        # A series' one confirmation and its change notices (issue 20).
        from scheduling import series_notifications

        series_notifications.register()

        # The waitlist (issue 19): its e-mail kind, its tasks, and the receivers that hear of
        # freed time.
        from scheduling import waitlist_hooks, waitlist_notifications, waitlist_tasks  # noqa: F401

        waitlist_notifications.register()
