"""The morning reminder of unsigned notes end to end: real Redis, two real Celery workers on
the test database, a real SMTP server. Beat's task runs twice (and once more in this process)
while two workers race: each clinician with notes unsigned for more than a day gets exactly one
e-mail listing them; a clinician whose notes are all recent or signed gets none."""

import datetime
from collections import Counter

import pytest
from django.utils import timezone

from notifications.models import Notification
from plans.notes import lifecycle, reminders
from plans.tasks import unsigned_note_reminders
from tests.factories.notes import pickering, visit
from tests.factories.patients import clinician_user
from tests.factories.plans import physio
from tests.factories.providers import ensure_scope_catalog
from tests.notifications.conftest import run_sweep
from tests.services import wait_until

pytestmark = [
    pytest.mark.services,
    pytest.mark.postgres,
    pytest.mark.django_db(transaction=True),
]


def clinician_with_drafts(name: str, days_ago: list[float], location):
    provider = physio(locations=[location], email=f"{name}@clinic.example")
    user = clinician_user(name, provider=provider)
    now = timezone.now().replace(microsecond=0)
    notes = []
    for days in days_ago:
        appointment = visit(provider, location, start=now - datetime.timedelta(days=days))
        notes.append(lifecycle.start_note(appointment, user=user))
    return provider, notes


def test_unsigned_note_email_is_sent_once_per_clinician_when_beat_runs_twice_and_workers_race(
    celery_workers, smtp_server, service_clock
):
    ensure_scope_catalog()
    location = pickering()
    # 08:30 in Toronto today, so every clinician's 07:00 has come.
    local = timezone.now().astimezone(datetime.timezone(datetime.timedelta(hours=-5)))
    morning = local.replace(hour=8, minute=30, second=0, microsecond=0)
    service_clock.advance(morning - timezone.now() + datetime.timedelta(days=1))
    _ana, ana_notes = clinician_with_drafts("ana", [3, 4], location)
    _ben, _ = clinician_with_drafts("ben", [5], location)
    _recent, _ = clinician_with_drafts("cleo", [-0.5], location)  # her visit is not a day old yet
    celery_workers.start()  # a second worker
    assert len(celery_workers.alive()) == 2

    unsigned_note_reminders.delay()
    unsigned_note_reminders.delay()
    reminders.plan_reminders()
    run_sweep()
    run_sweep()
    wait_until(lambda: len(smtp_server.received()) >= 2, 30, "two reminders")
    run_sweep()

    rows = Notification.objects.filter(kind=reminders.KIND)
    assert rows.count() == 2
    wait_until(lambda: set(rows.values_list("status", flat=True)) == {"sent"}, 30, "sent")
    received = smtp_server.received()
    assert Counter(m["To"] for m in received) == {"ana@clinic.example": 1, "ben@clinic.example": 1}
    assert set(Counter(smtp_server.message_ids()).values()) == {1}
    body = next(m for m in received if m["To"] == "ana@clinic.example")
    text = body.get_body(preferencelist=("plain",)).get_content()
    assert all(f"note {n.pk})" in text for n in ana_notes)
    assert body["Subject"] == "2 visit notes to sign"
