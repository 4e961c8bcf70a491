"""The ledger's own rules, in one process (no broker, worker or SMTP server needed): uniqueness,
idempotent planning, leases, back-off, what the e-mails say, the staff API and the admin."""

import zoneinfo
from datetime import UTC, datetime, timedelta

import pytest
from django.core import mail
from django.db import IntegrityError, connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from clinic.models import Location
from notifications import services
from notifications.models import Notification
from scheduling.models import Appointment, Modality
from scheduling.notifications import CANCELLATION, CONFIRMATION, REMINDER, reminder_times
from tests.conftest import client_for, make_staff_user
from tests.factories.clinic import LocationFactory
from tests.factories.patients import PatientFactory, grant_consents
from tests.factories.scheduling import ServiceFactory
from tests.notifications.conftest import World
from tests.services import free_port

pytestmark = pytest.mark.django_db
TORONTO = zoneinfo.ZoneInfo("America/Toronto")
Status = Notification.Status


@pytest.fixture
def queued(monkeypatch) -> list[tuple[int, float]]:
    """Task messages the services would queue, recorded instead of sent to a broker."""
    calls: list[tuple[int, float]] = []
    monkeypatch.setattr(services, "_enqueue", lambda pk, countdown: calls.append((pk, countdown)))
    return calls


@pytest.fixture
def world(db, queued, django_capture_on_commit_callbacks):
    built = World()
    built.commit = lambda: django_capture_on_commit_callbacks(execute=True)
    return built


def book(world, start, **kwargs) -> Appointment:
    with world.commit():
        return world.book(start, **kwargs)


def test_the_database_refuses_a_second_row_for_the_same_subject_kind_and_time():
    when = timezone.now()
    fields = {
        "subject_type": "scheduling.appointment",
        "subject_id": 7,
        "kind": REMINDER,
        "planned_for": when,
        "recipient": "a@example.org",
        "next_attempt_at": when,
    }
    Notification.objects.create(**fields, message_id="<one@clinic.example>")
    with pytest.raises(IntegrityError), transaction.atomic():
        Notification.objects.create(**fields, message_id="<two@clinic.example>")


def test_planning_again_finds_the_same_row_and_a_withdrawn_time_comes_back(world, queued):
    appointment = book(world, timezone.now() + timedelta(days=2))
    at = appointment.start - timedelta(hours=2)
    first = services.plan(appointment, REMINDER, at, "a@example.org")
    again = services.plan(appointment, REMINDER, at, "a@example.org")
    assert again.pk == first.pk
    assert again.message_id == first.message_id

    services.withdraw(appointment, [REMINDER], reason="rescheduled")
    assert Notification.objects.get(pk=first.pk).status == Status.CANCELLED
    revived = services.plan(appointment, REMINDER, at, "a@example.org")
    assert (revived.pk, revived.status, revived.message_id) == (
        first.pk,
        Status.PENDING,
        first.message_id,
    )


def test_a_booking_announced_twice_still_has_one_pending_notice_and_the_same_reminders(
    world, queued
):
    """A booking's first e-mails go in as one batch; a second delivery of the booking signal
    meets the constraint and is planned as a change: the first notice is withdrawn for a new
    one, the reminders are the same rows."""
    from scheduling import signals

    appointment = book(world, timezone.now() + timedelta(days=3))
    reminders = set(Notification.objects.filter(kind=REMINDER).values_list("pk", "message_id"))
    assert len(reminders) == 2
    with world.commit():
        signals.appointment_booked.send(sender=Appointment, appointment=appointment, actor=None)
    pending = Notification.objects.filter(status=Status.PENDING)
    assert pending.filter(kind=CONFIRMATION).count() == 1
    assert set(pending.filter(kind=REMINDER).values_list("pk", "message_id")) == reminders


def test_a_worker_whose_lease_was_taken_over_records_nothing(world, settings):
    settings.NOTIFICATIONS_LEASE_SECONDS = 60
    appointment = book(world, timezone.now() + timedelta(days=2))
    now = timezone.now() + timedelta(minutes=4)
    slow = services.claim(now)
    assert slow.notification.kind == CONFIRMATION
    assert services.claim(now) is None, "a row under a live lease is not claimed again"

    later = now + timedelta(seconds=61)
    fast = services.claim(later, slow.notification.pk)
    assert fast is not None, "an expired lease is taken over"
    assert services.send_claimed(fast, later) == Status.SENT
    assert not services._finish(slow, status=Status.FAILED, last_error="late")
    row = Notification.objects.get(pk=slow.notification.pk)
    assert (row.status, row.attempts) == (Status.SENT, 2)
    assert len(mail.outbox) == 1
    assert mail.outbox[0].extra_headers["Message-ID"] == row.message_id
    assert appointment.pk == row.subject_id


def test_failed_sends_back_off_exponentially_then_end_failed(world, settings, queued):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", free_port()  # nobody listens
    settings.NOTIFICATIONS_RETRY_BASE_SECONDS = 10
    settings.NOTIFICATIONS_RETRY_MAX_SECONDS = 35
    settings.NOTIFICATIONS_MAX_ATTEMPTS = 5
    book(world, timezone.now() + timedelta(days=2))
    row = Notification.objects.get(kind=CONFIRMATION)
    queued.clear()
    now = row.next_attempt_at
    delays = []
    for _ in range(5):
        claimed = services.claim(now)
        services.send_claimed(claimed, now)
        row.refresh_from_db()
        delays.append((row.next_attempt_at - now).total_seconds())
        now = row.next_attempt_at
    assert row.status == Status.FAILED
    assert row.attempts == 5
    assert "Connection refused" in row.last_error or "Errno" in row.last_error
    # Doubling from the base, capped at the maximum (linear back-off would give 10, 20, 30, 35).
    assert delays[:4] == [10, 20, 35, 35]
    assert [countdown for _, countdown in queued] == [10, 20, 35, 35]


def test_reminders_whole_days_before_keep_the_local_time_across_daylight_saving_changes():
    location = Location(timezone="America/Toronto")
    spring = Appointment(start=datetime(2027, 3, 14, 10, 0, tzinfo=TORONTO), location=location)
    autumn = Appointment(start=datetime(2027, 11, 7, 10, 0, tzinfo=TORONTO), location=location)
    for appointment in (spring, autumn):
        times = reminder_times(appointment, [1440, 120])
        local = {offset: at.astimezone(TORONTO) for at, offset in times.items()}
        day_before = appointment.start.astimezone(TORONTO) - timedelta(days=1)
        assert local[1440].replace(tzinfo=None) == day_before.replace(tzinfo=None)
        assert appointment.start - local[120] == timedelta(hours=2)
    assert spring.start - next(at for at, o in reminder_times(spring, [1440]).items()) == timedelta(
        hours=23
    )
    assert autumn.start - next(at for at, o in reminder_times(autumn, [1440]).items()) == timedelta(
        hours=25
    )


def test_a_video_appointment_email_gives_the_joining_details_not_an_address(world):
    online = Location.objects.create(
        name="Online",
        slug="online",
        timezone="America/Toronto",
        jurisdiction="CA-ON",
        is_virtual=True,
        address_line="",
        virtual_instructions="We send a video link 15 minutes before the start.",
    )
    world.location = online
    world.service.modality = Modality.VIDEO
    world.service.save()
    start = datetime(2030, 12, 3, 9, 30, tzinfo=TORONTO)  # ahead of any run of this test
    book(world, start)
    row = Notification.objects.get(kind=CONFIRMATION)
    services.send_claimed(services.claim(row.next_attempt_at), row.next_attempt_at)
    [message] = mail.outbox
    text = message.body
    assert "Tuesday, December 3, 2030, 9:30 AM EST" in text
    assert "We send a video link 15 minutes before the start." in text
    assert "Where:" not in text
    html = message.alternatives[0][0]
    assert "video link" in html
    assert message.extra_headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"


def test_staff_read_the_ledger_by_status_and_the_list_does_not_grow_queries(
    world, front_desk_client, django_assert_max_num_queries
):
    base = datetime(2027, 1, 4, 15, 0, tzinfo=UTC)
    for i in range(5):
        book(world, base + timedelta(hours=i))
    Notification.objects.filter(kind=CONFIRMATION).update(status=Status.FAILED, last_error="554")
    with django_assert_max_num_queries(6):
        response = front_desk_client.get("/api/v1/notifications/", {"status": "failed"})
    assert response.status_code == 200
    assert response.json()["count"] == 5
    assert {item["status"] for item in response.json()["results"]} == {"failed"}
    clinician = make_staff_user("test-clinician", "clinician")
    assert client_for(clinician).get("/api/v1/notifications/").status_code == 200


def test_only_managers_retry_and_only_failed_rows(world, front_desk_client, manager_client, queued):
    book(world, datetime(2027, 1, 4, 15, 0, tzinfo=UTC))
    row = Notification.objects.get(kind=CONFIRMATION)
    reminder = Notification.objects.filter(kind=REMINDER).first()
    Notification.objects.filter(pk=row.pk).update(status=Status.FAILED, attempts=5)

    assert front_desk_client.post(f"/api/v1/notifications/{row.pk}/retry/").status_code == 403
    refused = manager_client.post(f"/api/v1/notifications/{reminder.pk}/retry/")
    assert refused.status_code == 409
    assert refused["Content-Type"] == "application/problem+json"
    assert refused.json()["type"].endswith("/invalid-transition")

    response = manager_client.post(f"/api/v1/notifications/{row.pk}/retry/")
    assert response.status_code == 200
    assert (response.json()["status"], response.json()["attempts"]) == ("pending", 0)


def test_a_manager_retries_failed_rows_from_the_admin(world, manager_user, client, queued):
    book(world, datetime(2027, 1, 4, 15, 0, tzinfo=UTC))
    row = Notification.objects.get(kind=CONFIRMATION)
    Notification.objects.filter(pk=row.pk).update(status=Status.FAILED)
    client.force_login(manager_user)
    response = client.post(
        "/admin/notifications/notification/",
        {"action": "retry_now", "_selected_action": [row.pk]},
    )
    assert response.status_code == 302
    row.refresh_from_db()
    assert row.status == Status.PENDING


def test_the_booking_services_plan_confirmation_reminders_and_cancellation_after_commit(
    db, queued, django_capture_on_commit_callbacks
):
    from scheduling.services import book_appointment, cancel_appointment, reschedule_appointment
    from tests.scheduling.conftest import local, make_physio, next_week

    location = LocationFactory(slug="pickering", name="Pickering")
    service = ServiceFactory(code="physio-assessment", name="Assessment", acts=["diagnose"])
    physio = make_physio(location, service, "Priya Physio")
    patient = PatientFactory()
    grant_consents(patient, "reminders")
    day = next_week()
    with django_capture_on_commit_callbacks(execute=True):
        appointment = book_appointment(
            service=service,
            location=location,
            start=local(day, "10:00"),
            patient=patient,
            provider=physio,
        )
    pending = Notification.objects.filter(status=Status.PENDING)
    assert sorted(pending.values_list("kind", flat=True)) == [CONFIRMATION, REMINDER, REMINDER]

    with django_capture_on_commit_callbacks(execute=True):
        reschedule_appointment(appointment, start=local(day, "14:00"))
    assert sorted(pending.values_list("kind", "planned_for")) == [
        (CONFIRMATION, pending.get(kind=CONFIRMATION).planned_for),
        (REMINDER, local(day, "14:00") - timedelta(days=1)),
        (REMINDER, local(day, "12:00")),
    ]

    with django_capture_on_commit_callbacks(execute=True):
        cancel_appointment(appointment, reason="Feeling better")
    assert list(pending.values_list("kind", flat=True)) == [CANCELLATION]
    assert not Notification.objects.filter(kind=REMINDER).exclude(status=Status.CANCELLED).exists()


def test_a_row_whose_workers_keep_dying_ends_failed_instead_of_looping(world, settings):
    settings.NOTIFICATIONS_LEASE_SECONDS = 60
    settings.NOTIFICATIONS_MAX_ATTEMPTS = 2
    book(world, timezone.now() + timedelta(days=2))
    now = timezone.now() + timedelta(minutes=4)
    for _ in range(2):  # claimed, then the worker dies and the lease runs out
        assert services.claim(now).notification.kind == CONFIRMATION
        now += timedelta(seconds=61)
    assert services.claim(now) is None
    row = Notification.objects.get(kind=CONFIRMATION)
    assert (row.status, row.attempts) == (Status.FAILED, 2)
    assert "lost while sending" in row.last_error
    assert mail.outbox == []


def test_beat_runs_the_sweep_every_minute():
    from clinic.celery import app

    entry = app.conf.beat_schedule["notifications-sweep"]
    assert entry["task"] == "notifications.sweep"
    assert "notifications.sweep" in app.tasks
    assert entry["schedule"] == 60.0


def test_a_refused_recipient_is_shown_to_staff_but_never_written_to_the_logs(
    world, settings, queued, monkeypatch, caplog
):
    """SMTP errors quote the patient's address; the row keeps it for staff, the log does not."""
    import smtplib

    from django.core.mail import EmailMultiAlternatives

    def refuse(message, fail_silently=False):
        raise smtplib.SMTPRecipientsRefused({message.to[0]: (550, b"mailbox unavailable")})

    monkeypatch.setattr(EmailMultiAlternatives, "send", refuse)
    settings.NOTIFICATIONS_MAX_ATTEMPTS = 2
    book(world, timezone.now() + timedelta(days=2))
    row = Notification.objects.get(kind=CONFIRMATION)
    now = row.next_attempt_at
    with caplog.at_level("DEBUG"):
        for _ in range(2):
            services.send_claimed(services.claim(now), now)
            now += timedelta(hours=1)
    row.refresh_from_db()
    assert row.status == Status.FAILED
    assert world.patient.email in row.last_error
    assert "SMTPRecipientsRefused" in caplog.text
    assert world.patient.email not in caplog.text


def test_a_reminder_already_being_sent_when_the_booking_moves_is_skipped_not_sent(world):
    """Withdrawing leaves rows in flight alone; the renderer must see the start has moved."""
    start = timezone.now() + timedelta(days=2)
    appointment = book(world, start)
    reminder = Notification.objects.get(kind=REMINDER, planned_for=start - timedelta(hours=2))
    claimed = services.claim(reminder.planned_for, reminder.pk)
    with world.commit():
        world.reschedule(appointment, start + timedelta(hours=3))
    assert services.send_claimed(claimed, reminder.planned_for) == Status.SKIPPED
    reminder.refresh_from_db()
    assert (reminder.status, reminder.reason) == (Status.SKIPPED, "rescheduled")
    assert mail.outbox == []


def test_a_reminder_whose_appointment_has_begun_is_skipped_not_sent_late(world):
    """A worker backlog must not remind a patient of an appointment that already started."""
    start = timezone.now() + timedelta(days=2)
    book(world, start)
    reminder = Notification.objects.get(kind=REMINDER, planned_for=start - timedelta(hours=2))
    late = start + timedelta(minutes=1)
    assert services.send_claimed(services.claim(late, reminder.pk), late) == Status.SKIPPED
    reminder.refresh_from_db()
    assert (reminder.status, reminder.reason) == (Status.SKIPPED, "too_late")


def test_a_changed_notice_raises_the_calendar_sequence_even_if_the_booking_did_not(world, queued):
    """Calendars ignore an update whose SEQUENCE is not above the one they hold."""
    import icalendar

    from scheduling.notifications import CHANGE

    appointment = book(world, timezone.now() + timedelta(days=2))
    confirmation = Notification.objects.get(kind=CONFIRMATION)
    now = confirmation.next_attempt_at
    assert services.send_claimed(services.claim(now, confirmation.pk), now) == Status.SENT
    # An edit that changes what the patient was told but forgot to bump the appointment's sequence.
    longer = appointment.end + timedelta(minutes=15)
    Appointment.objects.filter(pk=appointment.pk).update(end=longer, blocked_end=longer)
    with world.commit():
        notice = services.plan(appointment, CHANGE, now, world.patient.email)
    assert services.send_claimed(services.claim(now, notice.pk), now) == Status.SENT

    def sequence(message) -> int:
        [part] = [a for a in message.attachments if a.get_content_type() == "text/calendar"]
        calendar = icalendar.Calendar.from_ical(part.get_payload(decode=True))
        return int(next(iter(calendar.walk("VEVENT")))["SEQUENCE"])

    first, second = mail.outbox
    assert sequence(second) > sequence(first)


def test_a_confirmation_already_being_sent_when_the_booking_is_cancelled_is_skipped(world):
    """Withdrawing leaves rows in flight alone; the renderer must see the cancellation."""
    appointment = book(world, timezone.now() + timedelta(days=2))
    confirmation = Notification.objects.get(kind=CONFIRMATION)
    now = confirmation.next_attempt_at
    claimed = services.claim(now, confirmation.pk)
    with world.commit():
        world.cancel(appointment)
    assert services.send_claimed(claimed, now) == Status.SKIPPED
    confirmation.refresh_from_db()
    assert (confirmation.status, confirmation.reason) == (Status.SKIPPED, "appointment_cancelled")


def test_a_booking_cancelled_inside_the_grace_period_sends_nothing_at_all(world):
    """Booked and cancelled before the confirmation went out: the patient never heard of it."""
    appointment = book(world, timezone.now() + timedelta(days=2))
    with world.commit():
        world.cancel(appointment)
    cancellation = Notification.objects.get(kind=CANCELLATION)
    now = max(row.next_attempt_at for row in Notification.objects.all())
    for row in Notification.objects.filter(status=Status.PENDING).order_by("next_attempt_at"):
        services.send_claimed(services.claim(now, row.pk), now)
    assert mail.outbox == []
    cancellation.refresh_from_db()
    assert (cancellation.status, cancellation.reason) == (Status.SKIPPED, "never_told")


def test_sending_a_reminder_reads_its_appointment_once(world, settings):
    appointment = book(world, timezone.now() + timedelta(days=3))
    grant_consents(appointment.patient, "reminders")
    reminder = Notification.objects.filter(kind=REMINDER).earliest("planned_for")
    now = reminder.next_attempt_at
    with CaptureQueriesContext(connection) as queries:
        assert services.send_claimed(services.claim(now, reminder.pk), now) == Status.SENT
    appointment_reads = [q["sql"] for q in queries if 'FROM "scheduling_appointment"' in q["sql"]]
    assert len(appointment_reads) == 1, appointment_reads


def test_a_reminder_consent_is_the_latest_record_as_has_consent_reads_it(world):
    """The consent read along with the appointment decides as ``has_consent`` does: the latest
    record wins (the higher id on a tie), none means no."""
    from patients.models import Consent
    from patients.selectors import has_consent
    from scheduling.notifications import reminders_consented

    appointment = book(world, timezone.now() + timedelta(days=3))
    patient = appointment.patient
    reminder = Notification.objects.filter(kind=REMINDER).earliest("planned_for")

    def consented() -> bool:
        return reminders_consented(Notification.objects.get(pk=reminder.pk))

    at = timezone.now()
    cases = [(None, False), (True, True), (False, False), (True, True)]
    Consent.objects.filter(patient=patient).delete()
    for granted, expected in cases:
        if granted is not None:
            Consent.objects.create(
                patient=patient,
                purpose="reminders",
                granted=granted,
                recorded_at=at,
                source="staff",
            )
        assert consented() is has_consent(patient, "reminders") is expected


def test_sending_a_reminder_is_one_read_and_one_write_after_the_claim(world):
    """Consent and the clinic's name come with the appointment, read at send time (a renamed
    clinic is named at once)."""
    from clinic.models import ClinicSettings

    appointment = book(world, timezone.now() + timedelta(days=3))
    grant_consents(appointment.patient, "reminders")
    clinic = ClinicSettings.load()
    clinic.name = "Harbourfront Physio"
    clinic.save()
    reminder = Notification.objects.filter(kind=REMINDER).earliest("planned_for")
    now = reminder.next_attempt_at
    claimed = services.claim(now, reminder.pk)
    with CaptureQueriesContext(connection) as queries:
        assert services.send_claimed(claimed, now) == Status.SENT
    assert [q["sql"].split()[0] for q in queries] == ["SELECT", "UPDATE"]
    assert "Harbourfront Physio" in mail.outbox[0].body


def test_claiming_a_due_row_is_one_statement_and_takes_the_earliest_due(world, settings):
    """The claim is one UPDATE ... RETURNING (its own transaction), earliest due row first."""
    book(world, timezone.now() + timedelta(days=2))
    now = timezone.now() + timedelta(days=3)
    earliest = Notification.objects.order_by("next_attempt_at", "id").first()
    with CaptureQueriesContext(connection) as queries:
        claimed = services.claim(now)
    assert [q["sql"].split()[0] for q in queries] == ["UPDATE"]
    row = claimed.notification
    assert (row.pk, row.status, row.attempts) == (earliest.pk, Status.SENDING, 1)
    assert row.lease_token == claimed.token
    assert row.lease_expires_at == now + timedelta(seconds=services.conf.lease_seconds())
    assert (row.message_id, row.context) == (earliest.message_id, earliest.context)
    assert Notification.objects.get(pk=row.pk).lease_token == claimed.token


def test_a_row_whose_workers_keep_dying_ends_failed_even_while_others_are_due(world, settings):
    """Claims pass over it while other rows are due; once none is left it is failed, not sent."""
    settings.NOTIFICATIONS_LEASE_SECONDS = 60
    settings.NOTIFICATIONS_MAX_ATTEMPTS = 1
    book(world, timezone.now() + timedelta(days=2))
    now = timezone.now() + timedelta(minutes=4)
    dying = services.claim(now).notification
    now += timedelta(seconds=61)
    assert services.claim(now, dying.pk) is None
    assert Notification.objects.get(pk=dying.pk).status == Status.FAILED


def test_a_task_run_inline_inside_a_transaction_leaves_its_callers_connection_open(
    world, monkeypatch
):
    """With eager tasks (``CELERY_TASK_ALWAYS_EAGER``) a task shares the caller's connection;
    retiring connections between tasks must not close it under the caller's transaction."""
    from clinic.celery import app
    from notifications.tasks import send_notification

    monkeypatch.setitem(app.conf, "task_always_eager", True)
    appointment = book(world, timezone.now() + timedelta(days=3))
    row = Notification.objects.filter(kind=REMINDER).earliest("planned_for")
    with transaction.atomic():
        send_notification.delay(row.pk)  # not due yet: nothing to send
        assert Notification.objects.filter(subject_id=appointment.pk).count() == 3


def test_a_database_without_returning_still_claims_each_row_once(world, monkeypatch):
    """SQLite before 3.35 has no RETURNING: claims go through the locking ORM path."""
    book(world, timezone.now() + timedelta(days=3))
    row = Notification.objects.filter(kind=REMINDER).earliest("planned_for")
    monkeypatch.setattr(connection.features, "can_return_columns_from_insert", False)

    def no_returning(*args, **kwargs):
        raise AssertionError("UPDATE ... RETURNING used where the database has no RETURNING")

    monkeypatch.setattr(services, "_take", no_returning)
    claimed = services.claim(row.next_attempt_at, row.pk)
    assert claimed is not None
    assert claimed.notification.pk == row.pk
    assert services.claim(row.next_attempt_at, row.pk) is None
    assert Notification.objects.get(pk=row.pk).status == Status.SENDING


def test_a_moved_booking_whose_day_before_reminder_falls_on_an_old_reminder_time_still_gets_it(
    world, queued
):
    """Offsets of a day and an hour; 10:00 on one day moves to 09:00 the next. The new day-before
    reminder (09:00 on the first day) is the time of the old hour-before one: the pending row is
    kept and now speaks for the new start, so it is sent rather than skipped as rescheduled."""
    from clinic.models import ClinicSettings
    from scheduling.notifications import render_reminder

    settings_row = ClinicSettings.load()
    settings_row.reminder_offsets_minutes = [1440, 60]
    settings_row.save()
    first_10am = (
        (timezone.now() + timedelta(days=7))
        .astimezone(TORONTO)
        .replace(hour=10, minute=0, second=0, microsecond=0)
    )
    appointment = book(world, first_10am)
    next_9am = (first_10am + timedelta(days=1)).replace(hour=9)  # local wall time
    with world.commit():
        world.reschedule(appointment, next_9am)
    shared_time = first_10am.replace(hour=9)
    row = Notification.objects.get(kind=REMINDER, planned_for=shared_time)
    assert row.status == Status.PENDING
    assert row.context["offset_minutes"] == 1440
    assert datetime.fromisoformat(row.context["start"]) == next_9am
    email = render_reminder(row, shared_time)
    assert email.subject


def test_the_sweep_fails_a_row_whose_workers_keep_dying_even_with_a_backlog(world, monkeypatch):
    """The claim passes over such a row while others are due; the sweep fails it first, every
    minute, so staff see it as failed however long the backlog lasts."""
    from notifications import clock, conf

    monkeypatch.setattr(conf, "max_attempts", lambda: 1)
    monkeypatch.setattr(conf, "lease_seconds", lambda: 60)
    base = timezone.now() + timedelta(days=2)
    book(world, base)
    dying = services.claim(timezone.now() + timedelta(minutes=4)).notification
    for hours in range(1, 4):  # a backlog of other due confirmations
        book(world, base + timedelta(hours=hours))
    later = timezone.now() + timedelta(minutes=6)
    monkeypatch.setattr(clock, "now", lambda: later)
    assert services.sweep(limit=1) == 1  # no room to send anything: failing it comes first
    row = Notification.objects.get(pk=dying.pk)
    assert (row.status, row.attempts) == (Status.FAILED, 1)
    assert Notification.objects.filter(kind=CONFIRMATION, status=Status.PENDING).count() == 3
