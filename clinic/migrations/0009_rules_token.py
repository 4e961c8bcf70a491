"""The rules token (``clinic.rules_cache``) and the triggers on clinic's tables the booking rules
are read from."""

from django.db import migrations, models

from clinic.rules_cache import token_function, triggers


class Migration(migrations.Migration):
    dependencies = [
        ("clinic", "0008_calendar_feed_patient_names"),
    ]

    operations = [
        migrations.CreateModel(
            name="RulesToken",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("value", models.CharField(max_length=36)),
            ],
            options={
                "constraints": [
                    models.CheckConstraint(
                        condition=models.Q(("pk", 1)), name="rules_token_singleton"
                    )
                ],
            },
        ),
        token_function(),
        triggers("clinic_clinicsettings", "clinic_location"),
    ]
