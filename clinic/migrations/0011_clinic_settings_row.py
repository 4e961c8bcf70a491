"""The clinic settings row exists from here on, with its model defaults. Made lazily by the
first booking, its insert took the rules token's lock (the trigger of 0009) in the middle of
that booking, and the first bookings of a fresh installation deadlocked on it."""

from django.db import migrations


def create_row(apps, schema_editor) -> None:
    ClinicSettings = apps.get_model("clinic", "ClinicSettings")
    ClinicSettings.objects.using(schema_editor.connection.alias).get_or_create(pk=1)


class Migration(migrations.Migration):
    dependencies = [
        ("clinic", "0010_rules_token_triggers_before"),
    ]

    # Reversed, the row stays: it may hold the clinic's own settings, and reading it is the
    # same with or without the migration.
    operations = [migrations.RunPython(create_row, migrations.RunPython.noop)]
