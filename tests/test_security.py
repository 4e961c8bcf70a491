"""Security hardening as an attacker or an auditor meets it.

The production profile passes ``check --deploy``, sends HSTS and secure cookies and hashes with
argon2; CORS opens only the public widget API and only to configured origins; admin logins and
public API calls are throttled.
"""

import json
import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from django.contrib.auth.password_validation import validate_password
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.test import override_settings
from rest_framework.settings import api_settings

from tests.conftest import make_staff_user
from tests.factories.clinic import LocationFactory

ROOT = Path(__file__).resolve().parent.parent
PROBLEM = "application/problem+json"
WIDGET_ORIGIN = "https://www.clinic-site.example"
OTHER_ORIGIN = "https://evil.example"

# Run in a fresh interpreter under DJANGO_ENV=production: settings are read once at import.
_PRODUCTION_PROBE = """
import json, django
django.setup()
from io import StringIO
from django.conf import settings
from django.contrib.auth.hashers import make_password
from django.core.management import call_command
from django.test import Client

out = StringIO()
call_command("check", deploy=True, fail_level="WARNING", stdout=out, stderr=out)
client = Client(SERVER_NAME="clinic.example")
https = client.get("/healthz", secure=True)
plain = client.get("/api/v1/public/locations/", secure=False)
print(json.dumps({
    "check": out.getvalue(),
    "hsts": https.headers.get("Strict-Transport-Security", ""),
    "http_status": plain.status_code,
    "http_location": plain.headers.get("Location", ""),
    "session_secure": settings.SESSION_COOKIE_SECURE,
    "csrf_secure": settings.CSRF_COOKIE_SECURE,
    "session_httponly": settings.SESSION_COOKIE_HTTPONLY,
    "debug": settings.DEBUG,
    "hash": make_password("a long enough passphrase"),
}))
"""


def run_production(code: str, **extra_env: str) -> subprocess.CompletedProcess:
    env = {
        **{k: v for k, v in os.environ.items() if k not in ("DEBUG", "AXES_ENABLED")},
        "DJANGO_ENV": "production",
        "DJANGO_SETTINGS_MODULE": "clinic.settings",
        "ALLOWED_HOSTS": "clinic.example",
        "SECRET_KEY": secrets.token_urlsafe(64),
        **extra_env,
    }
    return subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )


def test_production_profile_passes_deploy_check_with_hsts_secure_cookies_and_argon2():
    result = run_production(_PRODUCTION_PROBE)
    assert result.returncode == 0, result.stderr
    probe = json.loads(result.stdout.strip().splitlines()[-1])
    assert "no issues" in probe["check"]
    assert probe["debug"] is False
    max_age = int(probe["hsts"].split("max-age=")[1].split(";")[0])
    assert max_age >= 31_536_000
    assert "includeSubDomains" in probe["hsts"]
    # Plain HTTP is sent to HTTPS before any view runs.
    assert probe["http_status"] == 301
    assert probe["http_location"].startswith("https://clinic.example/")
    assert probe["session_secure"] is True
    assert probe["csrf_secure"] is True
    assert probe["session_httponly"] is True
    assert probe["hash"].startswith("argon2$")


def test_production_refuses_to_start_with_a_short_secret_key():
    result = run_production("import django; django.setup()", SECRET_KEY="too-short")
    assert result.returncode != 0
    assert "SECRET_KEY" in result.stderr


def test_staff_passwords_shorter_than_twelve_characters_are_refused():
    with pytest.raises(ValidationError):
        validate_password("Tr0ub4dor&3")
    validate_password("correct horse battery staple")


# --- CORS: only the public API, only configured origins ------------------------------------


@pytest.fixture
def cors_for_widget():
    with override_settings(CORS_ALLOWED_ORIGINS=[WIDGET_ORIGIN]):
        yield


def preflight(client, path: str, origin: str, method: str = "POST"):
    return client.options(
        path,
        HTTP_ORIGIN=origin,
        HTTP_ACCESS_CONTROL_REQUEST_METHOD=method,
        HTTP_ACCESS_CONTROL_REQUEST_HEADERS="content-type,idempotency-key",
    )


@pytest.mark.django_db
def test_cors_preflight_from_a_configured_origin_is_allowed_on_the_public_api(
    client, cors_for_widget
):
    response = preflight(client, "/api/v1/public/bookings/", WIDGET_ORIGIN)
    assert response.status_code == 200
    assert response["Access-Control-Allow-Origin"] == WIDGET_ORIGIN
    assert "POST" in response["Access-Control-Allow-Methods"]
    assert "DELETE" not in response["Access-Control-Allow-Methods"]
    assert "idempotency-key" in response["Access-Control-Allow-Headers"]
    assert "Access-Control-Allow-Credentials" not in response

    LocationFactory(slug="pickering", name="Pickering")
    response = client.get("/api/v1/public/locations/", HTTP_ORIGIN=WIDGET_ORIGIN)
    assert response.status_code == 200
    assert response["Access-Control-Allow-Origin"] == WIDGET_ORIGIN


@pytest.mark.django_db
def test_cors_preflight_from_an_unknown_origin_gets_no_allow_origin(client, cors_for_widget):
    response = preflight(client, "/api/v1/public/bookings/", OTHER_ORIGIN)
    assert "Access-Control-Allow-Origin" not in response
    response = client.get("/api/v1/public/locations/", HTTP_ORIGIN=OTHER_ORIGIN)
    assert "Access-Control-Allow-Origin" not in response


@pytest.mark.django_db
def test_cors_is_closed_on_the_staff_api_even_for_the_widget_origin(client, cors_for_widget):
    response = preflight(client, "/api/v1/locations/", WIDGET_ORIGIN, method="GET")
    assert "Access-Control-Allow-Origin" not in response
    response = client.get("/api/v1/locations/", HTTP_ORIGIN=WIDGET_ORIGIN)
    assert "Access-Control-Allow-Origin" not in response


# --- Throttles -----------------------------------------------------------------------------


def rates(**overrides: str) -> dict:
    return {
        **api_settings.user_settings,
        "DEFAULT_THROTTLE_RATES": {**api_settings.DEFAULT_THROTTLE_RATES, **overrides},
    }


@pytest.fixture
def fresh_throttles():
    cache.clear()
    yield
    cache.clear()


@pytest.mark.django_db
def test_public_reads_are_throttled_per_client_with_a_429_problem(client, fresh_throttles):
    LocationFactory()
    with override_settings(REST_FRAMEWORK=rates(public_read="3/min")):
        statuses = [client.get("/api/v1/public/locations/").status_code for _ in range(3)]
        assert statuses == [200, 200, 200]
        refused = client.get("/api/v1/public/locations/")
        assert refused.status_code == 429
        assert refused["Content-Type"].startswith(PROBLEM)
        assert refused.json()["type"].endswith("/problems/throttled")
        assert int(refused["Retry-After"]) > 0
        # A made-up X-Forwarded-For does not buy a fresh allowance...
        spoofed = client.get("/api/v1/public/locations/", HTTP_X_FORWARDED_FOR="203.0.113.9")
        assert spoofed.status_code == 429
        # ...while another client (address) has its own.
        other = client.get("/api/v1/public/locations/", REMOTE_ADDR="198.51.100.7")
        assert other.status_code == 200


# --- Admin login throttling ------------------------------------------------------------------


def admin_login(client, username: str, password: str):
    return client.post("/admin/login/?next=/admin/", {"username": username, "password": password})


@pytest.mark.django_db
@override_settings(AXES_ENABLED=True, AXES_FAILURE_LIMIT=3)
def test_admin_login_locks_out_after_repeated_failures_even_with_the_right_password(client):
    from clinic import roles

    make_staff_user("desk", roles.FRONT_DESK)
    for _ in range(2):
        response = admin_login(client, "desk", "wrong-password")
        assert response.status_code == 200  # the form again, with its error
    response = admin_login(client, "desk", "wrong-password")
    assert response.status_code == 429
    # Locked out: even the right password is refused during the cool-off.
    response = admin_login(client, "desk", "pw-for-tests")
    assert response.status_code == 429
    assert "_auth_user_id" not in client.session


@pytest.mark.django_db
@override_settings(AXES_ENABLED=True, AXES_FAILURE_LIMIT=3)
def test_admin_login_failures_are_counted_per_user_and_address(client):
    from clinic import roles

    make_staff_user("desk", roles.FRONT_DESK)
    for _ in range(3):
        admin_login(client, "someone-else", "guess")
    # Somebody hammering another account does not lock this one out.
    response = admin_login(client, "desk", "pw-for-tests")
    assert response.status_code == 302
