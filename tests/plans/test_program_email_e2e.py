"""The program e-mail end to end: a real Redis broker, real Celery workers on the test database,
a real SMTP server and a moved clock. One e-mail per program version the patient gets to see,
none without consent."""

from datetime import timedelta

import pytest

from notifications.models import Notification
from plans import notifications as program_email
from plans import services
from tests.factories.patients import grant_consents
from tests.factories.plans import (
    CarePlanFactory,
    ExerciseFactory,
    as_actor,
    in_maintenance,
    trainer,
)
from tests.factories.providers import ensure_scope_catalog
from tests.notifications.conftest import run_sweep

pytestmark = [
    pytest.mark.services,
    pytest.mark.postgres,
    pytest.mark.django_db(transaction=True),
]
GRACE = timedelta(minutes=3, seconds=1)
DOSAGE = {"sets": 3, "reps": 12, "times_per_week": 3}


def text_of(message) -> str:
    return message.get_body(preferencelist=("plain",)).get_content()


def low_back_plan(consent: bool):
    plan = CarePlanFactory(title="Low back pain")
    if consent:
        grant_consents(plan.patient, "care_plans")
    services.add_precaution(
        plan, actor=as_actor(plan.lead), tags=["loaded_spinal_flexion"], note="Disc irritation"
    )
    owner = trainer(locations=[plan.location])
    return in_maintenance(owner=owner, plan=plan), as_actor(owner)


def test_one_program_email_per_version_through_smtp_and_none_without_consent(
    celery_workers, smtp_server, service_clock
):
    ensure_scope_catalog()
    plan, owner = low_back_plan(consent=True)
    silent_plan, silent_owner = low_back_plan(consent=False)
    bridge = ExerciseFactory(name="Bridge on a step", instructions="Lift the hips; squeeze.")
    first = services.prescribe_exercise(plan, actor=owner, exercise=bridge, **DOSAGE)
    services.prescribe_exercise(silent_plan, actor=silent_owner, exercise=bridge, **DOSAGE)

    service_clock.advance(timedelta(minutes=2))
    run_sweep()
    assert smtp_server.received() == [], "the grace period lets a quick correction replace it"

    service_clock.advance(GRACE)
    run_sweep()
    [message] = smtp_server.wait_for(1)
    assert message["To"] == plan.patient.email
    body = text_of(message)
    assert "Bridge on a step" in body
    assert "3 x 12, 3 times a week" in body
    assert "Avoid loaded spinal flexion (Disc irritation)" in body
    assert "/unsubscribe/?token=" in message["List-Unsubscribe"]

    # Two quick changes: two versions, one e-mail with the final program.
    second = services.change_prescription(first, actor=owner, sets=4)
    services.change_prescription(second, actor=owner, load="10 kg")
    service_clock.advance(GRACE)
    run_sweep()
    messages = smtp_server.wait_for(2)
    run_sweep()
    assert len(smtp_server.received()) == 2
    assert "4 x 12, 10 kg, 3 times a week" in text_of(messages[1])

    rows = Notification.objects.filter(kind=program_email.KIND).order_by("id")
    assert [r.status for r in rows] == ["sent", "skipped", "sent"]
    assert "Superseded" in rows[1].reason
    assert {r.recipient for r in rows} == {plan.patient.email}
    assert len(set(smtp_server.message_ids())) == 2
