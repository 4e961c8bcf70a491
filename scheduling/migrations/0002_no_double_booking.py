"""No double booking, enforced by PostgreSQL whatever the concurrency.

Exclusion constraints over time ranges (btree_gist) for the statuses that hold time (all but
cancelled, so a cancellation frees the slot):

- a provider is never in two appointments whose blocked ranges (buffers included) overlap,
  unless they are participants of the same group session (same ``slot_key``);
- a patient is never in two overlapping appointments.

SQLite has no exclusion constraints; there the settings serialise writers
(``transaction_mode=IMMEDIATE``) and the booking service's check holds alone.
"""

from django.contrib.postgres.operations import BtreeGistExtension
from django.db import migrations

BLOCKING = "('booked', 'confirmed', 'arrived', 'completed', 'no_show')"


class PostgresOnlySQL(migrations.RunSQL):
    """Raw SQL that runs on PostgreSQL and is a no-op on other databases."""

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            super().database_forwards(app_label, schema_editor, from_state, to_state)

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            super().database_backwards(app_label, schema_editor, from_state, to_state)


class Migration(migrations.Migration):
    dependencies = [("scheduling", "0001_initial")]

    operations = [
        BtreeGistExtension(),
        PostgresOnlySQL(
            sql=f"""
            ALTER TABLE scheduling_appointment
              ADD CONSTRAINT appointment_no_provider_overlap
              EXCLUDE USING gist (
                provider_id WITH =,
                tstzrange(blocked_start, blocked_end, '[)') WITH &&,
                slot_key WITH <>
              ) WHERE (status IN {BLOCKING});
            ALTER TABLE scheduling_appointment
              ADD CONSTRAINT appointment_no_patient_overlap
              EXCLUDE USING gist (
                patient_id WITH =,
                tstzrange(start, "end", '[)') WITH &&
              ) WHERE (status IN {BLOCKING});
            """,
            reverse_sql="""
            ALTER TABLE scheduling_appointment DROP CONSTRAINT appointment_no_patient_overlap;
            ALTER TABLE scheduling_appointment DROP CONSTRAINT appointment_no_provider_overlap;
            """,
        ),
    ]
