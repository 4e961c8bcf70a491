"""The admin schedule page (``/admin/schedule/``): it opens on today at the user's location, is
the admin index's first link, books and changes appointments only through the services (their
refusals shown as messages), never shows a visit's reason, and searches patients within the
patient visibility rule."""

import datetime
import re

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from clinic import roles
from clinic.models import AuditEvent
from patients.models import Patient
from scheduling.models import Appointment
from scheduling.services import book_appointment
from tests.factories.patients import PatientFactory, clinician_user, link_patient, staff_user
from tests.factories.providers import ProviderFactory
from tests.factories.scheduling import ClosureFactory, ServiceFactory, offer, weekly_hours
from tests.scheduling.conftest import TORONTO, local, make_physio, next_week

URL = "/admin/schedule/"


def login(user) -> Client:
    client = Client()
    client.force_login(get_user_model().objects.get(pk=user.pk))
    return client


@pytest.fixture
def desk(db) -> Client:
    return login(staff_user("desk-admin", roles.FRONT_DESK))


@pytest.fixture
def visit(physio, assessment, location):
    return book_appointment(
        service=assessment,
        location=location,
        start=local(next_week(), "10:00"),
        patient=PatientFactory(first_name="Vera", last_name="Visit", phone="+1 (905) 555-0177"),
        provider=physio,
        reason="Shoulder pain after a fall",
    )


def page(client, **params):
    response = client.get(URL, params)
    assert response.status_code == 200
    return response


def shown(response) -> list[str]:
    return [str(m) for m in response.context["messages"]]


def test_the_schedule_is_the_admin_index_first_link(desk):
    html = desk.get(reverse("admin:index")).content.decode()
    content = html[html.index('id="content"') :]
    first_link = re.search(r'<a [^>]*href="([^"]+)"', content).group(1)
    assert first_link == URL


def test_it_opens_on_today_at_the_location(desk, physio, location):
    response = page(desk)
    today = timezone.localdate(timezone=TORONTO)
    assert response.context["location"] == location
    assert response.context["day"] == today
    assert f"{today:%A %d %B %Y}" in response.context["title"]
    assert [c.provider for c in response.context["columns"]] == [physio]


def test_a_closed_day_says_so_and_offers_no_free_time(desk, physio, location):
    day = next_week()
    ClosureFactory(location=location, start_date=day, end_date=day, reason="Training day")
    html = page(desk, location=location.pk, date=day.isoformat()).content.decode()
    assert "closed on this day: Training day" in html
    assert 'class="book"' not in html


def test_free_working_time_is_bookable_and_appointments_are_shown(desk, visit, location):
    html = page(desk, location=location.pk, date=visit.local_start.date().isoformat()).content
    html = html.decode()
    assert f'data-appointment="{visit.pk}"' in html
    assert "Vera Visit" in html
    assert f'data-start="{visit.local_start.date().isoformat()}T09:00"' in html
    assert f'data-start="{visit.local_start.date().isoformat()}T10:00"' not in html


def test_front_desk_never_sees_the_visit_reason(desk, visit, location):
    for view in ("day", "week"):
        html = page(desk, date=visit.local_start.date().isoformat(), view=view).content.decode()
        assert "Shoulder pain" not in html


def test_booking_into_free_time_goes_through_the_booking_service(
    desk, physio, assessment, location
):
    patient = PatientFactory()
    day = next_week()
    response = desk.post(
        reverse("admin-schedule-book"),
        {
            "location": location.pk,
            "provider": physio.pk,
            "service": assessment.pk,
            "patient": patient.pk,
            "start": f"{day.isoformat()}T11:00",
            "next": f"{URL}?date={day.isoformat()}",
        },
        follow=True,
    )
    booked = Appointment.objects.get(patient=patient)
    assert booked.start == local(day, "11:00")
    assert booked.source == "staff"
    assert booked.events.get().actor_label == "desk-admin"
    assert any(f"Booked {patient.full_name}" in m for m in shown(response))


def test_a_refused_booking_is_shown_as_a_message(desk, visit, assessment, location):
    response = desk.post(
        reverse("admin-schedule-book"),
        {
            "location": location.pk,
            "provider": visit.provider_id,
            "service": assessment.pk,
            "patient": PatientFactory().pk,
            "start": visit.local_start.strftime("%Y-%m-%dT%H:%M"),
        },
        follow=True,
    )
    assert response.redirect_chain[-1][0] == URL
    assert any("no longer available" in m for m in shown(response)), shown(response)
    assert Appointment.objects.count() == 1


def test_panel_actions_call_the_services_and_show_refusals(desk, visit):
    url = reverse("admin-schedule-act", args=[visit.pk])
    refused = desk.post(url, {"action": "arrive"}, follow=True)
    assert any("another day" in m for m in shown(refused))
    confirmed = desk.post(url, {"action": "confirm"}, follow=True)
    assert any(m.startswith("Confirmed") for m in shown(confirmed))
    visit.refresh_from_db()
    assert visit.status == "confirmed"


def test_cancelling_inside_the_late_window_is_flagged(desk, assessment, location):
    night = ProviderFactory(display_name="Round The Clock", locations=[location])
    offer(night, assessment, location)
    weekly_hours(night, location, start="00:00", end="23:59")
    soon = timezone.now().astimezone(TORONTO).replace(second=0, microsecond=0)
    soon += datetime.timedelta(hours=3, minutes=15 - soon.minute % 15)
    if soon.hour >= 22 or soon.hour < 1:  # the hour-long visit must end before 23:59
        soon = (soon + datetime.timedelta(hours=4)).replace(hour=10, minute=0)
    patient = PatientFactory()
    visit = book_appointment(
        service=assessment, location=location, start=soon, patient=patient, provider=night
    )
    # Booked yesterday: past the undo window, in which no cancellation is late.
    Appointment.objects.filter(pk=visit.pk).update(
        created_at=timezone.now() - datetime.timedelta(days=1)
    )
    response = desk.post(
        reverse("admin-schedule-act", args=[visit.pk]),
        {"action": "cancel", "reason": "Car broke down"},
        follow=True,
    )
    visit.refresh_from_db()
    assert visit.status == "cancelled"
    assert visit.late_cancellation
    assert visit.cancel_reason == "Car broke down"
    assert any("late cancellation" in m for m in shown(response))


def test_moving_uses_the_real_availability(desk, visit):
    day = visit.local_start.date().isoformat()
    times = desk.get(reverse("admin-schedule-times", args=[visit.pk]), {"date": day}).json()
    values = [t["value"] for t in times["times"]]
    assert f"{day}T10:00" in values  # its own time counts as free
    assert f"{day}T08:00" not in values  # before working hours
    desk.post(
        reverse("admin-schedule-act", args=[visit.pk]),
        {"action": "reschedule", "start": f"{day}T14:00"},
    )
    visit.refresh_from_db()
    assert visit.local_start.hour == 14


def test_patient_quick_search_by_phone_reference_and_birth_date(desk, visit):
    patient = visit.patient
    patient.date_of_birth = datetime.date(1980, 4, 2)
    patient.save()
    url = reverse("admin-schedule-patients")
    for text in ("905 555 0177", visit.reference, "1980-04-02", "vera vis", "VISIT"):
        found = desk.get(url, {"q": text}).json()["patients"]
        assert [p["id"] for p in found] == [patient.pk], text


def test_a_clinician_sees_their_own_column_and_searches_their_patients(
    physio, assessment, location, visit
):
    colleague = make_physio(location, assessment, "Colin Colleague")
    stranger = PatientFactory(first_name="Sam", last_name="Stranger")
    link_patient(stranger, colleague)
    clinician = login(clinician_user("priya-admin", provider=physio))
    link_patient(visit.patient, physio)  # a booking alone opens no record: real care does
    response = page(clinician, date=visit.local_start.date().isoformat())
    assert [c.provider for c in response.context["columns"]] == [physio]
    search = clinician.get(reverse("admin-search"), {"q": "Stranger"})
    assert stranger.full_name not in search.content.decode()
    own = clinician.get(reverse("admin-search"), {"q": "Vera"})
    assert visit.patient.full_name in own.content.decode()
    theirs = book_appointment(
        service=assessment,
        location=location,
        start=local(next_week(), "11:00"),
        patient=stranger,
        provider=colleague,
    )
    refused = clinician.post(reverse("admin-schedule-act", args=[theirs.pk]), {"action": "confirm"})
    assert refused.status_code == 404
    clinician.post(reverse("admin-schedule-act", args=[visit.pk]), {"action": "confirm"})
    visit.refresh_from_db()
    assert visit.status == "confirmed"  # their own calendar


def test_global_search_is_on_every_admin_page(desk, visit):
    html = desk.get(reverse("admin:scheduling_service_changelist")).content.decode()
    assert 'action="/admin/schedule/search/"' in html
    found = desk.get(reverse("admin-search"), {"q": visit.reference}).content.decode()
    assert visit.patient.full_name in found


def test_the_patient_page_shows_visits_consents_and_a_booking_link(desk, visit):
    from scheduling.models import CallbackRequest
    from tests.factories.patients import grant_consents

    patient = visit.patient
    grant_consents(patient)
    CallbackRequest.objects.create(name="Vera", phone="+1 905 555 0177", patient=patient)
    url = reverse("admin:patients_patient_change", args=[patient.pk])
    html = desk.get(url).content.decode()
    assert "Upcoming visits" in html
    assert visit.reference in html
    assert "reminders: yes" in html
    assert f"/admin/scheduling/appointment/add/?patient={patient.pk}" in html
    assert "Call-back requests" in html
    assert "Shoulder pain" not in html
    form = desk.get(f"/admin/scheduling/appointment/add/?patient={patient.pk}")
    assert form.context["adminform"].form.initial["patient"] == str(patient.pk)


@pytest.mark.parametrize(
    "params",
    [
        {"date": "9999-12-31", "view": "week"},
        {"date": "0001-01-01", "view": "week"},
        {"date": "9999-12-31"},
    ],
)
def test_a_date_outside_the_calendar_opens_today_instead_of_a_500(desk, location, params):
    response = page(desk, location=location.pk, **params)
    assert response.context["day"] == timezone.localdate(timezone=TORONTO)


@pytest.mark.parametrize("day", ["9999-12-31", "0001-01-01", "garbage"])
def test_free_times_for_a_date_outside_the_calendar_are_a_400(desk, visit, day):
    response = desk.get(f"{URL}appointments/{visit.pk}/times/", {"date": day})
    assert response.status_code == 400


@pytest.mark.parametrize(
    "posted",
    [
        {"location": "abc", "provider": "1"},
        {"provider": "abc"},
        {"patient": "abc", "service": "x"},
        {"provider": "\u00b2"},
    ],
)
def test_a_booking_form_with_ids_that_are_not_numbers_finds_nothing_and_books_nothing(
    desk, visit, location, physio, assessment, posted
):
    form = {
        "location": location.pk,
        "provider": physio.pk,
        "patient": visit.patient_id,
        "service": assessment.pk,
        "start": f"{next_week():%Y-%m-%d}T14:00",
        **posted,
    }
    response = desk.post(f"{URL}book/", form)
    assert response.status_code in (302, 404)
    assert Appointment.objects.count() == 1


def test_moving_to_a_provider_id_that_is_not_a_number_is_a_404(desk, visit):
    response = desk.post(
        f"{URL}appointments/{visit.pk}/",
        {"action": "reschedule", "provider": "abc", "start": f"{next_week():%Y-%m-%d}T14:00"},
    )
    assert response.status_code == 404


def test_a_cancel_reason_with_a_nul_byte_is_refused_and_nothing_is_cancelled(desk, visit):
    response = desk.post(f"{URL}appointments/{visit.pk}/", {"action": "cancel", "reason": "a\x00"})
    assert response.status_code == 302
    visit.refresh_from_db()
    assert visit.status != Appointment.Status.CANCELLED


def _book_new_patient(client, physio, service, location, start: str, **person):
    fields = {f"new_{name}": value for name, value in person.items()}
    return client.post(
        reverse("admin-schedule-book"),
        {
            "location": location.pk,
            "provider": physio.pk,
            "service": service.pk,
            "start": start,
            **fields,
        },
        follow=True,
    )


def test_the_desk_registers_a_new_patient_and_books_them_in_one_step(
    desk, physio, assessment, location
):
    day = next_week()
    response = _book_new_patient(
        desk,
        physio,
        assessment,
        location,
        f"{day.isoformat()}T11:00",
        first_name="Nadia",
        last_name="New",
        email="nadia.new@example.org",
        date_of_birth="1990-04-05",
    )
    patient = Patient.objects.get(email="nadia.new@example.org")
    assert patient.date_of_birth == datetime.date(1990, 4, 5)
    booked = Appointment.objects.get(patient=patient)
    assert booked.start == local(day, "11:00")
    assert any("Booked Nadia New" in m for m in shown(response))
    created = AuditEvent.objects.get(patient_id=patient.pk, action="create", channel="admin")
    assert created.actor_label == "desk-admin"


def test_a_refused_booking_registers_nobody(desk, visit, assessment, location):
    response = _book_new_patient(
        desk,
        visit.provider,
        assessment,
        location,
        visit.local_start.strftime("%Y-%m-%dT%H:%M"),
        first_name="Tom",
        last_name="Taken",
        email="tom.taken@example.org",
    )
    assert any("no longer available" in m for m in shown(response)), shown(response)
    assert not Patient.objects.filter(email="tom.taken@example.org").exists()


def test_a_new_patient_with_a_known_email_is_refused_so_the_desk_finds_the_record(
    desk, physio, assessment, location
):
    PatientFactory(email="known@example.org")
    response = _book_new_patient(
        desk,
        physio,
        assessment,
        location,
        f"{next_week().isoformat()}T11:00",
        first_name="Twin",
        last_name="Record",
        email="KNOWN@example.org",
    )
    assert any("already uses this e-mail" in m for m in shown(response)), shown(response)
    assert not Appointment.objects.filter(patient__email__iexact="known@example.org").exists()
    assert Patient.objects.filter(email__iexact="known@example.org").count() == 1


@pytest.mark.parametrize(
    ("person", "said"),
    [
        ({"first_name": "", "last_name": "Blank", "email": "b@example.org"}, "name are required"),
        ({"first_name": "No", "last_name": "Mail", "email": "not-an-address"}, "valid e-mail"),
        (
            {
                "first_name": "Bad",
                "last_name": "Date",
                "email": "d@example.org",
                "date_of_birth": "31/31/1990",
            },
            "date of birth is not a date",
        ),
        (
            {
                "first_name": "Old",
                "last_name": "Typo",
                "email": "o@example.org",
                "date_of_birth": "1790-01-01",
            },
            "not plausible",
        ),
    ],
)
def test_a_new_patient_with_bad_fields_is_refused_by_name(
    desk, physio, assessment, location, person, said
):
    response = _book_new_patient(
        desk, physio, assessment, location, f"{next_week().isoformat()}T11:00", **person
    )
    assert any(said in m for m in shown(response)), shown(response)
    assert not Appointment.objects.exists()


def test_a_clinician_cannot_register_patients_from_the_booking_panel(physio, assessment, location):
    client = login(clinician_user("clin-new", provider=physio))
    html = page(client, location=location.pk, date=next_week().isoformat()).content.decode()
    assert "book-new-patient" not in html
    response = _book_new_patient(
        client,
        physio,
        assessment,
        location,
        f"{next_week().isoformat()}T11:00",
        first_name="Sneaky",
        last_name="Record",
        email="sneaky@example.org",
    )
    assert response.status_code == 403
    assert not Patient.objects.filter(email="sneaky@example.org").exists()


def test_the_week_shows_a_group_class_once_with_its_participants(desk, location):
    group = ServiceFactory(
        code="group-class", name="Strength class", acts=["fitness_training"], capacity=6
    )
    trainer = ProviderFactory(
        display_name="Tess Trainer",
        discipline__code="personal_trainer",
        locations=[location],
        credentials__kind="certification",
    )
    offer(trainer, group, location)
    weekly_hours(trainer, location)
    day = next_week()
    names = ["Ada One", "Ben Two", "Cy Three"]
    for name in names:
        first, last = name.split()
        book_appointment(
            service=group,
            location=location,
            start=local(day, "10:00"),
            patient=PatientFactory(first_name=first, last_name=last),
        )
    html = page(desk, location=location.pk, date=day.isoformat(), view="week").content.decode()
    assert html.count("Strength class: 3 of 6 seats taken") == 1
    session = html[html.index('class="class-session"') :]
    session = session[: session.index("</div>")]
    assert [name for name in names if name in session] == names


def test_the_schedule_page_costs_the_same_queries_however_many_appointments(
    desk, physio, assessment, location, django_assert_num_queries
):
    day = next_week()
    book_appointment(
        service=assessment,
        location=location,
        start=local(day, "09:00"),
        patient=PatientFactory(),
        provider=physio,
    )
    params = {"location": location.pk, "date": day.isoformat()}
    counted = {}
    for view in ("day", "week"):
        page(desk, **params, view=view)  # the first reads the rules; bookings keep them cached
        with CaptureQueriesContext(connection) as one:
            page(desk, **params, view=view)
        counted[view] = len(one)
    for hour in ("10:00", "11:00", "13:00", "14:00", "15:00"):
        book_appointment(
            service=assessment,
            location=location,
            start=local(day, hour),
            patient=PatientFactory(),
            provider=physio,
        )
    for view in ("day", "week"):
        with django_assert_num_queries(counted[view]):
            page(desk, **params, view=view)
