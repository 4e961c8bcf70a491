"""The desk's status rules, owned by ``change_status``: a patient checks in on the visit's local
day, is a no-show only once it has started, and a visit is completed only after check-in; each
refusal is a plain sentence, through the API and the admin alike."""

import datetime

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse

from clinic import roles
from clinic.errors import ConflictProblem
from scheduling.models import Appointment
from scheduling.services import book_appointment, change_status
from tests.factories.patients import PatientFactory, staff_user
from tests.scheduling.conftest import TORONTO, local, next_week


@pytest.fixture
def visit(physio, assessment, location):
    """Next week at 10:00 in Toronto."""
    return book_appointment(
        service=assessment,
        location=location,
        start=local(next_week(), "10:00"),
        patient=PatientFactory(),
        provider=physio,
    )


def at(visit: Appointment, hh_mm: str, days: int = 0) -> datetime.datetime:
    return local(visit.local_start.date() + datetime.timedelta(days=days), hh_mm)


def refusal(visit: Appointment, action: str, now: datetime.datetime) -> str:
    with pytest.raises(ConflictProblem) as refused:
        change_status(visit, action, now=now)
    return refused.value.detail


def test_a_patient_checks_in_only_on_the_visits_local_day(visit):
    assert "another day" in refusal(visit, "arrive", at(visit, "23:30", days=-1))
    assert "another day" in refusal(visit, "arrive", at(visit, "00:05", days=1))
    assert change_status(visit, "arrive", now=at(visit, "08:00")).status == "arrived"


def test_the_local_day_is_the_locations_not_utc(visit):
    """23:30 in Toronto is the next day in UTC: still the visit's day at the desk."""
    late_evening = at(visit, "23:30")
    assert late_evening.astimezone(datetime.UTC).date() != visit.local_start.date()
    assert change_status(visit, "arrive", now=late_evening).status == "arrived"
    assert late_evening.tzinfo == TORONTO


def test_no_show_only_after_the_start(visit):
    assert refusal(visit, "no_show", at(visit, "09:59")) == (
        "Cannot mark an appointment as a no-show before it starts."
    )
    assert change_status(visit, "no_show", now=at(visit, "10:01")).status == "no_show"


def test_complete_only_after_check_in(visit):
    assert refusal(visit, "complete", at(visit, "11:00")) == (
        "Cannot complete a booked appointment (check the patient in first)."
    )
    change_status(visit, "arrive", now=at(visit, "09:50"))
    assert change_status(visit, "complete", now=at(visit, "11:00")).status == "completed"


def test_refusals_name_the_state_in_plain_english(visit):
    change_status(visit, "arrive", now=at(visit, "09:50"))
    assert refusal(visit, "confirm", at(visit, "09:55")) == "Cannot confirm an arrived appointment."
    assert refusal(visit, "no_show", at(visit, "10:30")) == (
        "Cannot mark an arrived appointment as a no-show."
    )


def test_the_api_refuses_a_check_in_for_next_week(front_desk_client, visit):
    response = front_desk_client.post(f"/api/v1/appointments/{visit.pk}/arrive/")
    assert response.status_code == 409
    assert response["Content-Type"].startswith("application/problem+json")
    assert response.json()["type"].endswith("/invalid-transition")
    assert "another day" in response.json()["detail"]
    visit.refresh_from_db()
    assert visit.status == "booked"


def test_the_admin_shows_the_refusal_as_a_message(client, visit):
    desk = staff_user("desk-rules", roles.FRONT_DESK)
    client.force_login(get_user_model().objects.get(pk=desk.pk))
    url = reverse("admin:scheduling_appointment_changelist")
    response = client.post(
        url, {"action": "mark_arrive", "_selected_action": [visit.pk]}, follow=True
    )
    shown = [str(m) for m in response.context["messages"]]
    assert any("Cannot check in an appointment on another day" in m for m in shown), shown
    visit.refresh_from_db()
    assert visit.status == "booked"
