"""Who reads which ledger rows (issue 14, item 2): a row tells who is e-mailed about what, so it
is shown only to whom its subject is shown. Each role's view of the API and the admin is in the
authorization matrix (``tests/test_authorization_matrix.py``); these are the ledger's own rules."""

import ast
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from clinic import roles
from notifications import registry, services
from notifications.models import Notification
from notifications.registry import Email
from plans.notes.reminders import KIND as UNSIGNED_NOTES
from plans.notifications import KIND as PROGRAM_EMAIL
from scheduling.notifications import CANCELLATION, CHANGE, CONFIRMATION, REMINDER
from tests.conftest import client_for
from tests.factories.patients import clinician_user, staff_user
from tests.notifications.conftest import World

pytestmark = pytest.mark.django_db
NOTIFICATIONS = Path(__file__).resolve().parents[2] / "notifications"


@pytest.fixture
def world(db, monkeypatch):
    monkeypatch.setattr(services, "_enqueue", lambda pk, countdown: None)
    return World()


def _confirmations(world: World, count: int, start: datetime) -> list[Notification]:
    rows = []
    for i in range(count):
        appointment = world.book(start + timedelta(hours=i), patient=world.new_patient())
        rows.append(services.plan(appointment, CONFIRMATION, start, appointment.patient.email))
    return rows


def _list_queries(client) -> tuple[int, int]:
    with CaptureQueriesContext(connection) as queries:
        response = client.get("/api/v1/notifications/")
    assert response.status_code == 200
    return len(queries), response.json()["count"]


def test_a_clinicians_ledger_list_costs_the_same_queries_however_many_rows_it_shows(world):
    clinician = clinician_user("ledger-clinician", provider=world.provider)
    start = datetime(2027, 2, 1, 15, 0, tzinfo=UTC)
    _confirmations(world, 1, start)
    one = _list_queries(client_for(clinician))
    _confirmations(world, 8, start + timedelta(days=1))
    nine = _list_queries(client_for(clinician))
    assert (one[1], nine[1]) == (1, 9)
    assert one[0] == nine[0]


def test_a_kind_registered_without_visible_subjects_is_shown_to_managers_only(world, monkeypatch):
    monkeypatch.setitem(
        registry._KINDS,
        "test_unscoped",
        registry.Kind(key="test_unscoped", render=lambda row, now: Email(subject="s", text="t")),
    )
    row = services.plan(world.location, "test_unscoped", datetime(2027, 2, 1, tzinfo=UTC), "a@b.c")
    manager = staff_user("ledger-manager", roles.MANAGER)
    front_desk = staff_user("ledger-front-desk", roles.FRONT_DESK)
    clinician = clinician_user("ledger-clinician", provider=world.provider)
    assert client_for(manager).get(f"/api/v1/notifications/{row.pk}/").status_code == 200
    for user in (front_desk, clinician):
        assert client_for(user).get(f"/api/v1/notifications/{row.pk}/").status_code == 404


def test_a_row_of_a_kind_nobody_registers_any_more_is_shown_to_managers_only(world):
    [row] = _confirmations(world, 1, datetime(2027, 2, 1, 15, 0, tzinfo=UTC))
    Notification.objects.filter(pk=row.pk).update(kind="retired_kind")
    front_desk = staff_user("ledger-front-desk", roles.FRONT_DESK)
    manager = staff_user("ledger-manager", roles.MANAGER)
    assert client_for(front_desk).get(f"/api/v1/notifications/{row.pk}/").status_code == 404
    assert client_for(manager).get(f"/api/v1/notifications/{row.pk}/").status_code == 200


def test_every_kind_the_apps_plan_declares_who_may_see_its_rows():
    """A kind registered without ``visible_subjects`` would vanish from front desk's and the
    clinicians' ledger; the apps' kinds all say whose rows they are."""
    kinds = {kind.key: kind for kind in registry.kinds()}
    assert {CONFIRMATION, CHANGE, REMINDER, CANCELLATION, PROGRAM_EMAIL} <= set(kinds)
    assert all(kind.visible_subjects is not None for kind in kinds.values())
    assert {key for key, kind in kinds.items() if kind.clinical} == {
        PROGRAM_EMAIL,
        UNSIGNED_NOTES,
    }


def test_the_notifications_app_imports_nothing_of_the_apps_that_register_with_it():
    owners = ("patients", "providers", "scheduling", "plans")
    found = []
    for path in NOTIFICATIONS.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            found += [f"{path.name}: {n}" for n in names if n.split(".")[0] in owners]
    assert found == []
