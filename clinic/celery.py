"""The Celery application; tasks are discovered in every installed app's ``tasks`` module."""

import gc
import os

from celery import Celery, signals
from django.db import close_old_connections

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "clinic.settings")

app = Celery("clinic")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@signals.task_prerun.connect
@signals.task_postrun.connect
def retire_old_database_connections(sender=None, **kwargs) -> None:
    """Between tasks a worker treats its connection as Django treats one between requests: kept
    (``CELERY_DB_REUSE_MAX``), unless it is older than ``CONN_MAX_AGE``, broken or in error.
    A task run inline (eager) shares its caller's connection, perhaps inside a transaction, and
    is left alone, as Celery's own fix-up does."""
    if sender is not None and getattr(sender.request, "is_eager", False):
        return
    close_old_connections()


@signals.worker_process_init.connect
def freeze_start_up_objects(**kwargs) -> None:
    """A pool process's modules, settings and templates live as long as it does: moved out of
    the collector's reach, they are no longer traversed by every full collection during sends
    (the same as ``gunicorn.conf.py`` does for a web worker)."""
    gc.freeze()
