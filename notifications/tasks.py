"""Celery tasks: thin wrappers over ``notifications.services``.

Task messages are hints, not the source of truth: the ledger is. A lost message is covered by the
beat sweep, a duplicate one finds its row already claimed or sent.
"""

from celery import shared_task, signals

from notifications import conf, mailer, services


@shared_task(name=services.SEND_TASK, ignore_result=True)
def send_notification(notification_id: int) -> str:
    return services.deliver(notification_id)


@shared_task(name="notifications.sweep", ignore_result=True)
def sweep(share: bool = True) -> int:
    """Send what is due in batches. A sweep that finds a backlog (a full batch) shares it with
    ``NOTIFICATIONS_SWEEP_PARALLEL - 1`` more sweeps, so every pool process drains it; a sweep
    that reaches its limit queues its own successor."""

    def share_backlog() -> None:
        for _ in range(conf.sweep_parallel() - 1):
            sweep.delay(share=False)

    handled = services.sweep(on_backlog=share_backlog if share else None)
    if handled >= conf.sweep_limit():
        sweep.delay(share=False)
    return handled


@signals.worker_process_shutdown.connect
@signals.worker_shutdown.connect
def close_mail_session(**kwargs) -> None:
    """Say QUIT to the SMTP server rather than leave it a dropped connection: pool processes get
    ``worker_process_shutdown``, a solo or threads worker (tasks in the main process)
    ``worker_shutdown``."""
    mailer.close()
