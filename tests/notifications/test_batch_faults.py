"""A batch (``notifications.batches``) under faults, on real Celery workers, Redis, PostgreSQL
and an SMTP server: a worker killed in the middle of its batch, and a live worker whose batch
outlasts its lease. The batch must keep the one-row guarantee of docs/NOTIFICATIONS.md."""

from collections import Counter
from datetime import timedelta

import pytest

from notifications import services
from notifications.models import Notification
from scheduling.notifications import CONFIRMATION
from tests.notifications.conftest import run_sweep, sweep_until
from tests.notifications.test_delivery import GRACE, next_start, refreshed, run_sweep_async
from tests.notifications.test_faults import BATCH, LEASE, _batch
from tests.services import WORKER_SETTINGS, wait_until

pytestmark = [
    pytest.mark.services,
    pytest.mark.postgres,
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True),
]
Status = Notification.Status
BATCH_SIZE = int(WORKER_SETTINGS["NOTIFICATIONS_BATCH_SIZE"])


def test_a_worker_killed_mid_batch_repeats_at_most_its_row_in_flight_the_rest_wait_for_the_lease(
    world, celery_workers, smtp_server, service_clock
):
    celery_workers.keep_one()
    base = next_start(days=3, hour=8)
    rows = _batch(world, base)
    expected = {row.message_id for row in rows}
    service_clock.move_to(base - timedelta(hours=2, minutes=1))  # every one of them is due
    smtp_server.clear()
    smtp_server.delay = 0.1
    run_sweep_async()
    batch = Notification.objects.filter(pk__in=[row.pk for row in rows])
    smtp_server.wait_for(5, timeout=60)
    wait_until(lambda: smtp_server.in_flight > 0, 30, "a send in flight")
    [worker] = celery_workers.alive()
    worker.kill()

    held = set(batch.filter(status=Status.SENDING).values_list("pk", "lease_token"))
    assert 1 <= len(held) <= BATCH_SIZE, "its batch was left behind"
    assert len({token for _, token in held}) == 1, "one claim, one lease"
    in_flight_or_held = {pk for pk, _ in held}

    # Restarted, as a supervisor would: the rest of the backlog goes on at once, the dead
    # worker's batch waits for its lease.
    celery_workers.start()
    run_sweep_async()
    wait_until(
        lambda: not batch.exclude(pk__in=in_flight_or_held).exclude(status=Status.SENT).exists(),
        60,
        "the rest of the backlog to be sent",
    )
    assert set(batch.filter(status=Status.SENDING).values_list("pk", "lease_token")) == held

    sweep_until(
        lambda: not batch.exclude(status=Status.SENT).exists(),
        120,
        "every reminder to be sent",
        each=lambda: service_clock.advance(LEASE),  # the killed worker's lease runs out
    )
    received = Counter(smtp_server.message_ids())
    assert set(received) == expected, "none lost, none foreign"
    assert sum(count - 1 for count in received.values()) <= 1, received
    assert len(expected) == BATCH > BATCH_SIZE


def test_a_live_worker_keeps_its_whole_batch_past_the_lease_and_each_row_goes_out_once(
    world, celery_workers, smtp_server, service_clock
):
    celery_workers.keep_one()
    base = next_start(days=3)
    for hours in range(3):
        world.book(base + timedelta(hours=hours))
    service_clock.advance(GRACE)
    rows = list(Notification.objects.filter(kind=CONFIRMATION).order_by("next_attempt_at", "id"))
    smtp_server.clear()
    smtp_server.delay = 4
    run_sweep_async()
    wait_until(lambda: smtp_server.started >= 1, 20, "the worker to be inside DATA")
    smtp_server.delay = 0
    assert [refreshed(row).status for row in rows] == [Status.SENDING] * 3, "one batch"
    service_clock.advance(LEASE)  # the lease has run out; its worker is alive and sending

    assert services.sweep() == 0, "a row of a live worker's batch was taken over"
    wait_until(lambda: refreshed(rows[0]).status == Status.SENT, 20, "the slow send to finish")
    # Half its lease gone, the worker starts nothing more of that batch: the rest go back, due,
    # their attempt undone, and are claimed afresh.
    run_sweep()
    assert Counter(smtp_server.message_ids()) == Counter(row.message_id for row in rows)
    assert [refreshed(row).attempts for row in rows] == [1, 1, 1]
