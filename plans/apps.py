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
        from plans import notifications

        notifications.register()
