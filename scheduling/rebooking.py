"""Future visits a changed credential no longer covers: flagged for the front desk to rebook.

DOMAIN.md 4: when a credential is suspended, revoked or shortened, its provider's upcoming
visits that the scope decision now refuses are neither kept silently nor cancelled silently.
``providers`` announces the change (``providers.signals.credential_coverage_reduced``, after
commit); this module decides each upcoming visit again with the one scope rule, flags those
refused (with the reasons), records it in the visit's history, and plans one notice to the
provider through the notification ledger. The front desk finds them in the admin's "Needs
rebooking" filter and at ``GET /api/v1/appointments/?needs_rebooking=true``; moving or
cancelling a flagged visit clears its flag.

Exactly once: a visit is flagged once (already flagged ones are skipped), and the notice is one
ledger row per provider and batch (planned for the batch's flag time), which the ledger sends
exactly once; announcing the same change again finds nothing new and plans nothing.
"""

import logging
from collections import defaultdict
from datetime import datetime

from django.db import transaction
from django.db.models import QuerySet
from django.dispatch import receiver

from clinic import roles
from clinic.models import ClinicSettings
from notifications import clock, registry
from notifications import services as ledger
from notifications.models import Notification
from notifications.registry import Email, Skip
from notifications.rendering import render_templates
from providers.models import Provider
from providers.scope import load_scope_index
from providers.signals import credential_coverage_reduced
from scheduling import signals
from scheduling.models import UPCOMING_STATUSES, Appointment, AppointmentEvent
from scheduling.notifications import local_label

logger = logging.getLogger(__name__)

REBOOKING_NOTICE = "provider.rebooking_notice"


def flag_uncovered(provider: Provider, now: datetime | None = None) -> list[Appointment]:
    """Flag the provider's upcoming visits their credentials no longer cover; plan the notice.
    Queries do not grow with the number of visits (one scope index per jurisdiction)."""
    now = now or clock.now()
    with transaction.atomic():
        upcoming = list(
            Appointment.objects.select_for_update(of=("self",))
            .filter(
                provider=provider,
                status__in=UPCOMING_STATUSES,
                start__gt=now,
                needs_rebooking=False,
            )
            .select_related("location", "service")
            .prefetch_related("service__required_acts")
            .order_by("start")
        )
        by_jurisdiction: dict[str, list[Appointment]] = defaultdict(list)
        for appointment in upcoming:
            by_jurisdiction[appointment.location.jurisdiction].append(appointment)
        flagged: list[Appointment] = []
        for jurisdiction, appointments in by_jurisdiction.items():
            acts = {a.code for ap in appointments for a in ap.service.required_acts.all()}
            index = load_scope_index([provider.pk], acts, jurisdiction)
            for appointment in appointments:
                codes = [a.code for a in appointment.service.required_acts.all()]
                decision = index.decide_acts(
                    provider.pk, codes, appointment.location, appointment.start
                )
                if decision.allowed:
                    continue
                appointment.needs_rebooking = True
                appointment.rebooking_reason = "; ".join(r.message for r in decision.reasons)[:300]
                appointment.rebooking_flagged_at = now
                flagged.append(appointment)
        if not flagged:
            return []
        Appointment.objects.bulk_update(
            flagged, ["needs_rebooking", "rebooking_reason", "rebooking_flagged_at"]
        )
        AppointmentEvent.objects.bulk_create(
            AppointmentEvent(
                appointment=a,
                kind=AppointmentEvent.Kind.REBOOK,
                actor_label="system",
                data={"reason": a.rebooking_reason},
            )
            for a in flagged
        )
        if provider.email:
            ledger.plan(
                provider,
                REBOOKING_NOTICE,
                now,
                provider.email,
                context={"appointments": [a.pk for a in flagged]},
            )
    return flagged


@receiver(credential_coverage_reduced, dispatch_uid="scheduling.credential_coverage_reduced")
def on_coverage_reduced(sender, provider_id: int, **kwargs) -> None:
    provider = Provider.objects.filter(pk=provider_id).first()
    if provider is not None:
        flag_uncovered(provider)


def _clear_flag(sender, appointment: Appointment, **kwargs) -> None:
    """Moved (the reschedule checked scope again) or cancelled: nothing is left to rebook."""
    Appointment.objects.filter(pk=appointment.pk, needs_rebooking=True).update(
        needs_rebooking=False
    )


signals.appointment_rescheduled.connect(_clear_flag, dispatch_uid="scheduling.rebooked_moved")
signals.appointment_cancelled.connect(_clear_flag, dispatch_uid="scheduling.rebooked_cancelled")


def render_notice(notification: Notification, now: datetime) -> Email:
    """The provider's list of the flagged visits still waiting (none left: nothing to send)."""
    provider = Provider.objects.filter(pk=notification.subject_id).first()
    if provider is None:
        raise Skip("provider_gone")
    appointments = list(
        Appointment.objects.filter(
            pk__in=notification.context.get("appointments", []), needs_rebooking=True
        )
        .select_related("service", "location")
        .order_by("start")
    )
    if not appointments:
        raise Skip("already_rebooked")
    context = {
        "clinic_name": ClinicSettings.load().name,
        "provider_name": provider.display_name,
        "visits": [
            {
                "when": local_label(a.start, a),
                "service": a.service.name,
                "location": a.location.name,
                "reference": a.reference,
                "reason": a.rebooking_reason,
            }
            for a in appointments
        ],
    }
    subject, text, html = render_templates("scheduling/emails/rebooking_notice", context)
    return Email(
        subject=subject,
        text=text,
        html=html,
        to=provider.email,
        told={"appointments": [a.pk for a in appointments]},
    )


def ledger_subjects(user) -> QuerySet[Provider]:
    """Whose rebooking notices a staff user reads in the ledger: the desk (which rebooks the
    visits) every provider's, a clinician their own."""
    if roles.runs_the_desk(user):
        return Provider.objects.all()
    return Provider.objects.filter(user_id=getattr(user, "pk", None))


registry.register(REBOOKING_NOTICE, render=render_notice, visible_subjects=ledger_subjects)
