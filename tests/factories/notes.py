"""Visits to chart: an appointment written directly (scheduling's own tests cover booking), the
care relationship it records, and the demo jurisdictions' locations.

``visit(provider, location)`` gives a completed one-hour appointment that started yesterday.
"""

import datetime
import uuid

from django.utils import timezone

from patients.models import Patient
from scheduling.models import Appointment
from tests.factories.clinic import LocationFactory
from tests.factories.patients import PatientFactory, link_patient
from tests.factories.scheduling import ServiceFactory


def pickering():
    return LocationFactory(slug="pickering", name="Pickering", jurisdiction="CA-ON")


def brooklyn():
    return LocationFactory(
        slug="brooklyn",
        name="Brooklyn",
        city="Brooklyn",
        region="NY",
        country="US",
        timezone="America/New_York",
        jurisdiction="US-NY",
    )


def visit(
    provider,
    location,
    patient: Patient | None = None,
    start: datetime.datetime | None = None,
    status: str = Appointment.Status.COMPLETED,
) -> Appointment:
    patient = patient or PatientFactory()
    start = start or timezone.now().replace(microsecond=0) - datetime.timedelta(days=1)
    end = start + datetime.timedelta(hours=1)
    appointment = Appointment.objects.create(
        patient=patient,
        provider=provider,
        service=ServiceFactory(code="visit-note-service", name="Treatment visit", acts=[]),
        location=location,
        start=start,
        end=end,
        blocked_start=start,
        blocked_end=end,
        slot_key=uuid.uuid4().hex,
        status=status,
    )
    link_patient(patient, provider)
    return appointment
