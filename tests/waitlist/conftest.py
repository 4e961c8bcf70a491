"""A Toronto clinic whose physiotherapist works one hour a day (10:00-11:00), so a cancelled
10:00 visit frees exactly one start; helpers to join the waitlist and to book the hour."""

import datetime

import pytest

from notifications.models import Notification
from patients.models import Patient
from scheduling.models import Appointment, WaitlistEntry, WaitlistOffer
from scheduling.services import book_appointment, join_waitlist
from tests.factories.clinic import LocationFactory
from tests.factories.patients import PatientFactory
from tests.factories.providers import ProviderFactory, ensure_scope_catalog
from tests.factories.scheduling import ServiceFactory, offer, weekly_hours
from tests.scheduling.conftest import TORONTO, local, next_week
from tests.services import (
    _clock_path,
    _smtp_session,
    _worker_pool,
    celery_workers,
    service_clock,
    smtp_server,
)

__all__ = [
    "_clock_path",
    "_smtp_session",
    "_worker_pool",
    "celery_workers",
    "service_clock",
    "smtp_server",
]

PROBLEM = "https://clinic-backend.dev/problems/"
# What an online booking of a (non-consult) service must give, so a claim gives it too.
CLAIM_DETAILS = {"reason": "Knee pain after running", "patient": {"date_of_birth": "1980-04-02"}}
CLAIM_KWARGS = {
    "patient_details": {"date_of_birth": datetime.date(1980, 4, 2)},
    "reason": "Knee pain after running",
}
OFFER_KIND = "waitlist.offer"


class Clinic:
    def __init__(self):
        ensure_scope_catalog()
        self.location = LocationFactory(slug="pickering", name="Pickering", phone="905-555-0100")
        self.service = ServiceFactory(
            code="physio-assessment", name="Physiotherapy assessment", acts=["diagnose"]
        )
        self.physio = ProviderFactory(display_name="Priya Physio", locations=[self.location])
        offer(self.physio, self.service, self.location)
        weekly_hours(self.physio, self.location, start="10:00", end="11:00")
        self.day = next_week()
        self.start = local(self.day, "10:00")

    def patient(self, name: str = "Ada") -> Patient:
        return PatientFactory(first_name=name, email=f"{name.lower()}@example.org")

    def book(self, patient: Patient | None = None, start=None) -> Appointment:
        return book_appointment(
            service=self.service,
            location=self.location,
            start=start or self.start,
            patient=patient or self.patient("Booked"),
            provider=self.physio,
        )

    def wait(self, patient: Patient, **wish) -> WaitlistEntry:
        return join_waitlist(
            patient=patient,
            service=self.service,
            location=self.location,
            provider=wish.pop("provider", None),
            earliest_date=wish.pop("earliest_date", self.day - datetime.timedelta(days=1)),
            latest_date=wish.pop("latest_date", self.day + datetime.timedelta(days=3)),
            windows=wish.pop("windows", [{"from": "08:00", "to": "12:00"}]),
        )

    def body(self, email: str = "new.person@example.org", **extra) -> dict:
        data = {
            "service": self.service.pk,
            "location": self.location.pk,
            "earliest_date": self.day.isoformat(),
            "latest_date": (self.day + datetime.timedelta(days=5)).isoformat(),
            "windows": [{"weekday": None, "from": "09:00", "to": "12:00"}],
            "patient": {
                "first_name": "New",
                "last_name": "Person",
                "email": email,
                "phone": "+1 905 555 0100",
            },
            "consent": {"reminders": True, "marketing": False},
        }
        data.update(extra)
        return data


@pytest.fixture
def clinic(db) -> Clinic:
    return Clinic()


def open_offer(entry: WaitlistEntry) -> WaitlistOffer | None:
    return entry.offers.filter(status=WaitlistOffer.Status.OFFERED).first()


def offer_mails(offer: WaitlistOffer):
    return Notification.objects.filter(
        kind=OFFER_KIND, subject_type="scheduling.waitlistoffer", subject_id=offer.pk
    )


def problem(response) -> str:
    assert response["Content-Type"] == "application/problem+json", response.content
    return response.json()["type"].removeprefix(PROBLEM)


__all__ += [
    "CLAIM_DETAILS",
    "CLAIM_KWARGS",
    "TORONTO",
    "Clinic",
    "local",
    "offer_mails",
    "open_offer",
    "problem",
]
