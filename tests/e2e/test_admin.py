"""The staff admin as the clinic's staff meet it, in Chromium, over the demo clinic.

A manager books from the admin and is stopped by the scope rule on the form; front desk cannot
open clinical pages; a clinician moves a plan to maintenance with an override reason.
"""

from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone

from clinic.models import Location
from patients.models import Patient
from plans.models import CarePlan
from providers.models import Provider
from scheduling.models import Appointment, Service
from scheduling.schedule import schedule_for
from tests.e2e.conftest import admin_login, screenshot

pytestmark = pytest.mark.browser

MANAGER = ("manager", "demo-manager-pass")
FRONT_DESK = ("frontdesk", "demo-frontdesk-pass")
CLINICIAN = ("clinician", "demo-clinician-pass")  # Priya Patel, PT


def free_slot(page, service: Service, location: Location, provider: Provider) -> str:
    """A start the booking rules allow, asked of the public API as a widget would."""
    today = timezone.localdate(timezone=location.zone)
    response = page.request.get(
        "/api/v1/public/availability/",
        params={
            "service": service.pk,
            "location": location.pk,
            "provider": provider.pk,
            "start": (today + timedelta(days=2)).isoformat(),
            "end": (today + timedelta(days=16)).isoformat(),
        },
    )
    assert response.ok, response.text()
    slots = response.json()["slots"]
    assert slots, "the demo physiotherapist has no free time in the next two weeks"
    return slots[0]["start"]


def patient_free_at(start, end) -> Patient:
    busy = Appointment.objects.filter(start__lt=end, end__gt=start).values("patient_id")
    return Patient.objects.exclude(pk__in=busy).order_by("last_name", "first_name").first()


def fill_booking_form(page, *, patient: Patient, service, location, provider, at) -> None:
    page.goto("/admin/scheduling/appointment/add/")
    # The patient chooser is an autocomplete limited to the patient list (patients.choosers).
    page.locator("#id_patient + .select2").click()
    page.locator(".select2-search__field").fill(patient.last_name)
    page.locator(".select2-results__option", has_text=str(patient)).first.click()
    page.select_option("#id_service", value=str(service.pk))
    page.select_option("#id_location", value=str(location.pk))
    page.select_option("#id_provider", value=str(provider.pk))
    page.fill("#id_start_local_0", at.strftime("%Y-%m-%d"))
    page.fill("#id_start_local_1", at.strftime("%H:%M:%S"))


def test_manager_opens_todays_schedule_for_pickering(page):
    admin_login(page, *MANAGER)
    page.goto("/admin/scheduling/appointment/day/")  # the old address opens the schedule
    pickering = Location.objects.get(slug="pickering")
    page.select_option("select[name=location]", label="Pickering")
    page.get_by_role("button", name="Show", exact=True).click()
    today = timezone.localdate(timezone=pickering.zone)
    heading = page.locator("#content h1")
    screenshot(page, "admin-day-view-pickering")
    assert f"Pickering, {today:%A %d %B %Y}" in heading.inner_text()
    (day,) = schedule_for(location=pickering, first=today).days
    columns = page.locator("table.schedule thead th").all_inner_texts()[1:]
    names = [c.provider.display_name.lower() for c in day.columns]
    assert [c.splitlines()[0].lower() for c in columns] == names
    for column in day.columns:
        for entry in column.entries:
            if entry.appointment.status != Appointment.Status.CANCELLED:
                shown = page.locator(f"button.appt[data-appointment='{entry.appointment.pk}']")
                assert shown.count() == 1
    page.goto(f"/admin/schedule/?location={pickering.pk}&view=week")
    assert page.locator("#schedule-week tbody tr").count() >= 1
    screenshot(page, "admin-week-view-pickering")


def test_manager_books_a_physiotherapy_follow_up(page):
    pickering = Location.objects.get(slug="pickering")
    service = Service.objects.get(code="physio-follow-up")
    priya = Provider.objects.get(display_name="Priya Patel, PT")
    admin_login(page, *MANAGER)
    start = free_slot(page, service, pickering, priya)
    local = timezone.datetime.fromisoformat(start).astimezone(ZoneInfo(pickering.timezone))
    patient = patient_free_at(local, local + timedelta(minutes=service.duration_minutes))

    fill_booking_form(
        page, patient=patient, service=service, location=pickering, provider=priya, at=local
    )
    page.click("input[name=_save]")
    page.locator(".messagelist .success").wait_for()
    screenshot(page, "admin-follow-up-booked")
    booked = Appointment.objects.get(patient=patient, service=service, start=local)
    assert booked.provider == priya
    assert booked.status == Appointment.Status.BOOKED


def test_booking_a_massage_therapist_for_a_physiotherapy_assessment_shows_the_scope_error(page):
    pickering = Location.objects.get(slug="pickering")
    assessment = Service.objects.get(code="physio-assessment")
    mei = Provider.objects.get(display_name="Mei Chen, RMT")
    admin_login(page, *MANAGER)
    at = (timezone.now() + timedelta(days=3)).astimezone(pickering.zone)
    at = at.replace(hour=10, minute=0, second=0, microsecond=0)
    patient = patient_free_at(at, at + timedelta(hours=1))
    before = Appointment.objects.count()

    fill_booking_form(
        page, patient=patient, service=assessment, location=pickering, provider=mei, at=at
    )
    page.click("input[name=_save]")
    page.locator(".errornote").wait_for()
    provider_errors = page.locator(".field-provider .errorlist")
    assert provider_errors.count() == 1
    message = provider_errors.inner_text().lower()
    assert "diagnos" in message or "scope" in message, message
    screenshot(page, "admin-scope-error")
    assert Appointment.objects.count() == before


def test_front_desk_is_refused_a_care_plans_clinical_pages(page):
    plan = CarePlan.objects.order_by("pk").first()
    admin_login(page, *FRONT_DESK)
    for url in (
        f"/admin/plans/careplan/{plan.pk}/change/",
        f"/admin/plans/careplan/{plan.pk}/actions/",
    ):
        response = page.goto(url)
        assert response.status == 403, url
        assert plan.title not in page.content()
    page.goto("/admin/")
    assert page.locator("a[href$='/admin/plans/careplan/']").count() == 0


def test_clinician_moves_a_plan_from_rehabilitation_to_maintenance_with_an_override(page):
    plan = (
        CarePlan.objects.filter(
            phase=CarePlan.Phase.REHABILITATION, lead__user__username=CLINICIAN[0]
        )
        .order_by("pk")
        .first()
    )
    assert plan is not None, "the demo has no plan in rehabilitation led by the clinician login"
    owner = Provider.objects.get(display_name="Aisha Rahman")  # exercise therapist
    reason = "Walking and stairs without pain; maintenance agreed with the surgeon's office."
    admin_login(page, *CLINICIAN)
    page.goto(f"/admin/plans/careplan/{plan.pk}/change/")
    page.get_by_role("link", name="Plan actions").click()
    page.select_option("#id_action", value="move_to_maintenance")
    page.select_option("#id_maintenance_owner", value=str(owner.pk))
    page.fill("#id_override_reason", reason)
    screenshot(page, "admin-plan-actions")
    page.get_by_role("button", name="Apply").or_(page.locator("input[value=Apply]")).click()
    page.locator(".messagelist .success").wait_for()
    screenshot(page, "admin-plan-in-maintenance")

    plan.refresh_from_db()
    assert plan.phase == CarePlan.Phase.MAINTENANCE
    assert plan.maintenance_owner == owner
    # The criteria were not met: the override is kept in the plan's history with who made it.
    event = plan.events.get(reason=reason)
    assert event.actor.username == CLINICIAN[0]
