"""The morning reminder of unsigned notes (DOMAIN.md section 9): one e-mail per clinician per
day listing their drafts of visits more than a day old, through the notification ledger.

The subject is the provider and the planned time is 07:00 on the day in the provider's time
zone (their first location's), so planning again that day (beat twice, two workers) finds the
same ledger row and the ledger sends it once. At send time the list is read again: a clinician
who signed everything meanwhile gets nothing (``Skip``).
"""

from datetime import datetime, time
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db.models import QuerySet

from notifications import clock, registry, services
from notifications.registry import Email, Skip
from notifications.rendering import render_templates
from plans.notes import selectors
from providers.models import Provider

KIND = "unsigned_visit_notes"
MORNING = time(7, 0)


def _zone(provider: Provider) -> ZoneInfo:
    location = provider.locations.order_by("pk").first()
    return ZoneInfo(location.timezone if location else settings.TIME_ZONE)


def _address(provider: Provider) -> str:
    return provider.email or (provider.user.email if provider.user_id else "")


def this_morning(provider: Provider, now: datetime) -> datetime | None:
    """07:00 today in the provider's zone, or None before it."""
    zone = _zone(provider)
    local = now.astimezone(zone)
    morning = datetime.combine(local.date(), MORNING, tzinfo=zone)
    return morning if local >= morning else None


def plan_reminders(now: datetime | None = None) -> int:
    """Plan today's reminder for every clinician with notes unsigned for more than a day."""
    now = now or clock.now()
    planned = 0
    authors = Provider.objects.filter(pk__in=selectors.authors_with_unsigned_notes(now))
    for provider in authors.select_related("user"):
        morning = this_morning(provider, now)
        address = _address(provider)
        if morning is None or not address:
            continue
        services.plan(provider, KIND, morning, address)
        planned += 1
    return planned


def render(notification, now: datetime) -> Email:
    provider = Provider.objects.filter(pk=notification.subject_id).first()
    if provider is None:
        raise Skip("The provider no longer exists.")
    notes = list(selectors.unsigned_notes(provider.pk, now))
    if not notes:
        raise Skip("Every note is signed.")
    zone = _zone(provider)
    rows = [
        {
            "id": note.pk,
            "visit": note.visit_at.astimezone(zone).strftime("%Y-%m-%d %H:%M"),
            "service": note.appointment.service.name,
            "reference": note.appointment.reference,
            "location": note.location.name,
        }
        for note in notes
    ]
    context = {"provider": provider, "notes": rows}
    subject, text, html = render_templates("plans/email/unsigned_notes", context)
    return Email(
        subject=subject,
        text=text,
        html=html,
        to=notification.recipient,
        told={"notes": [row["id"] for row in rows]},
    )


def ledger_subjects(user) -> QuerySet[Provider]:
    """A clinician reads the reminders about their own unsigned notes (managers read all)."""
    return Provider.objects.filter(user_id=getattr(user, "pk", None))


def register() -> None:
    registry.register(KIND, render=render, clinical=True, visible_subjects=ledger_subjects)
