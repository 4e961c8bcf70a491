"""Hostile input never gives a 500 and never writes a row (API.md: "No request may produce a 500").

Every public endpoint is found in the URL configuration, so a new one is covered (and fails
``test_every_public_write_has_a_valid_body_here`` until it has a valid body below). Each hostile
request is built from a body the endpoint accepts, so a refusal is the rule at work, not a body
that was wrong anyway: ``test_the_valid_bodies_are_accepted`` proves they succeed. A
representative set of staff writes gets the same treatment.
"""

import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from django.apps import apps
from django.db import connection
from django.urls import URLPattern, URLResolver, get_resolver
from rest_framework.test import APIClient

from clinic.api.limits import MAX_JSON_DEPTH
from clinic.api.renderers import JSONRenderer
from patients.models import Patient
from patients.tokens import make_unsubscribe_token
from scheduling.models import Appointment
from scheduling.services import join_waitlist, offer_by_hand
from tests.factories.clinic import LocationFactory
from tests.factories.providers import ProviderFactory
from tests.factories.scheduling import ServiceFactory, offer, weekly_hours
from tests.scheduling.conftest import local, next_week

pytestmark = pytest.mark.django_db

PROBLEM = "application/problem+json"
PROJECT_APPS = ("clinic", "providers", "patients", "scheduling", "notifications", "plans")
MEGABYTE = "x" * 1_000_000
ABSURD_NUMBERS = [10**30, -1, 1.5e308]
WRONG_TYPES = [None, [], {"a": 1}, ""]


# --- The endpoints, from the URL configuration ----------------------------------------------


def _walk(patterns, prefix: str = "") -> Iterator[tuple[str, URLPattern]]:
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            yield from _walk(pattern.url_patterns, prefix + str(pattern.pattern))
        else:
            yield prefix + str(pattern.pattern), pattern


def _methods(pattern: URLPattern) -> list[str]:
    view_class = getattr(pattern.callback, "view_class", None) or getattr(
        pattern.callback, "cls", None
    )
    actions = getattr(pattern.callback, "actions", None)
    if actions:
        return sorted(m.upper() for m in actions)
    return sorted(
        m.upper()
        for m in view_class.http_method_names
        if m not in ("options", "head", "trace") and hasattr(view_class, m)
    )


@dataclass(frozen=True)
class Endpoint:
    name: str
    method: str
    route: str

    def path(self, **kwargs: str) -> str:
        return "/" + re.sub(r"<(?:\w+:)?(\w+)>", lambda m: kwargs[m.group(1)], self.route)


def public_endpoints() -> list[Endpoint]:
    found = []
    for route, pattern in _walk(get_resolver().url_patterns):
        if route.startswith("api/v1/public/") and "(?P<format>" not in route:
            found += [Endpoint(pattern.name, m, route) for m in _methods(pattern)]
    return sorted(found, key=lambda e: (e.name, e.method))


PUBLIC = public_endpoints()
PUBLIC_WRITES = [e for e in PUBLIC if e.method != "GET"]
PUBLIC_READS = [e for e in PUBLIC if e.method == "GET"]


# --- A clinic with one booking, and a valid body per public write ----------------------------


@dataclass
class World:
    location: Any
    service: Any
    provider: Any
    appointment: Appointment
    unsubscribe_token: str
    waitlist_entry: Any = None  # waiting, with a time offered to it

    @property
    def kwargs(self) -> dict[str, str]:
        return {"reference": self.appointment.reference, "entry_id": str(self.waitlist_entry.pk)}


@pytest.fixture
def world(settings) -> World:
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": dict.fromkeys(
            settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], "100000/min"
        ),
    }
    location = LocationFactory(slug="pickering", name="Pickering")
    service = ServiceFactory(code="assessment", name="Assessment", acts=["diagnose"])
    provider = ProviderFactory(display_name="Priya Physio", locations=[location])
    offer(provider, service, location)
    weekly_hours(provider, location)
    booked = APIClient().post(
        "/api/v1/public/bookings/",
        booking_body(service, location, local(next_week(), "09:00"), "ada@example.org"),
        format="json",
    )
    assert booked.status_code == 201, booked.content
    appointment = Appointment.objects.get(reference=booked.json()["reference"])
    token = make_unsubscribe_token(Patient.objects.get(email="ada@example.org"))
    entry = waitlist_with_offer(service, location, provider)
    return World(location, service, provider, appointment, token, entry)


def waitlist_with_offer(service, location, provider):
    """A waitlist entry holding a time offered to it by hand, so its claim succeeds."""
    day = next_week() + timedelta(days=2)
    entry = join_waitlist(
        patient=Patient.objects.get(email="ada@example.org"),
        service=service,
        location=location,
        provider=None,
        earliest_date=day,
        latest_date=day,
        windows=[{"weekday": None, "from": "08:00", "to": "18:00"}],
    )
    offer_by_hand(entry, provider=provider, start=local(day, "14:00"), actor=None)
    return entry


def booking_body(service, location, start, email: str) -> dict:
    return {
        "service": service.pk,
        "location": location.pk,
        "provider": None,
        "start": start.isoformat(),
        "patient": {
            "first_name": "Grace",
            "last_name": "Hopper",
            "email": email,
            "phone": "+1 905 555 0100",
            "date_of_birth": "1990-05-01",
        },
        "consent": {"reminders": True, "care_plans": False, "marketing": False},
        "reason": "Knee pain after running",
    }


VALID_BODIES: dict[str, Callable[[World], dict]] = {
    "public-bookings": lambda w: booking_body(
        w.service, w.location, local(next_week(), "11:00"), "grace@example.org"
    ),
    "public-booking-cancel": lambda w: {
        "token": w.appointment.manage_token,
        "reason": "Feeling better",
    },
    "public-booking-confirm": lambda w: {"token": w.appointment.manage_token},
    "public-booking-reschedule": lambda w: {
        "token": w.appointment.manage_token,
        "start": local(next_week() + timedelta(days=1), "13:00").isoformat(),
    },
    "public-callback-requests": lambda w: {
        "name": "Grace Hopper",
        "phone": "+1 905 555 0101",
        "email": "grace@example.org",
        "preferred_time": "Mornings",
        "message": "Please call about my shoulder.",
        "consent": {"reminders": False, "care_plans": False, "marketing": False},
    },
    "public-triage": lambda w: {"answers": {"numbness": True, "goals": []}},
    "public-unsubscribe": lambda w: {"token": w.unsubscribe_token},
    "public-waitlist": lambda w: {
        "service": w.service.pk,
        "location": w.location.pk,
        "provider": None,
        "earliest_date": next_week().isoformat(),
        "latest_date": (next_week() + timedelta(days=14)).isoformat(),
        "windows": [{"weekday": 1, "from": "08:00", "to": "12:00"}],
        "patient": {
            "first_name": "Grace",
            "last_name": "Hopper",
            "email": "grace@example.org",
            "phone": "+1 905 555 0100",
        },
        "consent": {"reminders": True, "care_plans": False, "marketing": False},
    },
    "public-waitlist-claim": lambda w: {
        "token": w.waitlist_entry.token,
        "reason": "Knee pain",
        "patient": {"date_of_birth": "1980-04-02"},
    },
    "public-waitlist-withdraw": lambda w: {"token": w.waitlist_entry.token},
}


def row_counts() -> dict[str, int]:
    """Rows of every project table (the audit log and idempotency keys included), in one query."""
    models = [
        model
        for label in PROJECT_APPS
        for model in apps.get_app_config(label).get_models()
        if model._meta.managed and not model._meta.proxy
    ]
    quote = connection.ops.quote_name
    counts = ", ".join(
        f"(SELECT COUNT(*) FROM {quote(m._meta.db_table)})"  # noqa: S608 - names from the models
        for m in models
    )
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {counts}")
        row = cursor.fetchone()
    return {model._meta.label: count for model, count in zip(models, row, strict=True)}


def send(client: APIClient, endpoint: Endpoint, world: World, raw: bytes | str, **extra):
    content_type = extra.pop("content_type", "application/json")
    return client.generic(
        endpoint.method, endpoint.path(**world.kwargs), raw, content_type, **extra
    )


def assert_refused(response, status: int | None = None, field: str | None = None) -> dict:
    """A 4xx problem (the given status, naming the given field, when asked)."""
    assert 400 <= response.status_code < 500, (response.status_code, response.content[:300])
    assert response["Content-Type"].startswith(PROBLEM), response["Content-Type"]
    body = response.json()
    assert body["status"] == response.status_code
    if status is not None:
        assert response.status_code == status, body
    if field is not None:
        assert field in [e["field"] for e in body["errors"]], body
    return body


def leaves(data: Any, path: str = "") -> Iterator[tuple[str, Any]]:
    """Every scalar in a body with its dotted field path (as problem ``errors`` name it)."""
    if isinstance(data, dict):
        for key, value in data.items():
            yield from leaves(value, f"{path}.{key}" if path else key)
    elif isinstance(data, list):
        for index, value in enumerate(data):
            yield from leaves(value, f"{path}.{index}")
    else:
        yield path, data


def with_value(data: Any, path: str, value: Any) -> Any:
    copy = json.loads(json.dumps(data))
    *parents, last = path.split(".")
    node = copy
    for part in parents:
        node = node[int(part)] if isinstance(node, list) else node[part]
    node[int(last) if isinstance(node, list) else last] = value
    return copy


def nested(depth: int) -> str:
    """JSON nested ``depth`` levels deep (built as text: ``json.dumps`` itself would recurse)."""
    return "[" * (depth - 1) + "{}" + "]" * (depth - 1)


def with_raw_member(body: dict, raw_json: str) -> str:
    return json.dumps(body)[:-1] + f', "extra": {raw_json}}}'


@pytest.fixture
def client(world) -> APIClient:
    return APIClient()


def hostile_cases(world: World) -> Iterator[tuple[Endpoint, dict]]:
    for endpoint in PUBLIC_WRITES:
        yield endpoint, VALID_BODIES[endpoint.name](world)


# --- The tests ------------------------------------------------------------------------------


def test_every_public_write_has_a_valid_body_here():
    """A new public endpoint fails here until its hostile-input cases exist."""
    assert PUBLIC_WRITES, "no public write endpoint found in the URL configuration"
    assert {e.name for e in PUBLIC_WRITES} <= set(VALID_BODIES)


@pytest.mark.parametrize("endpoint", PUBLIC_WRITES, ids=lambda e: f"{e.method} {e.name}")
def test_the_valid_bodies_are_accepted(client, world, endpoint):
    """The base of every hostile case succeeds, so each refusal below is the rule at work."""
    response = send(client, endpoint, world, json.dumps(VALID_BODIES[endpoint.name](world)))
    assert response.status_code in (200, 201), response.content[:500]


def test_json_nested_deeper_than_the_limit_is_a_400_problem_and_writes_nothing(client, world):
    for depth in (MAX_JSON_DEPTH + 1, 1_000, 100_000):
        for endpoint, body in hostile_cases(world):
            before = row_counts()
            response = send(client, endpoint, world, with_raw_member(body, nested(depth)))
            problem = assert_refused(response, 400)
            assert problem["type"].endswith("/problems/malformed-request")
            assert str(MAX_JSON_DEPTH) in problem["detail"]
            assert row_counts() == before, (endpoint, depth)


def test_json_nested_up_to_the_limit_is_parsed(client, world):
    endpoint = next(e for e in PUBLIC_WRITES if e.name == "public-triage")
    body = VALID_BODIES["public-triage"](world)
    # The body is level 1, so its member may nest one level less than the limit.
    response = send(client, endpoint, world, with_raw_member(body, nested(MAX_JSON_DEPTH - 1)))
    assert response.status_code == 200, response.content[:300]


@pytest.mark.parametrize(
    "bad", [chr(0xD800), chr(0xDFFF), "a\x00b"], ids=["lone-high-surrogate", "lone-low", "nul"]
)
def test_unstorable_text_in_any_value_is_a_400_naming_the_field(client, world, bad):
    for endpoint, body in hostile_cases(world):
        for path, value in leaves(body):
            if not isinstance(value, str):
                continue
            before = row_counts()
            response = send(client, endpoint, world, json.dumps(with_value(body, path, bad)))
            problem = assert_refused(response, 400, field=path)
            assert problem["errors"][0]["code"] == "invalid_character"
            assert row_counts() == before, (endpoint, path)


@pytest.mark.parametrize("bad", ["\ud800", "a\x00b"], ids=["lone-surrogate", "nul"])
def test_unstorable_text_in_a_key_is_a_400_naming_it_escaped(client, world, bad):
    for endpoint, body in hostile_cases(world):
        before = row_counts()
        response = send(client, endpoint, world, json.dumps({**body, bad: 1}))
        problem = assert_refused(response, 400)
        [error] = problem["errors"]
        assert "\\u" in error["field"]
        assert row_counts() == before, endpoint


def test_a_raw_surrogate_in_the_body_bytes_is_a_400_problem(client, world):
    """The UTF-8-style bytes of a surrogate (ED A0 80) are not UTF-8: a parse error."""
    for endpoint, body in hostile_cases(world):
        raw = json.dumps(body).replace('"token"', '"tok\\u00e9n"').encode()
        raw = raw[:-1] + b', "x": "\xed\xa0\x80"}'
        before = row_counts()
        assert_refused(send(client, endpoint, world, raw), 400)
        assert row_counts() == before, endpoint


def test_megabyte_strings_are_refused_with_a_4xx_and_write_nothing(client, world):
    for endpoint, body in hostile_cases(world):
        for path, value in leaves(body):
            if not isinstance(value, str):
                continue
            before = row_counts()
            response = send(client, endpoint, world, json.dumps(with_value(body, path, MEGABYTE)))
            assert_refused(response)
            assert row_counts() == before, (endpoint, path)


def test_a_body_over_the_size_cap_is_a_413_problem(client, world, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 64 * 1024
    for endpoint, body in hostile_cases(world):
        raw = json.dumps({**body, "padding": "x" * settings.DATA_UPLOAD_MAX_MEMORY_SIZE})
        before = row_counts()
        problem = assert_refused(send(client, endpoint, world, raw), 413)
        assert problem["type"].endswith("/problems/payload-too-large")
        assert row_counts() == before, endpoint


def test_absurd_numbers_and_wrong_types_are_refused_with_a_4xx(client, world):
    for endpoint, body in hostile_cases(world):
        for path, value in leaves(body):
            hostile = ABSURD_NUMBERS + WRONG_TYPES if isinstance(value, int | str) else WRONG_TYPES
            for bad in hostile:
                if bad == value or (isinstance(value, bool) and isinstance(bad, bool)):
                    continue
                before = row_counts()
                response = send(client, endpoint, world, json.dumps(with_value(body, path, bad)))
                assert response.status_code < 500, (endpoint, path, bad, response.content[:300])
                if response.status_code >= 400:
                    assert_refused(response)
                    assert row_counts() == before, (endpoint, path, bad)


def test_infinite_numbers_are_a_400_naming_the_field(client, world):
    for endpoint, body in hostile_cases(world):
        raw = json.dumps(body)[:-1] + ', "weight": 1e999}'
        before = row_counts()
        assert_refused(send(client, endpoint, world, raw), 400, field="weight")
        assert row_counts() == before, endpoint


@pytest.mark.parametrize(
    "content_type",
    [
        "text/plain",
        "application/xml",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=xyz",
    ],
)
def test_bodies_that_are_not_json_are_a_415_problem(client, world, content_type):
    for endpoint, body in hostile_cases(world):
        if endpoint.name == "public-unsubscribe" and "form" in content_type:
            continue  # RFC 8058: a mail client's one-click POST is a form
        before = row_counts()
        response = send(client, endpoint, world, json.dumps(body), content_type=content_type)
        problem = assert_refused(response, 415)
        assert problem["type"].endswith("/problems/unsupported-media-type")
        assert row_counts() == before, endpoint


def test_malformed_json_is_a_400_problem(client, world):
    for endpoint, _body in hostile_cases(world):
        for raw in ["{", '{"a": NaN}', '{"a": Infinity}', "1" * 5000, '"\\ud800"']:
            before = row_counts()
            assert_refused(send(client, endpoint, world, raw), 400)
            assert row_counts() == before, (endpoint, raw)


def test_the_one_click_unsubscribe_form_refuses_a_nul_in_its_fields(client, world):
    endpoint = next(e for e in PUBLIC_WRITES if e.name == "public-unsubscribe")
    before = row_counts()
    response = send(
        client,
        endpoint,
        world,
        "List-Unsubscribe=One-Click&token=a%00b",
        content_type="application/x-www-form-urlencoded",
    )
    assert_refused(response, 400, field="token")
    assert row_counts() == before


@pytest.mark.parametrize("endpoint", PUBLIC, ids=lambda e: f"{e.method} {e.name}")
def test_a_nul_in_a_query_parameter_is_a_400_naming_it(client, world, endpoint):
    before = row_counts()
    response = client.generic(
        endpoint.method, endpoint.path(**world.kwargs) + "?token=ab%00cd&location=1%00"
    )
    body = assert_refused(response, 400, field="token")
    assert "location" in [e["field"] for e in body["errors"]]
    assert row_counts() == before


@pytest.mark.parametrize(
    "endpoint", [e for e in PUBLIC if "<" in e.route], ids=lambda e: f"{e.method} {e.name}"
)
def test_a_nul_in_the_path_is_a_400_problem(client, world, endpoint):
    before = row_counts()
    response = client.generic(endpoint.method, endpoint.path(reference="AB%00CD", entry_id="1%00"))
    assert_refused(response, 400, field="path")
    assert row_counts() == before


def test_a_nul_in_a_header_is_a_400_naming_it(client, world):
    endpoint = next(e for e in PUBLIC_WRITES if e.name == "public-bookings")
    before = row_counts()
    response = send(
        client,
        endpoint,
        world,
        json.dumps(VALID_BODIES[endpoint.name](world)),
        HTTP_IDEMPOTENCY_KEY="key\x00one",
    )
    assert_refused(response, 400, field="Idempotency-Key")
    assert row_counts() == before


QUERY_VALUES = ["x" * 20_000, "99999999999999999999999", "-1", "9999-99-99", "\ufffd"]
QUERY_NAMES = ["service", "location", "provider", "discipline", "start", "end", "token"]


@pytest.mark.parametrize("endpoint", PUBLIC_READS, ids=lambda e: e.name)
def test_hostile_query_values_never_give_a_500(client, world, endpoint):
    """Reads ignore what they do not use; what they use is validated (4xx problem), never 500."""
    valid = {
        "service": world.service.pk,
        "location": world.location.pk,
        "start": next_week().isoformat(),
        "end": next_week().isoformat(),
        "token": world.appointment.manage_token,
    }
    for name in QUERY_NAMES:
        for value in QUERY_VALUES:
            before = row_counts()
            response = client.get(endpoint.path(**world.kwargs), {**valid, name: value})
            assert response.status_code < 500, (name, value[:30], response.content[:300])
            if response.status_code >= 400:
                assert_refused(response)
            assert row_counts() == before


# --- Staff endpoints: a representative set --------------------------------------------------


STAFF_WRITES: dict[str, tuple[str, str, Callable[[World], dict]]] = {
    "patient": (
        "POST",
        "/api/v1/patients/",
        lambda w: {"first_name": "Alan", "last_name": "Turing", "email": "alan@example.org"},
    ),
    "service": (
        "POST",
        "/api/v1/services/",
        lambda w: {
            "code": "follow-up",
            "name": "Follow-up",
            "description": "A follow-up visit.",
            "required_acts": ["diagnose"],
            "duration_minutes": 30,
            "price": "80.00",
            "currency": "CAD",
        },
    ),
    "clinic-settings": ("PATCH", "/api/v1/clinic-settings/", lambda w: {"name": "Clinic"}),
    "location": (
        "PATCH",
        "/api/v1/locations/{location}/",
        lambda w: {"city": "Pickering", "phone": "+1 905 555 0199"},
    ),
    "referral": (
        "POST",
        "/api/v1/referrals/",
        lambda w: {
            "patient": w.appointment.patient_id,
            "from_provider": w.provider.pk,
            "to_discipline": w.provider.discipline.code,
            "reason": "Second opinion",
        },
    ),
}


@pytest.fixture
def staff(world, manager_client) -> APIClient:
    return manager_client


def staff_send(client, world, key: str, raw: str, content_type: str = "application/json"):
    method, path, _ = STAFF_WRITES[key]
    return client.generic(method, path.format(location=world.location.pk), raw, content_type)


@pytest.mark.parametrize("key", STAFF_WRITES)
def test_staff_writes_refuse_hostile_bodies_with_a_4xx_problem(staff, world, key, settings):
    body = STAFF_WRITES[key][2](world)
    assert staff_send(staff, world, key, json.dumps(body)).status_code in (200, 201)
    body = STAFF_WRITES[key][2](world)
    if key in ("patient", "service"):  # a second create would clash on the unique e-mail/code
        body = {k: (f"2{v}" if k in ("email", "code") else v) for k, v in body.items()}
    cases: list[tuple[str, str, int]] = [
        (with_raw_member(body, nested(1_000)), "application/json", 400),
        (json.dumps({**body, "\ud800": 1}), "application/json", 400),
        (json.dumps(body), "text/plain", 415),
        (json.dumps(body), "application/x-www-form-urlencoded", 415),
        (json.dumps({**body, "pad": MEGABYTE * 2}), "application/json", 413),
    ]
    for path, value in leaves(body):
        if isinstance(value, str):
            cases.append((json.dumps(with_value(body, path, "\ud800")), "application/json", 400))
            cases.append((json.dumps(with_value(body, path, "a\x00")), "application/json", 400))
            cases.append((json.dumps(with_value(body, path, MEGABYTE)), "application/json", 0))
    for raw, content_type, status in cases:
        before = row_counts()
        response = staff_send(staff, world, key, raw, content_type)
        assert_refused(response, status or None)
        # Reads and refusals may be audited; nothing else is written.
        after = row_counts()
        after["clinic.AuditEvent"] = before["clinic.AuditEvent"]
        assert after == before, (key, raw[:80], content_type)


def test_a_nul_in_a_staff_search_is_a_400_naming_the_parameter(staff, world):
    response = staff.get("/api/v1/patients/", {"search": "Ada\x00"})
    assert_refused(response, 400, field="search")


def test_a_nul_in_an_admin_search_is_a_400_not_a_500(world, manager_user, client):
    from django.test import Client

    browser = Client()
    manager_user.is_staff = True
    manager_user.save()
    browser.force_login(manager_user)
    response = browser.get("/admin/patients/patient/", {"q": "Ada\x00"})
    assert response.status_code == 400


def test_the_json_renderer_answers_even_for_text_utf8_cannot_encode():
    """Defence in depth: if such text reaches a response anyway, it is escaped, not a 500."""
    rendered = JSONRenderer().render({"name": "Ada \ud800", "city": "Montréal"})
    assert json.loads(rendered) == {"name": "Ada \ud800", "city": "Montréal"}
    assert JSONRenderer().render({"city": "Montréal"}) == '{"city":"Montréal"}'.encode()
