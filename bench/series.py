"""Recurring series, timed: ``python -m bench.series``.

Builds its own database (``BENCH_SERIES_DB``, default ``clinic_bench_series``, dropped and
migrated afresh): one Toronto location, three physiotherapists working 08:00-18:00 every day,
each with five other patients' visits a day over the next half year (so the calendar a preview
reads is a busy one). Then, in-process as a manager (Django's test client: routing, DRF, the
services and JSON rendering, without a socket), it times ``POST /api/v1/appointments/series/``
for a 24-visit series (Mondays and Thursdays, twelve weeks) as a preview and as a booking, and
counts the SQL queries of each against a 2-visit series and a single staff booking, to show
that a preview reads the same whatever the number of visits and a booking costs per visit what
the booking rule costs. ``measure(populate(), runs)`` returns the figures (on whatever database
Django is set up for); ``main()`` builds its own database, prints them and drops it.
"""

import os
import platform
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from bench import env, world
from bench.stats import counting_queries, repeat, summarize

DB_NAME = os.environ.get("BENCH_SERIES_DB", "clinic_bench_series")
PATH = "/api/v1/appointments/series/"
PROVIDERS = 3
BOOKED_PER_DAY = 5
DAYS = 190
VISITS = 24


def populate() -> dict:
    """The clinic, its busy calendar and a manager; returns the ids a request needs."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group

    from clinic import roles
    from patients.models import Patient
    from providers.models import Credential, Discipline, Provider
    from scheduling.models import Appointment, WeeklyAvailability
    from scheduling.services import create_offering

    location, service = world.location_and_service(
        "Series bench", "series-bench", "Physiotherapy follow-up"
    )
    discipline = Discipline.objects.get(code="physiotherapist")
    today = datetime.now(UTC).date()
    providers = []
    for n in range(PROVIDERS):
        provider = Provider.objects.create(display_name=f"Series PT {n}", discipline=discipline)
        Credential.objects.create(
            provider=provider,
            kind=Credential.Kind.LICENCE,
            number=f"B-{n}",
            issuing_body="College",
            jurisdiction="CA-ON",
            valid_from=today - timedelta(days=365),
        )
        provider.locations.add(location)
        create_offering(provider=provider, service=service, location=location)
        WeeklyAvailability.objects.bulk_create(
            WeeklyAvailability(
                provider=provider,
                location=location,
                weekday=day,
                start_time=time(8),
                end_time=time(18),
                valid_from=today - timedelta(days=1),
            )
            for day in range(7)
        )
        providers.append(provider)
    others = Patient.objects.bulk_create(
        Patient(first_name="Other", last_name=f"Patient {n}", email=f"other.{n}@example.org")
        for n in range(BOOKED_PER_DAY * PROVIDERS)
    )
    rows = []
    for index, provider in enumerate(providers):
        for offset in range(1, DAYS):
            day = today + timedelta(days=offset)
            for n in range(BOOKED_PER_DAY):
                local = datetime.combine(day, time(8 + 2 * n), tzinfo=location.zone)
                start = local.astimezone(UTC)
                end = start + timedelta(minutes=45)
                rows.append(
                    Appointment(
                        patient=others[index * BOOKED_PER_DAY + n],
                        provider=provider,
                        service=service,
                        location=location,
                        start=start,
                        end=end,
                        blocked_start=start,
                        blocked_end=end,
                        slot_key=f"one:{provider.pk}:{start:%Y%m%d%H%M}",
                    )
                )
    Appointment.objects.bulk_create(rows, batch_size=2000)
    user = get_user_model().objects.create_user(username="bench-series", is_staff=True)
    user.groups.add(Group.objects.get(name=roles.MANAGER))
    return {
        "user": user,
        "location": location.pk,
        "service": service.pk,
        "provider": providers[0].pk,
        "appointments": len(rows),
        "today": today,
    }


def _body(world: dict, patient_id: int, start: datetime, count: int, preview: bool) -> dict:
    return {
        "service": world["service"],
        "location": world["location"],
        "provider": world["provider"],
        "patient": patient_id,
        "start": start.isoformat(),
        "rule": {"freq": "weekly", "by_weekday": ["MO", "TH"], "count": count},
        "preview": preview,
        "on_conflict": "refuse",
    }


def _queries(client, body: dict, expect: int) -> int:

    with counting_queries() as captured:
        response = client.post(PATH, body, format="json")
    assert response.status_code == expect, response.content[:400]
    return len(captured)


def measure(world: dict, runs: int = 5) -> dict:
    """Preview and booking of a 24-visit series: server time and queries, with the query count
    of a 2-visit series and of a single booking beside them."""
    from rest_framework.test import APIClient

    from patients.models import Patient

    client = APIClient()
    client.force_authenticate(world["user"])
    zone = ZoneInfo("America/Toronto")
    monday = world["today"] + timedelta(days=7 - world["today"].weekday())

    def at(hour: int, weeks: int = 0) -> datetime:
        return datetime.combine(monday + timedelta(weeks=weeks), time(hour, 15), tzinfo=zone)

    def patient(n: int) -> int:
        return Patient.objects.create(
            first_name="Series", last_name=f"Bench {n}", email=f"series.{n}@example.org"
        ).pk

    previewer = patient(0)
    preview_queries = {
        count: _queries(client, _body(world, previewer, at(9), count, True), 200)
        for count in (2, VISITS)
    }
    preview = summarize(
        repeat(
            lambda: client.post(PATH, _body(world, previewer, at(9), VISITS, True), format="json"),
            runs=runs,
        )
    )
    # Each booking takes fresh times (another quarter-hour, another patient), so every run
    # books 24 new visits into the same busy calendar.
    booking_queries = {
        2: _queries(client, _body(world, patient(1), at(9, weeks=30), 2, False), 201),
        VISITS: _queries(client, _body(world, patient(2), at(11), VISITS, False), 201),
    }
    hours = iter([13, 15, 17, 9, 11, 13, 15, 17] * 4)
    weeks = iter(range(13, 200, 13))
    seats = iter(range(3, 10_000))

    def book() -> None:
        body = _body(world, patient(next(seats)), at(next(hours), next(weeks)), VISITS, False)
        response = client.post(PATH, body, format="json")
        assert response.status_code == 201, response.content[:400]

    booking = summarize(repeat(book, runs=runs, warmup=1))
    single = {
        "service": world["service"],
        "location": world["location"],
        "provider": world["provider"],
        "patient": patient(9_999),
        "start": at(9, weeks=250).isoformat(),  # clear of every series above
    }
    with counting_queries() as captured:
        response = client.post("/api/v1/appointments/", single, format="json")
    assert response.status_code == 201, response.content[:400]
    per_visit = (booking_queries[VISITS] - booking_queries[2]) / (VISITS - 2)
    return {
        "visits": VISITS,
        "calendar_appointments": world["appointments"],
        "preview": {"server": preview.as_dict(), "queries": preview_queries},
        "booking": {
            "server": booking.as_dict(),
            "queries": booking_queries,
            "queries_per_extra_visit": round(per_visit, 1),
        },
        "single_booking_queries": len(captured),
    }


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
        world = populate()
        print(f"populated: {world['appointments']} appointments", flush=True)
        figures = measure(world, runs=int(os.environ.get("BENCH_SERIES_RUNS", "5")))
        load = os.getloadavg()
        print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores")
        print(f"load average: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
        preview, booking = figures["preview"], figures["booking"]
        print(
            f"preview of {VISITS} visits: p50 {preview['server']['p50']:.1f} ms, "
            f"p95 {preview['server']['p95']:.1f} ms; queries {preview['queries']}"
        )
        print(
            f"booking of {VISITS} visits: p50 {booking['server']['p50']:.1f} ms, "
            f"p95 {booking['server']['p95']:.1f} ms; queries {booking['queries']} "
            f"({booking['queries_per_extra_visit']} per extra visit)"
        )
        print(f"a single staff booking: {figures['single_booking_queries']} queries")
    finally:
        connection.close()
        env.psql(f'DROP DATABASE IF EXISTS "{DB_NAME}" WITH (FORCE)')


if __name__ == "__main__":
    main()
