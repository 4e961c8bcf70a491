"""The "sent" UPDATE is compiled once per process (``services._sent_update``) rather than by the
ORM for every e-mail: it must be the statement ``_outcome_update`` builds, with the same
parameters, for every e-mail and clock offset, and do what that statement did."""

import uuid
from datetime import timedelta
from unittest import mock

import pytest
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from notifications import clock, services
from notifications.models import Notification
from notifications.registry import Email

pytestmark = pytest.mark.django_db
Status = Notification.Status

_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=8,
)


def _plain(params: tuple) -> list:
    """Parameters comparable by value (a JSON value is wrapped in the driver's adapter)."""
    return [getattr(value, "obj", value) for value in params]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    pk=st.integers(1, 2**62),
    subject=st.text(max_size=260),
    to=st.sampled_from(["", "pat@example.com", "Pat <pat@example.com>"]),
    recipient=st.emails(),
    told=st.dictionaries(st.text(max_size=10), _json, max_size=4),
    offset=st.integers(-(10**9), 10**9).map(lambda us: timedelta(microseconds=us)),
)
def test_the_precompiled_sent_statement_is_the_orms(pk, subject, to, recipient, told, offset):
    claimed = services.Claim(Notification(pk=pk, recipient=recipient), uuid.uuid4())
    email = Email(subject=subject, text="", to=to, told=told)
    with mock.patch.object(clock, "offset", return_value=offset):
        fast_sql, fast_params = services._sent_update(claimed, email)
        changes = services._sent_changes(claimed, email, services._sent_at(offset))
        orm_sql, orm_params = services._outcome_update(claimed, changes)
    assert fast_sql == orm_sql
    assert _plain(fast_params) == _plain(orm_params)


def _claimed_row() -> services.Claim:
    now = timezone.now()
    row = Notification.objects.create(
        subject_type="scheduling.appointment",
        subject_id=1,
        kind="appointment.reminder",
        planned_for=now,
        recipient="old@example.com",
        next_attempt_at=now,
        message_id=services.new_message_id(),
        status=Status.SENDING,
        lease_token=uuid.uuid4(),
        lease_expires_at=now + timedelta(minutes=5),
        lease_holder=uuid.uuid4(),
        last_error="earlier failure",
    )
    return services.Claim(row, row.lease_token)


def test_the_sent_statement_records_the_send_on_the_ledgers_clock_and_frees_the_lease(monkeypatch):
    claimed = _claimed_row()
    monkeypatch.setattr(clock, "offset", lambda: timedelta(hours=3))
    email = Email(subject="Reminder", text="", to="pat@example.com", told={"facts": {"a": 1}})
    assert services._run_outcome(claimed, services._sent_update(claimed, email))
    row = Notification.objects.get(pk=claimed.notification.pk)
    assert (row.status, row.recipient, row.subject_line) == (
        Status.SENT,
        "pat@example.com",
        "Reminder",
    )
    assert (row.told, row.last_error, row.reason) == ({"facts": {"a": 1}}, "", "")
    assert (row.lease_token, row.lease_expires_at, row.lease_holder) == (None, None, None)
    assert abs(row.sent_at - (timezone.now() + timedelta(hours=3))) < timedelta(seconds=30)


def test_the_sent_statement_records_nothing_once_the_lease_was_taken_over():
    claimed = _claimed_row()
    Notification.objects.filter(pk=claimed.notification.pk).update(lease_token=uuid.uuid4())
    stale = services._sent_update(claimed, Email(subject="Reminder", text=""))
    assert not services._run_outcome(claimed, stale)
    assert Notification.objects.get(pk=claimed.notification.pk).status == Status.SENDING


def test_the_sent_statement_is_compiled_once_per_database_and_offset():
    services._sent_statement.cache_clear()
    claimed = services.Claim(Notification(pk=1, recipient="a@example.com"), uuid.uuid4())
    for _ in range(3):
        services._sent_update(claimed, Email(subject="s", text=""))
    info = services._sent_statement.cache_info()
    assert (info.misses, info.hits) == (1, 2)
