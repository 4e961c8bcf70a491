"""The waitlist (issue 19): entries, openings, offers, settings; and on PostgreSQL the hold's
share of the no-double-booking guarantee.

- ``waitlist_no_overlapping_holds``: two open holds of one provider never overlap;
- ``scheduling_hold_guard`` (trigger on appointments and on offers): under a transaction-level
  advisory lock per provider (shared for appointments, so bookings never wait on each other;
  exclusive for holds), an appointment is refused over an open hold and a hold over a booked
  appointment. The check is a new statement after the lock, so under READ COMMITTED it sees
  whatever the transaction it waited for committed. The refusal is an ``exclusion_violation``,
  the same ``IntegrityError`` the booking service already turns into ``slot-unavailable``.

SQLite has neither; there writers are serialised (``transaction_mode=IMMEDIATE``) and the
booking search, which counts open holds as busy, runs inside the booking's transaction.
"""

import django.core.validators
import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

import scheduling.waitlist_models

BLOCKING = "('booked', 'confirmed', 'arrived', 'completed', 'no_show')"
LOCK_CLASS = 7319  # first key of the per-provider advisory lock (the second is the provider id)


class PostgresOnlySQL(migrations.RunSQL):
    """Raw SQL that runs on PostgreSQL and is a no-op on other databases."""

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            super().database_forwards(app_label, schema_editor, from_state, to_state)

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            super().database_backwards(app_label, schema_editor, from_state, to_state)


HOLD_GUARD = f"""
ALTER TABLE scheduling_waitlistoffer
  ADD CONSTRAINT waitlist_no_overlapping_holds
  EXCLUDE USING gist (
    provider_id WITH =,
    tstzrange(blocked_start, blocked_end, '[)') WITH &&
  ) WHERE (status = 'offered');

CREATE FUNCTION scheduling_hold_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_TABLE_NAME = 'scheduling_appointment' THEN
    PERFORM pg_advisory_xact_lock_shared({LOCK_CLASS}, NEW.provider_id::integer);
    IF EXISTS (
      SELECT 1 FROM scheduling_waitlistoffer o
      WHERE o.provider_id = NEW.provider_id AND o.status = 'offered'
        AND tstzrange(o.blocked_start, o.blocked_end, '[)')
            && tstzrange(NEW.blocked_start, NEW.blocked_end, '[)')
    ) THEN
      RAISE EXCEPTION 'This time is held for a waitlist offer.'
        USING ERRCODE = 'exclusion_violation', CONSTRAINT = 'appointment_not_over_hold';
    END IF;
  ELSE
    PERFORM pg_advisory_xact_lock({LOCK_CLASS}, NEW.provider_id::integer);
    IF EXISTS (
      SELECT 1 FROM scheduling_appointment a
      WHERE a.provider_id = NEW.provider_id AND a.status IN {BLOCKING}
        AND tstzrange(a.blocked_start, a.blocked_end, '[)')
            && tstzrange(NEW.blocked_start, NEW.blocked_end, '[)')
    ) THEN
      RAISE EXCEPTION 'This time is booked.'
        USING ERRCODE = 'exclusion_violation', CONSTRAINT = 'hold_not_over_appointment';
    END IF;
  END IF;
  RETURN NEW;
END
$$;

CREATE TRIGGER appointment_hold_guard_insert
  BEFORE INSERT ON scheduling_appointment FOR EACH ROW
  WHEN (NEW.status IN {BLOCKING})
  EXECUTE FUNCTION scheduling_hold_guard();
CREATE TRIGGER appointment_hold_guard_update
  BEFORE UPDATE ON scheduling_appointment FOR EACH ROW
  WHEN (NEW.status IN {BLOCKING} AND (
    OLD.status NOT IN {BLOCKING}
    OR NEW.provider_id IS DISTINCT FROM OLD.provider_id
    OR NEW.blocked_start IS DISTINCT FROM OLD.blocked_start
    OR NEW.blocked_end IS DISTINCT FROM OLD.blocked_end))
  EXECUTE FUNCTION scheduling_hold_guard();
CREATE TRIGGER waitlist_offer_guard_insert
  BEFORE INSERT ON scheduling_waitlistoffer FOR EACH ROW
  WHEN (NEW.status = 'offered')
  EXECUTE FUNCTION scheduling_hold_guard();
CREATE TRIGGER waitlist_offer_guard_update
  BEFORE UPDATE ON scheduling_waitlistoffer FOR EACH ROW
  WHEN (NEW.status = 'offered' AND OLD.status <> 'offered')
  EXECUTE FUNCTION scheduling_hold_guard();
"""  # noqa: S608  (constants only)

HOLD_GUARD_REVERSE = """
DROP TRIGGER waitlist_offer_guard_update ON scheduling_waitlistoffer;
DROP TRIGGER waitlist_offer_guard_insert ON scheduling_waitlistoffer;
DROP TRIGGER appointment_hold_guard_update ON scheduling_appointment;
DROP TRIGGER appointment_hold_guard_insert ON scheduling_appointment;
DROP FUNCTION scheduling_hold_guard();
ALTER TABLE scheduling_waitlistoffer DROP CONSTRAINT waitlist_no_overlapping_holds;
"""


class Migration(migrations.Migration):
    dependencies = [
        ("clinic", "0008_calendar_feed_patient_names"),
        ("patients", "0004_access_grants"),
        ("providers", "0003_load_scope_catalog"),
        ("scheduling", "0007_series"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name="WaitlistEntry",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("earliest_date", models.DateField()),
                ("latest_date", models.DateField()),
                ("windows", models.JSONField(default=list)),
                (
                    "status",
                    models.CharField(
                        choices=[
                            ("waiting", "Waiting"),
                            ("offered", "Offered"),
                            ("booked", "Booked"),
                            ("expired", "Expired"),
                            ("withdrawn", "Withdrawn"),
                        ],
                        default="waiting",
                        max_length=10,
                    ),
                ),
                (
                    "source",
                    models.CharField(
                        choices=[("online", "Online"), ("staff", "Staff")],
                        default="online",
                        max_length=10,
                    ),
                ),
                (
                    "token",
                    models.CharField(
                        default=scheduling.waitlist_models.new_waitlist_token,
                        editable=False,
                        max_length=64,
                    ),
                ),
                ("created_at", models.DateTimeField(auto_now_add=True)),
                ("closed_at", models.DateTimeField(blank=True, null=True)),
                (
                    "created_by",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
                (
                    "location",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="waitlist_entries",
                        to="clinic.location",
                    ),
                ),
                (
                    "patient",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="waitlist_entries",
                        to="patients.patient",
                    ),
                ),
                (
                    "provider",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="waitlist_entries",
                        to="providers.provider",
                    ),
                ),
                (
                    "service",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="waitlist_entries",
                        to="scheduling.service",
                    ),
                ),
            ],
            options={
                "verbose_name_plural": "waitlist entries",
                "ordering": ["created_at", "pk"],
            },
        ),
        migrations.CreateModel(
            name="WaitlistOffer",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("start", models.DateTimeField()),
                ("end", models.DateTimeField()),
                ("blocked_start", models.DateTimeField()),
                ("blocked_end", models.DateTimeField()),
                (
                    "status",
                    models.CharField(
                        choices=[
                            ("offered", "Offered (held)"),
                            ("claimed", "Claimed"),
                            ("expired", "Expired"),
                            ("withdrawn", "Withdrawn"),
                        ],
                        default="offered",
                        max_length=10,
                    ),
                ),
                ("offered_at", models.DateTimeField()),
                ("expires_at", models.DateTimeField()),
                ("ended_at", models.DateTimeField(blank=True, null=True)),
                (
                    "appointment",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="+",
                        to="scheduling.appointment",
                    ),
                ),
                (
                    "entry",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="offers",
                        to="scheduling.waitlistentry",
                    ),
                ),
                (
                    "offered_by",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
                (
                    "provider",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to="providers.provider",
                    ),
                ),
            ],
            options={
                "ordering": ["-offered_at", "-pk"],
            },
        ),
        migrations.CreateModel(
            name="WaitlistOpening",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("start", models.DateTimeField()),
                ("end", models.DateTimeField()),
                (
                    "reason",
                    models.CharField(
                        choices=[
                            ("cancelled", "Cancelled"),
                            ("rescheduled", "Moved away"),
                            ("offer_ended", "An offer expired or was withdrawn"),
                            ("hours", "New hours or a lifted closure"),
                            ("staff", "Front desk"),
                        ],
                        max_length=12,
                    ),
                ),
                ("created_at", models.DateTimeField()),
                ("matched_at", models.DateTimeField(blank=True, null=True)),
                (
                    "location",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="+",
                        to="clinic.location",
                    ),
                ),
                (
                    "provider",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="+",
                        to="providers.provider",
                    ),
                ),
            ],
        ),
        migrations.CreateModel(
            name="WaitlistSettings",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                (
                    "hold_minutes",
                    models.PositiveIntegerField(
                        default=30,
                        help_text="How long an offered time is held for the entry it was offered to.",
                        validators=[
                            django.core.validators.MinValueValidator(1),
                            django.core.validators.MaxValueValidator(1440),
                        ],
                    ),
                ),
                (
                    "care_plan_patients_first",
                    models.BooleanField(
                        default=False,
                        help_text="Offer freed time to patients in a care plan before others.",
                    ),
                ),
            ],
            options={
                "verbose_name": "waitlist settings",
                "verbose_name_plural": "waitlist settings",
                "constraints": [
                    models.CheckConstraint(
                        condition=models.Q(("hold_minutes__gte", 1), ("hold_minutes__lte", 1440)),
                        name="waitlist_hold_in_range",
                    )
                ],
            },
        ),
        migrations.AddIndex(
            model_name="waitlistentry",
            index=models.Index(
                fields=["location", "service", "status", "latest_date"],
                name="scheduling__locatio_b93f72_idx",
            ),
        ),
        migrations.AddConstraint(
            model_name="waitlistentry",
            constraint=models.CheckConstraint(
                condition=models.Q(("latest_date__gte", models.F("earliest_date"))),
                name="waitlist_dates_in_order",
            ),
        ),
        migrations.AddIndex(
            model_name="waitlistoffer",
            index=models.Index(
                fields=["status", "expires_at"], name="scheduling__status_baf9de_idx"
            ),
        ),
        migrations.AddIndex(
            model_name="waitlistoffer",
            index=models.Index(fields=["provider", "start"], name="scheduling__provide_a1c754_idx"),
        ),
        migrations.AddConstraint(
            model_name="waitlistoffer",
            constraint=models.UniqueConstraint(
                condition=models.Q(("status", "offered")),
                fields=("entry",),
                name="waitlist_one_open_offer",
            ),
        ),
        migrations.AddConstraint(
            model_name="waitlistoffer",
            constraint=models.CheckConstraint(
                condition=models.Q(("blocked_end__gt", models.F("blocked_start"))),
                name="waitlist_offer_order",
            ),
        ),
        migrations.AddIndex(
            model_name="waitlistopening",
            index=models.Index(
                fields=["matched_at", "created_at"], name="scheduling__matched_5be67e_idx"
            ),
        ),
        migrations.AddConstraint(
            model_name="waitlistopening",
            constraint=models.CheckConstraint(
                condition=models.Q(("end__gt", models.F("start"))), name="waitlist_opening_order"
            ),
        ),
        PostgresOnlySQL(sql=HOLD_GUARD, reverse_sql=HOLD_GUARD_REVERSE),
    ]
