"""The staff API: role checks, booking through the same service as the widget, the lifecycle
actions, the free consult's outcome, and configuration that only managers change."""

import datetime

import pytest
from django.utils import timezone

from clinic import roles
from clinic.errors import PermissionProblem
from clinic.models import AuditEvent
from scheduling.models import Appointment, FreeConsultOutcome
from scheduling.services import book_appointment, record_consult_outcome
from tests.conftest import client_for, make_staff_user
from tests.factories.patients import PatientFactory
from tests.factories.providers import ProviderFactory
from tests.factories.scheduling import ServiceFactory, offer, weekly_hours
from tests.scheduling.conftest import local, make_physio, massage_therapist, next_week

pytestmark = pytest.mark.django_db


@pytest.fixture
def appointment(physio, assessment, location):
    return book_appointment(
        service=assessment,
        location=location,
        start=local(next_week(), "10:00"),
        patient=PatientFactory(),
        provider=physio,
        reason="Sharp pain on stairs",
    )


def test_front_desk_sees_appointments_without_the_clinical_reason(
    front_desk_client, manager_client, appointment
):
    desk = front_desk_client.get("/api/v1/appointments/")
    assert desk.status_code == 200
    [row] = desk.json()["results"]
    assert row["reference"] == appointment.reference
    assert "reason" not in row
    manager = manager_client.get(f"/api/v1/appointments/{appointment.pk}/")
    assert manager.json()["reason"] == "Sharp pain on stairs"


def test_clinician_sees_only_their_own_schedule(physio, assessment, location, appointment):
    user = make_staff_user("priya", roles.CLINICIAN)
    physio.user = user
    physio.save()
    other = ProviderFactory(display_name="Other", locations=[location])
    offer(other, assessment, location)
    weekly_hours(other, location)
    book_appointment(
        service=assessment,
        location=location,
        start=local(next_week(), "12:00"),
        patient=PatientFactory(),
        provider=other,
    )
    response = client_for(user).get("/api/v1/appointments/")
    assert [r["reference"] for r in response.json()["results"]] == [appointment.reference]


def test_staff_booking_uses_the_same_rules(front_desk_client, physio, assessment, location):
    patient = PatientFactory()
    start = local(next_week(), "11:00")
    payload = {
        "patient": patient.pk,
        "service": assessment.pk,
        "location": location.pk,
        "provider": physio.pk,
        "start": start.isoformat(),
    }
    created = front_desk_client.post("/api/v1/appointments/", payload, format="json")
    assert created.status_code == 201, created.json()
    assert created.json()["source"] == "staff"
    taken = front_desk_client.post(
        "/api/v1/appointments/", {**payload, "patient": PatientFactory().pk}, format="json"
    )
    assert taken.status_code == 409
    therapist = massage_therapist(location)
    refused = front_desk_client.post(
        "/api/v1/appointments/",
        {**payload, "provider": therapist.pk, "patient": PatientFactory().pk},
        format="json",
    )
    assert refused.status_code == 422
    assert refused.json()["type"].endswith("/out-of-scope")


def test_staff_cannot_book_a_patient_into_two_places_at_once(
    front_desk_client, appointment, assessment, location
):
    """Staff are told plainly why (the widget only says the time is taken)."""
    colleague = make_physio(location, assessment, "Colleague Physio")
    overlapping = appointment.start + datetime.timedelta(minutes=30)
    response = front_desk_client.post(
        "/api/v1/appointments/",
        {
            "patient": appointment.patient_id,
            "service": assessment.pk,
            "location": location.pk,
            "provider": colleague.pk,
            "start": overlapping.isoformat(),
        },
        format="json",
    )
    assert response.status_code == 409, response.json()
    assert response.json()["errors"][0]["code"] == "patient_busy"
    assert not Appointment.objects.filter(provider=colleague).exists()


def test_lifecycle_actions_follow_the_allowed_transitions(front_desk_client, appointment):
    url = f"/api/v1/appointments/{appointment.pk}"
    assert front_desk_client.post(f"{url}/confirm/").json()["status"] == "confirmed"
    too_early = front_desk_client.post(f"{url}/complete/")
    assert too_early.status_code == 409
    assert too_early.json()["type"].endswith("/invalid-transition")
    Appointment.objects.filter(pk=appointment.pk).update(status="arrived")
    again = front_desk_client.post(f"{url}/confirm/")
    assert again.status_code == 409
    assert again.json()["detail"] == "Cannot confirm an arrived appointment."


def test_staff_cannot_book_in_the_past(front_desk_client, physio, assessment, location):
    start = timezone.now().astimezone(location.zone).replace(microsecond=0)
    response = front_desk_client.post(
        "/api/v1/appointments/",
        {
            "patient": PatientFactory().pk,
            "service": assessment.pk,
            "location": location.pk,
            "provider": physio.pk,
            "start": (start - datetime.timedelta(days=1)).isoformat(),
        },
        format="json",
    )
    assert response.status_code == 422
    assert [e["code"] for e in response.json()["errors"]] == ["in_past"]
    assert not Appointment.objects.exists()


def test_staff_may_cancel_late_and_it_is_flagged(front_desk_client, appointment):
    soon = timezone.now() + datetime.timedelta(hours=3)
    end = soon + datetime.timedelta(hours=1)
    booked = timezone.now() - datetime.timedelta(days=2)
    Appointment.objects.filter(pk=appointment.pk).update(
        start=soon, end=end, blocked_start=soon, blocked_end=end, created_at=booked
    )
    response = front_desk_client.post(
        f"/api/v1/appointments/{appointment.pk}/cancel/", {"reason": "Called in sick"}
    )
    assert response.status_code == 200
    assert response.json()["late_cancellation"] is True
    assert response.json()["cancelled_by"] == "staff"


def test_staff_reschedule_keeps_identity_and_history(front_desk_client, appointment):
    new_start = local(next_week() + datetime.timedelta(days=1), "14:00")
    response = front_desk_client.post(
        f"/api/v1/appointments/{appointment.pk}/reschedule/",
        {"start": new_start.isoformat()},
        format="json",
    )
    assert response.status_code == 200, response.json()
    assert response.json()["reference"] == appointment.reference
    assert response.json()["ical_uid"] == appointment.ical_uid
    assert response.json()["ical_sequence"] == 1
    history = front_desk_client.get(f"/api/v1/appointments/{appointment.pk}/history/").json()
    assert [e["kind"] for e in history] == ["booked", "rescheduled"]
    assert history[1]["data"]["old"]["start"] == appointment.start.isoformat()


def test_clinician_cannot_move_their_appointment_onto_a_colleagues_schedule(
    physio, assessment, location, appointment
):
    user = make_staff_user("priya", roles.CLINICIAN)
    physio.user = user
    physio.save()
    colleague = make_physio(location, assessment, "Colleague Physio")
    response = client_for(user).post(
        f"/api/v1/appointments/{appointment.pk}/reschedule/",
        {"start": local(next_week(), "14:00").isoformat(), "provider": colleague.pk},
        format="json",
    )
    assert response.status_code == 403
    appointment.refresh_from_db()
    assert appointment.provider == physio
    assert appointment.start == local(next_week(), "10:00")


@pytest.fixture
def consult(location):
    service = ServiceFactory(
        code="free-consult",
        acts=["free_consult"],
        duration_minutes=15,
        modality="phone",
        price="0.00",
        is_free_consult=True,
    )
    provider = ProviderFactory(display_name="Consult Physio", locations=[location])
    offer(provider, service, location)
    weekly_hours(provider, location)
    return book_appointment(
        service=service,
        location=location,
        start=local(next_week(), "09:00"),
        patient=PatientFactory(status="lead"),
        provider=provider,
    )


def test_consult_outcome_records_the_path_and_books_the_first_visit(consult, assessment):
    offer(consult.provider, assessment, consult.location)
    outcome = record_consult_outcome(
        consult,
        recommended_path="physiotherapy",
        notes="Likely patellofemoral pain",
        first_appointment={
            "service": assessment,
            "location": consult.location,
            "start": local(next_week() + datetime.timedelta(days=2), "10:00"),
            "provider": consult.provider,
        },
        now=consult.end,
    )
    consult.refresh_from_db()
    assert consult.status == "completed"
    assert consult.patient.status == "active"  # the lead booked real care
    assert outcome.recommended_path == "physiotherapy"
    assert outcome.first_appointment.patient == consult.patient
    assert outcome.first_appointment.service == assessment


def test_only_the_consults_provider_or_a_manager_records_the_outcome(front_desk_client, consult):
    url = f"/api/v1/appointments/{consult.pk}/outcome/"
    response = front_desk_client.post(url, {"recommended_path": "none"})
    assert response.status_code == 403
    colleague = ProviderFactory(display_name="Colleague", locations=[consult.location])
    colleague.user = make_staff_user("colleague", roles.CLINICIAN)
    colleague.save()
    with pytest.raises(PermissionProblem):
        record_consult_outcome(
            consult, recommended_path="none", actor=colleague.user, now=consult.end
        )
    assert not FreeConsultOutcome.objects.exists()
    record_consult_outcome(
        consult,
        recommended_path="massage",
        actor=make_staff_user("boss", roles.MANAGER),
        now=consult.end,
    )
    assert FreeConsultOutcome.objects.get().recommended_path == "massage"


def test_services_are_configured_by_managers_only(manager_client, front_desk_client, db):
    payload = {
        "code": "massage-30",
        "name": "Massage 30",
        "required_acts": ["soft_tissue_massage"],
        "duration_minutes": 30,
        "price": "60.00",
    }
    assert front_desk_client.post("/api/v1/services/", payload, format="json").status_code == 403
    created = manager_client.post("/api/v1/services/", payload, format="json")
    assert created.status_code == 201, created.json()
    assert "massage_therapist" in created.json()["disciplines"]


def test_weekly_hours_must_end_after_they_start(manager_client, physio, location):
    response = manager_client.post(
        "/api/v1/availability/",
        {
            "provider": physio.pk,
            "location": location.pk,
            "weekday": 0,
            "start_time": "17:00",
            "end_time": "09:00",
            "valid_from": "2027-01-01",
        },
        format="json",
    )
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "end_time"


def test_staff_slots_skip_online_notice(front_desk_client, physio, assessment, location):
    day = next_week()
    response = front_desk_client.get(
        "/api/v1/appointments/slots/",
        {"service": assessment.pk, "location": location.pk, "start": day, "end": day},
    )
    assert response.status_code == 200
    assert len(response.json()["slots"]) == 29


def test_appointment_changes_and_clinical_reads_are_audited(manager_client, appointment):
    manager_client.get(f"/api/v1/appointments/{appointment.pk}/")
    manager_client.post(f"/api/v1/appointments/{appointment.pk}/confirm/")
    events = AuditEvent.objects.filter(object_id=str(appointment.pk))
    assert set(events.values_list("action", flat=True)) == {"read", "update"}
    assert events.filter(action="update").get().patient_id == appointment.patient_id


def test_a_service_with_appointments_cannot_be_deleted(manager_client, appointment):
    response = manager_client.delete(f"/api/v1/services/{appointment.service_id}/")
    assert response.status_code == 409
    assert response.json()["type"].endswith("/in-use")
    history = manager_client.get(f"/api/v1/appointments/{appointment.pk}/history/")
    assert [e["kind"] for e in history.json()] == ["booked"]


def test_front_desk_reads_the_history_without_the_consults_clinical_outcome(
    front_desk_client, manager_client, consult
):
    record_consult_outcome(consult, recommended_path="chiropractic", now=consult.end)
    url = f"/api/v1/appointments/{consult.pk}/history/"
    desk = front_desk_client.get(url)
    assert desk.status_code == 200
    assert [e["kind"] for e in desk.json()] == ["booked", "outcome"]
    assert "chiropractic" not in desk.content.decode()
    manager = manager_client.get(url).json()
    assert manager[-1]["data"]["recommended_path"] == "chiropractic"
