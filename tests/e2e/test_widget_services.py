"""The widget offers only what can be booked where the visitor is (DOMAIN.md section 4), in
that location's currency, and asks for what the chosen service requires before booking."""

import pytest

from clinic.models import Location
from scheduling.models import Appointment, Service
from tests.e2e.test_widget import NEXT_WEEK_SHOWN

pytestmark = pytest.mark.browser


def _open_at(page, slug: str) -> Location:
    location = Location.objects.get(slug=slug)
    page.goto("/book/")
    page.locator("#clinic-widget[data-ready=true]").wait_for()
    wanted = f"location={location.pk}"
    with page.expect_response(lambda r: "/services/" in r.url and wanted in r.url):
        page.select_option("#cw-location", value=str(location.pk))
    page.wait_for_load_state("networkidle")
    return location


def test_brooklyn_offers_no_massage_and_shows_prices_in_us_dollars(page):
    _open_at(page, "brooklyn")
    offered = page.locator("#cw-service option").all_inner_texts()
    assert offered
    assert not [name for name in offered if "Massage" in name]
    assert "US$" in page.locator("#cw-service-info").inner_text()


def test_a_massage_asks_for_the_date_of_birth_and_reason_before_booking(page):
    _open_at(page, "pickering")
    massage = Service.objects.get(code="massage-60")
    page.select_option("#cw-service", value=str(massage.pk))
    page.wait_for_load_state("networkidle")
    page.get_by_role("button", name="Later").click()
    page.wait_for_function(NEXT_WEEK_SHOWN)
    page.locator("#cw-days button.cw-slot").first.click()
    assert page.locator("#cw-dob").is_visible()
    assert page.locator("#cw-dob").get_attribute("aria-required") == "true"
    assert page.locator("#cw-reason").get_attribute("aria-required") == "true"
    page.fill("#cw-first-name", "Katherine")
    page.fill("#cw-last-name", "Johnson")
    page.fill("#cw-email", "k.johnson.massage@example.org")
    page.fill("#cw-phone", "+1 905 555 0143")
    posts: list[str] = []
    page.on("request", lambda r: posts.append(r.url) if r.method == "POST" else None)
    page.get_by_role("button", name="Book", exact=True).click()
    page.locator("#cw-dob[aria-invalid=true]").wait_for()
    assert page.locator("#cw-reason").get_attribute("aria-invalid") == "true"
    assert posts == []  # nothing sent that the API would refuse
    page.fill("#cw-dob", "1968-08-26")
    page.fill("#cw-reason", "Tight shoulders after long days")
    page.get_by_role("button", name="Book", exact=True).click()
    page.locator("#cw-done").wait_for()
    reference = page.locator("#cw-summary dd").first.inner_text()
    booked = Appointment.objects.select_related("patient").get(reference=reference)
    assert booked.service == massage
    assert str(booked.patient.date_of_birth) == "1968-08-26"
