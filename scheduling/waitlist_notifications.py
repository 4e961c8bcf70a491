"""The waitlist's e-mails, each sent once through the notifications ledger:

- ``waitlist.offer``, the offer of a held time: planned in the transaction that creates the
  offer (``create_offer``), so an offer and its e-mail exist together or not at all. Rendered
  at send time from the offer as it is then: one claimed, withdrawn or past its hold is skipped.
- ``waitlist.confirm``, the confirm link of a widget entry: planned in the join's transaction;
  skipped at send time when the entry is confirmed, no longer waiting or past its confirm time.
"""

from datetime import date, datetime
from urllib.parse import urlencode

from django.conf import settings
from django.db.models import QuerySet
from django.urls import reverse

from clinic import roles
from clinic.models import ClinicSettings, Location
from notifications import registry
from notifications.models import Notification
from notifications.registry import Email, Skip
from notifications.rendering import render_templates
from scheduling.services.waitlist import OFFER_KIND
from scheduling.services.waitlist_confirmation import (
    CONFIRM_KIND,
    CONFIRM_WITHIN,
    confirm_deadline_passed,
)
from scheduling.waitlist_models import WaitlistEntry, WaitlistOffer


def local_label(moment: datetime, location: Location) -> str:
    """``Sunday, March 8, 2026, 10:00 AM EDT`` in the location's zone."""
    local = moment.astimezone(location.zone)
    hour = local.strftime("%I").lstrip("0")
    return f"{local:%A, %B} {local.day}, {local.year}, {hour}:{local:%M %p} {local.tzname()}"


def entry_page_url(entry: WaitlistEntry, page: str = "waitlist-entry") -> str:
    """The patient's page for the entry (claim, withdraw), opened by its token."""
    path = reverse(page, args=[entry.pk])
    return f"{settings.PUBLIC_BASE_URL}{path}?{urlencode({'token': entry.token})}"


def render_offer(notification: Notification, now: datetime) -> Email:
    offer = (
        WaitlistOffer.objects.select_related(
            "entry__patient", "entry__service", "entry__location", "provider"
        )
        .filter(pk=notification.subject_id)
        .first()
    )
    if offer is None:
        raise Skip("offer_gone")
    if offer.status != WaitlistOffer.Status.OFFERED:
        raise Skip(f"offer_{offer.status}")
    if now >= offer.expires_at:
        raise Skip("hold_ended")
    entry, location = offer.entry, offer.entry.location
    context = {
        "clinic_name": ClinicSettings.load().name,
        "first_name": entry.patient.first_name,
        "service_name": entry.service.name,
        "provider_name": offer.provider.display_name,
        "location_name": location.name,
        "location_phone": location.phone,
        "when": local_label(offer.start, location),
        "expires": local_label(offer.expires_at, location),
        "claim_url": entry_page_url(entry),
        "withdraw_url": entry_page_url(entry, "waitlist-entry-withdraw"),
    }
    subject, text, html = render_templates("scheduling/emails/waitlist_offer", context)
    return Email(
        subject=subject,
        text=text,
        html=html,
        to=entry.patient.email,
        told={"start": offer.start.isoformat(), "provider": offer.provider_id},
    )


WEEKDAYS = ("Mondays", "Tuesdays", "Wednesdays", "Thursdays", "Fridays", "Saturdays", "Sundays")


def windows_label(windows: list[dict]) -> str:
    """``Mondays 08:00-12:00; any day 14:00-17:00`` (the location's time)."""
    parts = []
    for window in windows:
        day = "any day" if window.get("weekday") is None else WEEKDAYS[window["weekday"]]
        parts.append(f"{day} {window['from']}-{window['to']}")
    return "; ".join(parts)


def _day_label(day: date) -> str:
    return f"{day:%B} {day.day}, {day.year}"


def render_confirmation(notification: Notification, now: datetime) -> Email:
    entry = (
        WaitlistEntry.objects.select_related("patient", "service", "location")
        .filter(pk=notification.subject_id)
        .first()
    )
    if entry is None:
        raise Skip("entry_gone")
    if entry.status != WaitlistEntry.Status.WAITING:
        raise Skip(f"entry_{entry.status}")
    if entry.confirmed_at is not None:
        raise Skip("already_confirmed")
    if confirm_deadline_passed(entry, now):
        raise Skip("confirm_time_ended")
    location = entry.location
    context = {
        "clinic_name": ClinicSettings.load().name,
        "first_name": entry.patient.first_name,
        "service_name": entry.service.name,
        "location_name": location.name,
        "location_phone": location.phone,
        "earliest": _day_label(entry.earliest_date),
        "latest": _day_label(entry.latest_date),
        "windows": windows_label(entry.windows),
        "confirm_by": local_label(entry.created_at + CONFIRM_WITHIN, location),
        "confirm_url": entry_page_url(entry, "waitlist-entry-confirm"),
        "withdraw_url": entry_page_url(entry, "waitlist-entry-withdraw"),
    }
    subject, text, html = render_templates("scheduling/emails/waitlist_confirm", context)
    return Email(subject=subject, text=text, html=html, to=entry.patient.email)


def entry_subjects(user) -> QuerySet[WaitlistEntry]:
    """The front desk and managers run the waitlist, so they read its e-mails; nobody else."""
    if roles.runs_the_desk(user):
        return WaitlistEntry.objects.all()
    return WaitlistEntry.objects.none()


def ledger_subjects(user) -> QuerySet[WaitlistOffer]:
    """The front desk and managers run the waitlist, so they read its e-mails; nobody else."""
    if roles.runs_the_desk(user):
        return WaitlistOffer.objects.all()
    return WaitlistOffer.objects.none()


def register() -> None:
    """Called from ``SchedulingConfig.ready``."""
    registry.register(OFFER_KIND, render=render_offer, visible_subjects=ledger_subjects)
    registry.register(CONFIRM_KIND, render=render_confirmation, visible_subjects=entry_subjects)
