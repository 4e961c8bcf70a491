"""A signed visit note and every addendum are never updated or deleted: the database refuses it
(``plans.notes.guard``), as it does for the audit log."""

from django.db import migrations

from plans.notes.guard import PG_BACKWARD, PG_FORWARD, SQLITE_GUARD_SQL, SQLITE_UNGUARD_SQL


def forward(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        schema_editor.execute(PG_FORWARD, params=None)
    elif vendor == "sqlite":
        for statement in SQLITE_GUARD_SQL:
            schema_editor.execute(statement)


def backward(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        schema_editor.execute(PG_BACKWARD, params=None)
    elif vendor == "sqlite":
        for statement in SQLITE_UNGUARD_SQL:
            schema_editor.execute(statement)


class Migration(migrations.Migration):
    dependencies = [("plans", "0004_visit_notes")]

    operations = [migrations.RunPython(forward, backward)]
