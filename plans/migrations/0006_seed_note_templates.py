"""Seed a visit-note template for every discipline (the four core ones and the others); missing
rows only, so a clinic's own fields and labels are kept."""

from django.db import migrations


def seed(apps, schema_editor):
    from plans.notes.templates import load_templates

    load_templates(apps)


class Migration(migrations.Migration):
    dependencies = [("plans", "0005_signed_visit_notes_are_locked")]

    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
