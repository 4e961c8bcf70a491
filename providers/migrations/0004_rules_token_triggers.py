"""A change to the tables the scope index is read from gives a new rules token
(``clinic.rules_cache``), so cached rules are reloaded on the next request."""

from django.db import migrations

from clinic.rules_cache import triggers


class Migration(migrations.Migration):
    dependencies = [
        ("clinic", "0009_rules_token"),
        ("providers", "0003_load_scope_catalog"),
    ]

    operations = [
        triggers(
            "providers_act",
            "providers_discipline",
            "providers_provider",
            "providers_scoperule",
            "providers_credentialrequirement",
            "providers_credential",
            "providers_credential_endorsements",
        )
    ]
