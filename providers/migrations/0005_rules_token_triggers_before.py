"""The rules token's triggers on the scope tables fire before the statement on PostgreSQL
(``clinic.rules_cache``: rule edits queue on the token row instead of deadlocking)."""

from django.db import migrations

from clinic.rules_cache import triggers_before


class Migration(migrations.Migration):
    dependencies = [
        ("clinic", "0010_rules_token_triggers_before"),
        ("providers", "0004_rules_token_triggers"),
    ]

    operations = [
        triggers_before(
            "providers_act",
            "providers_discipline",
            "providers_provider",
            "providers_scoperule",
            "providers_credentialrequirement",
            "providers_credential",
            "providers_credential_endorsements",
        )
    ]
