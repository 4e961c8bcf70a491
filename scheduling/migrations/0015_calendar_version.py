"""Calendar versions: per provider a random value that triggers replace, in the writing
transaction, whenever the provider's busy time may change, so that ``scheduling.busy_time`` can
keep a provider's merged busy time between requests and know when it is out of date.

PostgreSQL only (SQLite merges busy time in Python on every search and keeps nothing). The
triggers run BEFORE each row is written: a transaction takes its provider's version row before
the rows of its booking, so two bookings of one provider queue on that row in the order they
came, instead of each waiting on the other's appointment under the exclusion constraint. A
write that moves a row from one provider to another takes both, lower id first. An UPDATE that
touches nothing the busy time is made of (reminder flags, notes) fires nothing. TRUNCATE
replaces every version. Providers whose calendars exist already get a version at once.

The triggers are named to fire first on both tables (triggers of one event fire in the order of
their names): before the hold guards of 0008, which take the provider's advisory lock (shared
for an appointment, exclusive for a hold). So every write takes the version row before any
advisory lock, and whoever holds one of a provider's advisory locks holds their version row
too. With the version triggers after the appointment guard but before the hold guard, a new
hold and a booking of one provider, both queued on the version row behind a cancellation,
deadlocked (the red team's finding)."""

from django.db import migrations, models

FUNCTION = """
CREATE OR REPLACE FUNCTION scheduling_calendar_changed() RETURNS trigger AS $$
DECLARE
    first_id bigint;
    second_id bigint;
BEGIN
    IF TG_OP = 'TRUNCATE' THEN
        UPDATE scheduling_calendarversion SET value = (random() * 9.2e18)::bigint;
        RETURN NULL;
    END IF;
    IF TG_OP = 'INSERT' THEN
        first_id := NEW.provider_id;
    ELSIF TG_OP = 'DELETE' THEN
        first_id := OLD.provider_id;
    ELSE
        first_id := LEAST(OLD.provider_id, NEW.provider_id);
        second_id := NULLIF(GREATEST(OLD.provider_id, NEW.provider_id), first_id);
    END IF;
    INSERT INTO scheduling_calendarversion (provider_id, value)
        VALUES (first_id, (random() * 9.2e18)::bigint)
        ON CONFLICT (provider_id) DO UPDATE SET value = EXCLUDED.value;
    IF second_id IS NOT NULL THEN
        INSERT INTO scheduling_calendarversion (provider_id, value)
            VALUES (second_id, (random() * 9.2e18)::bigint)
            ON CONFLICT (provider_id) DO UPDATE SET value = EXCLUDED.value;
    END IF;
    IF TG_OP = 'DELETE' THEN
        RETURN OLD;
    END IF;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;
"""

# "a_" sorts before "appointment_hold_guard_*" and "waitlist_offer_guard_*": see above.
TRIGGER_PREFIX = "a_calendar_version_"

# What the busy merge reads of each table: a change to any of it is a change of busy time.
COLUMNS = {
    "scheduling_appointment": (
        "provider_id",
        "status",
        "blocked_start",
        "blocked_end",
        "room_id",
        "service_id",
    ),
    "scheduling_waitlistoffer": ("provider_id", "status", "blocked_start", "blocked_end"),
}


def _create_sql() -> str:
    statements = [FUNCTION]
    for table, columns in COLUMNS.items():
        changed = " OR ".join(f"OLD.{c} IS DISTINCT FROM NEW.{c}" for c in columns)
        name = f"{TRIGGER_PREFIX}{table}"
        statements += [
            f"CREATE TRIGGER {name}_insert_delete BEFORE INSERT OR DELETE ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION scheduling_calendar_changed();",
            f"CREATE TRIGGER {name}_update BEFORE UPDATE ON {table} FOR EACH ROW "
            f"WHEN ({changed}) EXECUTE FUNCTION scheduling_calendar_changed();",
            f"CREATE TRIGGER {name}_truncate BEFORE TRUNCATE ON {table} "
            "FOR EACH STATEMENT EXECUTE FUNCTION scheduling_calendar_changed();",
        ]
    statements.append(
        "INSERT INTO scheduling_calendarversion (provider_id, value) "
        "SELECT provider_id, (random() * 9.2e18)::bigint FROM "
        "(SELECT provider_id FROM scheduling_appointment "
        "UNION SELECT provider_id FROM scheduling_waitlistoffer) AS calendars "
        "ON CONFLICT (provider_id) DO NOTHING;"
    )
    return "\n".join(statements)


def _drop_sql() -> str:
    statements = []
    for table in COLUMNS:
        name = f"{TRIGGER_PREFIX}{table}"
        for suffix in ("insert_delete", "update", "truncate"):
            statements.append(f"DROP TRIGGER IF EXISTS {name}_{suffix} ON {table};")
    statements.append("DROP FUNCTION IF EXISTS scheduling_calendar_changed();")
    return "\n".join(statements)


def create_triggers(apps, schema_editor) -> None:
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(_create_sql(), params=None)


def drop_triggers(apps, schema_editor) -> None:
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(_drop_sql(), params=None)


class Migration(migrations.Migration):
    dependencies = [
        ("scheduling", "0014_waitlist_settings_row"),
    ]

    operations = [
        migrations.CreateModel(
            name="CalendarVersion",
            fields=[
                ("provider_id", models.BigIntegerField(primary_key=True, serialize=False)),
                ("value", models.BigIntegerField()),
            ],
        ),
        migrations.RunPython(create_triggers, drop_triggers),
    ]
