"""The web server's request limits, checked on a real gunicorn started with ``gunicorn.conf.py``.

gunicorn refuses an oversized request line (414) or headers (431) before Django runs; the
worker class answers those as problem+json like every other error. Requests inside the limits
reach Django. ``dev.py up``, the Dockerfile and docker-compose all start gunicorn with this file.
"""

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
GUNICORN = Path(sys.executable).with_name("gunicorn")
PROBLEM = "application/problem+json"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def server() -> Iterator[int]:
    port = free_port()
    env = {**os.environ, "DJANGO_ENV": "test"}
    process = subprocess.Popen(
        [
            GUNICORN,
            "--config",
            "gunicorn.conf.py",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            "1",
            "clinic.wsgi:application",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if raw_request(port, b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")[0] == 200:
                    break
            except OSError:
                time.sleep(0.2)
        else:
            pytest.fail("gunicorn did not start")
        yield port
    finally:
        process.terminate()
        process.wait(timeout=20)


def raw_request(port: int, data: bytes) -> tuple[int, dict[str, str], bytes]:
    """Send bytes as they are (an HTTP client would refuse to build some of these requests)."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(data)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
            if b"\r\n\r\n" in b"".join(chunks) and _complete(b"".join(chunks)):
                break
    head, _, body = b"".join(chunks).partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines[1:] if ": " in line)
    return int(lines[0].split()[1]), {k.lower(): v for k, v in headers.items()}, body


def _complete(data: bytes) -> bool:
    head, _, body = data.partition(b"\r\n\r\n")
    for line in head.decode("latin-1").split("\r\n"):
        if line.lower().startswith("content-length:"):
            return len(body) >= int(line.split(":", 1)[1])
    return False


def get(port: int, target: str, headers: list[tuple[str, str]] = ()) -> tuple[int, dict, bytes]:
    lines = [f"GET {target} HTTP/1.1", "Host: localhost", "Connection: close"]
    lines += [f"{name}: {value}" for name, value in headers]
    return raw_request(port, ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))


def assert_problem(response, status: int, slug: str) -> None:
    code, headers, body = response
    assert code == status, (code, body[:200])
    assert headers["content-type"] == PROBLEM
    problem = json.loads(body)
    assert problem["status"] == status
    assert problem["type"].endswith(f"/problems/{slug}")


def test_the_config_file_sets_the_proxy_sized_limits():
    out = subprocess.run(
        [GUNICORN, "--config", "gunicorn.conf.py", "--print-config", "clinic.wsgi:application"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    settings = {
        name.strip(): value.strip()
        for name, _, value in (line.partition("=") for line in out.splitlines())
    }
    assert settings["limit_request_line"] == "8190"
    assert settings["limit_request_fields"] == "100"
    assert settings["limit_request_field_size"] == "8190"
    assert settings["worker_class"] == "clinic.server.ProblemSyncWorker"


def test_a_request_line_over_the_limit_is_a_414_problem(server):
    assert_problem(get(server, "/api/v1/public/locations/?q=" + "a" * 9000), 414, "uri-too-long")


def test_a_header_over_the_limit_is_a_431_problem(server):
    response = get(server, "/api/v1/public/locations/", [("X-Padding", "a" * 9000)])
    assert_problem(response, 431, "header-fields-too-large")


def test_too_many_headers_is_a_431_problem(server):
    response = get(server, "/api/v1/public/locations/", [(f"X-H{i}", "1") for i in range(120)])
    assert_problem(response, 431, "header-fields-too-large")


def test_a_request_that_is_not_http_is_a_400_problem(server):
    assert_problem(raw_request(server, b"HELLO\r\n\r\n"), 400, "malformed-request")


def test_a_long_request_inside_the_limits_reaches_django(server):
    code, headers, _ = get(server, "/healthz?q=" + "a" * 7000, [("X-Padding", "a" * 7000)])
    assert code == 200
    code, headers, _body = get(server, "/api/v1/no-such-endpoint/?q=" + "a" * 7000)
    assert code == 404
    assert headers["content-type"] == PROBLEM
