"""Load the starter exercise library, so a new clinic can prescribe from day one.

Rows are matched by slug and only created when missing: a clinic's own edits are kept.
"""

from django.db import migrations


def load_library(apps, schema_editor):
    from plans.library import EXERCISES

    Exercise = apps.get_model("plans", "Exercise")
    existing = set(Exercise.objects.values_list("slug", flat=True))
    Exercise.objects.bulk_create(
        Exercise(
            slug=slug,
            name=name,
            body_region=str(region),
            category=str(category),
            tags=[str(tag) for tag in tags],
            instructions=instructions,
        )
        for slug, name, region, category, tags, instructions in EXERCISES
        if slug not in existing
    )


class Migration(migrations.Migration):
    dependencies = [("plans", "0002_program_version_created_on_sender_clock")]

    operations = [migrations.RunPython(load_library, migrations.RunPython.noop)]
