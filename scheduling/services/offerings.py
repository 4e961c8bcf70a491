"""Offerings: a provider offers a service at a location only within their scope of practice."""

from datetime import datetime

from django.db import transaction
from django.utils import timezone

from clinic.models import Location
from providers.models import Provider
from providers.scope import decide_acts
from scheduling.models import Offering, Service


@transaction.atomic
def check_offering_scope(
    provider: Provider, service: Service, location: Location, now: datetime | None = None
) -> None:
    """An offering is valid only while the provider's scope covers every act the service
    requires at that location; raises ``OutOfScope`` naming the reasons otherwise."""
    acts = list(service.required_acts.values_list("code", flat=True))
    decide_acts(provider, acts, location, now or timezone.now()).raise_if_refused("provider")


def create_offering(
    *, provider: Provider, service: Service, location: Location, now: datetime | None = None
) -> Offering:
    """A provider offers a service at a location, only if their scope covers every act the
    service requires there, today."""
    check_offering_scope(provider, service, location, now)
    offering, _ = Offering.objects.update_or_create(
        provider=provider, service=service, location=location, defaults={"is_active": True}
    )
    return offering
