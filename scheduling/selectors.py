"""Reads for scheduling: the public service list, the widget's availability, staff lists."""

import contextlib
from datetime import date, datetime, timedelta
from operator import itemgetter
from typing import NamedTuple

from django.db.models import (
    F,
    Prefetch,
    Q,
    QuerySet,
    Value,
    prefetch_related_objects,
)
from django.db.models.functions import Replace

from clinic import roles, rules_cache
from clinic.models import ClinicSettings, Location
from patients.models import Patient
from providers.models import Act, Provider
from providers.scope import disciplines_for_acts
from scheduling.availability import EPOCH, search_starts
from scheduling.bookability import bookable_offerings
from scheduling.models import Appointment, AppointmentEvent, Offering, Service
from scheduling.requirements import required_fields


def service_disciplines(services: list[Service], jurisdiction: str = "") -> dict[int, list[str]]:
    """The disciplines each service belongs to, as the scope rules of ``jurisdiction`` say
    (providers owns that rule; a new discipline needs no code)."""
    return disciplines_for_acts(
        {s.pk: {a.pk for a in s.required_acts.all()} for s in services}, jurisdiction
    )


class PublicService(NamedTuple):
    service: Service
    disciplines: list[str]
    currency: str
    required_fields: list[str]


def public_services(
    *, location: Location | None = None, discipline: str | None = None
) -> list[PublicService]:
    """Active, online-bookable services that can really be booked (at ``location`` if given):
    some offering of it has an active provider in scope, a room of the kind it needs and hours
    (``scheduling.bookability``). Each comes with its discipline codes, the currency of the
    location(s) it is booked at, and what a booking must give; ``discipline`` keeps those of
    that discipline."""
    offerings = Offering.objects.filter(
        is_active=True,
        provider__is_active=True,
        service__is_active=True,
        service__online_bookable=True,
        location__is_active=True,
    ).select_related("provider", "service", "location")
    if location is not None:
        offerings = offerings.filter(location=location)
    currencies: dict[int, set[str]] = {}
    services: dict[int, Service] = {}
    for offering in bookable_offerings(offerings):
        services[offering.service_id] = offering.service
        currencies.setdefault(offering.service_id, set()).add(offering.location.currency)
    ordered = sorted(services.values(), key=lambda s: (s.name, s.pk))
    prefetch_related_objects(
        ordered, Prefetch("required_acts", queryset=Act.objects.only("id", "code"))
    )
    disciplines = service_disciplines(ordered, location.jurisdiction if location else "")
    default_currency = None
    rows = []
    for service in ordered:
        if discipline and discipline not in disciplines[service.pk]:
            continue
        found = currencies[service.pk]
        if len(found) == 1:
            currency = next(iter(found))
        else:  # booked in several currencies (no location asked for): the organisation's
            default_currency = default_currency or ClinicSettings.load().currency
            currency = default_currency
        rows.append(
            PublicService(service, disciplines[service.pk], currency, required_fields(service))
        )
    return rows


class PublicSlot(NamedTuple):
    start: datetime
    end: datetime
    provider_id: int
    spots_left: int


class PublicStarts(NamedTuple):
    """The widget's slots as epoch seconds: ``(start, provider_id, spots_left)`` sorted by
    start, each ``duration_s`` long (what the JSON is written from, no datetime per slot)."""

    starts: list[tuple[int, int, int]]
    duration_s: int


def public_slots(
    *,
    service: Service,
    location: Location,
    start_date: date,
    end_date: date,
    provider: Provider | None = None,
    now: datetime | None = None,
) -> list[PublicSlot]:
    """The widget's slots. For one provider, each of their start times. For "any provider",
    each start time once, with the provider a booking would get (the least busy), and the
    places left across all providers (never more than the rooms allow)."""
    found = public_starts(
        service=service,
        location=location,
        start_date=start_date,
        end_date=end_date,
        provider=provider,
        now=now,
    )
    duration = timedelta(seconds=found.duration_s)
    slots = []
    for start_s, provider_id, spots in found.starts:
        start = EPOCH + timedelta(seconds=start_s)
        slots.append(PublicSlot(start, start + duration, provider_id, spots))
    return slots


def public_starts(
    *,
    service: Service,
    location: Location,
    start_date: date,
    end_date: date,
    provider: Provider | None = None,
    now: datetime | None = None,
    view: rules_cache.RulesView | None = None,
) -> PublicStarts:
    """``public_slots`` in epoch seconds (its rules are here). ``view``: the caller's read of
    the rules token (the widget's search validated its ids through it), when it has one."""
    result = search_starts(
        service=service,
        location=location,
        start_date=start_date,
        end_date=end_date,
        provider_ids=[provider.pk] if provider is not None else None,
        now=now,
        view=view,
    )
    starts, load, full = result.starts, result.provider_load, service.capacity
    duration_s = service.duration_minutes * 60
    if provider is None and not starts.detailed:
        return PublicStarts(_merge_runs(starts.runs, load, full), duration_s)
    rows = [
        (start, pid, full, None)
        for pid, runs in starts.runs.items()
        for run in runs
        for start in run
    ]
    rows.extend(
        (start, pid, spots, room_free)
        for pid, found in starts.detailed.items()
        for start, spots, _, room_free in found
    )
    rows.sort(key=itemgetter(0, 1))
    if provider is not None:
        return PublicStarts([row[:3] for row in rows], duration_s)
    return PublicStarts(_merge_rows(rows, load, full), duration_s)


def _merge_runs(
    runs: dict[int, list[range]], load: dict[int, int], full: int
) -> list[tuple[int, int, int]]:
    """ "Any provider" over providers who all take every start at full capacity, no room: per
    start, the least busy free provider (the lowest id among equals) and the places of all.
    Providers are visited best first, so the first to claim a start is the one it gets."""
    best: dict[int, int] = {}
    count: dict[int, int] = {}
    for pid in sorted(runs, key=lambda p: (load.get(p, 0), p)):
        for run in runs[pid]:
            for start in run:
                if start in count:
                    count[start] += 1
                else:
                    count[start] = 1
                    best[start] = pid
    return [(start, best[start], count[start] * full) for start in sorted(best)]


def _merge_rows(
    rows: list[tuple[int, int, int, int | None]], load: dict[int, int], full: int
) -> list[tuple[int, int, int]]:
    """ "Any provider" over ``(start, provider, spots_left, room_free)`` sorted by start and
    provider: one entry per start, with the provider a booking would get (a place left in a
    session first, then the least busy) and the places across providers (never more than the
    rooms hold)."""
    merged: list[tuple[int, int, int]] = []
    best = None
    best_rank = (True, 0)
    spots = 0
    for row in rows:  # sorted by start: one pass, one entry per start
        if best is not None and row[0] != best[0]:
            merged.append(_merged(best, spots))
            best = None
        rank = (row[2] == full, load.get(row[1], 0))
        if best is None:
            best, best_rank, spots = row, rank, row[2]
            continue
        spots += row[2]
        if rank < best_rank:
            best, best_rank = row, rank
    if best is not None:
        merged.append(_merged(best, spots))
    return merged


def _merged(best: tuple[int, int, int, int | None], spots: int) -> tuple[int, int, int]:
    """One start time: the provider a booking would get, and the places across providers
    (never more than the rooms hold)."""
    start, provider_id, _, room_free = best
    if room_free is not None:
        spots = min(spots, room_free)
    return start, provider_id, spots


def appointments_for(user, queryset: QuerySet[Appointment] | None = None) -> QuerySet[Appointment]:
    """Appointments a staff user may list: managers and front desk all, clinicians their own
    schedule. ``queryset`` narrows a caller's own query (the admin's) by the same rule."""
    qs = queryset
    if qs is None:
        qs = Appointment.objects.select_related(
            "patient", "provider", "service", "location", "room"
        ).order_by("start", "id")
    if roles.runs_the_desk(user):
        return qs
    if roles.is_clinician(user):
        return qs.filter(provider__user=user)
    return qs.none()


def event_data_for(event: AppointmentEvent, clinical: bool) -> dict:
    """An appointment's history as a role may read it: the consult's recommended path is the
    provider's clinical judgement, so front desk sees that an outcome was recorded, not which."""
    if clinical or event.kind != AppointmentEvent.Kind.OUTCOME:
        return event.data
    return {key: value for key, value in event.data.items() if key != "recommended_path"}


QUICK_SEARCH_LIMIT = 10


def _digits_only(field: str):
    """A phone column without its spaces and punctuation, so "905 555 0100" finds "+1 (905)..."."""
    expression = F(field)
    for mark in (" ", "-", "(", ")", "+", "."):
        expression = Replace(expression, Value(mark), Value(""))
    return expression


def quick_search(patients: QuerySet[Patient], text: str) -> list[Patient]:
    """The desk's one search box: patients (of ``patients``, which the caller has already
    restricted by the patient visibility rule) by name, e-mail, phone, date of birth
    (YYYY-MM-DD) or one of their booking references."""
    words = text.split()[:5]
    text = " ".join(words)[:100]
    if len(text) < 2:
        return []
    name = Q()
    for word in words:
        name &= Q(first_name__icontains=word) | Q(last_name__icontains=word)
    match = name | Q(email__icontains=text) | Q(appointments__reference__iexact=text)
    digits = "".join(ch for ch in text if ch.isdigit())
    if len(digits) >= 4:
        patients = patients.annotate(phone_digits=_digits_only("phone"))
        match |= Q(phone_digits__contains=digits)
    with contextlib.suppress(ValueError):
        match |= Q(date_of_birth=date.fromisoformat(text))
    found = patients.filter(match).distinct().order_by("last_name", "first_name", "pk")
    return list(found[:QUICK_SEARCH_LIMIT])
