"""Security hardening as an attacker or an auditor meets it.

The production profile passes ``check --deploy``, sends HSTS and secure cookies and hashes with
argon2; CORS opens only the public widget API and only to configured origins; admin logins and
public API calls are throttled.
"""

import json
import logging
import os
import secrets
import subprocess
import sys
from datetime import datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from django.contrib.auth.password_validation import validate_password
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.db import connection
from django.test import override_settings
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.settings import api_settings

from scheduling.models import Appointment
from tests.conftest import client_for, make_staff_user
from tests.factories.clinic import LocationFactory
from tests.factories.providers import ProviderFactory
from tests.factories.scheduling import ServiceFactory, offer, weekly_hours

ROOT = Path(__file__).resolve().parent.parent
PROBLEM = "application/problem+json"
WIDGET_ORIGIN = "https://www.clinic-site.example"
OTHER_ORIGIN = "https://evil.example"
TORONTO = ZoneInfo("America/Toronto")

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


@pytest.mark.django_db
def test_staff_api_is_throttled_per_user_as_the_readme_says(fresh_throttles):
    """THROTTLE_STAFF limits each staff user: a leaked token cannot scrape the API at full speed."""
    LocationFactory()
    first = client_for(make_staff_user("throttled-manager", "manager"))
    second = client_for(make_staff_user("other-manager", "manager"))
    with override_settings(REST_FRAMEWORK=rates(staff="3/min")):
        statuses = [first.get("/api/v1/locations/").status_code for _ in range(3)]
        assert statuses == [200, 200, 200]
        refused = first.get("/api/v1/locations/")
        assert refused.status_code == 429
        assert refused.json()["type"].endswith("/problems/throttled")
        assert second.get("/api/v1/locations/").status_code == 200


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


# --- The public booking API as an outsider meets it -----------------------------------------


@pytest.fixture
def bookable(db):
    """A Toronto clinic where a physiotherapist offers assessments 09:00-17:00 every day."""
    location = LocationFactory(slug="pickering", name="Pickering")
    service = ServiceFactory(code="physio-assessment", name="Assessment", acts=["diagnose"])
    provider = ProviderFactory(display_name="Priya Physio", locations=[location])
    offer(provider, service, location)
    weekly_hours(provider, location)
    start = datetime.combine(
        timezone.localdate(timezone=TORONTO) + timedelta(days=7), time(10), tzinfo=TORONTO
    )
    return {"service": service.pk, "location": location.pk, "provider": provider.pk, "start": start}


PATIENT = {
    "first_name": "Zephyrine",
    "last_name": "Quillfeather",
    "email": "zephyrine.q@example.org",
    "phone": "+1 905 555 0177",
    "date_of_birth": "1971-03-09",
}
REASON = "Numbness in the left hand since a fall"


def book(client, bookable: dict, **overrides):
    body = {
        **bookable,
        "start": bookable["start"].isoformat(),
        "patient": PATIENT,
        "consent": {"reminders": True, "care_plans": False, "marketing": False},
        "reason": REASON,
        **overrides,
    }
    return client.post("/api/v1/public/bookings/", body, content_type="application/json")


@pytest.fixture
def no_public_throttles(settings, fresh_throttles):
    settings.REST_FRAMEWORK = rates(public_read="100000/min", public_write="100000/min")


def test_a_wrong_manage_token_is_the_same_404_as_an_unknown_reference(
    client, bookable, no_public_throttles
):
    created = book(client, bookable)
    assert created.status_code == 201, created.content
    reference, token = created.json()["reference"], created.json()["manage_token"]
    assert client.get(f"/api/v1/public/bookings/{reference}/", {"token": token}).status_code == 200

    def attempt(ref: str, secret: str):
        with CaptureQueriesContext(connection) as queries:
            response = client.get(f"/api/v1/public/bookings/{ref}/", {"token": secret})
        return response, len(queries)

    wrong_token, wrong_token_queries = attempt(reference, "x" * len(token))
    unknown_ref, unknown_ref_queries = attempt("ZZZZZZZZ", "x" * len(token))
    assert wrong_token.status_code == unknown_ref.status_code == 404
    assert wrong_token["Content-Type"] == unknown_ref["Content-Type"]
    assert wrong_token.json() == unknown_ref.json()  # nothing tells the two cases apart
    assert wrong_token_queries == unknown_ref_queries  # and both take the same path
    # Cancelling with a wrong token is refused the same way and changes nothing.
    cancel = client.post(
        f"/api/v1/public/bookings/{reference}/cancel/",
        {"token": "x" * len(token), "reason": "not mine"},
        content_type="application/json",
    )
    assert cancel.status_code == 404
    assert cancel.json() == unknown_ref.json()
    assert Appointment.objects.get(reference=reference).status == Appointment.Status.BOOKED


def test_public_writes_are_throttled_per_client_apart_from_reads(client, bookable, settings):
    cache.clear()
    settings.REST_FRAMEWORK = rates(public_write="2/min", public_read="100/min")
    for _ in range(2):
        response = client.post("/api/v1/public/bookings/", {}, content_type="application/json")
        assert response.status_code == 400  # refused on its merits, not throttled
    refused = client.post("/api/v1/public/bookings/", {}, content_type="application/json")
    assert refused.status_code == 429
    assert refused["Content-Type"].startswith(PROBLEM)
    assert refused.json()["type"].endswith("/problems/throttled")
    # One allowance for every public write: the call-back form is refused too...
    callback = client.post(
        "/api/v1/public/callback-requests/",
        {"name": "Ada", "phone": "+1 905 555 0100", "consent": {}},
        content_type="application/json",
    )
    assert callback.status_code == 429
    # ...while reading (choosing a time) goes on.
    assert client.get("/api/v1/public/services/").status_code == 200
    cache.clear()


def test_no_patient_or_clinical_details_reach_the_logs(
    client, bookable, no_public_throttles, caplog, django_capture_on_commit_callbacks
):
    caplog.set_level(logging.DEBUG)
    with django_capture_on_commit_callbacks(execute=True):
        assert book(client, bookable).status_code == 201
        # The same person again at the same time: refused, and the refusal is logged.
        assert book(client, bookable).status_code in (409, 422)
        # A malformed booking carrying the same details.
        assert book(client, bookable, start="next tuesday").status_code == 400
    logged = caplog.text + " ".join(
        f"{record.getMessage()} {record.args!r} {record.__dict__!r}" for record in caplog.records
    )
    assert caplog.records  # the requests were logged...
    for secret in [*PATIENT.values(), REASON]:
        assert secret not in logged  # ...without who the patient is or why they come


# --- Framing: only the booking widget may be embedded, and only by the clinic's sites ----------


@pytest.mark.django_db
def test_the_widget_may_be_framed_only_by_the_clinics_own_sites(client, cors_for_widget):
    widget = client.get("/book/")
    assert widget.status_code == 200
    assert "X-Frame-Options" not in widget
    policy = widget["Content-Security-Policy"]
    assert f"frame-ancestors 'self' {WIDGET_ORIGIN}" in policy
    assert "script-src 'self'" in policy  # no inline or third-party script
    assert "connect-src 'self'" in policy
    # Every other page refuses to be framed at all.
    assert client.get("/admin/login/")["X-Frame-Options"] == "DENY"
