"""Load the scope catalogue (disciplines, acts, default rules, credential requirements, jurisdiction
overrides) so a fresh database can answer scope questions."""

from django.db import migrations


def load(apps, schema_editor):
    from providers.catalog import load_catalog

    load_catalog(apps)


class Migration(migrations.Migration):
    dependencies = [("providers", "0002_credential_requirements_and_rule_history")]

    operations = [migrations.RunPython(load, migrations.RunPython.noop)]
