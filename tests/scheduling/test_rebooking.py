"""DOMAIN.md 4: a credential suspended, revoked or shortened flags the future visits it no
longer covers for the front desk to rebook (neither kept nor cancelled silently), with one
notice to the provider through the ledger."""

import datetime

import pytest
from django.core import mail
from django.urls import reverse

from notifications import services as ledger
from notifications.models import Notification
from providers import services as provider_services
from providers.models import Credential
from scheduling.models import Appointment, AppointmentEvent
from scheduling.rebooking import REBOOKING_NOTICE
from scheduling.services import book_appointment, reschedule_appointment
from tests.conftest import client_for, make_staff_user
from tests.factories.patients import PatientFactory
from tests.scheduling.conftest import local, next_week

pytestmark = pytest.mark.django_db


@pytest.fixture
def committing(django_capture_on_commit_callbacks, monkeypatch):
    """Run after-commit work (the providers signal, e-mail planning) as a real commit would."""
    monkeypatch.setattr(ledger, "_enqueue", lambda pk, countdown: None)
    return lambda: django_capture_on_commit_callbacks(execute=True)


@pytest.fixture
def visits(physio, assessment, location, committing):
    """Two visits next week (Monday-ish and four days later) and one far ahead."""
    physio.email = "priya@clinic.example"
    physio.save()
    day = next_week()
    with committing():
        return [
            book_appointment(
                service=assessment,
                location=location,
                start=local(day + datetime.timedelta(days=offset), "10:00"),
                patient=PatientFactory(),
                provider=physio,
            )
            for offset in (0, 4, 5)
        ]


def flagged() -> list[str]:
    return list(
        Appointment.objects.filter(needs_rebooking=True)
        .order_by("start")
        .values_list("reference", flat=True)
    )


def notices() -> list[Notification]:
    return list(Notification.objects.filter(kind=REBOOKING_NOTICE))


def test_a_shortened_credential_flags_only_the_visits_after_its_new_end(physio, visits, committing):
    credential = physio.credentials.get()
    new_end = next_week() + datetime.timedelta(days=2)
    with committing():
        provider_services.update_credential(credential, valid_until=new_end)
    assert flagged() == [visits[1].reference, visits[2].reference]
    kept = Appointment.objects.get(pk=visits[0].pk)
    assert (kept.status, kept.needs_rebooking) == ("booked", False)
    late = Appointment.objects.get(pk=visits[1].pk)
    assert late.status == "booked", "flagged, never cancelled silently"
    assert late.rebooking_reason
    assert AppointmentEvent.objects.filter(appointment=late, kind="rebook").exists()
    [notice] = notices()
    assert notice.recipient == "priya@clinic.example"
    assert notice.context["appointments"] == [visits[1].pk, visits[2].pk]


def test_a_suspension_flags_every_future_visit_and_the_provider_hears_once(
    physio, visits, committing
):
    credential = physio.credentials.get()
    with committing():
        credential.status = Credential.Status.SUSPENDED
        credential.save()  # as the admin saves it, without the service
    assert flagged() == [v.reference for v in visits]
    # The same change announced again, or saved again, flags nothing new and plans nothing.
    with committing():
        credential.save()
        provider_services.update_credential(credential, status=Credential.Status.REVOKED)
    [notice] = notices()
    at = notice.next_attempt_at
    assert ledger.send_claimed(ledger.claim(at, notice.pk), at) == Notification.Status.SENT
    assert ledger.claim(at, notice.pk) is None, "sent once; nothing left to claim"
    [message] = mail.outbox
    assert message.to == ["priya@clinic.example"]
    assert message.subject.startswith("3 upcoming visits to rebook")
    for visit in visits:
        assert visit.reference in message.body


def test_an_unrelated_credential_edit_flags_nothing(physio, visits, committing):
    credential = physio.credentials.get()
    with committing():
        provider_services.update_credential(credential, number="NEW-123")
    assert flagged() == []
    assert notices() == []


def test_moving_a_flagged_visit_to_a_covered_provider_clears_the_flag(
    physio, visits, committing, location, assessment
):
    from tests.scheduling.conftest import make_physio

    credential = physio.credentials.get()
    with committing():
        credential.status = Credential.Status.SUSPENDED
        credential.save()
    colleague = make_physio(location, assessment, "Covering Colleague")
    with committing():
        reschedule_appointment(
            Appointment.objects.get(pk=visits[0].pk), start=visits[0].start, provider=colleague
        )
    assert flagged() == [visits[1].reference, visits[2].reference]


def test_the_front_desk_lists_visits_to_rebook_in_the_api_and_the_admin(
    physio, visits, committing, front_desk_client
):
    with committing():
        credential = physio.credentials.get()
        credential.status = Credential.Status.REVOKED
        credential.save()
    Appointment.objects.filter(pk=visits[2].pk).update(needs_rebooking=False)
    response = front_desk_client.get("/api/v1/appointments/", {"needs_rebooking": "true"})
    assert response.status_code == 200
    rows = response.json()["results"]
    assert [r["reference"] for r in rows] == [visits[0].reference, visits[1].reference]
    assert all(r["needs_rebooking"] and r["rebooking_reason"] for r in rows)

    desk = make_staff_user("desk-admin", "front_desk")
    browser = client_for(desk)
    browser.force_login(desk)
    page = browser.get(
        reverse("admin:scheduling_appointment_changelist"), {"needs_rebooking__exact": "1"}
    )
    assert page.status_code == 200
    html = page.content.decode()
    assert visits[0].reference in html
    assert visits[2].reference not in html
