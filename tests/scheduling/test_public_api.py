"""The booking widget's whole flow against the public API (API.md): services, providers,
availability, book, view, reschedule, cancel, free consult, call-back; and its refusals."""

import datetime

import pytest
from django.utils import timezone

from clinic.models import ClinicSettings
from patients.models import Consent, Patient
from scheduling.models import Appointment, AppointmentEvent, CallbackRequest, Closure
from tests.factories.providers import DisciplineFactory, ProviderFactory
from tests.factories.scheduling import ServiceFactory, offer, weekly_hours
from tests.scheduling.conftest import TORONTO, local, massage_therapist, next_week

pytestmark = pytest.mark.django_db

PROBLEM = "https://clinic-backend.dev/problems/"


def body(service, location, start, provider=None, email="ada@example.org", **extra):
    data = {
        "service": service.pk,
        "location": location.pk,
        "start": start.isoformat(),
        "patient": {
            "first_name": "Ada",
            "last_name": "Lovelace",
            "email": email,
            "phone": "+1 905 555 0100",
            "date_of_birth": "1990-05-01",
        },
        "consent": {"reminders": True, "care_plans": True, "marketing": False},
        "reason": "Knee pain after running",
    }
    if provider is not None:
        data["provider"] = provider.pk
    data.update(extra)
    return data


def book(client, data, key=None):
    headers = {"HTTP_IDEMPOTENCY_KEY": key} if key else {}
    return client.post("/api/v1/public/bookings/", data, format="json", **headers)


def problem_type(response) -> str:
    assert response["Content-Type"] == "application/problem+json"
    return response.json()["type"].removeprefix(PROBLEM)


@pytest.fixture
def start():
    return local(next_week(), "10:00")


def test_public_services_list_the_contract_fields(api_client, physio, assessment, location):
    response = api_client.get("/api/v1/public/services/", {"location": location.pk})
    assert response.status_code == 200
    [item] = response.json()
    assert set(item) == {
        "id",
        "name",
        "description",
        "disciplines",
        "duration_minutes",
        "modality",
        "price",
        "currency",
        "is_free_consult",
        "capacity",
        "required_fields",
    }
    assert item["currency"] == "CAD"
    assert item["required_fields"] == ["patient.date_of_birth", "reason"]
    assert "physiotherapist" in item["disciplines"]
    assert "massage_therapist" not in item["disciplines"]
    by_discipline = api_client.get("/api/v1/public/services/", {"discipline": "massage_therapist"})
    assert by_discipline.json() == []


def test_public_providers_list_their_offered_services(api_client, physio, assessment, location):
    response = api_client.get("/api/v1/public/providers/", {"service": assessment.pk})
    assert response.status_code == 200
    [item] = response.json()
    assert item["id"] == physio.pk
    assert item["services"] == [assessment.pk]
    assert item["locations"] == [location.pk]


def test_availability_returns_local_times_with_offsets(api_client, physio, assessment, location):
    day = next_week()
    response = api_client.get(
        "/api/v1/public/availability/",
        {"service": assessment.pk, "location": location.pk, "start": day, "end": day},
    )
    assert response.status_code == 200
    data = response.json()
    assert data["timezone"] == "America/Toronto"
    assert data["service"] == assessment.pk
    first = data["slots"][0]
    assert set(first) == {"start", "end", "provider", "spots_left"}
    assert datetime.datetime.fromisoformat(first["start"]) == local(day, "09:00")
    assert first["provider"] == physio.pk
    assert first["spots_left"] == 1


def test_availability_refuses_more_than_62_days(api_client, physio, assessment, location):
    day = next_week()
    response = api_client.get(
        "/api/v1/public/availability/",
        {
            "service": assessment.pk,
            "location": location.pk,
            "start": day,
            "end": day + datetime.timedelta(days=63),
        },
    )
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "end"


def test_book_view_reschedule_cancel_with_the_manage_token(
    api_client, physio, assessment, location, start
):
    response = book(api_client, body(assessment, location, start, physio))
    assert response.status_code == 201, response.json()
    booking = response.json()
    assert {
        "reference",
        "status",
        "service",
        "provider",
        "location",
        "start",
        "end",
        "manage_token",
    } <= set(booking)
    assert datetime.datetime.fromisoformat(booking["start"]) == start
    ref, token = booking["reference"], booking["manage_token"]
    patient = Patient.objects.get(email="ada@example.org")
    # An anonymous booking is no fact of care: it writes no relationship (test_care_access.py).
    assert not patient.care_relationships.filter(provider=physio).exists()

    view = api_client.get(f"/api/v1/public/bookings/{ref}/", {"token": token})
    assert view.status_code == 200
    assert view.json()["reference"] == ref

    new_start = start + datetime.timedelta(hours=3)
    moved = api_client.post(
        f"/api/v1/public/bookings/{ref}/reschedule/",
        {"token": token, "start": new_start.isoformat()},
        format="json",
    )
    assert moved.status_code == 200, moved.json()
    assert moved.json()["reference"] == ref
    assert datetime.datetime.fromisoformat(moved.json()["start"]) == new_start
    appointment = Appointment.objects.get(reference=ref)
    assert appointment.ical_sequence == 1
    assert list(appointment.events.values_list("kind", flat=True)) == [
        AppointmentEvent.Kind.BOOKED,
        AppointmentEvent.Kind.RESCHEDULED,
    ]

    cancelled = api_client.post(
        f"/api/v1/public/bookings/{ref}/cancel/",
        {"token": token, "reason": "Travelling"},
        format="json",
    )
    assert cancelled.status_code == 200
    appointment.refresh_from_db()
    assert appointment.status == "cancelled"
    assert appointment.cancelled_by == "patient"
    assert appointment.late_cancellation is False
    assert appointment.ical_sequence == 2


def test_wrong_token_and_unknown_reference_are_the_same_404(
    api_client, physio, assessment, location, start
):
    booking = book(api_client, body(assessment, location, start, physio)).json()
    wrong = api_client.get(f"/api/v1/public/bookings/{booking['reference']}/", {"token": "nope"})
    unknown = api_client.get(
        "/api/v1/public/bookings/ZZZZZZZZ/", {"token": booking["manage_token"]}
    )
    assert wrong.status_code == unknown.status_code == 404
    assert wrong.json() == unknown.json()
    cancel = api_client.post(
        f"/api/v1/public/bookings/{booking['reference']}/cancel/", {"token": "nope"}, format="json"
    )
    assert cancel.status_code == 404
    assert Appointment.objects.get().status == "booked"


def booked_minutes_ago(reference: str, minutes: int) -> None:
    """The booking was made ``minutes`` ago (the undo window counts from then)."""
    booked = timezone.now() - datetime.timedelta(minutes=minutes)
    Appointment.objects.filter(reference=reference).update(created_at=booked)


def test_cancel_inside_the_late_window_is_refused_online(api_client, physio, assessment, location):
    ClinicSettings.objects.update_or_create(pk=1, defaults={"late_cancellation_hours": 24 * 30})
    response = book(api_client, body(assessment, location, local(next_week(), "10:00"), physio))
    booking = response.json()
    booked_minutes_ago(booking["reference"], 31)
    cancel = api_client.post(
        f"/api/v1/public/bookings/{booking['reference']}/cancel/",
        {"token": booking["manage_token"], "reason": "Busy"},
        format="json",
    )
    assert cancel.status_code == 409
    assert problem_type(cancel) == "late-cancellation"
    assert Appointment.objects.get().status == "booked"


def test_reschedule_inside_the_late_window_is_refused_online(
    api_client, physio, assessment, location
):
    ClinicSettings.objects.update_or_create(pk=1, defaults={"late_cancellation_hours": 24 * 30})
    start = local(next_week(), "10:00")
    booking = book(api_client, body(assessment, location, start, physio)).json()
    booked_minutes_ago(booking["reference"], 31)
    moved = api_client.post(
        f"/api/v1/public/bookings/{booking['reference']}/reschedule/",
        {"token": booking["manage_token"], "start": local(next_week(), "14:00").isoformat()},
        format="json",
    )
    assert moved.status_code == 409
    assert problem_type(moved) == "late-cancellation"
    assert Appointment.objects.get().start == start


def test_a_cancellation_minutes_after_booking_is_never_late(
    api_client, physio, assessment, location
):
    """DOMAIN.md 4: the undo window (30 minutes by default) beats the late-cancellation window."""
    ClinicSettings.objects.update_or_create(pk=1, defaults={"late_cancellation_hours": 24 * 30})
    booking = book(api_client, body(assessment, location, local(next_week(), "10:00"), physio))
    booking = booking.json()
    booked_minutes_ago(booking["reference"], 29)
    cancel = api_client.post(
        f"/api/v1/public/bookings/{booking['reference']}/cancel/",
        {"token": booking["manage_token"], "reason": "Booked the wrong day"},
        format="json",
    )
    assert cancel.status_code == 200, cancel.json()
    appointment = Appointment.objects.get()
    assert appointment.status == "cancelled"
    assert appointment.late_cancellation is False


def test_the_undo_window_is_a_clinic_setting(api_client, physio, assessment, location):
    ClinicSettings.objects.update_or_create(
        pk=1, defaults={"late_cancellation_hours": 24 * 30, "cancellation_undo_minutes": 5}
    )
    booking = book(api_client, body(assessment, location, local(next_week(), "10:00"), physio))
    booking = booking.json()
    booked_minutes_ago(booking["reference"], 6)
    cancel = api_client.post(
        f"/api/v1/public/bookings/{booking['reference']}/cancel/",
        {"token": booking["manage_token"], "reason": "Changed my mind"},
        format="json",
    )
    assert cancel.status_code == 409
    assert problem_type(cancel) == "late-cancellation"


def test_a_named_provider_who_does_not_offer_the_service_is_refused_by_name(
    api_client, physio, assessment, location, start
):
    """Not "slot taken": the widget is told to pick a provider who offers it."""
    colleague = ProviderFactory(display_name="No Assessments", locations=[location])
    weekly_hours(colleague, location)
    response = book(api_client, body(assessment, location, start, colleague))
    assert response.status_code == 422
    assert [(e["field"], e["code"]) for e in response.json()["errors"]] == [
        ("provider", "not_offered")
    ]
    assert not Appointment.objects.exists()


def test_booking_a_taken_slot_is_409_slot_unavailable(
    api_client, physio, assessment, location, start
):
    assert book(api_client, body(assessment, location, start, physio)).status_code == 201
    second = book(api_client, body(assessment, location, start, physio, email="bob@example.org"))
    assert second.status_code == 409
    assert problem_type(second) == "slot-unavailable"
    assert Appointment.objects.count() == 1


def test_any_provider_picks_a_free_one(api_client, physio, assessment, location, start):
    other = ProviderFactory(display_name="Other Physio", locations=[location])
    offer(other, assessment, location)
    weekly_hours(other, location)
    first = book(api_client, body(assessment, location, start))
    second = book(api_client, body(assessment, location, start, email="bob@example.org"))
    third = book(api_client, body(assessment, location, start, email="cy@example.org"))
    assert first.status_code == second.status_code == 201
    assert {first.json()["provider"], second.json()["provider"]} == {physio.pk, other.pk}
    assert third.status_code == 409


def test_idempotency_key_replays_the_original_booking(
    api_client, physio, assessment, location, start
):
    data = body(assessment, location, start, physio)
    first = book(api_client, data, key="widget-123")
    again = book(api_client, data, key="widget-123")
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert Appointment.objects.count() == 1


def test_idempotency_key_reused_with_another_body_is_422(
    api_client, physio, assessment, location, start
):
    assert book(api_client, body(assessment, location, start, physio), key="k1").status_code == 201
    other = body(assessment, location, start + datetime.timedelta(hours=2), physio)
    response = book(api_client, other, key="k1")
    assert response.status_code == 422
    assert problem_type(response) == "idempotency-key-reused"
    assert Appointment.objects.count() == 1


def test_massage_therapist_for_physio_assessment_is_out_of_scope(
    api_client, physio, assessment, location, start
):
    therapist = massage_therapist(location)
    response = book(api_client, body(assessment, location, start, therapist))
    assert response.status_code == 422
    assert problem_type(response) == "out-of-scope"
    assert response.json()["errors"][0]["field"] == "provider"
    assert not Appointment.objects.exists()
    assert not Patient.objects.exists()  # nothing half-written


def test_offering_refused_when_scope_does_not_cover_the_service(
    manager_client, assessment, location
):
    therapist = massage_therapist(location)
    response = manager_client.post(
        "/api/v1/offerings/",
        {"provider": therapist.pk, "service": assessment.pk, "location": location.pk},
        format="json",
    )
    assert response.status_code == 422
    assert problem_type(response) == "out-of-scope"


def test_licence_expiry_boundary_through_booking(api_client, physio, assessment, location):
    last_day = next_week()
    physio.credentials.update(valid_until=last_day)
    late_on_last_day = book(
        api_client, body(assessment, location, local(last_day, "16:00"), physio)
    )
    assert late_on_last_day.status_code == 201
    next_morning = book(
        api_client,
        body(
            assessment,
            location,
            local(last_day + datetime.timedelta(days=1), "09:00"),
            physio,
            email="bob@example.org",
        ),
    )
    assert next_morning.status_code == 422
    assert problem_type(next_morning) == "out-of-scope"
    assert next_morning.json()["errors"][0]["code"] == "credential_expired"


@pytest.mark.parametrize(
    ("when", "code"),
    [
        (lambda: datetime.datetime.now(TORONTO) + datetime.timedelta(minutes=30), "minimum_notice"),
        (lambda: local(next_week() + datetime.timedelta(days=90), "10:00"), "horizon"),
    ],
)
def test_online_booking_outside_policy_is_422(api_client, physio, assessment, location, when, code):
    response = book(api_client, body(assessment, location, when(), physio))
    assert response.status_code == 422
    assert problem_type(response) == "outside-booking-policy"
    assert response.json()["errors"][0]["code"] == code


def test_booking_on_a_closed_day_is_refused(api_client, physio, assessment, location, start):
    Closure.objects.create(
        location=location, start_date=start.date(), end_date=start.date(), reason="Civic Holiday"
    )
    response = book(api_client, body(assessment, location, start, physio))
    assert response.status_code == 422
    assert response.json()["errors"][0]["code"] == "closed"


def test_naive_start_time_is_refused(api_client, physio, assessment, location, start):
    data = body(assessment, location, start, physio)
    data["start"] = start.replace(tzinfo=None).isoformat()
    response = book(api_client, data)
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "start"


def test_unknown_service_is_422_inactive_service(api_client, physio, assessment, location, start):
    data = body(assessment, location, start, physio)
    data["service"] = 999999
    response = book(api_client, data)
    assert response.status_code == 422
    assert problem_type(response) == "inactive-service"


@pytest.fixture
def free_consult(location):
    service = ServiceFactory(
        code="free-consult",
        name="Free consult",
        acts=["free_consult"],
        duration_minutes=15,
        modality="phone",
        price="0.00",
        is_free_consult=True,
    )
    physio = ProviderFactory(display_name="Consult Physio", locations=[location])
    offer(physio, service, location)
    weekly_hours(physio, location)
    return service


def consult_body(service, location, start, email="lead@example.org"):
    return {
        "service": service.pk,
        "location": location.pk,
        "start": start.isoformat(),
        "patient": {
            "first_name": "Lee",
            "last_name": "Lead",
            "email": email,
            "phone": "+1 905 555 0111",
        },
        "consent": {"reminders": True, "marketing": False},
        "reason": "Lower back pain",
    }


def test_free_consult_makes_a_lead_with_consents_and_only_once(api_client, free_consult, location):
    start = local(next_week(), "10:00")
    first = book(api_client, consult_body(free_consult, location, start))
    assert first.status_code == 201, first.json()
    patient = Patient.objects.get(email="lead@example.org")
    assert patient.status == Patient.Status.LEAD
    purposes = dict(Consent.objects.filter(patient=patient).values_list("purpose", "granted"))
    assert purposes == {"reminders": True, "marketing": False}

    again = book(
        api_client,
        consult_body(
            free_consult, location, start + datetime.timedelta(days=1), "LEAD@example.org"
        ),
    )
    assert again.status_code == 422
    assert problem_type(again) == "free-consult-used"
    assert Patient.objects.count() == 1


def test_free_consult_chiropractor_may_run_it_trainer_may_not(api_client, free_consult, location):
    trainer = ProviderFactory(
        display_name="Tess Trainer",
        discipline=DisciplineFactory(code="personal_trainer"),
        locations=[location],
        credentials__kind="certification",
    )
    start = local(next_week(), "11:00")
    response = book(
        api_client, dict(consult_body(free_consult, location, start), provider=trainer.pk)
    )
    assert response.status_code == 422
    assert problem_type(response) == "out-of-scope"


def test_callback_request_lands_in_the_front_desk_queue(api_client, front_desk_client, db):
    response = api_client.post(
        "/api/v1/public/callback-requests/",
        {
            "name": "Cal Back",
            "phone": "+1 905 555 0123",
            "email": "cal@example.org",
            "preferred_time": "weekday mornings",
            "message": "Question about dry needling",
            "consent": {"marketing": False},
        },
        format="json",
    )
    assert response.status_code == 201
    callback = CallbackRequest.objects.get()
    assert callback.status == "new"
    assert callback.patient.status == Patient.Status.LEAD
    queue = front_desk_client.get("/api/v1/callback-requests/", {"status": "new"})
    assert queue.status_code == 200
    assert queue.json()["results"][0]["name"] == "Cal Back"
    handled = front_desk_client.patch(
        f"/api/v1/callback-requests/{callback.pk}/", {"status": "contacted"}, format="json"
    )
    assert handled.status_code == 200
    callback.refresh_from_db()
    assert callback.status == "contacted"
    assert callback.handled_by is not None


def test_callback_request_needs_a_phone(api_client, db):
    response = api_client.post(
        "/api/v1/public/callback-requests/", {"name": "No Phone", "consent": {}}, format="json"
    )
    assert response.status_code == 400
    assert any(e["field"] == "phone" for e in response.json()["errors"])


def test_upcoming_online_bookings_per_patient_are_limited(api_client, physio, assessment, location):
    ClinicSettings.objects.update_or_create(pk=1, defaults={"max_upcoming_online_bookings": 1})
    first = book(api_client, body(assessment, location, local(next_week(), "10:00"), physio))
    assert first.status_code == 201
    second = book(api_client, body(assessment, location, local(next_week(), "14:00"), physio))
    assert second.status_code == 422
    assert problem_type(second) == "outside-booking-policy"
    assert second.json()["errors"][0]["code"] == "max_upcoming_bookings"


def test_booking_inside_another_appointments_buffer_is_409(api_client, physio, location):
    service = ServiceFactory(code="treat", acts=["manual_therapy"], buffer_after_minutes=15)
    offer(physio, service, location)
    start = local(next_week(), "10:00")
    assert book(api_client, body(service, location, start, physio)).status_code == 201
    right_after = book(
        api_client,
        body(service, location, local(next_week(), "11:00"), physio, email="bob@example.org"),
    )
    assert right_after.status_code == 409
    assert problem_type(right_after) == "slot-unavailable"
    after_buffer = book(
        api_client,
        body(service, location, local(next_week(), "11:15"), physio, email="bob@example.org"),
    )
    assert after_buffer.status_code == 201


def test_reschedule_onto_a_taken_time_is_409_and_keeps_the_booking(
    api_client, physio, assessment, location, start
):
    mine = book(api_client, body(assessment, location, start, physio)).json()
    later = start + datetime.timedelta(hours=2)
    assert (
        book(
            api_client, body(assessment, location, later, physio, email="b@example.org")
        ).status_code
        == 201
    )
    moved = api_client.post(
        f"/api/v1/public/bookings/{mine['reference']}/reschedule/",
        {"token": mine["manage_token"], "start": later.isoformat()},
        format="json",
    )
    assert moved.status_code == 409
    assert problem_type(moved) == "slot-unavailable"
    assert Appointment.objects.get(reference=mine["reference"]).start == start


def test_anonymous_booking_does_not_reveal_that_an_email_is_busy_at_a_time(
    api_client, physio, assessment, location, start
):
    """Anyone can type anyone's e-mail into the widget: a refusal must not tell them that this
    person already has an appointment at that time (it reads like any taken slot)."""
    other = ProviderFactory(display_name="Other Physio", locations=[location])
    offer(other, assessment, location)
    weekly_hours(other, location)
    assert book(api_client, body(assessment, location, start, physio)).status_code == 201
    probe = book(api_client, body(assessment, location, start, other))
    assert probe.status_code == 409
    assert problem_type(probe) == "slot-unavailable"
    assert probe.json()["errors"] == [
        {"field": "start", "code": "taken", "message": "This time is no longer available."}
    ]
    assert Appointment.objects.count() == 1
