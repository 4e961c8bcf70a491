"""The home exercise program e-mail (DOMAIN.md sections 3, 6 and 7).

Each program version is a ledger subject of its own, so the ledger's uniqueness makes it one
e-mail per version. It is planned after the change commits, only while the patient consents to
care-plan e-mails, and waits the clinic's grace period: when the program changes again inside
it, the older version is skipped at send time and only the newest goes out. The ledger checks the
consent again right before sending.
"""

from datetime import datetime, timedelta

from django.db.models import QuerySet

from clinic.models import ClinicSettings
from notifications import registry, services
from notifications.registry import Email, Skip
from notifications.rendering import render_templates
from patients.selectors import has_consent
from patients.tokens import unsubscribe_url
from plans.models import CarePlan, ProgramVersion
from plans.selectors import plans_visible_to

KIND = "exercise_program"
CONSENT_PURPOSE = "care_plans"


def plan_program_email(version_id: int):
    """Plan the e-mail of one program version; nothing without consent, without exercises, or
    for a version already replaced when the transaction that made it committed."""
    version = ProgramVersion.objects.select_related("plan__patient").filter(pk=version_id).first()
    if version is None or not version.content.get("exercises"):
        return None
    if version.plan.program_version != version.number:
        return None  # replaced before this change even committed: only the newest goes out
    if version.plan.phase == CarePlan.Phase.CLOSED:
        return None
    patient = version.plan.patient
    if not patient.email or not has_consent(patient, CONSENT_PURPOSE):
        return None
    grace = timedelta(minutes=ClinicSettings.load().notification_grace_minutes)
    # The planned time derives from the version alone, so planning it again finds the same row.
    return services.plan(
        version,
        KIND,
        version.created_at + grace,
        patient.email,
        context={"plan_id": version.plan_id, "version": version.number},
    )


def _version_of(notification) -> ProgramVersion:
    version = (
        ProgramVersion.objects.select_related("plan__patient", "plan__location")
        .filter(pk=notification.subject_id)
        .first()
    )
    if version is None:
        raise Skip("The program version no longer exists.")
    return version


def consent(notification) -> bool:
    return has_consent(_version_of(notification).plan.patient, CONSENT_PURPOSE)


def render(notification, now: datetime) -> Email:
    version = _version_of(notification)
    plan = version.plan
    if plan.phase == CarePlan.Phase.CLOSED:
        raise Skip("The care plan is closed.")
    if plan.program_version != version.number:
        raise Skip(f"Superseded by program version {plan.program_version}.")
    patient = plan.patient
    link = unsubscribe_url(patient, CONSENT_PURPOSE)
    context = {
        "patient": patient,
        "location": plan.location,
        "program": version.content,
        "version": version.number,
        "unsubscribe_url": link,
    }
    subject, text, html = render_templates("plans/email/program", context)
    return Email(
        subject=subject,
        text=text,
        html=html,
        to=patient.email,
        unsubscribe_url=link,
        told={"plan": plan.pk, "version": version.number},
    )


def ledger_subjects(user) -> QuerySet[ProgramVersion]:
    """Whose program e-mails a staff user may read in the ledger: the versions of the plans the
    same user may read (the patients they treat or were referred)."""
    return ProgramVersion.objects.filter(plan__in=plans_visible_to(user, CarePlan.objects.all()))


def register() -> None:
    """Called from ``PlansConfig.ready``. Clinical: a program e-mail tells that a plan exists."""
    registry.register(
        KIND, render=render, consent=consent, clinical=True, visible_subjects=ledger_subjects
    )
