"""The booking endpoint's fast paths, each held to the DRF path it stands for: the request body
validated by ``booking_request`` (the serializer's fields built once per process) accepts and
refuses exactly what ``BookingRequestSerializer(data=...).is_valid()`` does, with the same
fields, codes and messages; the answer written by ``public_booking`` renders to the same bytes
as ``PublicBookingSerializer``; and the confirmation's task message after commit carries no ETA
for a row already due, while a broker that is down still books (the sweep sends it)."""

import datetime
import logging

import pytest
from celery.utils.saferepr import saferepr
from django.test import override_settings
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from kombu.exceptions import OperationalError
from rest_framework import serializers

from clinic.api.renderers import JSONRenderer
from clinic.celery import app as celery_app
from clinic.models import ClinicSettings, Location
from notifications import services as ledger
from notifications.models import Notification
from notifications.services import SEND_TASK, _enqueue
from providers.models import Provider
from scheduling.api.public_views import BOOKING_EXAMPLES
from scheduling.api.serializers import (
    BookingRequestSerializer,
    PublicBookingSerializer,
    booking_request,
    public_booking,
)
from scheduling.models import Appointment, Service
from scheduling.notifications import CONFIRMATION
from tests.scheduling.conftest import local, next_week

# The documented example of a booking body (the schema shows it to widget developers).
VALID = BOOKING_EXAMPLES[0].value
PATIENT_NAMES = ("first_name", "last_name", "email", "phone", "date_of_birth")


def through_serializer(data):
    body = BookingRequestSerializer(data=data)
    try:
        body.is_valid(raise_exception=True)
    except serializers.ValidationError as error:
        return "invalid", plain(error.detail)
    return "valid", plain(body.validated_data)


def through_function(data):
    try:
        return "valid", plain(booking_request(data))
    except serializers.ValidationError as error:
        return "invalid", plain(error.detail)


def plain(value):
    """Dicts, lists and error details as comparable values (an error keeps its code)."""
    if isinstance(value, dict):
        return {key: plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [plain(item) for item in value]
    if isinstance(value, serializers.ErrorDetail):
        return ("error", str(value), value.code)
    return (type(value).__name__, value)


# Hostile JSON: huge numbers, NUL, lone surrogates, wrong types, nesting.
TEXTS = st.sampled_from(
    [
        "",
        " ",
        "7",
        " 7 ",
        "7.0",
        "7.5",
        "-1",
        "1_0",
        "\u0661",
        "9" * 1001,
        "true",
        "yes",
        "0",
        "null",
        "a\x00b",
        "\ud800",
        "x" * 101,
        "x" * 2001,
        "ada@example.org",
        "not-an-email",
        "ada@exa\x00mple.org",
        "+1 905 555 0100",
        "555",
        "1990-05-01",
        "1800-01-01",
        "2999-01-01",
        "1990-02-30",
        "2027-03-03T09:00:00-05:00",
        "2027-03-03T09:00:00Z",
        "2027-03-03T09:00:00",
        "1999-12-31T23:00:00-05:00",
        "2101-01-01T00:00:00+00:00",
        "2027-03-03",
        "9999-12-31T23:59:59-14:00",
    ]
) | st.text(max_size=8)
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.sampled_from([10**30, -(10**30), 2**63, 1.0, 7.0, 7.5, 1e300, -0.0])
    | st.floats(allow_nan=False, allow_infinity=False)
    | TEXTS
)
JSON = st.recursive(
    SCALARS,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3)
    ),
    max_leaves=8,
)


def deep(levels: int):
    value = {}
    for _ in range(levels):
        value = {"a": [value]}
    return value


@st.composite
def bodies(draw):
    """From nothing or from a valid body, with fields dropped, replaced or added."""
    data = dict(draw(st.sampled_from([{}, VALID])))
    data["patient"] = dict(data.get("patient", {}))
    for name in draw(st.lists(st.sampled_from([*VALID, "other"]), max_size=3)):
        if draw(st.booleans()):
            data.pop(name, None)
        else:
            data[name] = draw(JSON)
    if isinstance(data.get("patient"), dict):
        patient = data["patient"]
        for name in draw(st.lists(st.sampled_from([*PATIENT_NAMES, "other"]), max_size=3)):
            if draw(st.booleans()):
                patient.pop(name, None)
            else:
                patient[name] = draw(JSON)
    if draw(st.booleans()):
        data["consent"] = draw(
            st.dictionaries(st.sampled_from(["reminders", "x"]), JSON, max_size=2)
        )
    return draw(st.sampled_from([data, data, data, draw(JSON)]))


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=bodies())
@example(data=VALID)
@example(data=None)
@example(data=[])
@example(data=[VALID])
@example(data="")
@example(data={})
@example(data={**VALID, "patient": None, "consent": None})
@example(data={**VALID, "patient": "Ada", "consent": [True]})
@example(data={**VALID, "provider": None, "reason": None})
@example(data={**VALID, "patient": deep(50), "consent": deep(50)})
@example(data={**VALID, "consent": {"reminders": "true", "marketing": "off", "x": 1}})
def test_the_booking_body_is_validated_as_the_serializer_validates_it(data):
    assert through_function(data) == through_serializer(data)


@pytest.mark.parametrize("zone", ["UTC", "America/Toronto", "Asia/Kolkata", "Australia/Lord_Howe"])
def test_the_booking_body_times_are_read_in_the_current_zone_as_by_the_serializer(zone):
    with override_settings(TIME_ZONE=zone):
        assert through_function(VALID) == through_serializer(VALID)
        assert (
            booking_request(VALID)["start"].utcoffset()
            == through_serializer(VALID)[1]["start"][1].utcoffset()
        )


ZONES = ["America/Toronto", "America/Vancouver", "Asia/Kolkata", "Australia/Lord_Howe", "UTC"]
# Any text, and lone surrogates (a row written before the parsers refused them): both renderings
# escape them the same way.
NAMES = st.text(max_size=12) | st.sampled_from(["\ud800", "a\udfffb", "Zoë \x00", "名前"])


@settings(max_examples=300, deadline=None)
@given(
    reference=st.text(max_size=12),
    token=st.text(max_size=30),
    status=st.sampled_from(Appointment.Status.values),
    modality=st.sampled_from([value for value, _ in Service._meta.get_field("modality").choices]),
    names=st.tuples(NAMES, NAMES, NAMES),
    zone=st.sampled_from(ZONES),
    ids=st.tuples(*[st.integers(1, 2**62)] * 3),
    start=st.datetimes(
        min_value=datetime.datetime(2000, 1, 1),
        max_value=datetime.datetime(2100, 1, 1),
        timezones=st.just(datetime.UTC),
    ),
    minutes=st.integers(0, 600),
)
def test_the_booking_answer_renders_to_the_bytes_of_the_serializer(
    reference, token, status, modality, names, zone, ids, start, minutes
):
    service_name, provider_name, location_name = names
    appointment = Appointment(
        reference=reference,
        manage_token=token,
        status=status,
        service=Service(pk=ids[0], name=service_name, modality=modality),
        provider=Provider(pk=ids[1], display_name=provider_name),
        location=Location(pk=ids[2], name=location_name, timezone=zone),
        start=start,
        end=start + datetime.timedelta(minutes=minutes),
    )
    expected = PublicBookingSerializer(appointment).data
    written = public_booking(appointment)
    assert written == expected
    assert JSONRenderer().render(written) == JSONRenderer().render(expected)


def confirmation(appointment: Appointment) -> Notification:
    return Notification.objects.get(subject_id=appointment.pk, kind=CONFIRMATION)


@pytest.fixture
def published(monkeypatch) -> list[dict]:
    """The headers of every task message Celery would hand the broker."""
    sent: list[dict] = []

    def record(producer, name, message, **options):
        sent.append(message.headers)

    monkeypatch.setattr(celery_app.amqp, "send_task_message", record)
    return sent


@pytest.mark.django_db(transaction=True)
def test_a_confirmation_due_at_once_gets_its_own_task_message_without_an_eta(
    api_client, physio, assessment, location, published, no_grace
):
    data = {**VALID, "service": assessment.pk, "location": location.pk, "provider": physio.pk}
    data["start"] = local(next_week(), "10:00").isoformat()
    response = api_client.post("/api/v1/public/bookings/", data, format="json")
    assert response.status_code == 201
    row = confirmation(Appointment.objects.get(reference=response.json()["reference"]))
    [headers] = published
    assert headers["task"] == SEND_TASK
    assert headers["eta"] is None
    assert (headers["argsrepr"], headers["kwargsrepr"]) == (saferepr((row.pk,)), saferepr({}))


@pytest.mark.django_db(transaction=True)
def test_a_confirmation_behind_its_grace_period_is_left_to_the_sweep_without_a_message(
    api_client, physio, assessment, location, published
):
    ClinicSettings.objects.update_or_create(pk=1, defaults={"notification_grace_minutes": 3})
    data = {**VALID, "service": assessment.pk, "location": location.pk, "provider": physio.pk}
    data["start"] = local(next_week(), "10:00").isoformat()
    response = api_client.post("/api/v1/public/bookings/", data, format="json")
    assert response.status_code == 201
    row = confirmation(Appointment.objects.get(reference=response.json()["reference"]))
    assert published == []
    assert row.status == Notification.Status.PENDING
    assert row.next_attempt_at - row.created_at > datetime.timedelta(minutes=2, seconds=59)
    assert ledger.claim(row.next_attempt_at - datetime.timedelta(seconds=1)) is None
    assert ledger.claim(row.next_attempt_at).notification.pk == row.pk, "the sweep's claim"


def test_a_row_due_later_is_published_with_its_countdown(published):
    _enqueue(41, 30.0)
    _enqueue(42, 0.0)
    assert [h["eta"] is not None for h in published] == [True, False]
    assert [h["argsrepr"] for h in published] == ["(41,)", "(42,)"]


@pytest.mark.django_db(transaction=True)
def test_a_broker_that_is_down_still_books_and_leaves_the_confirmation_to_the_sweep(
    api_client, physio, assessment, location, monkeypatch, caplog, no_grace
):
    def down(*args, **kwargs):
        raise OperationalError("Error 111 connecting to broker. Connection refused.")

    monkeypatch.setattr(celery_app.amqp, "send_task_message", down)
    data = {**VALID, "service": assessment.pk, "location": location.pk, "provider": physio.pk}
    data["start"] = local(next_week(), "10:00").isoformat()
    with caplog.at_level(logging.WARNING, logger="notifications.services"):
        response = api_client.post("/api/v1/public/bookings/", data, format="json")
    assert response.status_code == 201
    row = confirmation(Appointment.objects.get(reference=response.json()["reference"]))
    assert row.status == Notification.Status.PENDING
    assert f"Could not queue notification {row.pk}" in caplog.text
