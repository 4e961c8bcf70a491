"""Red-team tests for the performance changes (the rules cache, the ledger's heartbeat holder):
each names the rule it holds the code to."""

import contextlib
import json
import threading
import time

import pytest
from django.db import connection, connections, transaction

from clinic import rules_cache
from notifications import holders
from notifications.models import LeaseHolder
from providers.models import Credential
from scheduling.availability import load_rules
from scheduling.models import Offering, Service
from tests.factories.clinic import LocationFactory
from tests.factories.providers import ProviderFactory, ensure_scope_catalog
from tests.factories.scheduling import ServiceFactory, offer
from tests.scheduling.conftest import local, next_week
from tests.scheduling.test_public_api import body, book
from tests.services import wait_until

AVAILABILITY = "/api/v1/public/availability/"


# --- The rules cache ------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_caller_cannot_change_the_cached_rules_other_requests_judge_by(
    physio, assessment, location
):
    """The cached ``Rules`` are shared by every request of the process: what one caller does
    to the object it was handed must not change what the next request judges scope by (an
    emptied list of acts would let anyone take the service)."""
    rules = load_rules(assessment, location, [physio.pk])
    assert load_rules(assessment, location, [physio.pk]) is rules, "served from the cache"
    assert list(rules.act_codes) == ["diagnose"]
    with contextlib.suppress(AttributeError, TypeError):
        rules.act_codes.clear()  # a careless caller, e.g. one "normalising" the codes in place
    again = load_rules(assessment, location, [physio.pk])
    assert list(again.act_codes) == ["diagnose"]


@pytest.mark.django_db
def test_a_cached_model_instance_changed_by_one_caller_is_not_changed_for_the_next(
    physio, assessment, location
):
    view = rules_cache.read()
    first = view.instance(
        ("service", assessment.pk), Service.objects.filter(pk=assessment.pk).first
    )
    first.name = "Changed by a careless view"
    first.duration_minutes = 5
    again = view.instance(
        ("service", assessment.pk), Service.objects.filter(pk=assessment.pk).first
    )
    assert (again.name, again.duration_minutes) == ("Physiotherapy assessment", 60)


@pytest.mark.django_db
def test_the_written_availability_json_is_the_serializers_answer_in_every_rendering(
    api_client, physio, assessment, location
):
    day = next_week()
    params = {"service": assessment.pk, "location": location.pk, "start": day, "end": day}
    compact = api_client.get(AVAILABILITY, params)
    assert compact.status_code == 200
    assert compact.json()["slots"]
    indented = api_client.get(AVAILABILITY, params, HTTP_ACCEPT="application/json; indent=2")
    assert indented.status_code == 200
    assert json.loads(indented.content) == compact.json()
    assert b"\n" in indented.content
    html = api_client.get(AVAILABILITY, params, HTTP_ACCEPT="text/html")
    assert html.status_code in (200, 406)


@pytest.mark.django_db
@pytest.mark.parametrize("field", ["service", "location", "provider"])
def test_an_id_no_database_column_holds_is_refused_by_the_cached_lookups_not_a_500(
    api_client, physio, assessment, location, field
):
    data = body(assessment, location, local(next_week(), "10:00"), physio)
    data[field] = 2**70
    response = book(api_client, data)
    assert 400 <= response.status_code < 500, response.content


# --- The ledger's heartbeat holder ----------------------------------------------------------


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
def test_a_claiming_thread_whose_heartbeat_thread_died_gets_a_heartbeat_again_on_its_next_claim(
    monkeypatch, settings
):
    """The heartbeat thread is started by the first claim of a new claiming thread only. If it
    ends (any error its ``except Exception`` does not catch, or one raised by the connection's
    ``close()`` in its ``finally``) while the worker lives, its threads keep claiming under
    tokens nobody beats for: a slow send then loses its row to a takeover once the lease runs
    out, and the e-mail goes twice. The next claim must give the thread a heartbeat again."""
    if connection.vendor != "postgresql":
        pytest.skip("the holder of a lease is recorded on PostgreSQL only")
    settings.NOTIFICATIONS_HOLDER_TIMEOUT_SECONDS = 1.5
    registry = holders._Registry()
    monkeypatch.setattr(holders, "_registry", registry)
    beat = holders._beat
    token: list = []
    first_claimed, claim_again, claimed_again, done = (threading.Event() for _ in range(4))

    def worker() -> None:
        token.append(holders.current())  # its first claim
        first_claimed.set()
        claim_again.wait(20)
        holders.current()  # its next claim
        claimed_again.set()
        done.wait(20)

    thread = threading.Thread(target=worker, daemon=True)
    thread.start()
    try:
        assert first_claimed.wait(10)
        wait_until(
            lambda: LeaseHolder.objects.filter(token=token[0]).exists(), 10, "the first beat"
        )

        def dying(*args, **kwargs) -> None:
            raise SystemExit  # ends the heartbeat thread, as an uncaught error would

        monkeypatch.setattr(holders, "_beat", dying)
        registry.wake.set()
        wait_until(lambda: not registry.heart.is_alive(), 10, "the heartbeat thread to end")
        monkeypatch.setattr(holders, "_beat", beat)
        last_beat = LeaseHolder.objects.get(token=token[0]).heartbeat_at

        claim_again.set()
        assert claimed_again.wait(10)
        wait_until(
            lambda: LeaseHolder.objects.get(token=token[0]).heartbeat_at > last_beat,
            5,
            "a heartbeat for the live claiming thread after its next claim",
        )
    finally:
        claim_again.set()
        done.set()
        thread.join(10)


# --- The rules token's lock -----------------------------------------------------------------


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_rule_edits_touching_one_credential_do_not_deadlock_on_the_rules_token():
    """Transaction A edits an offering (takes the token), B edits a credential, A then edits
    that credential. Were the token written by an AFTER trigger, B would hold the credential's
    row while waiting for the token and A would wait for that row: a deadlock, one edit lost.
    The BEFORE trigger makes B queue on the token before it touches any row."""
    if connection.vendor != "postgresql":
        pytest.skip("statement triggers and row locks: PostgreSQL")
    ensure_scope_catalog()
    location = LocationFactory(slug="deadlock", name="Deadlock")
    service = ServiceFactory(code="dl-assessment", name="DL assessment", acts=["diagnose"])
    provider = ProviderFactory(display_name="DL Physio", locations=[location])
    offering = offer(provider, service, location)
    credential = Credential.objects.filter(provider=provider).first()
    assert credential is not None
    a_has_token, errors = threading.Event(), []

    def run(work) -> None:
        try:
            work()
        except BaseException as error:  # reported below
            errors.append(error)
        finally:
            connections.close_all()

    def a() -> None:
        with transaction.atomic():
            Offering.objects.filter(pk=offering.pk).update(is_active=True)
            a_has_token.set()
            time.sleep(0.5)  # B now holds the credential's row and waits for the token
            Credential.objects.filter(pk=credential.pk).update(issuing_body="A")

    def b() -> None:
        a_has_token.wait(10)
        with transaction.atomic():
            Credential.objects.filter(pk=credential.pk).update(issuing_body="B")

    threads = [threading.Thread(target=run, args=(w,)) for w in (a, b)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert errors == []
