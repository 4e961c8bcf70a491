"""The staff schedule API reads appointments as ``Visit`` rows (plain values, times as epoch
seconds) and builds its JSON directly; the admin page still reads model instances. On a
generated week across Toronto's DST change, with group classes, rooms, time off, extra hours past
midnight, cancelled and no-show visits, the answer must be byte for byte what the model-based
builder wrote before, for every role and both column kinds; and it must match the schema the
endpoint publishes."""

import datetime
import random

import pytest
from drf_spectacular.generators import SchemaGenerator
from jsonschema import Draft202012Validator

from clinic import roles
from clinic.api.renderers import JSONRenderer
from clinic.errors import DomainError
from scheduling import schedule as calendar
from scheduling.api.serializers import local_iso
from scheduling.models import Appointment, AvailabilityException
from scheduling.services import book_appointment, cancel_appointment
from tests.conftest import client_for
from tests.factories.clinic import RoomFactory
from tests.factories.patients import PatientFactory, clinician_user, staff_user
from tests.factories.providers import ProviderFactory
from tests.factories.scheduling import ClosureFactory, ServiceFactory, offer, weekly_hours
from tests.scheduling.conftest import local, make_physio

FIRST = datetime.date(2027, 3, 10)  # Wednesday; Toronto moves to -04:00 on Sunday 2027-03-14
NOW = local(datetime.date(2027, 3, 1), "08:00")
URL = "/api/v1/schedule/"


def model_answer(schedule: calendar.Schedule) -> dict:
    """The answer as the API built it from ``Appointment`` instances before ``Visit`` rows:
    the reference the fast path must reproduce."""
    location = schedule.location

    def span(interval) -> dict:
        return {"start": local_iso(interval[0], location), "end": local_iso(interval[1], location)}

    def appointment(entry: calendar.Entry) -> dict:
        a = entry.appointment
        return {
            "id": a.pk,
            "reference": a.reference,
            "start": local_iso(a.start, location),
            "end": local_iso(a.end, location),
            "status": a.status,
            "service": {"id": a.service_id, "name": a.service.name},
            "provider": a.provider_id,
            "patient": {"id": a.patient_id, "name": a.patient.full_name},
            "room": {"id": a.room_id, "name": a.room.name} if a.room_id else None,
            "spots_taken": entry.spots_taken,
            "capacity": entry.capacity,
            "late_cancellation": a.late_cancellation,
        }

    def column(col: calendar.Column) -> dict:
        return {
            "provider": (
                {"id": col.provider.pk, "name": col.provider.display_name} if col.provider else None
            ),
            "room": {"id": col.room.pk, "name": col.room.name} if col.room else None,
            "working": [span(w) for w in col.working],
            "time_off": [span(o) for o in col.time_off],
            "appointments": [appointment(e) for e in col.entries],
        }

    return {
        "location": location.pk,
        "timezone": location.timezone,
        "days": [
            {
                "date": day.date.isoformat(),
                "closed": day.closed,
                "closure_reason": day.closure_reason,
                "columns": [column(c) for c in day.columns],
            }
            for day in schedule.days
        ],
    }


def _try_book(**kwargs) -> Appointment | None:
    try:
        return book_appointment(now=NOW, **kwargs)
    except DomainError:  # the generated slot was taken or out of hours: skip it
        return None


def generated_week(location, assessment, seed: int) -> dict:
    """Three physios, a trainer's group class and a treatment room, booked at random through
    the booking rule, with some visits cancelled (late or not) and some marked no-show."""
    rng = random.Random(seed)
    physios = [make_physio(location, assessment, name) for name in ("Ana Ávila", "Bo Berg")]
    treatment = ServiceFactory(
        code="physio-treatment", name="Treatment", acts=["manual_therapy"], room_kind="treatment"
    )
    for physio in physios:
        offer(physio, treatment, location)
    RoomFactory(location=location, name="Room 2")
    RoomFactory(location=location, name="Room 1")
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
    weekly_hours(trainer, location, start="07:00", end="12:00")
    late = physios[1]
    AvailabilityException.objects.create(
        provider=late,
        location=location,
        kind=AvailabilityException.Kind.EXTRA_HOURS,
        start=local(FIRST + datetime.timedelta(days=3), "21:00"),
        end=local(FIRST + datetime.timedelta(days=4), "01:00"),
    )
    AvailabilityException.objects.create(
        provider=physios[0],
        kind=AvailabilityException.Kind.TIME_OFF,
        start=local(FIRST + datetime.timedelta(days=1), "12:00"),
        end=local(FIRST + datetime.timedelta(days=1), "14:30"),
    )
    ClosureFactory(
        location=location,
        start_date=FIRST + datetime.timedelta(days=6),
        end_date=FIRST + datetime.timedelta(days=6),
        reason="Staff training",
    )
    booked: list[Appointment] = []
    patients = [PatientFactory(first_name=f"Zoë {n}", last_name="Ñuñez") for n in range(8)]
    for offset in range(7):
        day = FIRST + datetime.timedelta(days=offset)
        for _ in range(6):
            service = rng.choice([assessment, treatment])
            hh_mm = f"{rng.randrange(9, 16):02d}:{rng.choice(['00', '15', '30', '45'])}"
            visit = _try_book(
                service=service,
                location=location,
                start=local(day, hh_mm),
                patient=rng.choice(patients),
                provider=rng.choice(physios),
            )
            booked += [visit] if visit else []
        for _ in range(rng.randrange(1, 4)):  # one class a day, some seats taken
            visit = _try_book(
                service=group,
                location=location,
                start=local(day, "08:00"),
                patient=PatientFactory(),
            )
            booked += [visit] if visit else []
    past_midnight = _try_book(
        service=assessment,
        location=location,
        start=local(FIRST + datetime.timedelta(days=3), "23:30"),
        patient=patients[0],
        provider=late,
    )
    assert past_midnight is not None, "the visit across midnight must be in the week"
    for visit in rng.sample(booked, 6):
        start = visit.start
        cancel_appointment(
            visit, reason="Sick", now=start - datetime.timedelta(hours=rng.choice([2, 72]))
        )
    Appointment.objects.filter(
        pk__in=[v.pk for v in rng.sample(booked, 3)], status=Appointment.Status.BOOKED
    ).update(status=Appointment.Status.NO_SHOW)
    return {"physios": physios, "trainer": trainer}


def _json_schema(node):
    """OpenAPI 3.0's ``nullable`` as JSON Schema (the 3.0 validators ignore it beside ``allOf``,
    which is how a nullable nested object is written)."""
    if isinstance(node, list):
        return [_json_schema(n) for n in node]
    if not isinstance(node, dict):
        return node
    converted = {k: _json_schema(v) for k, v in node.items() if k != "nullable"}
    return {"anyOf": [converted, {"type": "null"}]} if node.get("nullable") else converted


@pytest.fixture(scope="module")
def answer_schema() -> Draft202012Validator:
    """The endpoint's published 200 body, with the components its references point to."""
    schema = SchemaGenerator().get_schema(request=None, public=True)
    body = schema["paths"][URL]["get"]["responses"]["200"]["content"]["application/json"]
    return Draft202012Validator(
        _json_schema({**body["schema"], "components": schema["components"]})
    )


def users(week: dict) -> list:
    return [
        staff_user("desk-week", roles.FRONT_DESK),
        staff_user("manager-week", roles.MANAGER),
        clinician_user("ana-week", provider=week["physios"][0]),
        clinician_user("tess-week", provider=week["trainer"]),
    ]


@pytest.mark.parametrize("seed", [1, 2])
def test_the_visit_rows_answer_is_the_model_answer_for_every_role(
    location, assessment, answer_schema, seed
):
    week = generated_week(location, assessment, seed)
    assert Appointment.objects.filter(status=Appointment.Status.NO_SHOW).exists()
    assert Appointment.objects.filter(status=Appointment.Status.CANCELLED).exists()
    for user in users(week):
        client = client_for(user)
        for by in (calendar.BY_PROVIDER, calendar.BY_ROOM):
            params = {"location": location.pk, "date": FIRST.isoformat(), "days": 7, "columns": by}
            response = client.get(URL, params)
            assert response.status_code == 200, response.content
            reference = calendar.schedule_for(
                location=location,
                first=FIRST,
                days=7,
                provider=calendar.column_provider_for(user, None),
                by=by,
            )
            assert response.content == JSONRenderer().render(model_answer(reference)), (
                user.username,
                by,
            )
            answer_schema.validate(response.json())


def test_the_week_covers_the_dst_change_groups_and_the_visit_past_midnight(location, assessment):
    generated_week(location, assessment, 1)
    body = (
        client_for(staff_user("desk-dst", roles.FRONT_DESK))
        .get(URL, {"location": location.pk, "date": FIRST.isoformat(), "days": 7})
        .json()
    )
    starts = {
        a["start"][-6:] for d in body["days"] for c in d["columns"] for a in c["appointments"]
    }
    assert starts == {"-05:00", "-04:00"}
    seats = {
        (a["spots_taken"], a["capacity"])
        for d in body["days"]
        for c in d["columns"]
        for a in c["appointments"]
        if a["capacity"] > 1
    }
    assert seats
    assert all(capacity == 6 for _, capacity in seats)
    saturday, sunday = body["days"][3:5]
    crossing = {a["id"] for c in saturday["columns"] for a in c["appointments"]} & {
        a["id"] for c in sunday["columns"] for a in c["appointments"]
    }
    assert len(crossing) == 1
