"""The front desk's waitlist: who may see it, the list with offer history, adding an entry and
offering a time by hand (API and admin), each through the same services and audited."""

import datetime

import pytest

from clinic import roles
from clinic.models import AuditEvent
from scheduling.models import Appointment, WaitlistEntry, WaitlistOffer
from tests.conftest import client_for
from tests.factories.patients import clinician_user, staff_user
from tests.scheduling.conftest import make_physio
from tests.waitlist.conftest import local, offer_mails, open_offer, problem

pytestmark = pytest.mark.django_db


@pytest.fixture
def desk():
    return staff_user("desk", roles.FRONT_DESK)


def test_the_waitlist_is_the_front_desks_not_a_clinicians(clinic, desk, api_client):
    entry = clinic.wait(clinic.patient("First"))
    clinician = clinician_user("physio", provider=clinic.physio)
    assert api_client.get("/api/v1/waitlist/").status_code == 401
    assert client_for(clinician).get("/api/v1/waitlist/").status_code == 403
    assert client_for(clinician).get(f"/api/v1/waitlist/{entry.pk}/").status_code == 403
    [row] = client_for(desk).get("/api/v1/waitlist/").json()["results"]
    assert row["patient"] == entry.patient_id
    assert row["patient_name"].startswith("First ")


def test_the_list_filters_by_location_service_and_status_and_shows_offer_history(clinic, desk):
    first = clinic.wait(clinic.patient("First"))
    second = clinic.wait(clinic.patient("Second"))
    second.status = WaitlistEntry.Status.WITHDRAWN
    second.save()
    client = client_for(desk)
    rows = client.get(
        "/api/v1/waitlist/",
        {"location": clinic.location.pk, "service": clinic.service.pk, "status": "waiting"},
    ).json()["results"]
    assert [row["id"] for row in rows] == [first.pk]
    assert rows[0]["offers"] == []
    assert client.get("/api/v1/waitlist/", {"status": "withdrawn"}).json()["count"] == 1


def test_the_front_desk_offers_a_chosen_entry_a_time_by_hand(clinic, desk):
    entry = clinic.wait(clinic.patient("First"))
    client = client_for(desk)
    response = client.post(
        f"/api/v1/waitlist/{entry.pk}/offer/",
        {"start": clinic.start.isoformat(), "provider": clinic.physio.pk},
        format="json",
    )
    assert response.status_code == 201, response.content
    [history] = response.json()["offers"]
    assert history["status"] == "offered"
    assert history["offered_by"] == "desk"
    offer = open_offer(entry)
    assert offer_mails(offer).count() == 1
    audit = AuditEvent.objects.get(object_type="waitlist_offer", object_id=str(offer.pk))
    assert audit.actor == desk
    assert audit.patient_id == entry.patient_id
    again = client.post(
        f"/api/v1/waitlist/{entry.pk}/offer/",
        {"start": clinic.start.isoformat(), "provider": clinic.physio.pk},
        format="json",
    )
    assert again.status_code == 409


def test_a_time_by_hand_must_be_one_the_patient_could_book(clinic, desk):
    entry = clinic.wait(clinic.patient("First"))
    client = client_for(desk)
    outside_hours = client.post(
        f"/api/v1/waitlist/{entry.pk}/offer/",
        {"start": local(clinic.day, "15:00").isoformat(), "provider": clinic.physio.pk},
        format="json",
    )
    assert outside_hours.status_code == 422
    assert problem(outside_hours) == "not-a-slot"
    clinic.book()
    taken = client.post(
        f"/api/v1/waitlist/{entry.pk}/offer/",
        {"start": clinic.start.isoformat(), "provider": clinic.physio.pk},
        format="json",
    )
    assert taken.status_code == 409
    assert problem(taken) == "slot-unavailable"
    assert not WaitlistOffer.objects.exists()


def test_the_front_desk_adds_an_entry_and_bad_input_names_the_field(clinic, desk):
    patient = clinic.patient("Phone")
    client = client_for(desk)
    body = {
        "patient": patient.pk,
        "service": clinic.service.pk,
        "location": clinic.location.pk,
        "earliest_date": clinic.day.isoformat(),
        "latest_date": (clinic.day + datetime.timedelta(days=3)).isoformat(),
        "windows": [{"weekday": clinic.day.weekday(), "from": "09:00", "to": "12:00"}],
    }
    created = client.post("/api/v1/waitlist/", body, format="json")
    assert created.status_code == 201, created.content
    assert created.json()["status"] == "waiting"
    assert WaitlistEntry.objects.get().source == WaitlistEntry.Source.STAFF
    bad = client.post(
        "/api/v1/waitlist/", {**body, "windows": [{"from": "12:00", "to": "11:00"}]}, format="json"
    )
    assert bad.status_code == 422
    assert [e["field"] for e in bad.json()["errors"]] == ["windows.0.to"]


def test_the_admin_lists_the_waitlist_and_offers_a_time_for_the_front_desk(clinic, desk, client):
    entry = clinic.wait(clinic.patient("First"))
    client.force_login(desk)
    listed = client.get("/admin/scheduling/waitlistentry/", {"status__exact": "waiting"})
    assert listed.status_code == 200
    assert entry.patient.last_name.encode() in listed.content
    page = client.get(f"/admin/scheduling/waitlistentry/{entry.pk}/change/")
    assert b"Offer a time" in page.content
    local_start = clinic.start.astimezone(clinic.location.zone)
    posted = client.post(
        f"/admin/scheduling/waitlistentry/{entry.pk}/offer/",
        {"provider": clinic.physio.pk, "start": f"{local_start:%Y-%m-%dT%H:%M}"},
    )
    assert posted.status_code == 302
    assert open_offer(entry).offered_by == desk


def test_a_clinician_cannot_open_the_admin_waitlist(clinic, client):
    clinic.wait(clinic.patient("First"))
    client.force_login(clinician_user("physio", provider=clinic.physio))
    assert client.get("/admin/scheduling/waitlistentry/").status_code == 403


def test_the_patients_page_shows_the_held_time_and_withdraws_after_a_confirm(clinic, desk, client):
    entry = clinic.wait(clinic.patient("First"))
    client_for(desk).post(
        f"/api/v1/waitlist/{entry.pk}/offer/",
        {"start": clinic.start.isoformat(), "provider": clinic.physio.pk},
        format="json",
    )
    page = client.get(f"/waitlist/{entry.pk}/", {"token": entry.token})
    assert page.status_code == 200
    assert b'<html lang="en">' in page.content
    assert b"<title>" in page.content
    assert b"Book this time" in page.content
    assert b"Priya Physio" in page.content
    assert client.get(f"/waitlist/{entry.pk}/", {"token": "wrong"}).status_code == 404
    confirm = client.get(f"/waitlist/{entry.pk}/withdraw/", {"token": entry.token})
    assert b"Yes, leave the waitlist" in confirm.content
    entry.refresh_from_db()
    assert entry.status == WaitlistEntry.Status.OFFERED
    done = client.post(f"/waitlist/{entry.pk}/withdraw/", {"token": entry.token})
    assert done.status_code == 303
    entry.refresh_from_db()
    assert entry.status == WaitlistEntry.Status.WITHDRAWN
    assert open_offer(entry) is None


def test_a_time_by_hand_is_refused_when_the_patient_is_busy_then(clinic, desk):
    patient = clinic.patient("Busy")
    entry = clinic.wait(patient)
    colleague = make_physio(clinic.location, clinic.service, "Colleague")
    clinic.book(patient=patient, start=clinic.start)
    Appointment.objects.filter(patient=patient).update(provider=colleague)
    response = client_for(desk).post(
        f"/api/v1/waitlist/{entry.pk}/offer/",
        {"start": clinic.start.isoformat(), "provider": clinic.physio.pk},
        format="json",
    )
    assert response.status_code == 409
    assert response.json()["errors"][0]["code"] == "patient_busy"
