"""The admin's "Book a series": a preview of every visit before anything is booked, then the
booking through the same services as the API; reachable from the schedule and a care plan."""

import datetime

import pytest

from clinic import roles
from clinic.models import AuditEvent
from plans.models import CarePlan
from scheduling.models import Appointment
from tests.conftest import make_staff_user
from tests.factories.clinic import LocationFactory
from tests.factories.patients import PatientFactory, clinician_user
from tests.factories.plans import CarePlanFactory
from tests.factories.providers import ProviderFactory
from tests.factories.scheduling import ClosureFactory, offer, weekly_hours

pytestmark = pytest.mark.django_db

URL = "/admin/schedule/series/"


def form(assessment, location, physio, patient, **extra) -> dict:
    return {
        "patient": patient.pk,
        "service": assessment.pk,
        "location": location.pk,
        "provider": physio.pk,
        "start": "2027-02-01T11:00",
        "by_weekday": ["MO", "TH"],
        "count": "4",
        "on_conflict": "skip",
        **extra,
    }


@pytest.fixture
def desk(client, db):
    client.force_login(make_staff_user("series-admin-desk", roles.FRONT_DESK))
    return client


def test_the_preview_lists_every_visit_with_its_conflict_before_anything_is_booked(
    desk, location, assessment, physio
):
    ClosureFactory(
        location=location,
        start_date=datetime.date(2027, 2, 4),
        end_date=datetime.date(2027, 2, 4),
    )
    patient = PatientFactory()
    page = desk.post(URL, {**form(assessment, location, physio, patient), "action": "preview"})
    assert page.status_code == 200
    html = page.content.decode()
    assert '<html lang="en' in html
    assert '<label for="id_patient"' in html
    assert "<legend>Weekly on</legend>" in html
    assert "4 planned visits, 3 free" in html
    assert "is closed that day" in html
    assert "(closed)" in html
    assert "Mon 01 Feb 2027, 11:00 EST" in html
    assert not Appointment.objects.exists(), "a preview books nothing"

    booked = desk.post(URL, {**form(assessment, location, physio, patient), "action": "book"})
    assert booked.status_code == 302
    assert "date=2027-02-01" in booked["Location"]
    assert Appointment.objects.filter(series__isnull=False).count() == 3
    [audit] = AuditEvent.objects.filter(object_type="scheduling.Series")
    assert (audit.action, audit.channel, audit.patient_id) == ("create", "admin", patient.pk)
    assert len(audit.changes["appointments"]) == 3


def test_a_refusal_is_shown_on_the_field_it_names(desk, location, assessment, physio):
    patient = PatientFactory()
    page = desk.post(
        URL,
        {**form(assessment, location, physio, patient, by_weekday=["TH"]), "action": "preview"},
    )
    assert page.status_code == 200
    assert "The first visit must fall on one of the weekdays." in page.content.decode()


def test_a_clinician_books_only_their_own_calendar_from_the_admin(client, location, assessment):
    other = ProviderFactory(display_name="Colleague", locations=[location])
    offer(other, assessment, location)
    weekly_hours(other, location)
    user = clinician_user("series-admin-clinician")
    client.force_login(user)
    patient = PatientFactory()
    page = client.post(URL, {**form(assessment, location, other, patient), "action": "book"})
    assert page.status_code in (200, 403)
    assert not Appointment.objects.exists()


def test_the_schedule_and_a_care_plan_link_to_the_series_form(
    desk, client, location, assessment, physio
):
    schedule = desk.get(f"/admin/schedule/?location={location.pk}")
    assert f'href="/admin/schedule/series/?location={location.pk}"' in schedule.content.decode()
    patient = PatientFactory()
    plan = CarePlanFactory(patient=patient, lead=physio, location=location)
    CarePlan.objects.filter(pk=plan.pk).update(sessions_per_week=2, planned_weeks=2)
    client.force_login(make_staff_user("series-admin-manager", roles.MANAGER))
    page = client.get(f"/admin/plans/careplan/{plan.pk}/change/").content.decode()
    assert "Book the plan\u2019s sessions" in page
    link = f"/admin/schedule/series/?care_plan={plan.pk}&amp;patient={patient.pk}"
    assert link in page
    prefilled = client.get(
        f"{URL}?care_plan={plan.pk}&patient={patient.pk}&provider={physio.pk}"
        f"&location={location.pk}&service={assessment.pk}"
    )
    assert f'value="{plan.pk}"' in prefilled.content.decode()
    proposal = client.post(
        URL,
        {
            **form(assessment, location, physio, patient, by_weekday=[], count=""),
            "care_plan": plan.pk,
            "action": "preview",
        },
    )
    assert "4 planned visits" in proposal.content.decode()


def test_anonymous_visitors_are_sent_to_the_login(client, db):
    response = client.get(URL)
    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]


def test_other_locations_time_zones_are_used_for_the_local_start(desk, assessment):
    new_york = LocationFactory(
        slug="queens", name="Queens", timezone="America/New_York", jurisdiction="US-NY"
    )
    provider = ProviderFactory(display_name="Queens Physio", locations=[new_york])
    offer(provider, assessment, new_york)
    weekly_hours(provider, new_york)
    page = desk.post(
        URL,
        {
            **form(assessment, new_york, provider, PatientFactory(), count="1", by_weekday=["MO"]),
            "action": "preview",
        },
    )
    assert "Mon 01 Feb 2027, 11:00 EST" in page.content.decode()
    assert "America/New_York" in page.content.decode()
