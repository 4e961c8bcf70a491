"""The rules token's triggers on clinic's tables fire before the statement on PostgreSQL
(``clinic.rules_cache``: rule edits queue on the token row instead of deadlocking)."""

from django.db import migrations

from clinic.rules_cache import triggers_before


class Migration(migrations.Migration):
    dependencies = [
        ("clinic", "0009_rules_token"),
    ]

    operations = [triggers_before("clinic_clinicsettings", "clinic_location")]
