"""Real SMTP server, Celery workers and clock (``tests/services.py``), and appointments whose
booking changes send the same signals, on commit, as ``scheduling.services`` does."""

import time
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta

import pytest
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from notifications import clock
from notifications.models import Notification
from notifications.services import _due
from notifications.tasks import sweep
from patients.models import Patient
from patients.services import record_consents
from scheduling import signals
from scheduling.models import Appointment, Modality, Service
from tests.factories.clinic import LocationFactory
from tests.factories.providers import ProviderFactory
from tests.services import (
    _clock_path,
    _smtp_session,
    _worker_pool,
    celery_workers,
    service_clock,
    smtp_server,
    wait_until,
)

# The real-service fixtures, session-scoped ones included, for the tests of this folder.
__all__ = [
    "_clock_path",
    "_smtp_session",
    "_worker_pool",
    "celery_workers",
    "service_clock",
    "smtp_server",
]


class World:
    """A Toronto location, a provider, a 45-minute in-person service, patients with consent."""

    def __init__(self):
        self.location = LocationFactory(
            slug="pickering",
            name="Pickering",
            address_line="1755 Pickering Pkwy",
            email="pickering@clinic.example",
            timezone="America/Toronto",
        )
        self.provider = ProviderFactory(
            display_name="Dana Physio", locations=[self.location], credentials=False
        )
        self.service = Service.objects.create(
            code="physio-follow-up",
            name="Physiotherapy follow-up",
            duration_minutes=45,
            modality=Modality.IN_PERSON,
        )
        self.patient = self.new_patient()

    def new_patient(self, reminders: bool = True) -> Patient:
        n = uuid.uuid4().hex[:8]
        patient = Patient.objects.create(
            first_name="Alex", last_name=f"Rivera{n}", email=f"alex.{n}@example.org"
        )
        record_consents(patient, choices={"reminders": reminders}, source="staff")
        return patient

    def book(self, start: datetime, patient: Patient | None = None) -> Appointment:
        end = start + timedelta(minutes=self.service.duration_minutes)
        with transaction.atomic():
            appointment = Appointment.objects.create(
                patient=patient or self.patient,
                provider=self.provider,
                service=self.service,
                location=self.location,
                start=start,
                end=end,
                blocked_start=start,
                blocked_end=end,
                slot_key=uuid.uuid4().hex,
            )
            transaction.on_commit(
                lambda: signals.appointment_booked.send(
                    sender=Appointment, appointment=appointment, actor=None
                )
            )
        return appointment

    def reschedule(self, appointment: Appointment, start: datetime) -> Appointment:
        end = start + timedelta(minutes=self.service.duration_minutes)
        with transaction.atomic():
            appointment.start, appointment.end = start, end
            appointment.blocked_start, appointment.blocked_end = start, end
            appointment.ical_sequence += 1
            appointment.save()
            transaction.on_commit(
                lambda: signals.appointment_rescheduled.send(
                    sender=Appointment, appointment=appointment, actor=None
                )
            )
        return appointment

    def cancel(self, appointment: Appointment) -> Appointment:
        with transaction.atomic():
            appointment.status = Appointment.Status.CANCELLED
            appointment.cancelled_at = timezone.now()
            appointment.cancel_reason = "Feeling better"
            appointment.ical_sequence += 1
            appointment.save()
            transaction.on_commit(
                lambda: signals.appointment_cancelled.send(
                    sender=Appointment, appointment=appointment, actor=None
                )
            )
        return appointment


@pytest.fixture
def world(transactional_db) -> World:
    return World()


def settled() -> bool:
    """Nothing due and nothing in flight: every sweep that was asked for has finished."""
    now = clock.now()
    return not Notification.objects.filter(_due(now) | _in_flight(now)).exists()


def _in_flight(now: datetime) -> Q:
    return Q(status=Notification.Status.SENDING, lease_expires_at__gt=now)


def run_sweep(timeout: float = 30) -> None:
    """Ask the workers for a sweep (as beat does every minute) and wait until it is done."""
    sweep.delay()
    wait_until(settled, timeout, "the sweep to finish")


def sweep_until(
    done: Callable[[], object], timeout: float, what: str, each: Callable[[], None] = lambda: None
) -> None:
    """Ask the workers for a sweep every second (beat does every minute; ``each`` runs first)
    until ``done()``: a dead worker's rows are taken over only once its heartbeat is older than
    the holder timeout (``NOTIFICATIONS_HOLDER_TIMEOUT_SECONDS``), whatever the clock says."""
    last = [float("-inf")]

    def check() -> object:
        if done():
            return True
        if time.monotonic() - last[0] >= 1:
            each()
            sweep.delay()
            last[0] = time.monotonic()
        return False

    wait_until(check, timeout, what)
