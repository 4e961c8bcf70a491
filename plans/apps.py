from django.apps import AppConfig


class PlansConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "plans"
    verbose_name = "Care plans"
    # Plans are clinical: clinicians and managers read them (changes go through the plan
    # actions, which check scope and role); the exercise library is edited by both and read by
    # every role. Nobody edits history or program snapshots. See clinic/roles.py.
    role_permissions = {
        "exercise": {
            "front_desk": "view",
            "clinician": "view add change",
            "manager": "view add change",
        },
        **{
            model: {"clinician": "view", "manager": "view"}
            for model in (
                "careplan",
                "diagnosis",
                "precaution",
                "goal",
                "plannedintervention",
                "exerciseprescription",
                "outcomemeasure",
                "programversion",
                "planevent",
            )
        },
        # Visit notes: clinicians chart (row rules in plans.notes: the author writes, the care
        # team reads); managers read. Templates are configuration (managers only). Front desk
        # has nothing here. Signed notes and addenda are never changed (database triggers).
        "visitnote": {"clinician": "view add change", "manager": "view"},
        "noteaddendum": {"clinician": "view add", "manager": "view"},
        "notetemplate": {"clinician": "view", "manager": "view add change"},
        "templatefield": {"clinician": "view", "manager": "view add change delete"},
    }

    def ready(self) -> None:
        from clinic.audit import register_sqlite_guard
        from patients.access import register_care_source
        from plans import notifications
        from plans.access import plan_role_patient_ids
        from plans.notes import guard, reminders
        from plans.series import register as register_series_proposals

        register_care_source("care_plan_roles", plan_role_patient_ids)
        notifications.register()
        reminders.register()
        register_series_proposals()  # a care plan's frequency proposes a series (issue 20)
        register_sqlite_guard(guard.SQLITE_GUARD_SQL, guard.SQLITE_UNGUARD_SQL)

        from plans.waitlist import patients_in_care
        from scheduling.waitlist_priority import register_priority_source

        register_priority_source("care_plans", patients_in_care)
