"""The admin books and moves appointments through the booking service: refusals are form
errors (never a 500); the list filters and lifecycle actions work; the day view shows a
location's day with providers as columns."""

import datetime

import pytest
from django.db import connection
from django.db.models import F
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from clinic import roles
from clinic.models import AuditEvent
from scheduling.models import Appointment, FreeConsultOutcome
from scheduling.services import book_appointment, record_consult_outcome
from tests.conftest import make_staff_user
from tests.factories.patients import PatientFactory, link_patient
from tests.factories.scheduling import ServiceFactory
from tests.scheduling.conftest import local, make_physio, massage_therapist, next_week

pytestmark = pytest.mark.django_db


@pytest.fixture
def desk(client):
    client.force_login(make_staff_user("desk", roles.FRONT_DESK))
    return client


def add_form(patient, service, location, provider, start) -> dict:
    local_start = start.replace(tzinfo=None)
    return {
        "patient": patient.pk,
        "service": service.pk,
        "location": location.pk,
        "provider": provider.pk,
        "start_local_0": local_start.date().isoformat(),
        "start_local_1": local_start.time().isoformat(),
        "events-TOTAL_FORMS": "0",
        "events-INITIAL_FORMS": "0",
    }


def test_admin_books_through_the_service_in_local_time(desk, physio, assessment, location):
    start = local(next_week(), "10:00")
    response = desk.post(
        reverse("admin:scheduling_appointment_add"),
        add_form(PatientFactory(), assessment, location, physio, start),
    )
    assert response.status_code == 302, response.content[:2000]
    appointment = Appointment.objects.get()
    assert appointment.start == start
    assert appointment.events.get().kind == "booked"


def test_admin_shows_scope_refusal_as_a_form_error(desk, physio, assessment, location):
    therapist = massage_therapist(location)
    response = desk.post(
        reverse("admin:scheduling_appointment_add"),
        add_form(PatientFactory(), assessment, location, therapist, local(next_week(), "10:00")),
    )
    assert response.status_code == 200
    assert response.context["adminform"].form.errors["provider"]
    assert not Appointment.objects.exists()


def test_admin_shows_a_taken_slot_as_a_form_error(desk, physio, assessment, location):
    start = local(next_week(), "10:00")
    book_appointment(
        service=assessment,
        location=location,
        start=start,
        patient=PatientFactory(),
        provider=physio,
    )
    response = desk.post(
        reverse("admin:scheduling_appointment_add"),
        add_form(PatientFactory(), assessment, location, physio, start),
    )
    assert response.status_code == 200
    assert "no longer available" in str(response.context["adminform"].form.errors)
    assert Appointment.objects.count() == 1


def test_admin_list_filters_and_confirm_action(desk, physio, assessment, location):
    appointment = book_appointment(
        service=assessment,
        location=location,
        start=local(next_week(), "10:00"),
        patient=PatientFactory(),
        provider=physio,
    )
    url = reverse("admin:scheduling_appointment_changelist")
    listed = desk.get(url, {"status__exact": "booked", "location__id__exact": location.pk})
    assert listed.status_code == 200
    assert appointment.reference in listed.content.decode()
    done = desk.post(url, {"action": "mark_confirm", "_selected_action": [appointment.pk]})
    assert done.status_code == 302
    appointment.refresh_from_db()
    assert appointment.status == "confirmed"
    refused = desk.post(url, {"action": "mark_complete", "_selected_action": [appointment.pk]})
    assert refused.status_code == 302  # refused with a message, not a 500
    appointment.refresh_from_db()
    assert appointment.status == "confirmed"


def test_the_old_day_view_address_opens_the_schedule(desk, location):
    response = desk.get(
        reverse("admin:scheduling_appointment_day"),
        {"location": location.pk, "date": next_week().isoformat()},
    )
    assert response.status_code == 302
    assert response["Location"] == (
        f"/admin/schedule/?location={location.pk}&date={next_week().isoformat()}"
    )


def test_admin_reschedule_refusal_is_a_form_error(desk, physio, assessment, location):
    first = book_appointment(
        service=assessment,
        location=location,
        start=local(next_week(), "10:00"),
        patient=PatientFactory(),
        provider=physio,
    )
    second = book_appointment(
        service=assessment,
        location=location,
        start=local(next_week(), "13:00"),
        patient=PatientFactory(),
        provider=physio,
    )
    url = reverse("admin:scheduling_appointment_change", args=[second.pk])
    event = second.events.get()
    form = {
        "provider": physio.pk,
        "start_local_0": next_week().isoformat(),
        "start_local_1": "10:30",
        "events-TOTAL_FORMS": "1",
        "events-INITIAL_FORMS": "1",
        "events-0-id": event.pk,
        "events-0-appointment": second.pk,
    }
    refused = desk.post(url, form)
    assert refused.status_code == 200
    assert refused.context["adminform"].form.errors
    moved = desk.post(url, {**form, "start_local_1": "15:00"})
    assert moved.status_code == 302
    second.refresh_from_db()
    assert second.start == local(next_week(), "15:00")
    assert second.reference != first.reference
    assert second.ical_sequence == 1


def test_admin_books_any_free_provider_when_none_is_chosen(desk, physio, assessment, location):
    form = add_form(PatientFactory(), assessment, location, physio, local(next_week(), "11:00"))
    form["provider"] = ""
    response = desk.post(reverse("admin:scheduling_appointment_add"), form)
    assert response.status_code == 302
    assert Appointment.objects.get().provider == physio


def test_admin_clinician_books_only_their_own_schedule(client, physio, assessment, location):
    """The API's rule holds in the admin too: a clinician cannot fill a colleague's calendar."""
    clinician = make_staff_user("own-physio", roles.CLINICIAN)
    physio.user = clinician
    physio.save()
    colleague = make_physio(location, assessment, "Colleague Physio")
    client.force_login(clinician)
    start = local(next_week(), "10:00")
    # A clinician picks only from their own patient list (patients.choosers).
    patient = PatientFactory()
    link_patient(patient, physio)
    refused = client.post(
        reverse("admin:scheduling_appointment_add"),
        add_form(patient, assessment, location, colleague, start),
    )
    assert refused.status_code == 200
    assert "own schedule" in str(refused.context["adminform"].form.errors)
    assert not Appointment.objects.exists()
    unseen = client.post(
        reverse("admin:scheduling_appointment_add"),
        add_form(PatientFactory(), assessment, location, physio, start),
    )
    assert "patient" in unseen.context["adminform"].form.errors
    own = client.post(
        reverse("admin:scheduling_appointment_add"),
        add_form(patient, assessment, location, physio, start),
    )
    assert own.status_code == 302
    assert Appointment.objects.get().provider == physio


def _consult_with_outcome(location) -> tuple[FreeConsultOutcome, object]:
    service = ServiceFactory(
        code="free-consult",
        acts=["free_consult"],
        duration_minutes=15,
        modality="phone",
        price="0.00",
        is_free_consult=True,
    )
    provider = make_physio(location, service, "Consult Physio")
    consult = book_appointment(
        service=service,
        location=location,
        start=local(next_week(), "09:00"),
        patient=PatientFactory(status="lead"),
        provider=provider,
    )
    week = datetime.timedelta(days=14)
    Appointment.objects.filter(pk=consult.pk).update(  # held a week ago
        start=F("start") - week,
        end=F("end") - week,
        blocked_start=F("blocked_start") - week,
        blocked_end=F("blocked_end") - week,
    )
    consult.refresh_from_db()
    outcome = record_consult_outcome(
        consult, recommended_path="physiotherapy", notes="Suspected meniscus"
    )
    return outcome, provider


def test_admin_consult_outcomes_are_clinical(client, location):
    """A consult's conclusion is clinical: another clinician neither lists nor edits it, its
    own provider edits it through the service, and every look at it is audited."""
    outcome, provider = _consult_with_outcome(location)
    provider.user = make_staff_user("consult-physio", roles.CLINICIAN)
    provider.save()
    client.force_login(make_staff_user("stranger-physio", roles.CLINICIAN))
    listed = client.get(reverse("admin:scheduling_freeconsultoutcome_changelist"))
    assert listed.status_code == 200
    assert list(listed.context["cl"].result_list) == []
    url = reverse("admin:scheduling_freeconsultoutcome_change", args=[outcome.pk])
    client.post(url, {"recommended_path": "none", "notes": ""})
    outcome.refresh_from_db()
    assert outcome.recommended_path == "physiotherapy"

    client.force_login(provider.user)
    assert client.get(url).status_code == 200
    assert AuditEvent.objects.filter(
        actor=provider.user, action="read", patient_id=outcome.appointment.patient_id
    ).exists()
    saved = client.post(url, {"recommended_path": "massage", "notes": "Tight calves"})
    assert saved.status_code == 302, saved.context["adminform"].form.errors
    outcome.refresh_from_db()
    assert (outcome.recommended_path, outcome.recorded_by) == ("massage", provider.user)


def _changelist_queries(client) -> int:
    with CaptureQueriesContext(connection) as queries:
        assert client.get(reverse("admin:scheduling_appointment_changelist")).status_code == 200
    return len(queries)


def test_appointment_list_costs_no_query_per_row_or_provider(desk, physio, assessment, location):
    """Front desk opens this list all day: its cost must not grow with the calendar."""
    book_appointment(
        service=assessment,
        location=location,
        start=local(next_week(), "09:00"),
        patient=PatientFactory(),
        provider=physio,
    )
    one = _changelist_queries(desk)
    for n in range(4):
        colleague = make_physio(location, assessment, f"Colleague {n}")
        book_appointment(
            service=assessment,
            location=location,
            start=local(next_week(), "11:00"),
            patient=PatientFactory(),
            provider=colleague,
        )
    assert _changelist_queries(desk) == one


def test_front_desk_sees_the_appointment_history_without_the_consults_outcome(desk, location):
    outcome, _ = _consult_with_outcome(location)
    page = desk.get(reverse("admin:scheduling_appointment_change", args=[outcome.appointment_id]))
    assert page.status_code == 200
    assert "Booked" in page.content.decode() or "booked" in page.content.decode()
    assert "physiotherapy" not in page.content.decode().lower()
