"""Rules with one owner, driven through every entry point that uses them.

- The booking window (notice, same-day rule, horizon) and closures: the availability search
  lists a start exactly when the booking service accepts it, so the widget can never offer a
  time the booking then refuses, nor hide one it would accept.
- "Clinicians book only their own calendar": the booking service decides it from its actor, so
  the staff API, the admin and the consult-outcome booking refuse a colleague's calendar alike.
"""

import datetime

import pytest
from django.db import transaction
from django.db.models import F
from django.urls import reverse

from clinic import roles
from clinic.errors import DomainError
from clinic.models import ClinicSettings
from scheduling.availability import search
from scheduling.models import Appointment, Closure, FreeConsultOutcome
from scheduling.services import book_appointment
from tests.conftest import client_for, make_staff_user
from tests.factories.patients import PatientFactory, link_patient
from tests.factories.scheduling import ServiceFactory, offer
from tests.scheduling.conftest import TORONTO, local, make_physio
from tests.scheduling.test_admin import add_form

pytestmark = pytest.mark.django_db


class _RolledBack(Exception):
    pass


def _accepted(service, location, start, now) -> str | None:
    """Book online at ``start`` and roll it back; None when accepted, else the refusal's slug."""
    try:
        with transaction.atomic():
            book_appointment(
                service=service,
                location=location,
                start=start,
                patient=PatientFactory(),
                source=Appointment.Source.ONLINE,
                now=now,
            )
            raise _RolledBack
    except _RolledBack:
        return None
    except DomainError as refusal:
        return refusal.slug


def test_search_lists_a_start_exactly_when_the_booking_accepts_it(physio, assessment, location):
    settings = ClinicSettings.load()
    settings.same_day_booking = False
    settings.minimum_notice_minutes = 18 * 60
    settings.booking_horizon_days = 3
    settings.save()
    today = datetime.date(2027, 3, 12)  # Friday; Sunday the 14th is the spring-forward day
    now = local(today, "16:40")
    Closure.objects.create(
        location=location,
        start_date=today + datetime.timedelta(days=2),
        end_date=today + datetime.timedelta(days=2),
        reason="Staff training",
    )
    first, last = today, today + datetime.timedelta(days=4)
    listed = {
        slot.start
        for slot in search(
            service=assessment, location=location, start_date=first, end_date=last, now=now
        ).slots
    }
    assert listed, "the fixture leaves bookable times to compare"
    refusals = set()
    day = first
    while day <= last:
        for minute in range(8 * 60, 17 * 60, 30):
            start = local(day, f"{minute // 60:02}:{minute % 60:02}").astimezone(datetime.UTC)
            refused = _accepted(assessment, location, start, now)
            assert (refused is None) == (start in listed), (start.astimezone(TORONTO), refused)
            refusals.add(refused)
        day += datetime.timedelta(days=1)
    # every kind of answer was met: booked, refused by the policy or a closure, never a slot
    assert {"outside-booking-policy", "not-a-slot", None} <= refusals


@pytest.fixture
def clinician_and_colleague(physio, assessment, location):
    clinician = make_staff_user("own-physio", roles.CLINICIAN)
    physio.user = clinician
    physio.save()
    return clinician, make_physio(location, assessment, "Colleague Physio")


def test_api_refuses_a_clinician_booking_a_colleagues_calendar(
    clinician_and_colleague, assessment, location
):
    clinician, colleague = clinician_and_colleague
    patient = PatientFactory()
    link_patient(patient, clinician.provider)
    response = client_for(clinician).post(
        "/api/v1/appointments/",
        {
            "patient": patient.pk,
            "service": assessment.pk,
            "location": location.pk,
            "provider": colleague.pk,
            "start": local(datetime.date.today() + datetime.timedelta(days=7), "10:00").isoformat(),
        },
        format="json",
    )
    assert response.status_code == 403
    assert response.json()["errors"][0]["code"] == "not_own_schedule"
    assert not Appointment.objects.exists()


def test_admin_refuses_a_clinician_booking_a_colleagues_calendar(
    client, clinician_and_colleague, assessment, location
):
    clinician, colleague = clinician_and_colleague
    client.force_login(clinician)
    patient = PatientFactory()
    link_patient(patient, clinician.provider)
    start = local(datetime.date.today() + datetime.timedelta(days=7), "10:00")
    refused = client.post(
        reverse("admin:scheduling_appointment_add"),
        add_form(patient, assessment, location, colleague, start),
    )
    assert "own schedule" in str(refused.context["adminform"].form.errors)
    assert not Appointment.objects.exists()


def test_consult_outcome_refuses_booking_the_first_visit_in_a_colleagues_calendar(
    clinician_and_colleague, assessment, location
):
    """The outcome's first appointment goes through the same rule: a clinician recording their
    consult's outcome cannot place the patient in a colleague's calendar."""
    clinician, colleague = clinician_and_colleague
    consult_service = ServiceFactory(
        code="free-consult",
        acts=["free_consult"],
        duration_minutes=15,
        modality="phone",
        price="0.00",
        is_free_consult=True,
    )
    own = clinician.provider
    offer(own, consult_service, location)
    consult = book_appointment(
        service=consult_service,
        location=location,
        start=local(datetime.date.today() + datetime.timedelta(days=7), "09:00"),
        patient=PatientFactory(status="lead"),
        provider=own,
    )
    week = datetime.timedelta(days=14)
    Appointment.objects.filter(pk=consult.pk).update(
        start=F("start") - week,
        end=F("end") - week,
        blocked_start=F("blocked_start") - week,
        blocked_end=F("blocked_end") - week,
    )
    start = local(datetime.date.today() + datetime.timedelta(days=8), "10:00")
    response = client_for(clinician).post(
        f"/api/v1/appointments/{consult.pk}/outcome/",
        {
            "recommended_path": "physiotherapy",
            "first_appointment": {
                "service": assessment.pk,
                "location": location.pk,
                "provider": colleague.pk,
                "start": start.isoformat(),
            },
        },
        format="json",
    )
    assert response.status_code == 403
    assert response.json()["errors"][0]["code"] == "not_own_schedule"
    assert not FreeConsultOutcome.objects.exists()
    assert Appointment.objects.filter(provider=colleague).count() == 0


def test_a_clinician_sees_the_same_appointments_in_the_api_the_admin_and_the_schedule(
    client, clinician_and_colleague, assessment, location
):
    """Which appointments a user may see is ``appointments_for``: the staff API's list, the
    admin's list and the schedule API show a clinician their own visits and no colleague's."""
    clinician, colleague = clinician_and_colleague
    day = datetime.date.today() + datetime.timedelta(days=7)
    mine = book_appointment(
        service=assessment,
        location=location,
        start=local(day, "10:00"),
        patient=PatientFactory(),
        provider=clinician.provider,
    )
    book_appointment(
        service=assessment,
        location=location,
        start=local(day, "11:00"),
        patient=PatientFactory(),
        provider=colleague,
    )
    api = client_for(clinician)
    listed = {a["reference"] for a in api.get("/api/v1/appointments/").json()["results"]}
    schedule = api.get("/api/v1/schedule/", {"location": location.pk, "date": day.isoformat()})
    on_schedule = {
        a["reference"]
        for column in schedule.json()["days"][0]["columns"]
        for a in column["appointments"]
    }
    client.force_login(clinician)
    admin_list = client.get(reverse("admin:scheduling_appointment_changelist"))
    in_admin = {a.reference for a in admin_list.context["cl"].result_list}
    assert listed == on_schedule == in_admin == {mine.reference}
