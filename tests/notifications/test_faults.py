"""Workers killed with SIGKILL in the middle of a reminder batch (issue 14, item 10), on real
Celery workers, Redis, PostgreSQL and an SMTP server, counted against what the server received.

The guarantee (docs/NOTIFICATIONS.md): every row is sent (zero lost); a row is sent twice only
when its worker died after the server accepted the message and before the ledger recorded it,
so at most once per killed worker process, and the repeat carries the same Message-ID."""

import os
import random
from collections import Counter
from datetime import timedelta

import pytest
from django.core import mail

from notifications import services
from notifications.models import Notification
from scheduling.notifications import REMINDER
from tests.notifications.conftest import sweep_until
from tests.notifications.test_delivery import GRACE, next_start, refreshed, run_sweep_async
from tests.services import WORKER_SETTINGS, wait_until

pytestmark = [
    pytest.mark.services,
    pytest.mark.postgres,
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True),
]
Status = Notification.Status
LEASE = timedelta(seconds=float(WORKER_SETTINGS["NOTIFICATIONS_LEASE_SECONDS"]) + 1)
# FAULT_ROUNDS=10 repeats the rehearsal for the figures in docs/NOTIFICATIONS.md.
ROUNDS = int(os.environ.get("FAULT_ROUNDS", "3"))
BATCH = 30
KILLS_PER_ROUND = 2


def test_a_worker_still_sending_when_its_lease_runs_out_keeps_its_row(
    world, celery_workers, smtp_server, service_clock
):
    """A lease that ran out does not prove its worker dead: one still inside a slow SMTP
    conversation keeps its row, and the e-mail goes out once."""
    world.book(next_start())
    service_clock.advance(GRACE)
    smtp_server.delay = 4
    run_sweep_async()
    wait_until(lambda: smtp_server.started >= 1, 20, "the worker to be inside DATA")
    row = Notification.objects.get(status=Status.SENDING)
    service_clock.advance(LEASE)  # its lease has run out; its worker is alive and sending

    assert services.sweep() == 0, "the row was taken over from a live worker"
    assert mail.outbox == []
    wait_until(lambda: refreshed(row).status == Status.SENT, 20, "the slow send to finish")
    assert smtp_server.message_ids() == [row.message_id]
    assert refreshed(row).attempts == 1


def _batch(world, base) -> list[Notification]:
    """``BATCH`` day-before reminders due now, and nothing else pending."""
    appointments = [
        world.book(base + timedelta(minutes=45 * i), patient=world.new_patient())
        for i in range(BATCH)
    ]
    rows = list(
        Notification.objects.filter(
            kind=REMINDER,
            context__offset_minutes=24 * 60,
            subject_id__in=[a.pk for a in appointments],
        )
    )
    assert len(rows) == BATCH
    Notification.objects.filter(status=Status.PENDING).exclude(pk__in=[r.pk for r in rows]).update(
        status=Status.CANCELLED, reason="not part of the rehearsal"
    )
    return rows


def _kill_mid_batch(celery_workers, smtp_server, target_window: bool, batch) -> None:
    """Kill one worker once the batch is under way; ``target_window``: while a message has
    reached the server and its answer is still on the way (the one window that repeats), or
    at once if the batch ran out before such a moment was seen."""
    if target_window:
        wait_until(
            lambda: smtp_server.in_flight > 0 or not batch.exclude(status=Status.SENT).exists(),
            30,
            "a send in flight",
        )
    random.choice(celery_workers.alive()).kill()
    celery_workers.start()  # restarted, as a supervisor would
    run_sweep_async()


def test_workers_killed_mid_batch_lose_nothing_and_repeat_at_most_one_email_per_kill(
    world, celery_workers, smtp_server, service_clock
):
    totals = Counter()
    for round_number in range(ROUNDS):
        base = next_start(days=3 + 2 * round_number, hour=8)
        rows = _batch(world, base)
        expected = {row.message_id for row in rows}
        service_clock.move_to(base - timedelta(hours=2, minutes=1))  # every one of them is due
        smtp_server.clear()
        smtp_server.delay = 0.05  # the server takes a moment to answer each DATA
        while len(celery_workers.alive()) < 2:
            celery_workers.start()
        run_sweep_async()
        run_sweep_async()
        batch = Notification.objects.filter(pk__in=[row.pk for row in rows])
        for kill in range(KILLS_PER_ROUND):
            progress = (kill + 1) * BATCH // (KILLS_PER_ROUND + 2)
            smtp_server.wait_for(progress, timeout=60)
            _kill_mid_batch(celery_workers, smtp_server, kill % 2 == 0, batch)

        sweep_until(
            lambda batch=batch: not batch.exclude(status=Status.SENT).exists(),
            180,
            "every reminder to be sent",
            each=lambda: service_clock.advance(LEASE),  # the killed workers' leases run out
        )
        received = Counter(smtp_server.message_ids())
        duplicates = sum(count - 1 for count in received.values())
        lost = expected - set(received)
        assert set(received) <= expected, "only the batch's Message-IDs reached the server"
        assert lost == set(), f"round {round_number}: {len(lost)} reminder(s) lost"
        assert duplicates <= KILLS_PER_ROUND, f"round {round_number}: {received}"
        totals.update(
            rounds=1, emails=BATCH, kills=KILLS_PER_ROUND, duplicates=duplicates, lost=len(lost)
        )
    print(  # the figures docs/NOTIFICATIONS.md quotes (run with -s)
        f"\nfault rehearsal: {totals['rounds']} rounds, {totals['emails']} reminders, "
        f"{totals['kills']} workers killed, {totals['duplicates']} sent twice "
        f"(same Message-ID), {totals['lost']} lost"
    )
    assert totals["lost"] == 0
    assert totals["duplicates"] <= totals["kills"]
