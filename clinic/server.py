"""The gunicorn worker the web process runs (``gunicorn.conf.py``): gunicorn's own error answers
as problem+json.

gunicorn refuses a request line or headers over its limits (414, 431) and malformed requests
(400) itself, before Django sees them, with a small HTML page. The API promises problem+json for
every error, so this worker rewrites that page, keeping gunicorn's status and reason.
"""

import json
import socket
from typing import Any

from django.conf import settings
from gunicorn.workers.sync import SyncWorker

_SLUGS = {
    400: ("malformed-request", "The request is not valid HTTP."),
    403: ("permission-denied", "The request was refused."),
    414: ("uri-too-long", "The request line (address and query) is over the server's limit."),
    417: ("expectation-failed", "The Expect header cannot be met."),
    431: ("header-fields-too-large", "The request headers are over the server's limits."),
    500: ("server-error", "An unexpected error occurred; it is logged."),
    501: ("not-implemented", "The request uses a transfer coding the server does not support."),
}


def problem_bytes(status_line: str) -> bytes:
    """A complete HTTP response carrying the problem for gunicorn's ``HTTP/1.1 414 Reason``."""
    _version, code, reason = [*status_line.split(" ", 2), ""][:3]
    status = int(code)
    slug, detail = _SLUGS.get(status, ("bad-request", reason))
    problem = {
        "type": f"{settings.PROBLEM_TYPE_BASE}{slug}",
        "title": reason,
        "status": status,
        "detail": detail,
        "errors": [],
    }
    body = json.dumps(problem).encode()
    head = (
        f"HTTP/1.1 {status} {reason}\r\nConnection: close\r\n"
        f"Content-Type: application/problem+json\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    return head.encode("latin-1") + body


class _ProblemSocket:
    """The client socket, except that gunicorn's HTML error page leaves it as problem+json."""

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sock, name)

    def sendall(self, data: bytes) -> None:
        status_line = data.split(b"\r\n", 1)[0].decode("latin-1")
        self._sock.sendall(problem_bytes(status_line))


class ProblemSyncWorker(SyncWorker):
    """gunicorn's sync worker; its error answers are problem+json."""

    def handle_error(self, req, client, addr, exc) -> None:
        super().handle_error(req, _ProblemSocket(client), addr, exc)
