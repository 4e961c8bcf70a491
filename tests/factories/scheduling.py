"""Factories for scheduling: services, offerings, weekly hours, exceptions, closures.

``ServiceFactory(acts=["diagnose", "manual_therapy"])`` sets the required acts by code.
``offer(provider, service, location)`` goes through ``create_offering`` (so scope is checked);
``weekly_hours(provider, location, ...)`` adds the same hours on the given weekdays.
Appointments are made with ``scheduling.services.book_appointment``, as the product does.
"""

import datetime

import factory

from providers.models import Act
from scheduling.models import (
    AvailabilityException,
    Closure,
    Offering,
    Service,
    WaitlistEntry,
    WaitlistOffer,
    WeeklyAvailability,
)
from scheduling.services import create_offering
from tests.factories.clinic import LocationFactory
from tests.factories.patients import PatientFactory
from tests.factories.providers import ProviderFactory


class ServiceFactory(factory.django.DjangoModelFactory):
    """A 60-minute in-person physiotherapy assessment, online-bookable, no room needed."""

    class Meta:
        model = Service
        django_get_or_create = ["code"]
        skip_postgeneration_save = True

    code = factory.Sequence(lambda n: f"service-{n}")
    name = factory.Sequence(lambda n: f"Service {n}")
    description = "What happens in this appointment."
    duration_minutes = 60
    modality = "in_person"
    price = "120.00"
    online_bookable = True
    capacity = 1
    room_kind = ""

    @factory.post_generation
    def acts(self, create, extracted, **kwargs):
        codes = ["diagnose", "manual_therapy"] if extracted is None else list(extracted)
        if create:
            self.required_acts.set(Act.objects.filter(code__in=codes))


class OfferingFactory(factory.django.DjangoModelFactory):
    """An offering written directly, without the scope check (for testing the check elsewhere)."""

    class Meta:
        model = Offering

    provider = factory.SubFactory(ProviderFactory)
    service = factory.SubFactory(ServiceFactory)
    location = factory.SubFactory(LocationFactory)


def offer(provider, service, location) -> Offering:
    return create_offering(provider=provider, service=service, location=location)


WEEKDAYS = (0, 1, 2, 3, 4, 5, 6)


def weekly_hours(
    provider,
    location,
    start: str = "09:00",
    end: str = "17:00",
    weekdays=WEEKDAYS,
    valid_from: datetime.date | None = None,
    valid_until: datetime.date | None = None,
) -> list[WeeklyAvailability]:
    valid_from = valid_from or datetime.date(2020, 1, 1)
    return [
        WeeklyAvailability.objects.create(
            provider=provider,
            location=location,
            weekday=day,
            start_time=datetime.time.fromisoformat(start),
            end_time=datetime.time.fromisoformat(end),
            valid_from=valid_from,
            valid_until=valid_until,
        )
        for day in weekdays
    ]


class AvailabilityExceptionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = AvailabilityException

    provider = factory.SubFactory(ProviderFactory)
    location = None
    kind = AvailabilityException.Kind.TIME_OFF
    reason = "Conference"


class ClosureFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Closure

    location = factory.SubFactory(LocationFactory)
    reason = "Statutory holiday"


def waiting_entry(provider, service, location, day: datetime.date) -> WaitlistEntry:
    """A new person waiting for ``service`` with ``provider`` at ``location`` on ``day``."""
    return WaitlistEntry.objects.create(
        patient=PatientFactory(),
        service=service,
        location=location,
        provider=provider,
        earliest_date=day,
        latest_date=day,
    )


def held_time(
    entry, provider, start: datetime.datetime, minutes: int, offered_at: datetime.datetime
) -> WaitlistOffer:
    """An open waitlist offer holding ``minutes`` of ``provider``'s time from ``start`` for
    ``entry`` (written as the matcher writes it, without the matcher), open for two hours."""
    end = start + datetime.timedelta(minutes=minutes)
    return WaitlistOffer.objects.create(
        entry=entry,
        provider=provider,
        start=start,
        end=end,
        blocked_start=start,
        blocked_end=end,
        offered_at=offered_at,
        expires_at=offered_at + datetime.timedelta(hours=2),
    )
