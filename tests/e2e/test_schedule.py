"""The front desk's day on the admin schedule, in Chromium, over the demo clinic.

The desk opens today's schedule from the admin index, books a patient into free time, moves the
visit, checks a patient in, marks another a no-show, cancels one inside the late window (flagged
late) and sees each refusal (out of scope, taken, closed) as a message; a clinician sees their
own column; front desk never sees a visit's reason.

The day's own appointments must exist "now", whatever the hour the suite runs at: ``committed``
writes them through the booking service on a connection of its own (the test's connection is
inside a transaction the live server cannot see). The live server puts the demo database back
when the package ends.
"""

import threading
from dataclasses import dataclass
from datetime import datetime, time, timedelta

import pytest
from django.db import connections
from django.utils import timezone
from playwright.sync_api import expect

from clinic.models import Location
from patients.models import Patient
from providers.models import Discipline, Provider
from scheduling.models import Appointment, AvailabilityException, Closure, Service
from scheduling.services import book_appointment, create_offering
from tests.e2e.a11y import axe_violations
from tests.e2e.conftest import admin_login, screenshot
from tests.factories.patients import PatientFactory
from tests.factories.providers import ProviderFactory
from tests.factories.scheduling import ServiceFactory, weekly_hours

pytestmark = pytest.mark.browser

FRONT_DESK = ("frontdesk", "demo-frontdesk-pass")
CLINICIAN = ("clinician", "demo-clinician-pass")  # Priya Patel, PT
SECRET_REASON = "Pelvic pain since the birth of her second child"


def committed(fn, *args, **kwargs):
    """Run ``fn`` on its own thread and database connection, so what it writes is committed
    and the live server sees it."""
    outcome: dict = {}

    def run() -> None:
        try:
            outcome["value"] = fn(*args, **kwargs)
        except BaseException as exc:  # re-raised in the test's thread
            outcome["error"] = exc
        finally:
            connections.close_all()

    worker = threading.Thread(target=run)
    worker.start()
    worker.join()
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


@dataclass
class DeskDay:
    location: Location
    service: Service
    desk_physio: Provider
    massage: Provider
    arriving: Appointment
    absent: Appointment
    late: Appointment
    newcomer: Patient


def _quarter(at: datetime) -> datetime:
    return at.replace(minute=at.minute - at.minute % 15, second=0, microsecond=0)


def _prepare(tag: str) -> DeskDay:
    """Two physiotherapists and a massage therapist working round the clock at Pickering, a
    30-minute visit (diagnosis: not a massage therapist's act), and three visits of the day."""
    pickering = Location.objects.get(slug="pickering")
    zone = pickering.zone
    physio = Discipline.objects.get(code="physiotherapist")
    service = ServiceFactory(
        code=f"desk-visit-{tag}",
        name=f"Desk visit {tag}",
        acts=["diagnose", "manual_therapy"],
        duration_minutes=30,
    )
    staff = []
    for name in (f"Dana Desk {tag}", f"Nico Noshow {tag}"):
        provider = ProviderFactory(display_name=name, discipline=physio, locations=[pickering])
        create_offering(provider=provider, service=service, location=pickering)
        weekly_hours(provider, pickering, start="00:00", end="23:59")
        staff.append(provider)
    massage = ProviderFactory(
        display_name=f"Mia Massage {tag}",
        discipline=Discipline.objects.get(code="massage_therapist"),
        locations=[pickering],
    )
    weekly_hours(massage, pickering, start="00:00", end="23:59")
    now = timezone.now().astimezone(zone)
    midnight = datetime.combine(now.date(), time(0), tzinfo=zone)
    started = max(midnight, _quarter(now) - timedelta(minutes=45))
    long_ago = started - timedelta(days=1)

    def visit(provider, start, first_name, reason=""):
        return book_appointment(
            service=service,
            location=pickering,
            start=start,
            patient=PatientFactory(first_name=first_name, last_name=f"Day{tag}"),
            provider=provider,
            reason=reason,
            now=long_ago,
        )

    arriving = visit(staff[0], started, "Arlo", reason=SECRET_REASON)
    absent = visit(staff[1], started, "Abby")
    late_start = _quarter(now) + timedelta(hours=2)
    if (late_start + timedelta(minutes=30)).date() != late_start.date():
        # Working hours end at 23:59, so a visit cannot run into midnight: the next day's
        # first, which is still inside the 24-hour window at this hour.
        late_start = datetime.combine(late_start.date() + timedelta(days=1), time(0), tzinfo=zone)
    late = visit(staff[1], late_start, "Lena")
    Appointment.objects.filter(pk=late.pk).update(created_at=timezone.now() - timedelta(days=2))
    newcomer = PatientFactory(first_name="Nora", last_name=f"Newcomer{tag}", phone="")
    return DeskDay(pickering, service, staff[0], massage, arriving, absent, late, newcomer)


def open_day(page, day: DeskDay, date) -> None:
    page.goto(f"/admin/schedule/?location={day.location.pk}&date={date:%Y-%m-%d}")


def panel_for(page, appointment: Appointment):
    page.locator(f"button.appt[data-appointment='{appointment.pk}']").click()
    dialog = page.locator("#appointment-dialog")
    dialog.wait_for(state="visible")
    return dialog


def message(page) -> str:
    return page.locator("ul.messagelist").inner_text()


def submit(page, button) -> str:
    """Click a button that posts a form; the message the next page shows."""
    with page.expect_navigation():
        button.click()
    return message(page)


CONTROLS = ", ".join(
    f"{scope} {tag}" for scope in ("#content", "dialog") for tag in ("input", "select", "button")
)
UNLABELLED = f"""() => [...document.querySelectorAll('{CONTROLS}')]
  .filter((el) => el.type !== 'hidden')
  .filter((el) => !(el.labels && el.labels.length) && !el.getAttribute('aria-label')
    && !el.textContent.trim())
  .map((el) => el.outerHTML.slice(0, 120))"""


def assert_labelled(page) -> None:
    """axe-core finds no WCAG A/AA violation, and no form control or button is left without an
    accessible name (including the panel's controls, which axe sees only once shown)."""
    assert axe_violations(page) == []
    assert page.evaluate(UNLABELLED) == []
    assert page.locator("html").get_attribute("lang")
    assert page.title()


def first_free(page, provider: Provider):
    return page.locator(f"button.book[data-provider='{provider.pk}']").first


def test_front_desk_runs_the_day_from_the_schedule(page):
    day = committed(_prepare, "fd")
    zone = day.location.zone
    today = timezone.now().astimezone(zone).date()
    admin_login(page, *FRONT_DESK)

    # Today's schedule is the admin index's first link and opens at Pickering, today.
    page.locator("#content a").first.click()
    page.wait_for_url("**/admin/schedule/**")
    open_day(page, day, today)
    assert f"{today:%A %d %B %Y}" in page.locator("#content h1").inner_text()
    assert page.locator("thead th", has_text=day.desk_physio.display_name).count() == 1
    assert SECRET_REASON not in page.content()
    assert_labelled(page)
    screenshot(page, "schedule-front-desk-today")

    # Book the newcomer into the desk physio's next free time (tomorrow when today is over).
    free = first_free(page, day.desk_physio)
    when = today
    # The day's hours end at 23:59: a 30-minute visit needs a free start by 23:29.
    if free.count() == 0 or free.get_attribute("data-start") > f"{today:%Y-%m-%d}T23:29":
        when = today + timedelta(days=1)
        open_day(page, day, when)
        free = first_free(page, day.desk_physio)
    free.click()
    services = page.locator("#book-service option:not([hidden])")
    assert services.all_inner_texts() == ["Choose a service", f"{day.service.name} (30 min)"]
    page.select_option("#book-service", label=f"{day.service.name} (30 min)")
    page.fill("#book-patient-search", day.newcomer.last_name)
    page.locator(f"#book-patient option[value='{day.newcomer.pk}']").wait_for(state="attached")
    page.select_option("#book-patient", value=str(day.newcomer.pk))
    assert f"Booked {day.newcomer.full_name}" in submit(
        page, page.get_by_role("button", name="Book", exact=True)
    )
    booked = Appointment.objects.get(patient=day.newcomer)

    # Move it to another free time, picked from the real availability.
    dialog = panel_for(page, booked)
    dialog.get_by_role("button", name="Find free times").click()
    times = page.locator("#move-time option")
    times.nth(1).wait_for(state="attached")
    page.select_option("#move-time", index=times.count() - 1)
    assert "Moved to" in submit(page, dialog.get_by_role("button", name="Move", exact=True))
    booked.refresh_from_db()
    assert booked.events.filter(kind="rescheduled").count() == 1

    # Dragged to the massage therapist's column: refused, out of scope.
    open_day(page, day, booked.local_start.date())
    with page.expect_navigation():
        page.drag_and_drop(
            f"button.appt[data-appointment='{booked.pk}']",
            f"td.free[data-provider='{day.massage.pk}']"
            f"[data-start='{booked.local_start:%Y-%m-%dT%H:%M}']",
        )
    assert page.locator("ul.messagelist li.error").count() == 1
    booked.refresh_from_db()
    assert booked.provider_id == day.desk_physio.pk

    # Check Arlo in; mark Abby a no-show.
    open_day(page, day, today)
    arriving = panel_for(page, day.arriving)
    assert SECRET_REASON not in arriving.inner_text()
    check_in = arriving.get_by_role("button", name="Check in")
    assert "Checked in" in submit(page, check_in)
    no_show = panel_for(page, day.absent).get_by_role("button", name="No-show")
    assert "no-show" in submit(page, no_show)
    day.arriving.refresh_from_db()
    day.absent.refresh_from_db()
    assert (day.arriving.status, day.absent.status) == ("arrived", "no_show")

    # Cancel Lena two hours ahead: inside the 24-hour window, flagged late.
    open_day(page, day, day.late.local_start.date())
    dialog = panel_for(page, day.late)
    assert dialog.locator("#appointment-late").is_visible()
    dialog.get_by_label("Reason for cancelling").fill("Stuck at work")
    cancel = dialog.get_by_role("button", name="Cancel appointment")
    assert "late cancellation" in submit(page, cancel)
    assert page.locator(".schedule-cancelled", has_text="Late cancellation").count() == 1
    screenshot(page, "schedule-front-desk-after")

    # Nor does the appointment page show the desk the visit's reason.
    page.goto(f"/admin/scheduling/appointment/{day.arriving.pk}/change/")
    assert day.arriving.reference in page.locator("#content").inner_text()
    assert SECRET_REASON not in page.content()


def test_front_desk_sees_refusals_as_messages(page):
    day = committed(_prepare, "rf")
    zone = day.location.zone
    admin_login(page, *FRONT_DESK)
    tomorrow = timezone.now().astimezone(zone).date() + timedelta(days=1)
    open_day(page, day, tomorrow)

    def fill_booking(start: str | None = None) -> None:
        first_free(page, day.desk_physio).click()
        if start:
            page.fill("#book-start", start)
        page.select_option("#book-service", label=f"{day.service.name} (30 min)")
        page.fill("#book-patient-search", day.newcomer.last_name)
        page.locator(f"#book-patient option[value='{day.newcomer.pk}']").wait_for(state="attached")
        page.select_option("#book-patient", value=str(day.newcomer.pk))

    # Taken: another desk books the time while the panel is open.
    fill_booking()
    start_text = page.input_value("#book-start")
    start = datetime.fromisoformat(start_text).replace(tzinfo=zone)
    committed(
        lambda: book_appointment(
            service=day.service,
            location=day.location,
            start=start,
            patient=PatientFactory(first_name="Quick", last_name="Caller"),
            provider=Provider.objects.get(pk=day.desk_physio.pk),
        )
    )
    assert "no longer available" in submit(
        page, page.get_by_role("button", name="Book", exact=True)
    )

    # Closed: the clinic's training day.
    closure = Closure.objects.filter(location=day.location).order_by("start_date").first()
    fill_booking(f"{closure.start_date:%Y-%m-%d}T10:00")
    closed = submit(page, page.get_by_role("button", name="Book", exact=True))
    assert f"closed that day: {closure.reason}" in closed

    # Out of scope: the massage therapist cannot take a visit that needs a diagnosis.
    first_free(page, day.massage).click()
    assert page.locator("#book-service option:not([hidden])").all_inner_texts() == [
        "Choose a service"
    ]
    page.locator("#book-dialog").get_by_role("button", name="Close").click()
    open_day(page, day, day.late.local_start.date())
    with page.expect_navigation():
        page.drag_and_drop(
            f"button.appt[data-appointment='{day.late.pk}']",
            f"td.free[data-provider='{day.massage.pk}']"
            f"[data-start='{day.late.local_start:%Y-%m-%dT%H:%M}']",
        )
    assert page.locator("ul.messagelist li.error").count() == 1
    day.late.refresh_from_db()
    assert day.late.provider_id != day.massage.pk
    assert not Appointment.objects.filter(patient=day.newcomer).exists()


def _working_today(username: str) -> Provider:
    provider = Provider.objects.get(user__username=username)
    pickering = Location.objects.get(slug="pickering")
    today = timezone.now().astimezone(pickering.zone).date()
    AvailabilityException.objects.create(
        provider=provider,
        location=pickering,
        kind=AvailabilityException.Kind.EXTRA_HOURS,
        start=datetime.combine(today, time(7), tzinfo=pickering.zone),
        end=datetime.combine(today, time(9), tzinfo=pickering.zone),
    )
    return provider


def test_a_clinician_sees_their_own_column(page):
    committed(_prepare, "cl")  # colleagues who work at Pickering today
    own = committed(_working_today, "clinician")
    admin_login(page, *CLINICIAN)
    page.goto("/admin/schedule/?location=" + str(Location.objects.get(slug="pickering").pk))
    headers = page.locator("table.schedule thead th").all_inner_texts()
    assert [h.splitlines()[0].lower() for h in headers] == ["time", own.display_name.lower()]
    page.goto("/admin/schedule/?view=week")
    rows = page.locator("#schedule-week tbody th").all_inner_texts()
    assert [r.splitlines()[0].lower() for r in rows] == [own.display_name.lower()]
    screenshot(page, "schedule-clinician-week")


def test_front_desk_registers_a_new_patient_from_the_booking_panel(page):
    """Somebody not yet on file: the desk opens "New patient" in the booking panel, types the
    person's details (keyboard only) and books; the record and the visit exist together."""
    day = committed(_prepare, "np")
    admin_login(page, *FRONT_DESK)
    tomorrow = timezone.now().astimezone(day.location.zone).date() + timedelta(days=1)
    open_day(page, day, tomorrow)
    first_free(page, day.desk_physio).click()
    page.select_option("#book-service", label=f"{day.service.name} (30 min)")
    page.locator("#book-new-patient summary").focus()
    page.keyboard.press("Enter")
    expect(page.locator("#new-first-name")).to_be_focused()  # the toggle event comes after
    assert page.locator("#book-patient").get_attribute("required") is None
    assert_labelled(page)
    page.keyboard.type("Nell")
    page.keyboard.press("Tab")
    page.keyboard.type("Newperson")
    page.keyboard.press("Tab")
    page.keyboard.type("nell.newperson@example.org")
    assert "Booked Nell Newperson" in submit(
        page, page.get_by_role("button", name="Book", exact=True)
    )
    patient = Patient.objects.get(email="nell.newperson@example.org")
    booked = Appointment.objects.get(patient=patient)
    assert (booked.provider_id, booked.source) == (day.desk_physio.pk, "staff")
