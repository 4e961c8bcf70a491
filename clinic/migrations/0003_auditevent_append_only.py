"""The audit log is append-only in the database: UPDATE and DELETE on clinic_auditevent raise.

PostgreSQL: a row trigger (TRUNCATE, which only the table owner may run, is how tests and
``flush`` empty it). SQLite: two triggers; ``manage.py flush`` lifts them for the wipe.
"""

from django.db import migrations

PG_FORWARD = """
CREATE OR REPLACE FUNCTION clinic_auditevent_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'clinic_auditevent is append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER clinic_auditevent_append_only
    BEFORE UPDATE OR DELETE ON clinic_auditevent
    FOR EACH ROW EXECUTE FUNCTION clinic_auditevent_append_only();
"""
PG_BACKWARD = """
DROP TRIGGER IF EXISTS clinic_auditevent_append_only ON clinic_auditevent;
DROP FUNCTION IF EXISTS clinic_auditevent_append_only();
"""
SQLITE_FORWARD = [
    "CREATE TRIGGER IF NOT EXISTS clinic_auditevent_no_update BEFORE UPDATE ON clinic_auditevent "
    "BEGIN SELECT RAISE(ABORT, 'clinic_auditevent is append-only'); END;",
    "CREATE TRIGGER IF NOT EXISTS clinic_auditevent_no_delete BEFORE DELETE ON clinic_auditevent "
    "BEGIN SELECT RAISE(ABORT, 'clinic_auditevent is append-only'); END;",
]
SQLITE_BACKWARD = [
    "DROP TRIGGER IF EXISTS clinic_auditevent_no_update;",
    "DROP TRIGGER IF EXISTS clinic_auditevent_no_delete;",
]


def forward(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        schema_editor.execute(PG_FORWARD, params=None)
    elif vendor == "sqlite":
        for statement in SQLITE_FORWARD:
            schema_editor.execute(statement)


def backward(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        schema_editor.execute(PG_BACKWARD, params=None)
    elif vendor == "sqlite":
        for statement in SQLITE_BACKWARD:
            schema_editor.execute(statement)


class Migration(migrations.Migration):
    dependencies = [("clinic", "0002_staff_roles")]

    operations = [migrations.RunPython(forward, backward)]
