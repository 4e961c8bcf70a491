"""Fixtures for scheduling tests: a Toronto clinic, a physiotherapist working 09:00-17:00 every
day, and a 60-minute physiotherapy assessment they offer there."""

import datetime
import threading
from zoneinfo import ZoneInfo

import pytest
from django.db import connections, transaction

from tests.factories.clinic import LocationFactory
from tests.factories.providers import DisciplineFactory, ProviderFactory
from tests.factories.scheduling import ServiceFactory, offer, weekly_hours
from tests.services import (
    _clock_path,
    _smtp_session,
    _worker_pool,
    celery_workers,
    service_clock,
    smtp_server,
)

# The real-service fixtures (SMTP, Celery workers, clock) for the series e-mail tests.
__all__ = [
    "_clock_path",
    "_smtp_session",
    "_worker_pool",
    "celery_workers",
    "service_clock",
    "smtp_server",
]

TORONTO = ZoneInfo("America/Toronto")


def local(day: datetime.date, hh_mm: str, zone=TORONTO) -> datetime.datetime:
    return datetime.datetime.combine(day, datetime.time.fromisoformat(hh_mm), tzinfo=zone)


def next_week() -> datetime.date:
    """A local date a week ahead: inside the default horizon, past the default notice."""
    return datetime.datetime.now(TORONTO).date() + datetime.timedelta(days=7)


@pytest.fixture(autouse=True)
def no_throttles(settings):
    """The booking tests send many writes from one client; throttles are tested elsewhere."""
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": dict.fromkeys(
            settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], "100000/min"
        ),
    }


@pytest.fixture
def location(db):
    return LocationFactory(slug="pickering", name="Pickering")


@pytest.fixture
def assessment(db):
    return ServiceFactory(
        code="physio-assessment", name="Physiotherapy assessment", acts=["diagnose"]
    )


@pytest.fixture
def physio(location, assessment):
    provider = ProviderFactory(display_name="Priya Physio", locations=[location])
    offer(provider, assessment, location)
    weekly_hours(provider, location)
    return provider


def make_physio(location, service, name: str = "Another Physio"):
    provider = ProviderFactory(display_name=name, locations=[location])
    offer(provider, service, location)
    weekly_hours(provider, location)
    return provider


def massage_therapist(location):
    return ProviderFactory(
        display_name="Max Massage",
        discipline=DisciplineFactory(code="massage_therapist"),
        locations=[location],
    )


def committed_on_another_connection(change) -> None:
    """Run ``change`` in a transaction of its own on another connection (a manager in the
    admin, another process) and wait until it has committed."""
    errors: list[BaseException] = []

    def run() -> None:
        try:
            with transaction.atomic():
                change()
        except BaseException as error:  # reported to the test below
            errors.append(error)
        finally:
            connections.close_all()

    other = threading.Thread(target=run)
    other.start()
    other.join()
    assert errors == []


@pytest.fixture
def no_grace(db) -> None:
    """Confirmations due at once (no grace period), so each gets a task message of its own."""
    from clinic.models import ClinicSettings

    ClinicSettings.objects.update_or_create(pk=1, defaults={"notification_grace_minutes": 0})
