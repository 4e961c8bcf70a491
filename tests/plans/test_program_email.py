"""The home exercise program e-mail: one per program version, only with the care-plan consent,
through the notification ledger, with the exercises, dosage, instructions and precautions."""

import pytest
from django.core import mail

from clinic.models import ClinicSettings
from notifications import services as ledger
from notifications.models import Notification
from plans import notifications as program_email
from plans import services
from tests.factories.patients import grant_consents, withdraw_consents
from tests.factories.plans import (
    CarePlanFactory,
    ExerciseFactory,
    as_actor,
    in_maintenance,
    trainer,
)

pytestmark = pytest.mark.django_db
DOSAGE = {"sets": 2, "reps": 12, "times_per_week": 4}


@pytest.fixture
def no_grace():
    settings = ClinicSettings.load()
    settings.notification_grace_minutes = 0
    settings.save()


def handed_over_plan(consent: bool):
    plan = CarePlanFactory(title="Low back pain")
    if consent:
        grant_consents(plan.patient, "care_plans")
    services.add_precaution(
        plan, actor=as_actor(plan.lead), tags=["loaded_spinal_flexion"], note="Disc irritation"
    )
    owner = trainer(locations=[plan.location])
    return in_maintenance(owner=owner, plan=plan), owner


def program_rows():
    return Notification.objects.filter(kind=program_email.KIND).order_by("id")


def test_the_program_email_is_planned_once_per_version_with_consent(
    django_capture_on_commit_callbacks,
):
    plan, owner = handed_over_plan(consent=True)
    bridge = ExerciseFactory(name="Bridge on a step")
    with django_capture_on_commit_callbacks(execute=True):
        first = services.prescribe_exercise(plan, actor=as_actor(owner), exercise=bridge, **DOSAGE)
    with django_capture_on_commit_callbacks(execute=True):
        services.change_prescription(first, actor=as_actor(owner), reps=15)
    versions = list(plan.program_versions.order_by("number"))
    rows = list(program_rows())
    assert [(r.subject_type, r.subject_id) for r in rows] == [
        ("plans.programversion", v.pk) for v in versions[-2:]
    ]
    assert {r.recipient for r in rows} == {plan.patient.email}
    # Planning a version again (a retried commit hook) does not add a second e-mail.
    program_email.plan_program_email(versions[-1].pk)
    assert program_rows().count() == 2


def test_no_program_email_is_planned_without_consent(django_capture_on_commit_callbacks):
    plan, owner = handed_over_plan(consent=False)
    with django_capture_on_commit_callbacks(execute=True):
        services.prescribe_exercise(
            plan, actor=as_actor(owner), exercise=ExerciseFactory(), **DOSAGE
        )
    assert plan.program_versions.exists()
    assert not program_rows().exists()


def test_the_patient_receives_the_program_in_plain_words_once(
    no_grace, django_capture_on_commit_callbacks
):
    plan, owner = handed_over_plan(consent=True)
    bridge = ExerciseFactory(
        name="Bridge on a step",
        instructions="Lift the hips until shoulders, hips and knees line up.",
    )
    with django_capture_on_commit_callbacks(execute=True):
        services.prescribe_exercise(
            plan, actor=as_actor(owner), exercise=bridge, notes="Slow on the way down", **DOSAGE
        )
    row = program_rows().get()
    assert ledger.deliver(row.pk) == "sent"
    assert ledger.deliver(row.pk) == "nothing_due"
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == [plan.patient.email]
    assert "Bridge on a step" in message.body
    assert "2 x 12, 4 times a week" in message.body
    assert "Lift the hips until shoulders, hips and knees line up." in message.body
    assert "Slow on the way down" in message.body
    assert "Avoid loaded spinal flexion (Disc irritation)" in message.body
    assert message.extra_headers["List-Unsubscribe"].startswith("<http")
    html = message.alternatives[0][0]
    assert "Bridge on a step" in html


def test_a_version_replaced_inside_the_grace_period_is_skipped(
    django_capture_on_commit_callbacks,
):
    plan, owner = handed_over_plan(consent=True)
    with django_capture_on_commit_callbacks(execute=True):
        first = services.prescribe_exercise(
            plan, actor=as_actor(owner), exercise=ExerciseFactory(), **DOSAGE
        )
    with django_capture_on_commit_callbacks(execute=True):
        services.change_prescription(first, actor=as_actor(owner), sets=3)
    older, newer = program_rows()
    Notification.objects.update(next_attempt_at=older.created_at)
    ledger.sweep()
    older.refresh_from_db()
    newer.refresh_from_db()
    assert (older.status, newer.status) == ("skipped", "sent")
    assert "Superseded" in older.reason
    assert len(mail.outbox) == 1
    assert "3 x 12" in mail.outbox[0].body


def test_consent_withdrawn_after_planning_stops_the_email(
    no_grace, django_capture_on_commit_callbacks
):
    plan, owner = handed_over_plan(consent=True)
    with django_capture_on_commit_callbacks(execute=True):
        services.prescribe_exercise(
            plan, actor=as_actor(owner), exercise=ExerciseFactory(), **DOSAGE
        )
    withdraw_consents(plan.patient, "care_plans")
    row = program_rows().get()
    assert ledger.deliver(row.pk) == "skipped"
    assert mail.outbox == []


def test_program_email_rows_are_clinical_and_hidden_from_front_desk_in_the_ledger(
    django_capture_on_commit_callbacks, front_desk_client, manager_client
):
    plan, owner = handed_over_plan(consent=True)
    with django_capture_on_commit_callbacks(execute=True):
        services.prescribe_exercise(
            plan, actor=as_actor(owner), exercise=ExerciseFactory(), **DOSAGE
        )
    assert program_rows().exists()
    kinds = {"kind": program_email.KIND}
    assert manager_client.get("/api/v1/notifications/", kinds).json()["count"] >= 1
    assert front_desk_client.get("/api/v1/notifications/", kinds).json()["count"] == 0
    row = program_rows().first()
    assert front_desk_client.get(f"/api/v1/notifications/{row.pk}/").status_code == 404
