"""A provider's calendar feed (``GET /calendar/{token}.ics``) over its full window, timed.

Set-up (``populate``, not timed, on whatever database Django is set up for): one Toronto
location, one physiotherapist with eight 45-minute visits every weekday from 90 days back to 366
days ahead (the whole window a feed covers), a third of them with a sent invitation in the ledger
(the feed reads the invitation's SEQUENCE), every twentieth cancelled; and a second one with a
single week of visits, whose feed must cost the same queries. Timed (``measure``): building the
feed, reading its validators alone, the whole request in-process (token lookup, build, body
cache, audit row) and the ``304`` answer to a matching ``If-None-Match``, with the SQL queries
of each kind of request and every status (a 200, then a 304, or the run fails).

``python -m bench.calendar_feed`` runs it alone in its own database (``BENCH_FEED_DB``, default
``clinic_bench_feed``, dropped and migrated afresh) and prints the figures.
"""

import os
import platform
import uuid
from datetime import UTC, datetime, time, timedelta

from bench import env, planner
from bench.stats import counting_queries, repeat, summarize

DB_NAME = os.environ.get("BENCH_FEED_DB", "clinic_bench_feed")
VISITS_PER_DAY = 8
VISIT_MINUTES = 45


def _calendar(provider, location, service, patients, first: int, last: int) -> list:
    """``VISITS_PER_DAY`` visits on each weekday from ``first`` to ``last`` days from today, a
    third with a sent invitation in the ledger, every twentieth cancelled."""
    from notifications.models import Notification
    from scheduling.models import Appointment

    today = datetime.now(UTC).date()
    rows = []
    for offset in range(first, last):
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
    return appointments


def populate() -> dict:
    """The two providers' calendars and feed links: ``{"full": ..., "week": ...}``, each with
    its token and the number of appointments in its window."""
    from clinic.models import Location
    from patients.models import Patient
    from providers.models import Discipline, Provider
    from scheduling import calendar_feed
    from scheduling.models import Service

    location = Location.objects.create(
        name="Feed bench",
        slug="feed-bench",
        address_line="1 Bench Rd",
        city="Toronto",
        timezone="America/Toronto",
        jurisdiction="CA-ON",
    )
    service = Service.objects.create(
        code="feed-bench", name="Physiotherapy follow-up", duration_minutes=VISIT_MINUTES
    )
    physio = Discipline.objects.get(code="physiotherapist")
    windows = {
        "full": (-calendar_feed.PAST_DAYS + 1, calendar_feed.AHEAD_DAYS - 1),
        "week": (1, 8),
    }
    world = {}
    for name, (first, last) in windows.items():
        provider = Provider.objects.create(display_name=f"Feed Bench PT {name}", discipline=physio)
        patients = Patient.objects.bulk_create(
            Patient(first_name="Bench", last_name=f"Patient {n}", email=f"feed.{name}.{n}@x.org")
            for n in range(VISITS_PER_DAY)
        )
        visits = _calendar(provider, location, service, patients, first, last)
        world[name] = {"token": calendar_feed.rotate(provider), "appointments": len(visits)}
    planner.analyze()
    return world


def measure(world: dict, runs: int) -> dict:
    """Build, validators, the whole request and the 304 over the full window; the queries of a
    200 for both feeds and of a 304; every status."""
    from django.test import Client

    from scheduling import calendar_feed

    client = Client()
    unexpected: list[str] = []

    def get(path: str, expect: int, **headers):
        response = client.get(path, **headers)
        if response.status_code != expect:
            unexpected.append(f"{path[-12:]}: {response.status_code}, expected {expect}")
        return response

    queries = {}
    sizes = {}
    for name, feed in world.items():
        path = f"/calendar/{feed['token']}.ics"
        get(path, 200)  # warm: the first request builds and caches the body
        with counting_queries() as captured:
            response = get(path, 200)
        queries[name] = len(captured)
        sizes[name] = len(response.content)
    full = world["full"]
    path = f"/calendar/{full['token']}.ics"
    etag = client.get(path)["ETag"]
    with counting_queries() as captured:
        get(path, 304, HTTP_IF_NONE_MATCH=etag)
    not_modified_queries = len(captured)
    feed = calendar_feed.feed_for_token(full["token"])
    build = summarize(repeat(lambda: calendar_feed.build(feed).render(), runs=runs))
    validators = summarize(repeat(lambda: calendar_feed.build(feed), runs=runs))
    request = summarize(repeat(lambda: get(path, 200), runs=runs))
    not_modified = summarize(repeat(lambda: get(path, 304, HTTP_IF_NONE_MATCH=etag), runs=runs))
    return {
        "appointments": {name: feed["appointments"] for name, feed in world.items()},
        "kib": round(sizes["full"] / 1024),
        "queries": queries,
        "not_modified_queries": not_modified_queries,
        "build": build.as_dict(),
        "validators": validators.as_dict(),
        "request": request.as_dict(),
        "not_modified": not_modified.as_dict(),
        "unexpected": unexpected,
    }


def invariants_hold(feed: dict) -> bool:
    """200s and 304s as expected, and a feed costs the same queries for a week as for its
    full window."""
    return not feed["unexpected"] and len(set(feed["queries"].values())) == 1


def main() -> None:
    env.recreate_database(DB_NAME)
    os.environ.update(env.app_env())
    os.environ["DATABASE_URL"] = env.database_url(DB_NAME)
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    try:
        call_command("migrate", verbosity=0)
        print("migrated", flush=True)
        world = populate()
        print(f"populated: {world['full']['appointments']} appointments", flush=True)
        figures = measure(world, runs=int(os.environ.get("BENCH_FEED_RUNS", "5")))
        load = os.getloadavg()
        print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores")
        print(f"load average: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
        print(f"appointments in the feed: {figures['appointments']} ({figures['kib']} KiB)")
        print(f"queries per request: {figures['queries']}; 304: {figures['not_modified_queries']}")
        for key, label in (
            ("build", "build the feed (no cache)"),
            ("validators", "read the feed's validators (ETag)"),
            ("request", "whole request (200)"),
            ("not_modified", "If-None-Match (304)"),
        ):
            ms = figures[key]
            print(f"{label}: p50 {ms['p50']:.1f} ms, p95 {ms['p95']:.1f} ms (n={ms['n']})")
        if figures["unexpected"]:
            print(f"unexpected answers: {figures['unexpected']}")
    finally:
        connection.close()
        env.psql(f'DROP DATABASE IF EXISTS "{DB_NAME}" WITH (FORCE)')


if __name__ == "__main__":
    main()
