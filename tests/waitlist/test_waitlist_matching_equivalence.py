"""The matcher reads only the entries some free start fits (service, dates, windows, order in
SQL, in batches); it must make exactly the offers of the plain rule, checked here against an
independent reference over every waiting entry read into Python: each free start (those wholly
in the opening first, then by time and service) goes to the first entry in order (first come;
care-plan patients first when the clinic says so) that is confirmed, waiting here for this
provider or any, whose service, dates and windows it meets, whose patient has no appointment
then and who has not let this very time go; overlapping starts after an offer are skipped."""

import datetime
from unittest import mock

import pytest
from django.db import transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from notifications import clock
from patients.models import Patient
from scheduling.availability import search
from scheduling.models import (
    BLOCKING_STATUSES,
    Appointment,
    AvailabilityException,
    WaitlistEntry,
    WaitlistOffer,
    WaitlistOpening,
    WaitlistSettings,
)
from scheduling.services import book_appointment, waitlist_matching
from scheduling.services.waitlist_matching import match_opening
from scheduling.waitlist_priority import register_priority_source
from tests.factories.patients import PatientFactory
from tests.factories.scheduling import ServiceFactory, offer
from tests.scheduling.conftest import TORONTO, local, make_physio

BUSY_TIMES = [("0", "10:00"), ("0", "11:00"), ("0", "12:30"), ("0", "14:00"), ("1", "10:00")]
TIMES = [f"{h:02d}:{m:02d}" for h in range(7, 19) for m in (0, 30)]


@pytest.fixture
def world(clinic):
    """Two services (60 and 30 minutes), the physio's hour plus four extra hours on the day and
    the hour of the next day, a colleague for the patients' own appointments, and an opening
    over all of it."""
    short = ServiceFactory(code="physio-short", name="Short visit", acts=["diagnose"])
    short.duration_minutes = 30
    short.save()
    offer(clinic.physio, short, clinic.location)
    AvailabilityException.objects.create(
        provider=clinic.physio,
        location=clinic.location,
        kind=AvailabilityException.Kind.EXTRA_HOURS,
        start=local(clinic.day, "12:00"),
        end=local(clinic.day, "16:00"),
    )
    colleague = make_physio(clinic.location, clinic.service, "Colleague")
    opening = WaitlistOpening.objects.create(
        location=clinic.location,
        provider=clinic.physio,
        start=clinic.start,
        end=local(clinic.day + datetime.timedelta(days=1), "11:00"),
        reason="hours",
        created_at=clock.now(),
    )
    register_priority_source(
        "equivalence", lambda now: Patient.objects.filter(first_name="Care").values("pk")
    )
    yield {
        "clinic": clinic,
        "services": [clinic.service, short],
        "colleague": colleague,
        "opening": opening,
        "free": _free_starts(clinic, opening, [clinic.service, short]),
    }
    register_priority_source("equivalence", lambda now: Patient.objects.none().values("pk"))


def _free_starts(clinic, opening, services) -> list[tuple]:
    starts = []
    for service in services:
        for slot in search(
            service=service,
            location=clinic.location,
            start_date=clinic.day,
            end_date=clinic.day + datetime.timedelta(days=1),
            provider_ids=[clinic.physio.pk],
            online=True,
        ).slots:
            if slot.start < opening.end and slot.end > opening.start:
                starts.append((slot.start, slot.end, service.pk))
    inside = lambda s: s[0] >= opening.start and s[1] <= opening.end  # noqa: E731
    return sorted(starts, key=lambda s: (not inside(s), s[0], s[2]))


def _window_fits(entry: dict, start: datetime.datetime, end: datetime.datetime) -> bool:
    local_start, local_end = start.astimezone(TORONTO), end.astimezone(TORONTO)
    day = local_start.date()
    if local_end.date() != day or not entry["earliest_date"] <= day <= entry["latest_date"]:
        return False
    begin, finish = local_start.strftime("%H:%M"), local_end.strftime("%H:%M")
    for window in entry["windows"]:
        weekday = window.get("weekday")
        on_day = weekday is None or weekday == day.weekday()
        if on_day and window["from"] <= begin and finish <= window["to"]:
            return True
    return False


def reference_offers(world, care_first: bool) -> list[tuple[int, datetime.datetime]]:
    """The plain rule over every entry in the database, read into Python."""
    clinic, opening = world["clinic"], world["opening"]
    first_day = opening.start.astimezone(TORONTO).date()
    last_day = opening.end.astimezone(TORONTO).date()
    rows = [
        row
        for row in WaitlistEntry.objects.order_by("created_at", "pk").values()
        if row["status"] == "waiting"
        and row["confirmed_at"] is not None
        and row["location_id"] == clinic.location.pk
        and row["provider_id"] in (None, clinic.physio.pk)
        and row["earliest_date"] <= last_day
        and row["latest_date"] >= first_day
    ]
    if care_first:
        in_care = set(Patient.objects.filter(first_name="Care").values_list("pk", flat=True))
        rows.sort(key=lambda row: row["patient_id"] not in in_care)
    busy: dict[int, list] = {}
    for patient_id, start, end in Appointment.objects.filter(
        status__in=BLOCKING_STATUSES
    ).values_list("patient_id", "start", "end"):
        busy.setdefault(patient_id, []).append((start, end))
    let_go = set(
        WaitlistOffer.objects.filter(provider=clinic.physio).values_list("entry_id", "start")
    )
    offers, taken, held = [], set(), []
    for start, end, service_id in world["free"]:
        if any(start < b and end > a for a, b in held):
            continue
        for row in rows:
            if row["id"] in taken or row["service_id"] != service_id:
                continue
            if (row["id"], start) in let_go or not _window_fits(row, start, end):
                continue
            if any(start < b and end > a for a, b in busy.get(row["patient_id"], [])):
                continue
            taken.add(row["id"])
            offers.append((row["id"], start))
            held.append((start, end))
            break
    return offers


windows = st.lists(
    st.tuples(
        st.one_of(st.none(), st.integers(0, 6)),
        st.integers(0, len(TIMES) - 2),
        st.integers(1, 12),
    ),
    min_size=1,
    max_size=3,
)
entries = st.lists(
    st.fixed_dictionaries(
        {
            "service": st.integers(0, 1),
            "provider": st.sampled_from(["any", "physio", "colleague"]),
            "confirmed": st.booleans() | st.just(True),
            "withdrawn": st.integers(0, 9).map(lambda n: n == 0),
            "earliest": st.integers(-2, 2),
            "length": st.integers(0, 3),
            "windows": windows,
            "in_care": st.booleans(),
            "busy": st.one_of(st.none(), st.integers(0, len(BUSY_TIMES) - 1)),
            "let_go": st.one_of(st.none(), st.integers(0, 40)),
        }
    ),
    max_size=12,
)


def _make(world, wishes: list[dict]) -> None:
    clinic = world["clinic"]
    booked: set[int] = set()
    now = clock.now()
    for i, wish in enumerate(wishes):
        patient = PatientFactory(
            first_name="Care" if wish["in_care"] else "Other", email=f"eq{i}@example.org"
        )
        service = world["services"][wish["service"]]
        earliest = clinic.day + datetime.timedelta(days=wish["earliest"])
        entry = WaitlistEntry.objects.create(
            patient=patient,
            service=service,
            location=clinic.location,
            provider={"any": None, "physio": clinic.physio, "colleague": world["colleague"]}[
                wish["provider"]
            ],
            earliest_date=earliest,
            latest_date=earliest + datetime.timedelta(days=wish["length"]),
            windows=[
                {
                    "weekday": weekday,
                    "from": TIMES[begin],
                    "to": TIMES[min(begin + length, len(TIMES) - 1)],
                }
                for weekday, begin, length in wish["windows"]
            ],
            status="withdrawn" if wish["withdrawn"] else "waiting",
            source="staff",
            confirmed_at=now if wish["confirmed"] else None,
        )
        if wish["busy"] is not None and wish["busy"] not in booked:
            booked.add(wish["busy"])
            days, at = BUSY_TIMES[wish["busy"]]
            book_appointment(
                service=clinic.service,
                location=clinic.location,
                start=local(clinic.day + datetime.timedelta(days=int(days)), at),
                patient=patient,
                provider=world["colleague"],
            )
        own = [s for s in world["free"] if s[2] == service.pk]
        if wish["let_go"] is not None and own:
            start, end, _ = own[wish["let_go"] % len(own)]
            WaitlistOffer.objects.create(
                entry=entry,
                provider=clinic.physio,
                start=start,
                end=end,
                blocked_start=start,
                blocked_end=end,
                status="expired",
                offered_at=now,
                expires_at=now,
                ended_at=now,
            )


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(wishes=entries, care_first=st.booleans(), batch=st.sampled_from([1, 2, 16]))
def test_matching_in_sql_offers_what_the_plain_rule_offers(world, wishes, care_first, batch):
    assert len(world["free"]) > 20  # enough starts for offers to skip and to compete
    with transaction.atomic():
        WaitlistSettings.objects.update_or_create(
            pk=1, defaults={"care_plan_patients_first": care_first}
        )
        _make(world, wishes)
        expected = reference_offers(world, care_first)
        with mock.patch.object(waitlist_matching, "BATCH", batch):
            offers = match_opening(world["opening"].pk)
        assert [(o.entry_id, o.start) for o in offers] == expected
        transaction.set_rollback(True)
