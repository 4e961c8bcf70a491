"""The visit-note admin pages, role by role (least privilege, DOMAIN.md sections 8 and 9): front
desk is refused every page; a clinician outside the patient's care sees no note; the author writes
from the appointment's page ("Write note"); managers read."""

import datetime

import pytest
from django.test import Client

from clinic import roles
from plans.models import VisitNote
from plans.notes import lifecycle
from tests.factories.notes import pickering, visit
from tests.factories.patients import clinician_user, staff_user
from tests.factories.plans import massage_therapist, physio

pytestmark = pytest.mark.django_db
ROLES = ("front_desk", "own_clinician", "other_clinician", "manager")
# Expected status per role, in the order of ROLES.
PAGES = {
    "list": ("/admin/plans/visitnote/", (403, 200, 200, 200)),
    "note": ("/admin/plans/visitnote/{note}/change/", (403, 200, 404, 200)),
    "write new": ("/admin/plans/visitnote/write/{fresh}/", (403, 302, 403, 403)),
    "write existing": ("/admin/plans/visitnote/write/{appointment}/", (403, 302, 302, 302)),
    "templates": ("/admin/plans/notetemplate/", (403, 200, 200, 200)),
    # Another clinician's appointment is not theirs to open: the admin sends them home.
    "appointment": ("/admin/scheduling/appointment/{appointment}/change/", (200, 200, 302, 200)),
}


@pytest.fixture
def world():
    location = pickering()
    own = physio(locations=[location])
    users = {
        "front_desk": staff_user("a-desk", roles.FRONT_DESK),
        "own_clinician": clinician_user("a-own", provider=own),
        "other_clinician": clinician_user("a-other", provider=massage_therapist()),
        "manager": staff_user("a-manager", roles.MANAGER),
    }
    appointment = visit(own, location)
    note = lifecycle.start_note(appointment, user=users["own_clinician"])
    fresh = visit(own, location, start=appointment.start - datetime.timedelta(days=2))
    return users, {"note": note.pk, "appointment": appointment.pk, "fresh": fresh.pk}


@pytest.mark.parametrize("page", list(PAGES))
@pytest.mark.parametrize("role", ROLES)
def test_each_visit_note_admin_page_answers_each_role_as_the_table_says(world, role, page):
    users, ids = world
    url, expected = PAGES[page]
    browser = Client()
    browser.force_login(users[role])
    response = browser.get(url.format(**ids))
    assert response.status_code == expected[ROLES.index(role)], (page, role)
    if page == "list" and role == "other_clinician":
        assert response.context["cl"].result_count == 0


def test_the_appointment_page_offers_write_note_to_its_provider_only(world):
    users, ids = world
    own, desk = Client(), Client()
    own.force_login(users["own_clinician"])
    desk.force_login(users["front_desk"])
    page = f"/admin/scheduling/appointment/{ids['fresh']}/change/"
    assert f"/admin/plans/visitnote/write/{ids['fresh']}/" in own.get(page).content.decode()
    assert "/admin/plans/visitnote/" not in desk.get(page).content.decode()
    assert not VisitNote.objects.filter(appointment_id=ids["fresh"]).exists()


@pytest.mark.parametrize("ident", ["abc", "%C2%B2", "1.5"])
def test_a_note_page_for_an_id_that_is_not_a_number_is_a_404(world, ident):
    users, _ids = world
    browser = Client()
    browser.force_login(users["manager"])
    assert browser.get(f"/admin/plans/visitnote/{ident}/change/").status_code == 404
