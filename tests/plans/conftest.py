"""Real SMTP server, Celery workers and clock for the program e-mail's end-to-end test."""

from tests.services import (
    _clock_path,
    _smtp_session,
    _worker_pool,
    celery_workers,
    service_clock,
    smtp_server,
)

__all__ = [
    "_clock_path",
    "_smtp_session",
    "_worker_pool",
    "celery_workers",
    "service_clock",
    "smtp_server",
]
