"""Liveness (``/healthz``) and readiness (``/readyz``: database and broker reachable)."""

import logging

from django.conf import settings
from django.db import connection
from django.http import HttpRequest, JsonResponse
from kombu import Connection

from clinic.api.problems import PROBLEM_CONTENT_TYPE, problem_body

logger = logging.getLogger(__name__)


def healthz(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"status": "ok"})


def database_reachable() -> bool:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            return cursor.fetchone() == (1,)
    except Exception:  # any driver error means "not ready"
        logger.warning("readiness: database unreachable", exc_info=True)
        return False


def broker_reachable(timeout: float = 2.0) -> bool:
    try:
        with Connection(
            settings.CELERY_BROKER_URL,
            transport_options=settings.CELERY_BROKER_TRANSPORT_OPTIONS,
            connect_timeout=timeout,
        ) as conn:
            conn.ensure_connection(max_retries=1, timeout=timeout)
            conn.default_channel  # noqa: B018 - opening a channel proves the broker answers
        return True
    except Exception:
        logger.warning("readiness: broker unreachable", exc_info=True)
        return False


def readyz(request: HttpRequest) -> JsonResponse:
    checks = {"database": database_reachable(), "broker": broker_reachable()}
    if all(checks.values()):
        return JsonResponse({"status": "ready", "checks": checks})
    down = ", ".join(name for name, ok in checks.items() if not ok)
    body = problem_body("not-ready", "Service not ready.", 503, f"Unreachable: {down}.")
    body["checks"] = checks
    return JsonResponse(body, status=503, content_type=PROBLEM_CONTENT_TYPE)
