"""Red-team checks of recurring series (DOMAIN.md 11) and the schedule's new-patient step:
each test is named for the rule an outsider tried to break."""

import datetime
import threading
import time
from types import SimpleNamespace
from unittest import mock
from zoneinfo import ZoneInfo

import pytest
from django.db import connection, transaction
from django.urls import reverse

from clinic import roles
from clinic.errors import DomainError
from patients.models import Patient
from plans.models import CarePlan
from scheduling import series_notifications
from scheduling.models import Appointment
from scheduling.series_models import Series
from scheduling.services import (
    SeriesRule,
    book_series,
    cancel_appointment,
    cancel_series,
    move_series,
    reschedule_appointment,
)
from tests.conftest import client_for, make_staff_user
from tests.factories.clinic import LocationFactory
from tests.factories.patients import PatientFactory, clinician_user
from tests.factories.plans import CarePlanFactory
from tests.factories.providers import ensure_scope_catalog
from tests.factories.scheduling import ServiceFactory
from tests.scheduling.conftest import make_physio

pytestmark = pytest.mark.django_db

TORONTO = ZoneInfo("America/Toronto")
SERIES = "/api/v1/appointments/series/"
HOUR = datetime.timedelta(hours=1)


@pytest.fixture
def location(db):
    return LocationFactory(slug="pickering", name="Pickering")


@pytest.fixture
def assessment(db):
    return ServiceFactory(code="physio-assessment", acts=["diagnose"])


@pytest.fixture
def physio(location, assessment):
    return make_physio(location, assessment, "Priya Physio")


def at(day: datetime.date, hh_mm: str) -> datetime.datetime:
    return datetime.datetime.combine(day, datetime.time.fromisoformat(hh_mm), tzinfo=TORONTO)


def body(service, location, provider, patient, start, **overrides) -> dict:
    data = {
        "service": service.pk,
        "location": location.pk,
        "provider": provider.pk,
        "patient": patient.pk,
        "start": start.isoformat(),
        "rule": {"freq": "weekly", "by_weekday": ["MO", "TH"], "count": 4},
        "preview": True,
        "on_conflict": "refuse",
    }
    data.update(overrides)
    return data


def four_visits(assessment, location, provider, patient):
    return book_series(
        service=assessment,
        location=location,
        provider=provider,
        patient=patient,
        start=at(datetime.date(2027, 2, 1), "11:00"),
        rule=SeriesRule(by_weekday=("MO", "TH"), count=4),
    )


# --- Who may change which visits ---------------------------------------------------------------


def test_a_clinician_cancelling_all_of_a_series_leaves_visits_moved_to_a_colleague_alone(
    location, assessment, physio
):
    patient = PatientFactory()
    colleague = make_physio(location, assessment, "Colleague Physio")
    booked = four_visits(assessment, location, physio, patient)
    move_series(
        booked.series,
        at=datetime.time(11, 0),
        on=datetime.date(2027, 2, 8),
        scope="following",
        provider=colleague,
    )
    owner = clinician_user("rt-owner", provider=physio)
    response = client_for(owner).post(
        f"{SERIES}{booked.series.pk}/cancel/", {"reason": "Stop", "scope": "all"}, format="json"
    )
    assert response.status_code == 200, response.content
    assert len(response.json()["appointments"]) == 2, "only the clinician's own two visits"
    on_colleague = Appointment.objects.filter(series=booked.series, provider=colleague)
    assert on_colleague.count() == 2
    assert not on_colleague.filter(status=Appointment.Status.CANCELLED).exists()
    own = Appointment.objects.filter(series=booked.series, provider=physio)
    assert set(own.values_list("status", flat=True)) == {Appointment.Status.CANCELLED}


# --- Races (PostgreSQL, one connection per thread) --------------------------------------------


def _parallel(*jobs) -> list[BaseException | None]:
    """Run each job in its own thread and connection from one barrier; the errors they raised."""
    barrier = threading.Barrier(len(jobs))
    errors: list[BaseException | None] = [None] * len(jobs)

    def worker(index: int, job) -> None:
        try:
            job(barrier)
        except BaseException as exc:  # the error is the test's answer
            errors[index] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(i, job)) for i, job in enumerate(jobs)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return errors


def _race_clinic():
    ensure_scope_catalog()
    place = LocationFactory(slug="pickering", name="Pickering")
    service = ServiceFactory(code="rt-series-race", acts=["diagnose"])
    provider = make_physio(place, service, "Race Physio")
    booked = four_visits(service, place, provider, PatientFactory())
    return booked, make_staff_user("rt-race-desk", roles.FRONT_DESK)


def _single_move(visit, actor, *, pause: float):
    """A single move in its own order (the patient, then the visit), pausing between the two."""

    def job(barrier) -> None:
        with transaction.atomic():
            Patient.objects.select_for_update().get(pk=visit.patient_id)
            barrier.wait()
            time.sleep(pause)
            reschedule_appointment(visit, start=visit.start + HOUR, actor=actor)

    return job


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_moving_a_series_while_one_of_its_visits_is_moved_alone_never_deadlocks():
    booked, desk = _race_clinic()
    third = booked.appointments[2]

    def whole(barrier) -> None:
        barrier.wait()
        time.sleep(0.1)
        move_series(booked.series, at=datetime.time(14, 0), scope="all", actor=desk)

    errors = _parallel(_single_move(third, desk, pause=0.5), whole)
    assert errors == [None, None], errors
    starts = Appointment.objects.filter(series=booked.series).values_list("start", flat=True)
    assert {s.astimezone(TORONTO).strftime("%H:%M") for s in starts} == {"14:00"}


# --- The admin's series form ---------------------------------------------------------------------

ADMIN_SERIES = "/admin/schedule/series/"


def series_form(assessment, location, physio, patient, **extra) -> dict:
    return {
        "patient": patient.pk,
        "service": assessment.pk,
        "location": location.pk,
        "provider": physio.pk,
        "start": "2027-02-01T11:00",
        "by_weekday": ["MO"],
        "count": "3",
        "on_conflict": "skip",
        **extra,
    }


@pytest.fixture
def desk_admin(client, db):
    client.force_login(make_staff_user("rt-series-desk", roles.FRONT_DESK))
    client.raise_request_exception = False
    return client


@pytest.mark.parametrize("start", ["9999-12-31T23:30", "0001-01-01T00:00"])
@pytest.mark.parametrize("action", ["preview", "book"])
def test_a_first_visit_at_the_calendars_edge_is_refused_on_the_form_not_a_500(
    desk_admin, location, assessment, physio, start, action
):
    form = series_form(assessment, location, physio, PatientFactory(), start=start)
    page = desk_admin.post(ADMIN_SERIES, {**form, "action": action})
    assert page.status_code == 200
    assert page.context["form"].errors["start"]
    assert not Series.objects.exists()


# --- The schedule's booking panel: a new patient --------------------------------------------------


@pytest.mark.parametrize("field", ["first_name", "last_name"])
def test_a_new_patients_name_with_a_nul_byte_is_refused_and_nobody_is_registered(
    desk_admin, location, assessment, physio, field
):
    person = {"first_name": "Nul", "last_name": "Byte", "email": "nul@example.org"}
    person[field] += "\x00"
    response = desk_admin.post(
        reverse("admin-schedule-book"),
        {
            "location": location.pk,
            "provider": physio.pk,
            "service": assessment.pk,
            "start": "2027-02-01T11:00",
            **{f"new_{name}": value for name, value in person.items()},
        },
        follow=True,
    )
    assert response.status_code == 200
    shown = [str(m) for m in response.context["messages"]]
    assert any("Null characters are not allowed" in m for m in shown), shown
    assert not Patient.objects.filter(email="nul@example.org").exists()
    assert not Appointment.objects.exists()


# --- E-mails -------------------------------------------------------------------------------------


def test_the_series_confirmation_names_the_clinician_each_visit_is_now_with(
    location, assessment, physio
):
    colleague = make_physio(location, assessment, "Colleague Physio")
    booked = four_visits(assessment, location, physio, PatientFactory())
    move_series(
        booked.series,
        at=datetime.time(11, 0),
        on=datetime.date(2027, 2, 8),
        scope="following",
        provider=colleague,
    )
    row = SimpleNamespace(subject_id=booked.series.pk)
    email = series_notifications.render_confirmation(row, at(datetime.date(2027, 1, 4), "09:00"))
    assert "Colleague Physio" in email.text, email.text
    assert "Colleague Physio" in email.html
    cancelled = cancel_series(booked.series, reason="Moved away", scope="all")
    row = SimpleNamespace(
        subject_id=booked.series.pk, context={"appointments": [a.pk for a in cancelled]}
    )
    with mock.patch.object(series_notifications, "_confirmed", return_value=True):
        notice = series_notifications.render_cancellation(
            row, at(datetime.date(2027, 1, 4), "09:00")
        )
    assert "Colleague Physio" in notice.text, notice.text


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_cancelling_a_whole_series_while_one_of_its_visits_is_moved_alone_never_deadlocks():
    booked, desk = _race_clinic()
    third = booked.appointments[2]

    def whole(barrier) -> None:
        barrier.wait()
        time.sleep(0.1)
        cancel_series(booked.series, reason="Moved away", scope="all", actor=desk)

    errors = _parallel(_single_move(third, desk, pause=0.5), whole)
    assert errors[1] is None, errors
    assert errors[0] is None or isinstance(errors[0], DomainError), "a clear 409, never a 500"
    statuses = Appointment.objects.filter(series=booked.series).values_list("status", flat=True)
    assert set(statuses) == {Appointment.Status.CANCELLED}


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_cancelling_a_visit_while_it_is_being_moved_never_deadlocks():
    booked, desk = _race_clinic()
    third = booked.appointments[2]

    def cancel(barrier) -> None:
        barrier.wait()
        time.sleep(0.1)
        cancel_appointment(third, reason="Called in", actor=desk)

    errors = _parallel(_single_move(third, desk, pause=0.5), cancel)
    assert all(e is None or isinstance(e, DomainError) for e in errors), errors
    assert errors.count(None) >= 1, "one of them goes through"


# --- "All" means the upcoming visits --------------------------------------------------------------


def test_cancelling_all_of_a_series_leaves_its_visits_that_already_took_place_alone(
    location, assessment, physio
):
    booked = four_visits(assessment, location, physio, PatientFactory())
    after_two = at(datetime.date(2027, 2, 6), "09:00")  # the Mon and Thu visits have passed
    cancelled = cancel_series(booked.series, reason="Moved away", scope="all", now=after_two)
    assert [a.local_start.date().isoformat() for a in cancelled] == ["2027-02-08", "2027-02-11"]
    past = Appointment.objects.filter(series=booked.series, start__lt=after_two)
    assert not past.filter(status=Appointment.Status.CANCELLED).exists()


def test_moving_all_of_a_series_moves_the_upcoming_visits_and_not_the_past_ones(
    location, assessment, physio
):
    booked = four_visits(assessment, location, physio, PatientFactory())
    after_two = at(datetime.date(2027, 2, 6), "09:00")
    moved = move_series(booked.series, at=datetime.time(14, 0), scope="all", now=after_two)
    assert [a.local_start.strftime("%m-%d %H:%M") for a in moved] == ["02-08 14:00", "02-11 14:00"]


# --- Privacy: the front desk reads no clinical content --------------------------------------------


def test_the_front_desk_is_not_told_which_care_plan_a_series_came_from(
    location, assessment, physio, front_desk_client
):
    patient = PatientFactory()
    plan = CarePlanFactory(patient=patient, lead=physio, location=location)
    CarePlan.objects.filter(pk=plan.pk).update(sessions_per_week=2, planned_weeks=2)
    booked = book_series(
        service=assessment,
        location=location,
        provider=physio,
        patient=patient,
        start=at(datetime.date(2027, 2, 1), "11:00"),
        care_plan_id=plan.pk,
    )
    assert booked.series.care_plan_id == plan.pk
    response = front_desk_client.post(
        f"{SERIES}{booked.series.pk}/cancel/",
        {"reason": "Patient called", "from": "2027-02-08"},
        format="json",
    )
    assert response.status_code == 200, response.content
    assert "care_plan_id" not in response.json()["series"]


@pytest.mark.parametrize("invisible", ["\u200b", "\u200b\u200d", "\u2060", "\ufeff"])
def test_a_new_patients_name_of_invisible_characters_is_no_name(
    desk_admin, location, assessment, physio, invisible
):
    response = desk_admin.post(
        reverse("admin-schedule-book"),
        {
            "location": location.pk,
            "provider": physio.pk,
            "service": assessment.pk,
            "start": "2027-02-01T11:00",
            "new_first_name": invisible,
            "new_last_name": "Blank",
            "new_email": "invisible@example.org",
        },
        follow=True,
    )
    shown = [str(m) for m in response.context["messages"]]
    assert any("name are required" in m for m in shown), shown
    assert not Patient.objects.filter(email="invisible@example.org").exists()
