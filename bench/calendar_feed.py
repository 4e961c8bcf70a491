"""A provider's calendar feed over a full feed window, timed: ``python -m bench.calendar_feed``.

Builds its own database (``clinic_bench_feed``, dropped and migrated afresh): one Toronto
location, one physiotherapist with eight 45-minute visits every weekday from 90 days back to 366
days ahead (the whole window a feed covers), a third of them with a sent invitation in the ledger
(the feed reads the invitation's SEQUENCE), every twentieth cancelled. Then it times building the
feed, the whole request in-process (token lookup, build, audit row) and the ``304`` answer to a
matching ``If-None-Match``, and counts the SQL queries of a request. Figures go to stdout; the
database is dropped at the end.
"""

import os
import platform
import uuid
from datetime import UTC, datetime, time, timedelta

from bench import env
from bench.stats import counting_queries, repeat, summarize

DB_NAME = os.environ.get("BENCH_FEED_DB", "clinic_bench_feed")
VISITS_PER_DAY = 8
VISIT_MINUTES = 45


def _populate():
    from clinic.models import ClinicSettings, Location
    from notifications.models import Notification
    from patients.models import Patient
    from providers.models import Discipline, Provider
    from scheduling import calendar_feed
    from scheduling.models import Appointment, Service

    ClinicSettings.load()
    location = Location.objects.create(
        name="Feed bench",
        slug="feed-bench",
        address_line="1 Bench Rd",
        city="Toronto",
        timezone="America/Toronto",
        jurisdiction="CA-ON",
    )
    provider = Provider.objects.create(
        display_name="Feed Bench PT", discipline=Discipline.objects.get(code="physiotherapist")
    )
    service = Service.objects.create(
        code="feed-bench", name="Physiotherapy follow-up", duration_minutes=VISIT_MINUTES
    )
    patients = Patient.objects.bulk_create(
        Patient(first_name="Bench", last_name=f"Patient {n}", email=f"feed.{n}@example.org")
        for n in range(VISITS_PER_DAY)
    )
    today = datetime.now(UTC).date()
    rows = []
    for offset in range(-calendar_feed.PAST_DAYS + 1, calendar_feed.AHEAD_DAYS - 1):
        day = today + timedelta(days=offset)
        if day.weekday() >= 5:
            continue
        for n in range(VISITS_PER_DAY):
            local = datetime.combine(day, time(9), tzinfo=location.zone) + timedelta(hours=n)
            start = local.astimezone(UTC)
            end = start + timedelta(minutes=VISIT_MINUTES)
            reference = uuid.uuid4().hex[:12].upper()
            cancelled = len(rows) % 20 == 0
            rows.append(
                Appointment(
                    reference=reference,
                    patient=patients[n],
                    provider=provider,
                    service=service,
                    location=location,
                    start=start,
                    end=end,
                    blocked_start=start,
                    blocked_end=end,
                    slot_key=f"one:{reference}",
                    status=Appointment.Status.CANCELLED if cancelled else Appointment.Status.BOOKED,
                    cancelled_at=start - timedelta(days=1) if cancelled else None,
                    ical_sequence=1 if cancelled else 0,
                )
            )
    appointments = Appointment.objects.bulk_create(rows, batch_size=2000)
    now = datetime.now(UTC)
    Notification.objects.bulk_create(
        (
            Notification(
                subject_type="scheduling.appointment",
                subject_id=a.pk,
                kind="appointment.confirmation",
                planned_for=now,
                next_attempt_at=now,
                recipient="feed@example.org",
                status=Notification.Status.SENT,
                sent_at=now,
                message_id=f"<feed.{a.pk}@bench>",
                told={"sequence": 0},
            )
            for a in appointments[::3]
        ),
        batch_size=2000,
    )
    return len(appointments), calendar_feed.rotate(provider)


def main() -> None:
    env.recreate_database(DB_NAME)
    os.environ.update(env.app_env())
    os.environ["DATABASE_URL"] = env.database_url(DB_NAME)
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection
    from django.test import Client

    from scheduling import calendar_feed

    try:
        call_command("migrate", verbosity=0)
        print("migrated", flush=True)
        count, token = _populate()
        print(f"populated: {count} appointments", flush=True)
        feed = calendar_feed.feed_for_token(token)
        client = Client()
        path = f"/calendar/{token}.ics"
        first = client.get(path)
        assert first.status_code == 200, first.status_code
        with counting_queries() as queries:
            client.get(path)
        build = summarize(repeat(lambda: calendar_feed.build(feed).render(), runs=5))
        validators = summarize(repeat(lambda: calendar_feed.build(feed), runs=5))
        full = summarize(repeat(lambda: client.get(path), runs=5))
        etag = first["ETag"]
        not_modified = summarize(repeat(lambda: client.get(path, HTTP_IF_NONE_MATCH=etag), runs=5))
        assert client.get(path, HTTP_IF_NONE_MATCH=etag).status_code == 304
        load = os.getloadavg()
        print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores")
        print(f"load average: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
        print(f"appointments in the feed: {count} ({len(first.content) / 1024:.0f} KiB)")
        print(f"queries per request: {len(queries)}")
        print(f"build the feed (no cache): {build.short()}")
        print(f"read the feed's validators (ETag): {validators.short()}")
        print(f"whole request (200): {full.short()}")
        print(f"If-None-Match (304): {not_modified.short()}")
    finally:
        connection.close()
        env.psql(f'DROP DATABASE IF EXISTS "{DB_NAME}" WITH (FORCE)')


if __name__ == "__main__":
    main()
