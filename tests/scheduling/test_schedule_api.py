"""``GET /api/v1/schedule/``: the front desk's calendar. A column per provider with working hours
from weekly hours and exceptions, closures, appointments with status, patient, service and room,
group classes with seats taken; never the visit's reason; clinicians see their own column; the
query count does not grow with providers or days."""

import datetime

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from clinic import roles
from scheduling.models import Appointment, AvailabilityException
from scheduling.services import book_appointment, cancel_appointment
from tests.conftest import client_for
from tests.factories.clinic import RoomFactory
from tests.factories.patients import PatientFactory, clinician_user, staff_user
from tests.factories.providers import ProviderFactory
from tests.factories.scheduling import ClosureFactory, ServiceFactory, offer, weekly_hours
from tests.scheduling.conftest import local, make_physio

DAY = datetime.date(2027, 1, 12)  # a Tuesday
EARLY = local(datetime.date(2026, 12, 1), "08:00")  # "now", well before DAY
URL = "/api/v1/schedule/"


@pytest.fixture
def desk(db):
    return client_for(staff_user("desk-schedule", roles.FRONT_DESK))


def get(client, location, **params):
    response = client.get(URL, {"location": location.pk, **params})
    assert response.status_code == 200, response.content
    return response.json()


def column(day: dict, name: str) -> dict:
    return next(c for c in day["columns"] if c["provider"] and c["provider"]["name"] == name)


def book(service, location, provider, day, hh_mm, **kw) -> Appointment:
    return book_appointment(
        service=service,
        location=location,
        start=local(day, hh_mm),
        patient=kw.pop("patient", None) or PatientFactory(),
        provider=provider,
        now=EARLY,
        **kw,
    )


def test_columns_are_the_providers_working_there_with_their_hours(desk, physio, location):
    AvailabilityException.objects.create(
        provider=physio,
        kind="time_off",
        start=local(DAY, "12:00"),
        end=local(DAY, "13:00"),
        reason="Dentist",
    )
    evening = ProviderFactory(display_name="Evan Evening", locations=[location])
    weekly_hours(evening, location, start="17:00", end="20:00", weekdays=(1,))
    AvailabilityException.objects.create(
        provider=evening,
        location=location,
        kind="extra_hours",
        start=local(DAY, "08:00"),
        end=local(DAY, "10:00"),
    )
    ProviderFactory(display_name="Not Here", locations=[location])  # no hours that day

    body = get(desk, location, date=DAY.isoformat())
    assert body["timezone"] == "America/Toronto"
    (day,) = body["days"]
    assert [c["provider"]["name"] for c in day["columns"]] == ["Evan Evening", "Priya Physio"]
    priya = column(day, "Priya Physio")
    assert priya["working"] == [
        {"start": "2027-01-12T09:00:00-05:00", "end": "2027-01-12T12:00:00-05:00"},
        {"start": "2027-01-12T13:00:00-05:00", "end": "2027-01-12T17:00:00-05:00"},
    ]
    assert priya["time_off"] == [
        {"start": "2027-01-12T12:00:00-05:00", "end": "2027-01-12T13:00:00-05:00"}
    ]
    assert [w["start"][11:16] for w in column(day, "Evan Evening")["working"]] == ["08:00", "17:00"]


def test_a_provider_here_only_on_extra_hours_gets_a_column_with_their_time_off(desk, location):
    """No weekly hours and no visit here: the extra hours alone bring the column, and time off
    they took at no particular location still cuts into them."""
    visiting = ProviderFactory(display_name="Vera Visiting", locations=[location])
    AvailabilityException.objects.create(
        provider=visiting,
        location=location,
        kind="extra_hours",
        start=local(DAY, "09:00"),
        end=local(DAY, "13:00"),
    )
    AvailabilityException.objects.create(
        provider=visiting, kind="time_off", start=local(DAY, "11:00"), end=local(DAY, "12:00")
    )
    (day,) = get(desk, location, date=DAY.isoformat())["days"]
    vera = column(day, "Vera Visiting")
    assert [(w["start"][11:16], w["end"][11:16]) for w in vera["working"]] == [
        ("09:00", "11:00"),
        ("12:00", "13:00"),
    ]
    assert [(o["start"][11:16], o["end"][11:16]) for o in vera["time_off"]] == [("11:00", "12:00")]


def test_a_provider_with_only_a_cancelled_visit_that_day_keeps_a_column(
    desk, physio, assessment, location
):
    """The desk still sees the cancelled visit (late cancellations are charged) in the column of
    a provider whose hours there ended before that day."""
    appointment = book(assessment, location, physio, DAY, "10:00")
    cancel_appointment(appointment, reason="Unwell", now=EARLY)
    physio.weekly_hours.update(valid_until=DAY - datetime.timedelta(days=1))
    (day,) = get(desk, location, date=DAY.isoformat())["days"]
    priya = column(day, "Priya Physio")
    assert priya["working"] == []
    assert [a["status"] for a in priya["appointments"]] == ["cancelled"]


def test_a_closed_day_has_no_working_hours(desk, physio, location):
    ClosureFactory(location=location, start_date=DAY, end_date=DAY, reason="Training day")
    body = get(desk, location, date=(DAY - datetime.timedelta(days=1)).isoformat(), days=2)
    before, closed = body["days"]
    assert not before["closed"]
    assert column(before, "Priya Physio")["working"]
    assert closed["closed"]
    assert closed["closure_reason"] == "Training day"
    assert all(c["working"] == [] for c in closed["columns"])


def test_working_hours_keep_their_local_times_across_the_dst_change(desk, physio, location):
    """2027-03-14: Toronto moves from -05:00 to -04:00; 09:00 stays 09:00 at the desk."""
    body = get(desk, location, date="2027-03-13", days=2)
    saturday, sunday = (column(d, "Priya Physio")["working"][0]["start"] for d in body["days"])
    assert saturday == "2027-03-13T09:00:00-05:00"
    assert sunday == "2027-03-14T09:00:00-04:00"


def test_appointments_carry_status_patient_service_and_room(desk, physio, assessment, location):
    room_service = ServiceFactory(
        code="physio-treatment", name="Treatment", acts=["manual_therapy"], room_kind="treatment"
    )
    offer(physio, room_service, location)
    room = RoomFactory(location=location, name="Room 1")
    ada = PatientFactory(first_name="Ada", last_name="Lovelace")
    first = book(room_service, location, physio, DAY, "10:00", patient=ada, reason="Knee pain")
    gone = book(assessment, location, physio, DAY, "14:00")
    cancel_appointment(gone, reason="Sick", now=local(DAY, "12:00"))

    appointments = column(get(desk, location, date=DAY.isoformat())["days"][0], "Priya Physio")[
        "appointments"
    ]
    shown = {a["reference"]: a for a in appointments}
    assert shown[first.reference] == {
        "id": first.pk,
        "reference": first.reference,
        "start": "2027-01-12T10:00:00-05:00",
        "end": "2027-01-12T11:00:00-05:00",
        "status": "booked",
        "service": {"id": room_service.pk, "name": "Treatment"},
        "provider": physio.pk,
        "patient": {"id": ada.pk, "name": "Ada Lovelace"},
        "room": {"id": room.pk, "name": "Room 1"},
        "spots_taken": 1,
        "capacity": 1,
        "late_cancellation": False,
    }
    assert shown[gone.reference]["status"] == "cancelled"
    assert shown[gone.reference]["late_cancellation"] is True


def test_group_classes_show_the_seats_taken(desk, location):
    group = ServiceFactory(
        code="group-class", name="Strength class", acts=["fitness_training"], capacity=6
    )
    trainer = ProviderFactory(
        display_name="Tess Trainer",
        discipline__code="personal_trainer",
        locations=[location],
        credentials__kind="certification",
    )
    offer(trainer, group, location)
    weekly_hours(trainer, location)
    for _ in range(3):
        book_appointment(
            service=group,
            location=location,
            start=local(DAY, "10:00"),
            patient=PatientFactory(),
            now=EARLY,
        )
    appointments = column(get(desk, location, date=DAY.isoformat())["days"][0], "Tess Trainer")[
        "appointments"
    ]
    assert [(a["spots_taken"], a["capacity"]) for a in appointments] == [(3, 6)] * 3


def test_front_desk_never_gets_the_visit_reason(desk, physio, assessment, location):
    book(assessment, location, physio, DAY, "10:00", reason="Pelvic floor pain since birth")
    manager = client_for(staff_user("manager-schedule", roles.MANAGER))
    for client in (desk, manager):
        response = client.get(URL, {"location": location.pk, "date": DAY.isoformat()})
        assert "Pelvic floor" not in response.content.decode()
        assert "reason" not in response.json()["days"][0]["columns"][0]["appointments"][0]


def test_a_clinician_sees_their_own_column_by_default(physio, assessment, location):
    colleague = make_physio(location, assessment, "Colin Colleague")
    book(assessment, location, colleague, DAY, "10:00")
    own = client_for(clinician_user("priya-login", provider=physio))
    body = get(own, location, date=DAY.isoformat())
    assert [c["provider"]["name"] for c in body["days"][0]["columns"]] == ["Priya Physio"]
    refused = own.get(URL, {"location": location.pk, "provider": colleague.pk})
    assert refused.status_code == 403
    assert refused.json()["errors"][0]["field"] == "provider"


def test_bad_parameters_name_the_field(desk, location):
    for params, field in [
        ({"location": location.pk, "days": 8}, "days"),
        ({"location": location.pk, "date": "2027-02-30"}, "date"),
        ({"location": 987654}, "location"),
    ]:
        response = desk.get(URL, params)
        assert response.status_code == 400, params
        assert [e["field"] for e in response.json()["errors"]] == [field]


def _clinic(location, assessment, providers: int) -> None:
    for n in range(providers):
        provider = make_physio(location, assessment, f"Physio {n:02d}")
        AvailabilityException.objects.create(
            provider=provider, kind="time_off", start=local(DAY, "12:00"), end=local(DAY, "13:00")
        )
        for offset in range(0, 7, 2):
            book(assessment, location, provider, DAY + datetime.timedelta(days=offset), "10:00")


def test_the_query_count_does_not_grow_with_providers_or_days(
    desk, assessment, location, django_assert_num_queries
):
    _clinic(location, assessment, providers=1)
    next_day = DAY + datetime.timedelta(days=1)
    ClosureFactory(location=location, start_date=next_day, end_date=next_day)
    with CaptureQueriesContext(connection) as small:
        assert len(get(desk, location, date=DAY.isoformat(), days=1)["days"]) == 1
    _clinic(location, assessment, providers=5)
    with django_assert_num_queries(len(small)):
        body = get(desk, location, date=DAY.isoformat(), days=7)
    assert len(body["days"]) == 7
    assert len(body["days"][2]["columns"]) == 6
