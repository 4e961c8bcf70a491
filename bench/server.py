"""The API under gunicorn (2 sync workers, as in production on 2 cores) and a small HTTP client.

The client opens one loopback connection per request (a sync worker closes it after each
response anyway), so a timing is what a widget on the same host would see.
"""

import http.client
import json
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from bench import env


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Response:
    status: int
    body: bytes
    seconds: float

    def json(self):
        return json.loads(self.body)


@dataclass
class Client:
    port: int
    access_log: Path | None = None
    timeout: float = 60.0

    def log_offset(self) -> int:
        return self.access_log.stat().st_size if self.access_log and self.access_log.exists() else 0

    def server_seconds(self, since: int, path: str) -> list[float]:
        """gunicorn's own request times (``%(D)s``, microseconds) for ``path`` since ``since``."""
        if self.access_log is None:
            return []
        with self.access_log.open() as log:
            log.seek(since)
            return [
                int(micros) / 1e6
                for logged_path, _, micros in (line.split() for line in log if line.strip())
                if logged_path == path
            ]

    def request(
        self, method: str, path: str, body: dict | None = None, headers: dict | None = None
    ) -> Response:
        payload = json.dumps(body).encode() if body is not None else None
        headers = dict(headers or {})
        if payload is not None:
            headers["Content-Type"] = "application/json"
        started = time.perf_counter()
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=self.timeout)
        try:
            conn.request(method, path, body=payload, headers=headers)
            response = conn.getresponse()
            data = response.read()
        finally:
            conn.close()
        return Response(response.status, data, time.perf_counter() - started)

    def get(self, path: str, headers: dict | None = None) -> Response:
        return self.request("GET", path, headers=headers)

    def post(self, path: str, body: dict) -> Response:
        return self.request("POST", path, body)


@contextmanager
def gunicorn(
    workers: int = 2, name: str = "gunicorn", settings: str | None = None
) -> Iterator[Client]:
    """Start gunicorn on a free loopback port and stop it afterwards.

    ``name`` keeps the logs of instances running side by side apart (the scale-out check runs
    two); each instance is a process group of its own, as on a host of its own. ``settings``
    replaces ``DJANGO_SETTINGS_MODULE`` (the bare-insert ceiling serves the project's URLs plus
    one bench-only view from ``bench.bare_settings``)."""
    port = free_port()
    log_path = env.OUT_DIR / f"{name}.log"
    access_log = env.OUT_DIR / ("access.log" if name == "gunicorn" else f"{name}-access.log")
    access_log.unlink(missing_ok=True)
    command = [
        str(env.VENV_BIN / "gunicorn"),
        "clinic.wsgi:application",
        f"--workers={workers}",
        f"--bind=127.0.0.1:{port}",
        "--backlog=2048",
        "--timeout=120",
        "--log-level=warning",
        f"--access-logfile={access_log}",
        "--access-logformat=%(U)s %(s)s %(D)s",
    ]
    server_env = env.app_env()
    if settings is not None:
        server_env["DJANGO_SETTINGS_MODULE"] = settings
    with log_path.open("a") as log:
        process = subprocess.Popen(
            command,
            cwd=env.ROOT,
            env=server_env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    client = Client(port, access_log)
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"gunicorn exited; see {log_path}")
            try:
                if client.get("/healthz").status == 200:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"gunicorn did not answer in 60 s; see {log_path}")
            time.sleep(0.2)
        yield client
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
