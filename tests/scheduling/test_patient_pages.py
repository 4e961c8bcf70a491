"""The patient's booking and unsubscribe pages over HTTP: token-checked (a wrong token is the
same 404 as the API's), CSRF-protected forms, a confirm step before cancelling, the late and
undo windows as the API applies them, and RFC 8058 one-click on the unsubscribe URL."""

import datetime

import pytest
from django.test import Client
from django.utils import timezone

from clinic.models import ClinicSettings
from patients.selectors import has_consent
from patients.tokens import unsubscribe_url
from scheduling.models import Appointment
from scheduling.services import book_appointment
from tests.factories.patients import PatientFactory, grant_consents
from tests.scheduling.conftest import local, next_week

pytestmark = pytest.mark.django_db


@pytest.fixture
def visit(physio, assessment, location):
    appointment = book_appointment(
        service=assessment,
        location=location,
        start=local(next_week(), "10:00"),
        patient=PatientFactory(),
        provider=physio,
    )
    Appointment.objects.filter(pk=appointment.pk).update(
        created_at=timezone.now() - datetime.timedelta(hours=2)
    )
    return appointment


@pytest.fixture
def browser() -> Client:
    return Client(enforce_csrf_checks=True)


def csrf_of(response) -> str:
    return response.cookies["csrftoken"].value


def manage(visit, page: str = "") -> str:
    return f"/manage/{visit.reference}/{page}"


@pytest.mark.parametrize("page", ["", "cancel/", "reschedule/"])
def test_a_wrong_token_is_a_404_page_not_the_api(browser, visit, page):
    response = browser.get(manage(visit, page), {"token": "not-the-token"})
    assert response.status_code == 404
    assert response["Content-Type"].startswith("text/html")
    assert "This link does not work" in response.content.decode()
    assert browser.get(f"/manage/NOSUCHREF/{page}", {"token": "x"}).status_code == 404


def test_the_page_shows_the_visit_in_the_locations_time_with_no_developer_chrome(browser, visit):
    response = browser.get(manage(visit), {"token": visit.manage_token})
    html = response.content.decode()
    assert response.status_code == 200
    assert '<html lang="en">' in html
    assert "<title>Your appointment | " in html
    local_start = visit.start.astimezone(visit.location.zone)
    assert f"{local_start:%M %p} {local_start.tzname()}" in html
    assert "rest_framework" not in html
    assert response["Cache-Control"] == "no-store"
    assert "frame-ancestors 'none'" in response["Content-Security-Policy"]


def test_cancel_asks_first_and_refuses_a_post_without_the_csrf_token(browser, visit):
    confirm = browser.get(manage(visit, "cancel/"), {"token": visit.manage_token})
    assert confirm.status_code == 200
    assert "Yes, cancel this appointment" in confirm.content.decode()
    assert Appointment.objects.get(pk=visit.pk).status == "booked", "asking is not cancelling"
    forged = browser.post(manage(visit, "cancel/"), {"token": visit.manage_token})
    assert forged.status_code == 403
    assert Appointment.objects.get(pk=visit.pk).status == "booked"
    done = browser.post(
        manage(visit, "cancel/"),
        {"token": visit.manage_token, "reason": "Away", "csrfmiddlewaretoken": csrf_of(confirm)},
    )
    assert done.status_code == 303
    assert done["Location"].startswith(manage(visit))
    cancelled = Appointment.objects.get(pk=visit.pk)
    assert (cancelled.status, cancelled.cancelled_by) == ("cancelled", "patient")


def test_inside_the_late_window_the_page_says_call_and_a_post_is_refused(browser, visit):
    confirm = browser.get(manage(visit, "cancel/"), {"token": visit.manage_token})
    ClinicSettings.objects.update_or_create(pk=1, defaults={"late_cancellation_hours": 24 * 30})
    page = browser.get(manage(visit), {"token": visit.manage_token})
    assert "too close to change online" in page.content.decode()
    refused = browser.post(
        manage(visit, "cancel/"),
        {"token": visit.manage_token, "csrfmiddlewaretoken": csrf_of(confirm)},
    )
    assert refused.status_code == 409
    assert Appointment.objects.get(pk=visit.pk).status == "booked"


def test_reschedule_offers_the_availability_searchs_times_and_moves_through_the_service(
    browser, visit
):
    page = browser.get(
        manage(visit, "reschedule/"), {"token": visit.manage_token, "from": next_week()}
    )
    html = page.content.decode()
    assert page.status_code == 200
    target = local(next_week(), "14:00")
    assert f'value="{target.isoformat()}"' in html
    assert f'value="{visit.start.astimezone(target.tzinfo).isoformat()}"' not in html
    moved = browser.post(
        manage(visit, "reschedule/"),
        {
            "token": visit.manage_token,
            "start": target.isoformat(),
            "csrfmiddlewaretoken": csrf_of(page),
        },
    )
    assert moved.status_code == 303
    visit.refresh_from_db()
    assert visit.start == target
    assert visit.ical_sequence == 1


def test_unsubscribe_page_button_needs_csrf_but_rfc8058_one_click_does_not(browser):
    patient = PatientFactory()
    grant_consents(patient, "reminders")
    url = unsubscribe_url(patient).split("127.0.0.1:8000", 1)[-1]
    page = browser.get(url)
    assert page.status_code == 200
    assert has_consent(patient, "reminders")
    assert browser.post(url, {"token": "ignored"}).status_code == 403
    assert has_consent(patient, "reminders")
    one_click = browser.post(
        url, data="List-Unsubscribe=One-Click", content_type="application/x-www-form-urlencoded"
    )
    assert one_click.status_code == 200
    assert "Done" in one_click.content.decode()
    assert not has_consent(patient, "reminders")


def test_unsubscribe_with_a_forged_token_is_a_404_page(browser):
    response = browser.get("/unsubscribe/", {"token": "forged"})
    assert response.status_code == 404
    one_click = browser.post(
        "/unsubscribe/?token=forged",
        data="List-Unsubscribe=One-Click",
        content_type="application/x-www-form-urlencoded",
    )
    assert one_click.status_code == 404


@pytest.mark.parametrize("first", ["9999-12-31", "9999-12-27"])
def test_paging_the_reschedule_week_past_the_calendar_shows_this_week_not_a_500(visit, first):
    response = Client().get(
        manage(visit, "reschedule/"), {"token": visit.manage_token, "from": first}
    )
    assert response.status_code == 200


@pytest.mark.parametrize("start", ["0001-01-01T00:00:00+14:00", "9999-12-31T23:59:00-14:00"])
def test_a_new_time_past_the_calendar_is_refused_on_the_page_and_nothing_moves(visit, start):
    response = Client().post(
        manage(visit, "reschedule/"), {"token": visit.manage_token, "start": start}
    )
    assert response.status_code == 422
    assert Appointment.objects.get(pk=visit.pk).start == visit.start


def test_a_cancel_reason_with_a_nul_byte_is_refused_on_the_page_and_nothing_is_cancelled(visit):
    response = Client().post(
        manage(visit, "cancel/"), {"token": visit.manage_token, "reason": "ill\x00"}
    )
    assert response.status_code == 422
    assert Appointment.objects.get(pk=visit.pk).status != Appointment.Status.CANCELLED
