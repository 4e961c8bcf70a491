"""Can an offering ever be booked? (DOMAIN.md section 4)

An offering row alone promises nothing: the provider may be inactive or out of scope for the
whole booking horizon, the location may have no room of the kind the service needs, or the
provider may have no hours there. The public services list shows a service at a location only
where some offering has no such reason, and staff see the reasons (admin and staff API), so a
widget never opens on a service that has no times, ever.

One call judges any number of offerings in a fixed number of queries (rooms, hours, extra
hours, the services' acts, and the scope indexes of every jurisdiction at once).
"""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, time, timedelta

from django.db.models import Prefetch, Q
from django.utils import timezone

from clinic.models import ClinicSettings, Location, Room
from providers.models import Act
from providers.scope import ScopeIndex, load_scope_indexes
from scheduling.availability import local_instant
from scheduling.models import AvailabilityException, Offering, Service, WeeklyAvailability


@dataclass(frozen=True)
class Unbookable:
    """Why an offering cannot be booked; ``code`` is stable, ``message`` is for staff."""

    code: str
    message: str


def offering_problems(
    offerings: Iterable[Offering], now: datetime | None = None
) -> dict[int, list[Unbookable]]:
    """For each offering (by id), why it can never be booked; an empty list means it can.

    Scope is asked on each day it can change within the clinic's booking horizon, so a licence
    that starts next week does not hide the service, and one that lapsed yesterday does."""
    offerings = list(offerings)
    now = now or timezone.now()
    if not offerings:
        return {}
    rooms = set(
        Room.objects.filter(
            location_id__in={o.location_id for o in offerings}, is_active=True
        ).values_list("location_id", "kind")
    )
    provider_ids = {o.provider_id for o in offerings}
    today = now.date() - timedelta(days=1)  # a day early: covers every zone's "today"
    with_hours = set(
        WeeklyAvailability.objects.filter(provider_id__in=provider_ids)
        .filter(Q(valid_until__isnull=True) | Q(valid_until__gte=today))
        .values_list("provider_id", "location_id")
    ) | set(
        AvailabilityException.objects.filter(
            provider_id__in=provider_ids,
            kind=AvailabilityException.Kind.EXTRA_HOURS,
            end__gt=now,
        ).values_list("provider_id", "location_id")
    )
    acts = _acts_by_service({o.service_id for o in offerings})
    horizon = _horizon_days()
    in_scope = _in_scope(offerings, acts, now, horizon)
    problems: dict[int, list[Unbookable]] = {}
    for offering in offerings:
        service, location, provider = offering.service, offering.location, offering.provider
        found = []
        if not offering.is_active:
            found.append(Unbookable("offering_inactive", "The offering is switched off."))
        if not service.is_active:
            found.append(Unbookable("service_inactive", f"{service.name} is inactive."))
        if not location.is_active:
            found.append(Unbookable("location_inactive", f"{location.name} is closed."))
        if not provider.is_active:
            found.append(Unbookable("provider_inactive", f"{provider.display_name} is inactive."))
        if service.room_kind and (location.pk, service.room_kind) not in rooms:
            kind = Room.Kind(service.room_kind).label.lower()
            found.append(
                Unbookable(
                    "no_room",
                    f"{location.name} has no active {kind}, which {service.name} needs.",
                )
            )
        if provider.is_active and not in_scope[offering.pk]:
            found.append(
                Unbookable(
                    "out_of_scope",
                    f"{provider.display_name}'s scope does not cover {service.name} at "
                    f"{location.name} at any time in the next {horizon} days.",
                )
            )
        if (provider.pk, location.pk) not in with_hours:
            found.append(
                Unbookable(
                    "no_hours",
                    f"{provider.display_name} has no current or future hours at {location.name}.",
                )
            )
        problems[offering.pk] = found
    return problems


def _horizon_days() -> int:
    """The clinic's booking horizon, read without creating the settings row (a read)."""
    stored = ClinicSettings.objects.filter(pk=1).values_list("booking_horizon_days", flat=True)
    return stored.first() or ClinicSettings._meta.get_field("booking_horizon_days").default


def _acts_by_service(service_ids: set[int]) -> dict[int, list[str]]:
    services = Service.objects.filter(pk__in=service_ids).prefetch_related(
        Prefetch("required_acts", queryset=Act.objects.only("id", "code"))
    )
    return {s.pk: [a.code for a in s.required_acts.all()] for s in services}


def _in_scope(
    offerings: list[Offering], acts: dict[int, list[str]], now: datetime, horizon: int
) -> dict[int, bool]:
    """Per offering: does scope hold at some time between now and the booking horizon?"""
    codes = {code for o in offerings for code in acts[o.service_id]}
    indexes = load_scope_indexes(
        {o.provider_id for o in offerings}, codes, {o.location.jurisdiction for o in offerings}
    )
    return {
        o.pk: _ever_allowed(indexes[o.location.jurisdiction], o, acts[o.service_id], now, horizon)
        for o in offerings
    }


def _ever_allowed(
    index: ScopeIndex, offering: Offering, codes: list[str], now: datetime, horizon: int
) -> bool:
    location: Location = offering.location
    first = now.astimezone(location.zone).date()
    last = first + timedelta(days=horizon)
    if index.decide_acts(offering.provider_id, codes, location, now).allowed:
        return True
    return any(
        index.decide_acts(
            offering.provider_id, codes, location, local_instant(day, time(12), location)
        ).allowed
        for day in index.change_days(offering.provider_id, first, last)
    )


def bookable_offerings(
    offerings: Iterable[Offering], now: datetime | None = None
) -> list[Offering]:
    """The offerings that can be booked (no reason against them)."""
    offerings = list(offerings)
    problems = offering_problems(offerings, now)
    return [o for o in offerings if not problems[o.pk]]
