"""A visit locked for a change (cancel, reschedule, status) while another transaction moves it
to another provider: the lock is granted once the move commits, and the change sees the moved
visit, never "no such appointment" (PostgreSQL re-checks the locked row against the provider
row it joined before the wait)."""

import threading
import time

import pytest
from django.db import connections, transaction

from scheduling.models import Appointment
from scheduling.services import book_appointment
from scheduling.services._common import _locked
from tests.factories.patients import PatientFactory
from tests.factories.providers import ensure_scope_catalog
from tests.scheduling.conftest import local, make_physio, next_week

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def test_a_visit_moved_to_another_provider_while_waiting_for_its_lock_is_found(
    physio, assessment, location
):
    ensure_scope_catalog()
    colleague = make_physio(location, assessment, "Colin Colleague")
    appointment = book_appointment(
        service=assessment,
        location=location,
        start=local(next_week(), "10:00"),
        patient=PatientFactory(),
        provider=physio,
    )
    moved = threading.Event()
    errors: list[BaseException] = []

    def move() -> None:
        try:
            with transaction.atomic():
                Appointment.objects.filter(pk=appointment.pk).update(provider=colleague)
                moved.set()
                time.sleep(0.5)  # the other transaction is waiting for the row meanwhile
        except BaseException as error:  # reported below
            errors.append(error)
        finally:
            connections.close_all()

    mover = threading.Thread(target=move)
    mover.start()
    assert moved.wait(10)
    with transaction.atomic():
        locked = _locked(appointment)
    mover.join()
    assert errors == []
    assert locked.provider == colleague
