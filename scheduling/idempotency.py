"""``Idempotency-Key`` for the public booking endpoint (API.md).

The same key with the same body returns the original response and books nothing new; the same
key with another body is refused (422 ``idempotency-key-reused``). The key row is inserted in the
same transaction as the booking, before it: a concurrent request with the same key waits on the
unique index, and when the first commits it gets the stored response instead of booking twice.
A refused request rolls back with its key, so the client may retry with the same key.
"""

import hashlib
import json
from collections.abc import Callable
from typing import Any

from django.db import IntegrityError, transaction

from clinic.errors import FieldProblem, RuleProblem
from scheduling.models import IdempotencyKey

MAX_KEY_LENGTH = 200


def request_hash(payload: Any) -> str:
    """A stable hash of the request body (key order and whitespace do not matter)."""
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def _reused() -> RuleProblem:
    return RuleProblem(
        "This Idempotency-Key was already used with a different request body.",
        "idempotency-key-reused",
        "Idempotency key reused.",
        [FieldProblem("Idempotency-Key", "reused", "Use a new key for a different request.")],
    )


def _stored(scope: str, key: str, digest: str) -> tuple[int, dict] | None:
    record = IdempotencyKey.objects.filter(scope=scope, key=key).first()
    if record is None:
        return None
    if record.request_hash != digest:
        raise _reused()
    return record.response_status, record.response_body


def run_idempotent(
    scope: str, key: str | None, payload: Any, action: Callable[[], tuple[int, dict]]
) -> tuple[int, dict, bool]:
    """Run ``action`` at most once per (scope, key). Returns (status, body, replayed)."""
    if not key:
        status, body = action()
        return status, body, False
    if len(key) > MAX_KEY_LENGTH:
        raise RuleProblem(
            "The Idempotency-Key is too long.",
            "validation-error",
            "Invalid input.",
            [
                FieldProblem(
                    "Idempotency-Key", "max_length", f"At most {MAX_KEY_LENGTH} characters."
                )
            ],
        )
    digest = request_hash(payload)
    stored = _stored(scope, key, digest)
    if stored is not None:
        return (*stored, True)
    try:
        with transaction.atomic():
            record = IdempotencyKey.objects.create(scope=scope, key=key, request_hash=digest)
            status, body = action()
            record.response_status, record.response_body = status, body
            record.save(update_fields=["response_status", "response_body"])
    except IntegrityError:
        stored = _stored(scope, key, digest)
        if stored is None:
            raise
        return (*stored, True)
    return status, body, False
