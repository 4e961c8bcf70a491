"""The waitlist settings row exists from here on, with its model defaults, as the clinic
settings row does (clinic 0011): made lazily by the first matcher, its insert inside a matching
transaction made every other matcher reading it wait for that transaction on the new key."""

from django.db import migrations


def create_row(apps, schema_editor) -> None:
    WaitlistSettings = apps.get_model("scheduling", "WaitlistSettings")
    WaitlistSettings.objects.using(schema_editor.connection.alias).get_or_create(pk=1)


class Migration(migrations.Migration):
    dependencies = [
        ("scheduling", "0013_rules_token_availability_exceptions"),
    ]

    # Reversed, the row stays: it may hold the clinic's own choices.
    operations = [migrations.RunPython(create_row, migrations.RunPython.noop)]
