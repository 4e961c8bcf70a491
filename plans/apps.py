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
    }

    def ready(self) -> None:
        from patients.access import register_care_source
        from plans import notifications
        from plans.access import plan_role_patient_ids

        register_care_source("care_plan_roles", plan_role_patient_ids)

        notifications.register()
