"""Clinical access comes only from real care (DOMAIN.md section 8), over every path that can
start care. Which grant access, and which never do:

============================================  ===============================================
public booking, anonymous (known e-mail)      never; nor after cancelling in the grace period
public booking confirmed with the e-mail link  while upcoming; cancelling removes it
staff booking by the clinician themselves      never, even confirmed by themselves
staff booking by front desk (API or admin)     once confirmed (or attended); cancel removes it
attended appointment (arrived, completed)      yes, and after it is over; a no-show never
free consult outcome                           never by itself (the booking was anonymous)
referral                                       the receiver while not declined; never the referrer
care plan                                      its lead and its maintenance owner
manager's grant                                with a reason, until revoked
break the glass                                with a reason, audited, shown to managers, expires
============================================  ===============================================
"""

import datetime

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from clinic import roles
from clinic.models import AuditEvent
from patients.access import can_view_clinical, clinical_patient_ids_for
from patients.models import AccessGrant, EmergencyAccess, Referral
from patients.referrals import change_referral_status, create_referral
from plans.services import actor_for, create_plan
from scheduling.models import Appointment
from scheduling.services import (
    book_appointment,
    cancel_appointment,
    change_status,
    record_consult_outcome,
)
from tests.conftest import client_for
from tests.factories.patients import PatientFactory, clinician_user, staff_user
from tests.factories.plans import CarePlanFactory
from tests.factories.providers import DisciplineFactory, ProviderFactory
from tests.factories.scheduling import ServiceFactory, offer, weekly_hours
from tests.scheduling.conftest import local, next_week

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def no_throttles(settings):
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": dict.fromkeys(
            settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], "100000/min"
        ),
    }


@pytest.fixture
def clinic(db):
    """A massage therapist with a login, and a patient with a knee replacement on record."""
    from tests.factories.clinic import LocationFactory

    location = LocationFactory(slug="pickering", name="Pickering")
    service = ServiceFactory(code="massage-60", acts=["soft_tissue_massage"])
    therapist = ProviderFactory(
        display_name="Max Massage",
        discipline=DisciplineFactory(code="massage_therapist"),
        locations=[location],
    )
    offer(therapist, service, location)
    weekly_hours(therapist, location)
    user = clinician_user("max", provider=therapist)
    patient = PatientFactory(email="ada@example.org")
    CarePlanFactory(patient=patient, location=location, title="Right total knee arthroplasty")
    return {
        "location": location,
        "service": service,
        "therapist": therapist,
        "user": user,
        "patient": patient,
        "front_desk": staff_user("desk", roles.FRONT_DESK),
        "manager": staff_user("boss", roles.MANAGER),
    }


def _start(hour: int = 10) -> datetime.datetime:
    return local(next_week(), f"{hour:02d}:00")


def _reads_chart(clinic) -> bool:
    """Both ways a clinician reads the chart agree: the rule and the API."""
    allowed = can_view_clinical(clinic["user"], clinic["patient"])
    api = client_for(clinic["user"])
    detail = api.get(f"/api/v1/patients/{clinic['patient'].pk}/")
    plans = api.get("/api/v1/care-plans/").json()["results"]
    assert (detail.status_code == 200) is allowed
    assert any(p["title"] == "Right total knee arthroplasty" for p in plans) is allowed
    return allowed


def _public_booking(api_client, clinic, hour: int = 10) -> dict:
    response = api_client.post(
        "/api/v1/public/bookings/",
        {
            "service": clinic["service"].pk,
            "location": clinic["location"].pk,
            "provider": clinic["therapist"].pk,
            "start": _start(hour).isoformat(),
            "patient": {
                "first_name": "Ada",
                "last_name": "Lovelace",
                "email": clinic["patient"].email,
                "phone": "+1 905 555 0100",
                "date_of_birth": "1990-05-01",
            },
            "consent": {"reminders": True},
            "reason": "Tight shoulders",
        },
        format="json",
    )
    assert response.status_code == 201, response.json()
    return response.json()


def _staff_book(clinic, actor, hour: int = 10) -> Appointment:
    return book_appointment(
        service=clinic["service"],
        location=clinic["location"],
        start=_start(hour),
        patient=clinic["patient"],
        provider=clinic["therapist"],
        actor=actor,
    )


def test_an_anonymous_booking_with_a_known_email_never_opens_the_chart(api_client, clinic):
    booking = _public_booking(api_client, clinic)
    assert not _reads_chart(clinic)
    cancelled = api_client.post(
        f"/api/v1/public/bookings/{booking['reference']}/cancel/",
        {"token": booking["manage_token"]},
        format="json",
    )
    assert cancelled.status_code == 200
    assert not _reads_chart(clinic)


def test_confirming_through_the_manage_token_confirms_the_visit_but_grants_nothing(
    api_client, clinic
):
    """The booking's answer gives the manage token to whoever booked, so a confirmation with it
    is no proof of the patient: the visit is confirmed, the chart stays closed until staff
    confirm (or check the patient in)."""
    booking = _public_booking(api_client, clinic)
    url = f"/api/v1/public/bookings/{booking['reference']}/"
    assert api_client.post(url + "confirm/", {"token": "wrong"}, format="json").status_code == 404
    confirmed = api_client.post(url + "confirm/", {"token": booking["manage_token"]}, format="json")
    assert confirmed.status_code == 200
    assert confirmed.json()["status"] == "confirmed"
    assert not _reads_chart(clinic)


def test_a_clinicians_own_booking_and_confirmation_grant_nothing(clinic):
    appointment = _staff_book(clinic, clinic["user"])
    change_status(appointment, "confirm", actor=clinic["user"])
    assert not _reads_chart(clinic)


def test_a_front_desk_booking_grants_access_once_confirmed_and_cancelling_removes_it(clinic):
    desk = client_for(clinic["front_desk"])
    response = desk.post(
        "/api/v1/appointments/",
        {
            "patient": clinic["patient"].pk,
            "service": clinic["service"].pk,
            "location": clinic["location"].pk,
            "provider": clinic["therapist"].pk,
            "start": _start().isoformat(),
        },
        format="json",
    )
    assert response.status_code == 201, response.json()
    appointment = Appointment.objects.get(pk=response.json()["id"])
    assert not _reads_chart(clinic), "never confirmed: nothing yet"
    change_status(appointment, "confirm", actor=clinic["user"])
    assert _reads_chart(clinic)
    cancel_appointment(appointment, reason="Patient called", actor=clinic["front_desk"])
    assert not _reads_chart(clinic)


def test_an_admin_booking_follows_the_same_rule(client, clinic):
    client.force_login(clinic["front_desk"])
    start = _start()
    response = client.post(
        "/admin/scheduling/appointment/add/",
        {
            "patient": clinic["patient"].pk,
            "service": clinic["service"].pk,
            "location": clinic["location"].pk,
            "provider": clinic["therapist"].pk,
            "start_local_0": start.date().isoformat(),
            "start_local_1": start.strftime("%H:%M"),
            "events-TOTAL_FORMS": "0",
            "events-INITIAL_FORMS": "0",
        },
    )
    assert response.status_code == 302, response.content[:2000]
    appointment = Appointment.objects.get(patient=clinic["patient"])
    assert not _reads_chart(clinic)
    change_status(appointment, "confirm", actor=clinic["front_desk"])
    assert _reads_chart(clinic)
    cancel_appointment(appointment, actor=clinic["front_desk"])
    assert not _reads_chart(clinic)


def test_an_attended_appointment_keeps_access_after_it_is_over_and_a_no_show_grants_none(clinic):
    attended = _staff_book(clinic, clinic["front_desk"], hour=10)
    change_status(attended, "arrive", actor=clinic["front_desk"], now=attended.start)
    change_status(attended, "complete", actor=clinic["user"], now=attended.end)
    later = attended.end + datetime.timedelta(days=90)
    assert clinical_patient_ids_for(clinic["user"], now=later).filter(pk=clinic["patient"].pk)
    other = PatientFactory()
    missed = book_appointment(
        service=clinic["service"],
        location=clinic["location"],
        start=_start(14),
        patient=other,
        provider=clinic["therapist"],
        actor=clinic["front_desk"],
    )
    change_status(missed, "no_show", actor=clinic["front_desk"], now=missed.end)
    assert not can_view_clinical(clinic["user"], other)


def test_a_free_consult_outcome_grants_nothing_when_the_consult_was_booked_anonymously(
    api_client, clinic
):
    consult = ServiceFactory(
        code="free-consult",
        acts=["free_consult"],
        duration_minutes=15,
        modality="phone",
        price="0.00",
        is_free_consult=True,
    )
    physio = ProviderFactory(display_name="Consult Physio", locations=[clinic["location"]])
    offer(physio, consult, clinic["location"])
    weekly_hours(physio, clinic["location"])
    physio_user = clinician_user("physio", provider=physio)
    response = api_client.post(
        "/api/v1/public/bookings/",
        {
            "service": consult.pk,
            "location": clinic["location"].pk,
            "provider": physio.pk,
            "start": _start(9).isoformat(),
            "patient": {
                "first_name": "Ada",
                "last_name": "Lovelace",
                "email": clinic["patient"].email,
                "phone": "+1 905 555 0100",
            },
            "consent": {},
            "reason": "Knee",
        },
        format="json",
    )
    assert response.status_code == 201, response.json()
    appointment = Appointment.objects.get(reference=response.json()["reference"])
    record_consult_outcome(
        appointment, recommended_path="physiotherapy", actor=physio_user, now=appointment.end
    )
    assert not can_view_clinical(physio_user, clinic["patient"])


def test_a_referral_grants_its_receiver_until_declined_and_never_the_referrer(clinic):
    physio = ProviderFactory(display_name="Referring Physio")
    physio_user = clinician_user("referrer", provider=physio)
    referral = create_referral(
        patient=clinic["patient"],
        from_provider=physio,
        to_discipline=clinic["therapist"].discipline,
        to_provider=clinic["therapist"],
        reason="Soft-tissue work alongside rehab.",
    )
    assert not can_view_clinical(physio_user, clinic["patient"]), "referring is not treating"
    assert _reads_chart(clinic)
    change_referral_status(referral, status=Referral.Status.ACCEPTED, actor=clinic["user"])
    assert _reads_chart(clinic)
    change_referral_status(referral, status=Referral.Status.DECLINED, actor=clinic["user"])
    assert not _reads_chart(clinic)


def test_a_role_on_a_care_plan_grants_access(clinic):
    lead = ProviderFactory(display_name="Plan Lead", locations=[clinic["location"]])
    lead_user = clinician_user("lead", provider=lead)
    assert not can_view_clinical(lead_user, clinic["patient"])
    create_plan(
        actor=actor_for(clinic["manager"]),
        patient=clinic["patient"],
        location=clinic["location"],
        title="Knee rehab",
        lead=lead,
    )
    assert can_view_clinical(lead_user, clinic["patient"])


def test_a_managers_grant_needs_a_reason_is_audited_and_revoking_ends_it(clinic):
    manager = client_for(clinic["manager"])
    body = {"patient": clinic["patient"].pk, "provider": clinic["therapist"].pk, "reason": " "}
    refused = manager.post("/api/v1/access-grants/", body, format="json")
    assert refused.status_code in (400, 422)
    assert not AccessGrant.objects.exists()
    assert not _reads_chart(clinic)
    body["reason"] = "Covers the caseload of a colleague on leave."
    granted = manager.post("/api/v1/access-grants/", body, format="json")
    assert granted.status_code == 201, granted.json()
    assert _reads_chart(clinic)
    assert AuditEvent.objects.filter(
        object_type="patients.AccessGrant", patient_id=clinic["patient"].pk
    ).exists()
    revoked = manager.post(f"/api/v1/access-grants/{granted.json()['id']}/revoke/")
    assert revoked.status_code == 200
    assert not _reads_chart(clinic)
    assert AccessGrant.objects.count() == 1, "revoked, never deleted"


def test_breaking_the_glass_needs_a_reason_is_audited_shown_to_managers_and_expires(client, clinic):
    api = client_for(clinic["user"])
    url = "/api/v1/emergency-access/"
    assert api.post(url, {"patient": clinic["patient"].pk}, format="json").status_code == 400
    assert not _reads_chart(clinic)
    reason = "Collapsed in the waiting room; need the precautions."
    opened = api.post(url, {"patient": clinic["patient"].pk, "reason": reason}, format="json")
    assert opened.status_code == 201, opened.json()
    assert _reads_chart(clinic)
    audit = AuditEvent.objects.get(object_type="patients.EmergencyAccess")
    assert audit.patient_id == clinic["patient"].pk
    assert reason in audit.summary
    listed = client_for(clinic["manager"]).get(url).json()["results"]
    assert [row["reason"] for row in listed] == [reason]
    client.force_login(clinic["manager"])
    page = client.get("/admin/patients/emergencyaccess/")
    assert page.status_code == 200
    assert reason.encode() in page.content
    access = EmergencyAccess.objects.get()
    after = access.expires_at + datetime.timedelta(seconds=1)
    assert not clinical_patient_ids_for(clinic["user"], now=after).filter(pk=clinic["patient"].pk)


def test_the_clinicians_patient_list_costs_the_same_queries_for_one_or_many_patients(clinic):
    api = client_for(clinic["user"])

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert api.get("/api/v1/patients/").status_code == 200
        return len(captured)

    _staff_book(clinic, clinic["front_desk"], hour=9)
    Appointment.objects.update(status=Appointment.Status.CONFIRMED)
    one = queries()
    for hour in (11, 13, 15):
        patient = PatientFactory()
        appointment = book_appointment(
            service=clinic["service"],
            location=clinic["location"],
            start=_start(hour),
            patient=patient,
            provider=clinic["therapist"],
            actor=clinic["front_desk"],
        )
        change_status(appointment, "confirm", actor=clinic["front_desk"])
        AccessGrant.objects.create(
            patient=PatientFactory(), provider=clinic["therapist"], reason="x"
        )
    assert len(api.get("/api/v1/patients/").json()["results"]) == 7
    assert queries() == one
