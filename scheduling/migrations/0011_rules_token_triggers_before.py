"""The rules token's triggers on scheduling's tables fire before the statement on PostgreSQL
(``clinic.rules_cache``: rule edits queue on the token row instead of deadlocking)."""

from django.db import migrations

from clinic.rules_cache import triggers_before


class Migration(migrations.Migration):
    dependencies = [
        ("clinic", "0010_rules_token_triggers_before"),
        ("scheduling", "0010_rules_token_triggers"),
    ]

    operations = [
        triggers_before(
            "scheduling_service",
            "scheduling_service_required_acts",
            "scheduling_offering",
            "scheduling_bookingpolicyoverride",
            "scheduling_closure",
        )
    ]
