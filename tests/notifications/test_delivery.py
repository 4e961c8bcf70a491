"""Appointment e-mails end to end: a real Redis broker, real ``celery -A clinic worker``
processes on the test database, a real SMTP server, and a clock moved for all of them."""

import zoneinfo
from collections import Counter
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage

import icalendar
import pytest

from notifications import clock
from notifications.models import Notification
from notifications.tasks import send_notification, sweep
from patients.services import record_consents
from scheduling.notifications import CANCELLATION, CHANGE, CONFIRMATION, REMINDER
from tests.notifications.conftest import run_sweep, sweep_until
from tests.services import WORKER_SETTINGS, WorkerPool, wait_until

pytestmark = [
    pytest.mark.services,
    pytest.mark.postgres,
    pytest.mark.django_db(transaction=True),
]

TORONTO = zoneinfo.ZoneInfo("America/Toronto")
GRACE = timedelta(minutes=3, seconds=1)
Status = Notification.Status


def calendar_of(message: EmailMessage) -> icalendar.Calendar:
    parts = [p for p in message.walk() if p.get_content_type() == "text/calendar"]
    assert len(parts) == 1, "one iCalendar attachment"
    return icalendar.Calendar.from_ical(parts[0].get_payload(decode=True))


def event_of(message: EmailMessage) -> icalendar.Event:
    return calendar_of(message).walk("VEVENT")[0]


def text_of(message: EmailMessage) -> str:
    return message.get_body(preferencelist=("plain",)).get_content()


def html_of(message: EmailMessage) -> str:
    return message.get_body(preferencelist=("html",)).get_content()


def next_start(days: int = 2, hour: int = 10) -> datetime:
    """A start ``days`` ahead at ``hour`` local time in Toronto (no DST change in between)."""
    local = clock.now().astimezone(TORONTO) + timedelta(days=days)
    return local.replace(hour=hour, minute=0, second=0, microsecond=0).astimezone(UTC)


def rows(appointment, kind=None):
    qs = Notification.objects.filter(subject_id=appointment.pk).order_by("planned_for")
    return qs.filter(kind=kind) if kind else qs


def test_booking_sends_one_confirmation_after_grace_and_reminders_at_the_offsets(
    world, celery_workers, smtp_server, service_clock
):
    start = next_start()
    appointment = world.book(start)
    reminders = list(rows(appointment, REMINDER))
    assert [r.planned_for for r in reminders] == [
        start - timedelta(hours=24),
        start - timedelta(hours=2),
    ]

    service_clock.advance(timedelta(minutes=2))
    run_sweep()
    assert smtp_server.received() == [], "nothing before the grace period ends"

    service_clock.advance(timedelta(minutes=1, seconds=1))
    run_sweep()
    [confirmation] = smtp_server.wait_for(1)
    assert confirmation["To"] == world.patient.email
    assert confirmation["Subject"].startswith("Booked: Physiotherapy follow-up")
    local = start.astimezone(TORONTO)
    assert f"10:00 AM {local.tzname()}" in text_of(confirmation)
    assert "1755 Pickering Pkwy" in text_of(confirmation)
    assert f"/manage/{appointment.reference}/?token=" in html_of(confirmation)
    assert confirmation["List-Unsubscribe"].strip().startswith("<http")
    assert "/unsubscribe/?token=" in confirmation["List-Unsubscribe"]
    assert confirmation["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    calendar = calendar_of(confirmation)
    assert calendar["METHOD"] == "REQUEST"
    event = calendar.walk("VEVENT")[0]
    assert str(event["UID"]) == appointment.ical_uid
    assert event.decoded("DTSTART") == start
    assert event.decoded("DTEND") == start + timedelta(minutes=45)

    service_clock.move_to(reminders[0].planned_for + timedelta(seconds=1))
    run_sweep()
    messages = smtp_server.wait_for(2)
    assert messages[1]["Subject"].startswith("Reminder: Physiotherapy follow-up")
    assert f"10:00 AM {local.tzname()}" in text_of(messages[1])

    service_clock.move_to(reminders[1].planned_for + timedelta(seconds=1))
    run_sweep()
    messages = smtp_server.wait_for(3)
    service_clock.advance(timedelta(days=1))
    run_sweep()

    assert len(smtp_server.received()) == 3
    assert [m["Subject"].split(":")[0] for m in messages] == ["Booked", "Reminder", "Reminder"]
    assert len(set(smtp_server.message_ids())) == 3
    assert set(rows(appointment).values_list("status", flat=True)) == {Status.SENT}


def test_reschedules_inside_the_grace_period_send_one_notice_with_the_final_time(
    world, celery_workers, smtp_server, service_clock
):
    first = next_start()
    appointment = world.book(first)
    service_clock.advance(timedelta(minutes=1))
    world.reschedule(appointment, first + timedelta(hours=1))
    service_clock.advance(timedelta(minutes=1))
    final = first + timedelta(hours=3)
    world.reschedule(appointment, final)

    service_clock.advance(GRACE)
    run_sweep()
    [notice] = smtp_server.wait_for(1)
    assert event_of(notice).decoded("DTSTART") == final
    assert "1:00 PM" in text_of(notice)
    assert sorted(rows(appointment, CONFIRMATION).values_list("status", "reason")) == [
        (Status.CANCELLED, "superseded"),
        (Status.CANCELLED, "superseded"),
        (Status.SENT, ""),
    ]
    reminders = rows(appointment, REMINDER).filter(status=Status.PENDING)
    assert [r.planned_for for r in reminders] == [
        final - timedelta(hours=24),
        final - timedelta(hours=2),
    ]


def test_an_edit_undone_inside_the_grace_period_sends_nothing_and_a_change_is_announced(
    world, celery_workers, smtp_server, service_clock
):
    start = next_start()
    appointment = world.book(start)
    service_clock.advance(GRACE)
    run_sweep()
    [confirmation] = smtp_server.wait_for(1)

    world.reschedule(appointment, start + timedelta(hours=2))
    service_clock.advance(timedelta(minutes=1))
    world.reschedule(appointment, start)
    service_clock.advance(GRACE)
    run_sweep()
    assert len(smtp_server.received()) == 1
    assert rows(appointment, CHANGE).get(status=Status.SKIPPED).reason == "unchanged"

    moved = start + timedelta(days=1)
    world.reschedule(appointment, moved)
    service_clock.advance(GRACE)
    run_sweep()
    change = smtp_server.wait_for(2)[1]
    assert change["Subject"].startswith("Changed:")
    before, after = event_of(confirmation), event_of(change)
    assert calendar_of(change)["METHOD"] == "REQUEST"
    assert str(after["UID"]) == str(before["UID"]) == appointment.ical_uid
    assert int(after["SEQUENCE"]) > int(before["SEQUENCE"])
    assert after.decoded("DTSTART") == moved


def test_cancelling_sends_method_cancel_and_no_reminder_afterwards(
    world, celery_workers, smtp_server, service_clock
):
    start = next_start()
    appointment = world.book(start)
    service_clock.advance(GRACE)
    run_sweep()
    [confirmation] = smtp_server.wait_for(1)

    world.cancel(appointment)
    cancellation = smtp_server.wait_for(2)[1]  # sent at once by its own task, no sweep needed
    assert cancellation["Subject"].startswith("Cancelled:")
    assert "book online: http://" in text_of(cancellation)
    calendar = calendar_of(cancellation)
    assert calendar["METHOD"] == "CANCEL"
    event = calendar.walk("VEVENT")[0]
    assert str(event["UID"]) == appointment.ical_uid
    assert int(event["SEQUENCE"]) > int(event_of(confirmation)["SEQUENCE"])
    assert str(event["STATUS"]) == "CANCELLED"

    service_clock.move_to(start - timedelta(minutes=30))
    run_sweep()
    assert len(smtp_server.received()) == 2
    assert set(rows(appointment, REMINDER).values_list("status", "reason")) == {
        (Status.CANCELLED, "appointment_cancelled")
    }
    assert rows(appointment, CANCELLATION).get().status == Status.SENT


def test_duplicate_task_deliveries_and_two_racing_workers_send_each_email_once(
    world, celery_workers, smtp_server, service_clock
):
    celery_workers.start()  # a second worker
    assert len(celery_workers.alive()) == 2
    base = next_start(days=3)
    appointments = [world.book(base + timedelta(hours=i)) for i in range(12)]
    service_clock.advance(GRACE)
    due = list(Notification.objects.filter(kind=CONFIRMATION).values_list("pk", flat=True))
    assert len(due) == 12
    for pk in due:  # every task message delivered twice, and two sweeps, to two workers
        send_notification.delay(pk)
        send_notification.delay(pk)
    sweep.delay()
    run_sweep()

    messages = smtp_server.wait_for(12)
    wait_until(
        lambda: (
            not Notification.objects.filter(kind=CONFIRMATION).exclude(status=Status.SENT).exists()
        ),
        30,
    )
    assert len(smtp_server.received()) == 12
    ids = Counter(smtp_server.message_ids())
    assert set(ids.values()) == {1}
    assert set(ids) == set(
        Notification.objects.filter(kind=CONFIRMATION).values_list("message_id", flat=True)
    )
    assert sorted(m["To"] for m in messages) == sorted([a.patient.email for a in appointments])


def test_a_worker_keeps_one_database_connection_across_tasks(
    world, celery_workers, smtp_server, service_clock, tmp_path
):
    """Reconnecting to the database for every e-mail halved the pipeline: where connections may
    live (``CONN_MAX_AGE``), a worker sends one e-mail after another on the same connection."""
    celery_workers.stop_all()  # the next test's fixture starts the usual worker again
    keeping = WorkerPool({**celery_workers.env, "DB_CONN_MAX_AGE": "60"}, tmp_path)
    keeping.start()
    try:
        base = next_start(days=3)
        for hours in range(3):
            world.book(base + timedelta(hours=hours))
        service_clock.advance(GRACE)
        seen = []
        for pk in Notification.objects.filter(kind=CONFIRMATION).values_list("pk", flat=True):
            send_notification.delay(pk)
            wait_until(lambda pk=pk: Notification.objects.get(pk=pk).status == Status.SENT, 30)
            seen.append(other_database_sessions())
        assert len(seen) == 3
        assert len(seen[0]) == 1
        assert seen == [seen[0]] * 3
    finally:
        keeping.stop_all()


def other_database_sessions() -> set[int]:
    """Backend pids of the other sessions open on the test database."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pid FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        return {pid for (pid,) in cursor.fetchall()}


def test_smtp_down_then_back_is_retried_and_sent_once(
    world, celery_workers, smtp_server, service_clock
):
    smtp_server.stop()
    appointment = world.book(next_start())
    service_clock.advance(GRACE)
    sweep_task = run_sweep_async()
    row = rows(appointment, CONFIRMATION).get()
    wait_until(lambda: refreshed(row).attempts >= 1 and refreshed(row).last_error, 20, "a failure")
    assert refreshed(row).status in {Status.PENDING, Status.SENDING}
    smtp_server.start()

    [message] = smtp_server.wait_for(1, timeout=30)
    wait_until(lambda: refreshed(row).status == Status.SENT, 20, "sent")
    row = refreshed(row)
    assert row.attempts >= 2
    assert message["Message-ID"] == row.message_id
    run_sweep()
    assert len(smtp_server.received()) == 1
    assert sweep_task


def test_permanently_failing_smtp_ends_failed_visible_to_staff_and_a_manager_can_retry(
    world, celery_workers, smtp_server, service_clock, front_desk_client, manager_client
):
    smtp_server.mode = "reject"
    appointment = world.book(next_start())
    service_clock.advance(GRACE)
    run_sweep_async()
    row = rows(appointment, CONFIRMATION).get()
    wait_until(lambda: refreshed(row).status == Status.FAILED, 30, "the row to fail")
    row = refreshed(row)
    assert row.attempts == int(WORKER_SETTINGS["NOTIFICATIONS_MAX_ATTEMPTS"])
    assert "554" in row.last_error

    listed = front_desk_client.get("/api/v1/notifications/", {"status": "failed"}).json()
    assert [item["id"] for item in listed["results"]] == [row.pk]
    assert listed["results"][0]["last_error"] == row.last_error
    refused = front_desk_client.post(f"/api/v1/notifications/{row.pk}/retry/")
    assert refused.status_code == 403

    smtp_server.mode = "accept"
    response = manager_client.post(f"/api/v1/notifications/{row.pk}/retry/")
    assert response.status_code == 200
    [message] = smtp_server.wait_for(1)
    assert message["Message-ID"] == row.message_id
    wait_until(lambda: refreshed(row).status == Status.SENT, 20, "sent after retry")


def test_consent_withdrawn_after_booking_skips_reminders_but_not_the_confirmation(
    world, celery_workers, smtp_server, service_clock
):
    start = next_start()
    appointment = world.book(start)
    record_consents(world.patient, choices={"reminders": False}, source="email_link")

    service_clock.advance(GRACE)
    run_sweep()
    [confirmation] = smtp_server.wait_for(1)
    assert confirmation["Subject"].startswith("Booked:")

    service_clock.move_to(start - timedelta(minutes=90))
    run_sweep()
    assert len(smtp_server.received()) == 1
    assert set(rows(appointment, REMINDER).values_list("status", "reason")) == {
        (Status.SKIPPED, "no_consent")
    }


def test_worker_killed_mid_batch_then_restarted_sends_every_reminder_exactly_once(
    world, celery_workers, smtp_server, service_clock
):
    base = next_start(days=3, hour=8)
    patients = [world.new_patient() for _ in range(20)]
    for i, patient in enumerate(patients):
        world.book(base + timedelta(hours=i), patient=patient)
    service_clock.advance(GRACE)
    run_sweep()  # the confirmations, out of the way
    smtp_server.wait_for(20)
    smtp_server.clear()

    reminders = Notification.objects.filter(kind=REMINDER, context__offset_minutes=24 * 60)
    assert reminders.count() == 20
    service_clock.move_to(base - timedelta(hours=2, minutes=1))  # every 24-hour reminder is due
    smtp_server.delay = 0.3
    [worker] = celery_workers.alive()
    run_sweep_async()
    smtp_server.wait_for(5)
    # Kill while the server is answering a message: it gets it, the worker never hears back.
    wait_until(lambda: smtp_server.started > len(smtp_server.received()), 20, "a send in flight")
    worker.kill()
    assert len(smtp_server.received()) < 20, "the worker died in the middle of the batch"
    # Its batch was left behind under its lease: the row in flight and those not yet started.
    held = reminders.filter(status=Status.SENDING)
    assert 1 <= held.count() <= int(WORKER_SETTINGS["NOTIFICATIONS_BATCH_SIZE"])
    assert held.values("lease_token").distinct().count() == 1

    celery_workers.start()  # restarted
    service_clock.advance(timedelta(seconds=31))  # past the lease
    # Once the killed worker's heartbeat is older than the holder timeout, a sweep takes over.
    sweep_until(
        lambda: not reminders.exclude(status=Status.SENT).exists(),
        60,
        "the dead worker's batch to be taken over",
    )
    smtp_server.wait_for(20)
    assert set(reminders.values_list("status", flat=True)) == {Status.SENT}
    ids = Counter(smtp_server.message_ids())
    assert set(ids) == set(reminders.values_list("message_id", flat=True))
    # The only possible repeat is the one message in flight at the kill, with the same Message-ID.
    assert sum(count - 1 for count in ids.values()) <= 1


def test_reminder_times_on_a_daylight_saving_day_in_toronto(
    world, celery_workers, smtp_server, service_clock
):
    # Clocks go forward at 02:00 on Sunday 14 March 2027 in Toronto (EST -5 -> EDT -4).
    service_clock.move_to(datetime(2027, 3, 13, 8, 0, tzinfo=TORONTO))
    start = datetime(2027, 3, 14, 10, 0, tzinfo=TORONTO)
    appointment = world.book(start)
    reminders = list(rows(appointment, REMINDER))
    assert [r.planned_for.astimezone(TORONTO) for r in reminders] == [
        datetime(2027, 3, 13, 10, 0, tzinfo=TORONTO),  # the day before, same local time (EST)
        datetime(2027, 3, 14, 8, 0, tzinfo=TORONTO),  # two hours before (EDT)
    ]
    assert reminders[1].planned_for - reminders[0].planned_for == timedelta(hours=21)

    service_clock.move_to(reminders[0].planned_for + timedelta(seconds=1))
    run_sweep()
    day_before = smtp_server.wait_for(2)[1]
    assert "Sunday, March 14, 2027, 10:00 AM EDT" in text_of(day_before)
    service_clock.move_to(reminders[1].planned_for + timedelta(seconds=1))
    run_sweep()
    two_hours = smtp_server.wait_for(3)[2]
    assert "10:00 AM EDT" in text_of(two_hours)
    assert event_of(smtp_server.received()[0]).decoded("DTSTART") == start.astimezone(UTC)


def refreshed(row: Notification) -> Notification:
    return Notification.objects.get(pk=row.pk)


def run_sweep_async():
    return sweep.delay()
