"""The waitlist's rules, through the widget's API, the services and the matcher (tasks run
eagerly here; real workers and SMTP are in test_waitlist_delivery.py)."""

import datetime
from unittest import mock

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from clinic.celery import app as celery_app
from clinic.errors import ConflictProblem
from clinic.models import AuditEvent
from notifications import services as ledger
from patients.models import Consent, Patient
from scheduling.availability import search
from scheduling.models import (
    Appointment,
    AvailabilityException,
    BookingPolicyOverride,
    WaitlistEntry,
    WaitlistOffer,
    WaitlistOpening,
    WaitlistSettings,
)
from scheduling.services import (
    book_appointment,
    cancel_appointment,
    claim_offer,
    reschedule_appointment,
    withdraw_entry,
)
from scheduling.services import waitlist as waitlist_services
from scheduling.services.waitlist_matching import expire_offer, match_opening, sweep
from scheduling.waitlist_priority import register_priority_source
from tests.factories.patients import PatientFactory
from tests.factories.plans import CarePlanFactory
from tests.factories.scheduling import ClosureFactory
from tests.scheduling.conftest import make_physio
from tests.waitlist.conftest import (
    CLAIM_DETAILS,
    CLAIM_KWARGS,
    local,
    offer_mails,
    open_offer,
    problem,
)

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def eager_tasks(monkeypatch):
    """Matching and expiry tasks run inside the test process, at commit; e-mails stay planned
    in the ledger (sending is the notifications app's, tested there and end to end)."""
    monkeypatch.setattr(ledger, "_enqueue", lambda row_id, countdown: None)
    celery_app.conf.task_always_eager = True
    yield
    celery_app.conf.task_always_eager = False


@pytest.fixture
def cancel(django_capture_on_commit_callbacks):
    def run(appointment: Appointment) -> None:
        with django_capture_on_commit_callbacks(execute=True):
            cancel_appointment(appointment, reason="Feeling better")

    return run


def test_a_widget_entry_makes_a_new_person_a_lead_with_the_consents_they_gave(clinic, api_client):
    response = api_client.post("/api/v1/public/waitlist/", clinic.body(), format="json")
    assert response.status_code == 201, response.content
    answer = response.json()
    assert set(answer) == {"id", "token", "status", "confirmed"}
    assert answer["confirmed"] is False
    assert answer["status"] == "waiting"
    patient = Patient.objects.get(email="new.person@example.org")
    assert patient.status == Patient.Status.LEAD
    consents = {c.purpose: c.granted for c in Consent.objects.filter(patient=patient)}
    assert consents["reminders"] is True
    assert consents["marketing"] is False
    detail = api_client.get(
        f"/api/v1/public/waitlist/{answer['id']}/", {"token": answer["token"]}
    ).json()
    assert detail["status"] == "waiting"
    assert detail["offer"] is None
    assert detail["windows"] == [{"weekday": None, "from": "09:00", "to": "12:00"}]


def test_a_known_email_gets_the_same_answer_and_grants_no_consent(clinic, api_client):
    known = PatientFactory(email="known@example.org")
    response = api_client.post(
        "/api/v1/public/waitlist/", clinic.body(email="known@example.org"), format="json"
    )
    assert response.status_code == 201
    assert set(response.json()) == {"id", "token", "status", "confirmed"}
    assert WaitlistEntry.objects.get().patient == known
    assert not Consent.objects.filter(patient=known, granted=True).exists()


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"windows": []}, "windows"),
        ({"windows": [{"from": "12:00", "to": "09:00"}]}, "windows.0.to"),
        ({"windows": [{"from": "9am", "to": "12:00"}]}, "windows.0.from"),
        ({"windows": [{"weekday": 7, "from": "09:00", "to": "12:00"}]}, "windows.0.weekday"),
        ({"windows": "mornings"}, "windows"),
        ({"earliest_date": "2027-02-30"}, "earliest_date"),
        ({"service": 999999}, "service"),
        ({"location": 999999}, "location"),
        ({"provider": 999999}, "provider"),
        ({"patient": {"first_name": "x"}}, "patient.last_name"),
    ],
)
def test_bad_input_is_refused_naming_the_field(clinic, api_client, change, field):
    response = api_client.post("/api/v1/public/waitlist/", clinic.body(**change), format="json")
    assert 400 <= response.status_code < 500
    problem(response)
    assert field in {e["field"] for e in response.json()["errors"]}, response.json()
    assert not WaitlistEntry.objects.exists()
    assert not Patient.objects.exists()


def test_a_date_range_ending_before_it_starts_is_refused(clinic, api_client):
    body = clinic.body(
        earliest_date=clinic.day.isoformat(),
        latest_date=(clinic.day - datetime.timedelta(days=1)).isoformat(),
    )
    response = api_client.post("/api/v1/public/waitlist/", body, format="json")
    assert response.status_code == 422
    assert problem(response) == "validation-error"
    assert response.json()["errors"][0]["field"] == "latest_date"
    assert not Patient.objects.exists()


def test_hostile_text_is_refused_without_a_500(clinic, api_client):
    body = clinic.body(windows=[{"from": "\x00" * 5, "to": "a" * 100000}])
    response = api_client.post("/api/v1/public/waitlist/", body, format="json")
    assert 400 <= response.status_code < 500
    problem(response)


def test_a_cancellation_offers_the_time_to_the_first_matching_entry_and_holds_it(clinic, cancel):
    booked = clinic.book()
    first, second = clinic.wait(clinic.patient("First")), clinic.wait(clinic.patient("Second"))
    cancel(booked)
    offer = open_offer(first)
    assert offer is not None
    assert offer.start == clinic.start
    assert open_offer(second) is None
    first.refresh_from_db()
    assert first.status == WaitlistEntry.Status.OFFERED
    assert offer_mails(offer).count() == 1
    # Held: the public search no longer shows it, and nobody else may book it.
    slots = search(
        service=clinic.service, location=clinic.location, start_date=clinic.day, end_date=clinic.day
    ).slots
    assert slots == []
    audit = AuditEvent.objects.get(object_type="waitlist_offer", action="create")
    assert audit.patient_id == first.patient_id


def test_a_held_time_refuses_a_booking_by_anyone_else(clinic, cancel, api_client):
    booked = clinic.book()
    clinic.wait(clinic.patient("First"))
    cancel(booked)
    body = {
        "service": clinic.service.pk,
        "location": clinic.location.pk,
        "start": clinic.start.isoformat(),
        "patient": {
            "first_name": "Else",
            "last_name": "Body",
            "email": "else@example.org",
            "date_of_birth": "1990-01-01",
        },
        "reason": "Back pain",
    }
    response = api_client.post("/api/v1/public/bookings/", body, format="json")
    assert response.status_code == 409
    assert problem(response) == "slot-unavailable"


def test_the_claim_books_through_the_booking_rule_once(clinic, cancel, api_client):
    booked = clinic.book()
    entry = clinic.wait(clinic.patient("First"))
    cancel(booked)
    url = f"/api/v1/public/waitlist/{entry.pk}/claim/"
    response = api_client.post(url, {"token": entry.token, **CLAIM_DETAILS}, format="json")
    assert response.status_code == 201, response.content
    appointment = Appointment.objects.get(reference=response.json()["reference"])
    assert appointment.patient == entry.patient
    assert appointment.start == clinic.start
    entry.refresh_from_db()
    assert entry.status == WaitlistEntry.Status.BOOKED
    again = api_client.post(url, {"token": entry.token, **CLAIM_DETAILS}, format="json")
    assert again.status_code == 409
    assert problem(again) == "offer-expired"
    assert Appointment.objects.filter(start=clinic.start).exclude(pk=booked.pk).count() == 1


def test_a_claim_after_the_hold_ended_is_refused(clinic, cancel, api_client):
    booked = clinic.book()
    entry = clinic.wait(clinic.patient("First"))
    cancel(booked)
    offer = open_offer(entry)
    later = offer.expires_at + datetime.timedelta(seconds=1)
    with pytest.raises(ConflictProblem) as refused:
        claim_offer(entry, now=later, **CLAIM_KWARGS)
    assert refused.value.slug == "offer-expired"
    assert refused.value.status == 409
    assert not Appointment.objects.filter(patient=entry.patient).exists()


def test_a_wrong_token_is_the_same_404_as_an_unknown_entry(clinic, api_client):
    entry = clinic.wait(clinic.patient("First"))
    wrong = api_client.get(f"/api/v1/public/waitlist/{entry.pk}/", {"token": "nope"})
    unknown = api_client.get("/api/v1/public/waitlist/99999/", {"token": "nope"})
    assert wrong.status_code == unknown.status_code == 404
    assert wrong.json() == unknown.json()


def test_an_expired_hold_goes_to_the_next_entry_and_then_frees_the_time(
    clinic, cancel, django_capture_on_commit_callbacks
):
    booked = clinic.book()
    first, second = clinic.wait(clinic.patient("First")), clinic.wait(clinic.patient("Second"))
    cancel(booked)
    offer = open_offer(first)
    with django_capture_on_commit_callbacks(execute=True):
        assert expire_offer(offer.pk, now=offer.expires_at)
    offer.refresh_from_db()
    assert offer.status == WaitlistOffer.Status.EXPIRED
    first.refresh_from_db()
    assert first.status == WaitlistEntry.Status.WAITING
    nxt = open_offer(second)
    assert nxt is not None
    assert nxt.start == clinic.start
    # The first entry is not offered the same time again; once nobody wants it, it is free.
    with django_capture_on_commit_callbacks(execute=True):
        assert expire_offer(nxt.pk, now=nxt.expires_at)
    assert not WaitlistOffer.objects.filter(status=WaitlistOffer.Status.OFFERED).exists()
    slots = search(
        service=clinic.service, location=clinic.location, start_date=clinic.day, end_date=clinic.day
    ).slots
    assert [s.start for s in slots] == [clinic.start]


def test_withdrawing_ends_the_hold_and_passes_the_time_on(
    clinic, cancel, api_client, django_capture_on_commit_callbacks
):
    booked = clinic.book()
    first, second = clinic.wait(clinic.patient("First")), clinic.wait(clinic.patient("Second"))
    cancel(booked)
    with django_capture_on_commit_callbacks(execute=True):
        response = api_client.post(
            f"/api/v1/public/waitlist/{first.pk}/withdraw/", {"token": first.token}, format="json"
        )
    assert response.status_code == 200
    assert response.json()["status"] == "withdrawn"
    assert open_offer(second) is not None
    assert offer_mails(first.offers.get()).get().status == "cancelled"


def test_windows_dates_provider_and_the_patients_own_calendar_decide_who_is_offered(clinic, cancel):
    booked = clinic.book()
    afternoons = clinic.wait(clinic.patient("Late"), windows=[{"from": "13:00", "to": "17:00"}])
    other_day = clinic.wait(
        clinic.patient("Other"),
        windows=[{"weekday": (clinic.day.weekday() + 1) % 7, "from": "08:00", "to": "12:00"}],
    )
    too_late = clinic.wait(
        clinic.patient("Past"),
        earliest_date=clinic.day + datetime.timedelta(days=1),
        latest_date=clinic.day + datetime.timedelta(days=2),
    )
    busy_patient = clinic.patient("Busy")
    clinic.wait(busy_patient)
    # The busy patient sees another physiotherapist at that hour.
    colleague = make_physio(clinic.location, clinic.service, "Colleague")
    book_appointment(
        service=clinic.service,
        location=clinic.location,
        start=clinic.start,
        patient=busy_patient,
        provider=colleague,
    )
    fits = clinic.wait(clinic.patient("Fits"))
    cancel(booked)
    offered = set(WaitlistOffer.objects.values_list("entry_id", flat=True))
    assert offered == {fits.pk}
    assert not {afternoons.pk, other_day.pk, too_late.pk} & offered


def test_time_outside_the_booking_policy_is_never_offered(clinic, cancel):
    booked = clinic.book()
    clinic.wait(clinic.patient("First"))
    BookingPolicyOverride.objects.create(location=clinic.location, booking_horizon_days=2)
    cancel(booked)
    assert not WaitlistOffer.objects.exists()


def test_care_plan_patients_go_first_when_the_clinic_says_so(clinic, cancel):
    booked = clinic.book()
    early, in_care = clinic.wait(clinic.patient("Early")), clinic.wait(clinic.patient("Care"))
    register_priority_source(
        "test", lambda now: Patient.objects.filter(pk=in_care.patient_id).values("pk")
    )
    WaitlistSettings.objects.update_or_create(pk=1, defaults={"care_plan_patients_first": True})
    try:
        cancel(booked)
    finally:
        register_priority_source("test", lambda now: Patient.objects.none().values("pk"))
    assert open_offer(in_care) is not None
    assert open_offer(early) is None


def test_new_hours_are_offered_too(clinic, django_capture_on_commit_callbacks):
    clinic.book()
    entry = clinic.wait(clinic.patient("First"))
    with django_capture_on_commit_callbacks(execute=True):
        AvailabilityException.objects.create(
            provider=clinic.physio,
            location=clinic.location,
            kind=AvailabilityException.Kind.EXTRA_HOURS,
            start=local(clinic.day, "11:00"),
            end=local(clinic.day, "12:00"),
        )
    offer = open_offer(entry)
    assert offer is not None
    assert offer.start == local(clinic.day, "11:00")


def test_an_entry_past_its_last_date_expires(clinic):
    entry = clinic.wait(clinic.patient("First"), latest_date=clinic.day)
    assert sweep(now=local(clinic.day + datetime.timedelta(days=1), "09:00"))["closed_entries"] == 1
    entry.refresh_from_db()
    assert entry.status == WaitlistEntry.Status.EXPIRED


def test_a_withdrawn_entry_is_never_offered(clinic, cancel):
    booked = clinic.book()
    entry = clinic.wait(clinic.patient("First"))
    withdraw_entry(entry)
    cancel(booked)
    assert not WaitlistOffer.objects.exists()


def test_matching_costs_the_same_queries_for_3_and_60_waiting_entries(clinic):
    runs = iter(range(100))

    def count(n: int) -> int:
        run = next(runs)
        WaitlistOffer.objects.all().delete()
        WaitlistEntry.objects.all().delete()
        Appointment.objects.all().delete()
        for i in range(n):
            clinic.wait(clinic.patient(f"P{run}x{i}"), windows=[{"from": "13:00", "to": "14:00"}])
        clinic.wait(clinic.patient(f"Fit{run}"))
        opening = WaitlistOpening.objects.create(
            location=clinic.location,
            provider=clinic.physio,
            start=clinic.start,
            end=clinic.start + datetime.timedelta(hours=1),
            reason="cancelled",
            created_at=clinic.start - datetime.timedelta(days=3),
        )
        WaitlistOffer.objects.all().delete()
        with CaptureQueriesContext(connection) as ctx:
            assert len(match_opening(opening.pk)) == 1
        return len(ctx.captured_queries)

    count(3)  # the first run reads settings and rules once per process
    assert count(3) == count(60)


def test_windows_are_read_in_the_locations_time_across_a_daylight_saving_change(clinic):
    """On the Sunday clocks spring forward, 10:00 is 14:00 UTC, not 15:00: a 09:30-10:30 window
    fits the 10:00 visit; an 11:00-12:00 window (10:00 EST read as EDT) does not."""
    spring = datetime.date(2027, 3, 14)
    BookingPolicyOverride.objects.create(location=clinic.location, booking_horizon_days=400)
    start = local(spring, "10:00")
    assert start.utcoffset() == datetime.timedelta(hours=-4)
    wrong = clinic.wait(
        clinic.patient("Wrong"),
        earliest_date=spring,
        latest_date=spring,
        windows=[{"from": "11:00", "to": "12:00"}],
    )
    right = clinic.wait(
        clinic.patient("Right"),
        earliest_date=spring,
        latest_date=spring,
        windows=[{"weekday": 6, "from": "09:30", "to": "11:00"}],
    )
    opening = WaitlistOpening.objects.create(
        location=clinic.location,
        provider=clinic.physio,
        start=start,
        end=start + datetime.timedelta(hours=1),
        reason="cancelled",
        created_at=start - datetime.timedelta(days=30),
    )
    [offer] = match_opening(opening.pk)
    assert offer.entry_id == right.pk
    assert offer.start == start
    assert open_offer(wrong) is None


def test_a_lifted_closure_offers_its_days(clinic, django_capture_on_commit_callbacks):
    closure = ClosureFactory(
        location=clinic.location, start_date=clinic.day, end_date=clinic.day, reason="Flood"
    )
    entry = clinic.wait(clinic.patient("First"))
    with django_capture_on_commit_callbacks(execute=True):
        closure.delete()
    offer = open_offer(entry)
    assert offer is not None
    assert offer.start == clinic.start


def test_a_visit_moved_away_offers_the_time_it_left(clinic, django_capture_on_commit_callbacks):
    booked = clinic.book()
    entry = clinic.wait(clinic.patient("First"), latest_date=clinic.day)
    with django_capture_on_commit_callbacks(execute=True):
        reschedule_appointment(booked, start=clinic.start + datetime.timedelta(days=1))
    offer = open_offer(entry)
    assert offer is not None
    assert offer.start == clinic.start


def test_patients_with_an_open_care_plan_go_first_when_the_clinic_says_so(clinic, cancel):
    """The order plans registers (``plans.waitlist``): an open plan puts its patient first."""
    booked = clinic.book()
    early, in_care = clinic.wait(clinic.patient("Early")), clinic.wait(clinic.patient("Care"))
    CarePlanFactory(patient=in_care.patient, location=clinic.location, lead=clinic.physio)
    WaitlistSettings.objects.update_or_create(pk=1, defaults={"care_plan_patients_first": True})
    cancel(booked)
    assert open_offer(in_care) is not None
    assert open_offer(early) is None


def test_a_cancellation_nobody_could_take_writes_no_opening_and_queues_no_task(clinic, cancel):
    booked = clinic.book()
    colleague = make_physio(clinic.location, clinic.service, "Colleague")
    clinic.wait(clinic.patient("Other"), provider=colleague)  # waits for someone else
    withdraw_entry(clinic.wait(clinic.patient("Gone")))
    unconfirmed = clinic.wait(clinic.patient("Unsure"))
    WaitlistEntry.objects.filter(pk=unconfirmed.pk).update(confirmed_at=None)
    with mock.patch.object(waitlist_services, "_queue") as queue:
        cancel(booked)
    assert not WaitlistOpening.objects.exists()
    assert not [c for c in queue.call_args_list if c.args[0] == waitlist_services.MATCH_TASK]


def test_a_cancellation_someone_could_take_writes_an_opening_and_queues_its_match(clinic, cancel):
    booked = clinic.book()
    clinic.wait(clinic.patient("First"), windows=[{"from": "15:00", "to": "16:00"}])
    with mock.patch.object(waitlist_services, "_queue") as queue:
        cancel(booked)
    [opening] = WaitlistOpening.objects.all()
    assert (opening.start, opening.reason) == (clinic.start, "cancelled")
    assert mock.call(waitlist_services.MATCH_TASK, (opening.pk,)) in queue.call_args_list
