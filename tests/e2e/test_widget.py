"""The booking widget at ``/book/`` as a new person meets it: Chromium, public API only."""

import re

import pytest

from clinic.models import Location
from patients.models import Patient
from providers.models import Provider
from scheduling.models import Appointment, CallbackRequest, Service
from tests.e2e.a11y import axe_violations
from tests.e2e.conftest import screenshot

pytestmark = pytest.mark.browser

EMAIL = "grace.hopper@example.org"
PROVIDERS = "**/api/v1/public/providers/**"
AVAILABILITY = "**/api/v1/public/availability/**"
# The first time shown is at least six days away: the widget is showing next week.
NEXT_WEEK_SHOWN = """() => {
    const slot = document.querySelector('#cw-days button.cw-slot');
    return Boolean(slot) && new Date(slot.dataset.start) > Date.now() + 6 * 864e5;
}"""


def test_a_new_person_books_a_free_consult_and_becomes_a_lead(page):
    public_calls: list[str] = []
    page.on(
        "request",
        lambda request: public_calls.append(request.url) if "/api/" in request.url else None,
    )
    page.goto("/book/")
    page.get_by_role("tab", name="Free 15-minute consult").click()
    first_slot = page.locator("#cw-days button.cw-slot").first
    first_slot.wait_for()
    assert axe_violations(page) == []
    chosen_start = first_slot.get_attribute("data-start")
    first_slot.click()

    page.fill("#cw-first-name", "Grace")
    page.fill("#cw-last-name", "Hopper")
    page.fill("#cw-email", EMAIL)
    page.fill("#cw-phone", "+1 905 555 0199")
    page.fill("#cw-reason", "Stiff neck after long days at the desk")
    page.get_by_label("My exercise program and plan of care").check()
    screenshot(page, "widget-consult-details")
    page.get_by_role("button", name="Book my free consult").click()

    page.locator("#cw-done").wait_for()
    status = page.locator("#cw-status").inner_text()
    reference = re.search(r"reference is (\w+)", status).group(1)
    screenshot(page, "widget-consult-booked")

    appointment = Appointment.objects.select_related("patient", "service").get(reference=reference)
    assert appointment.service.is_free_consult
    assert appointment.start.isoformat() == _as_utc(chosen_start)
    assert appointment.patient.email == EMAIL
    assert appointment.patient.status == Patient.Status.LEAD
    # The page used nothing but the public API.
    assert public_calls
    assert all("/api/v1/public/" in url for url in public_calls)

    # The manage link from the confirmation opens the booking for its holder.
    page.locator("#cw-manage-link").click()
    page.locator("#cw-manage-summary").wait_for()
    assert reference in page.locator("#cw-manage-summary").inner_text()


def test_a_patient_books_a_follow_up_next_week_and_cancels_it_from_the_manage_link(page):
    pickering = Location.objects.get(slug="pickering")
    service = Service.objects.get(code="physio-follow-up")
    priya = Provider.objects.get(display_name="Priya Patel, PT")
    page.goto("/book/")
    page.locator("#clinic-widget[data-ready=true]").wait_for()
    for select, value in (
        ("#cw-location", pickering.pk),
        ("#cw-service", service.pk),
        ("#cw-provider", priya.pk),
    ):
        page.select_option(select, value=str(value))
        page.wait_for_load_state("networkidle")  # each choice reloads the next list
    page.get_by_role("button", name="Later").click()
    # Next week's times, well outside the late-cancellation window.
    page.wait_for_function(NEXT_WEEK_SHOWN)
    page.locator("#cw-days button.cw-slot").first.click()
    page.fill("#cw-first-name", "Mary")
    page.fill("#cw-last-name", "Jackson")
    page.fill("#cw-email", "mary.jackson@example.org")
    page.fill("#cw-phone", "+1 905 555 0142")
    page.fill("#cw-dob", "1961-04-09")
    page.fill("#cw-reason", "Sore shoulder when reaching overhead")
    page.get_by_role("button", name="Book", exact=True).click()
    page.locator("#cw-done").wait_for()
    reference = page.locator("#cw-summary dd").first.inner_text()
    assert Appointment.objects.get(reference=reference).provider == priya

    page.locator("#cw-manage-link").click()
    page.get_by_role("button", name="Cancel this booking").click()
    page.locator("#cw-status", has_text="cancelled").wait_for()
    screenshot(page, "widget-cancelled")
    cancelled = Appointment.objects.get(reference=reference)
    assert cancelled.status == Appointment.Status.CANCELLED
    assert cancelled.cancelled_by == Appointment.CancelledBy.PATIENT


def _widget_at_pickering(page) -> Service:
    """The widget open on Pickering with its first week of times shown; returns the follow-up
    service the tests choose next."""
    pickering = Location.objects.get(slug="pickering")
    page.goto("/book/")
    page.locator("#clinic-widget[data-ready=true]").wait_for()
    at_pickering = f"location={pickering.pk}&"
    with page.expect_response(lambda r: "/availability/" in r.url and at_pickering in r.url):
        page.select_option("#cw-location", value=str(pickering.pk))
    return Service.objects.get(code="physio-follow-up")


def _hold_first(page, pattern: str) -> list:
    """Hold the next request matching ``pattern`` (the test answers it later); let the rest go."""
    held = []

    def route(request_route) -> None:
        if held:
            request_route.continue_()
        else:
            held.append(request_route)

    page.route(pattern, route)
    return held


def _later_while_loading(page, pattern: str) -> list:
    """At Pickering, choose the follow-up service and, while its first request matching
    ``pattern`` is held, click "Later" and wait for next week; returns the held request."""
    follow_up = _widget_at_pickering(page)
    held = _hold_first(page, pattern)
    with page.expect_request(pattern):
        page.select_option("#cw-service", value=str(follow_up.pk))
    page.get_by_role("button", name="Later").click()
    page.wait_for_function(NEXT_WEEK_SHOWN)
    return held


def test_a_late_answer_for_an_earlier_choice_does_not_move_the_visitor_back_a_week(page):
    """The visitor picks a service and clicks "Later" before the service's providers arrive;
    when they do arrive, the widget keeps showing the week the visitor asked for."""
    held = _later_while_loading(page, PROVIDERS)
    with page.expect_response(AVAILABILITY) as after_providers:
        held[0].continue_()
    after_providers.value.finished()
    page.unroute(PROVIDERS)
    assert page.evaluate(NEXT_WEEK_SHOWN)


def test_a_late_error_for_a_week_the_visitor_left_is_not_shown(page):
    """The visitor clicks "Later" while this week's times are still loading; this week's request
    then fails. The visitor is looking at next week, so no error appears over it."""
    held = _later_while_loading(page, AVAILABILITY)
    held[0].fulfill(
        status=429,
        content_type="application/problem+json",
        body='{"title": "Too many requests.", "status": 429}',
    )
    page.wait_for_timeout(500)  # let the page handle the late answer
    page.unroute(AVAILABILITY)
    assert "Too many requests" not in page.locator("#cw-status").inner_text()
    assert page.evaluate(NEXT_WEEK_SHOWN)


def test_a_tab_chosen_while_the_page_loads_is_the_one_shown(page):
    """A visitor who clicks "Free 15-minute consult" before the clinic's locations have loaded
    gets the consult, not the default tab the page opens with once they arrive."""
    held = _hold_first(page, "**/api/v1/public/locations/**")
    with page.expect_request("**/api/v1/public/locations/**"):
        page.goto("/book/", wait_until="commit")
    consult_tab = page.get_by_role("tab", name="Free 15-minute consult")
    consult_tab.click()
    held[0].continue_()
    page.locator("#clinic-widget[data-ready=true]").wait_for()
    page.locator("#cw-days button.cw-slot").first.wait_for()
    assert consult_tab.get_attribute("aria-selected") == "true"
    assert page.locator("#cw-submit").inner_text() == "Book my free consult"


def test_times_of_the_tab_left_are_not_offered_while_the_new_tabs_times_load(page):
    """The appointment tab's times are on the page when the visitor opens the free consult;
    until the consult's own times arrive, none of the earlier ones can be picked (one picked
    would be booked as a consult at a time never offered for it: the CI failure of the
    free-consult test, which read the first time of the earlier list and clicked the new)."""
    consult = Service.objects.get(code="free-consult-phone")
    page.goto("/book/")
    page.locator("#clinic-widget[data-ready=true]").wait_for()
    page.locator("#cw-days button.cw-slot").first.wait_for()
    held = _hold_first(page, AVAILABILITY)
    with page.expect_request(AVAILABILITY) as consult_request:
        page.get_by_role("tab", name="Free 15-minute consult").click()
    assert f"service={consult.pk}&" in consult_request.value.url
    assert page.locator("#cw-days button.cw-slot").count() == 0
    assert page.locator("#cw-details").is_hidden()
    with page.expect_response(AVAILABILITY) as answer:
        held[0].continue_()
    first_offered = answer.value.json()["slots"][0]["start"]
    page.unroute(AVAILABILITY)
    first_shown = page.locator("#cw-days button.cw-slot").first
    first_shown.wait_for()
    assert first_shown.get_attribute("data-start") == first_offered


def test_a_manage_link_with_a_wrong_token_finds_nothing(page):
    appointment = Appointment.objects.exclude(status="cancelled").first()
    page.goto(f"/book/?reference={appointment.reference}&token=not-the-token")
    page.locator("#clinic-widget[data-ready=true]").wait_for()
    assert "could not find this booking" in page.locator("#cw-status").inner_text()
    assert page.locator("#cw-manage-actions").is_hidden()


def test_a_call_back_request_lands_in_the_front_desk_queue(page):
    page.goto("/book/?mode=callback")
    page.fill("#cw-cb-name", "Alan Turing")
    page.fill("#cw-cb-phone", "+1 905 555 0123")
    page.fill("#cw-cb-time", "weekday mornings")
    page.get_by_role("button", name="Request a call-back").click()
    page.locator("#cw-status", has_text="Thank you").wait_for()
    assert CallbackRequest.objects.filter(name="Alan Turing", phone="+1 905 555 0123").exists()


def _as_utc(iso: str) -> str:
    from datetime import UTC, datetime

    return datetime.fromisoformat(iso).astimezone(UTC).isoformat()
