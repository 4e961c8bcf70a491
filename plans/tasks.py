"""Celery tasks of the plans app: thin wrappers over the services."""

from celery import shared_task

from plans.notes import reminders


@shared_task(name="plans.unsigned_note_reminders", ignore_result=True)
def unsigned_note_reminders() -> int:
    """Beat, hourly: plan each clinician's morning reminder once their 07:00 has come."""
    return reminders.plan_reminders()
