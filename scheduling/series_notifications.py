"""A series' e-mails: one confirmation for all its visits, one notice per change.

A series visit is an ordinary appointment, so its reminders are planned per visit as usual
(``scheduling.notifications``); but its confirmation, and the notice of a change made to the
series, are told once for the series, each with one iCalendar attachment holding every visit
concerned (the visits' own UIDs and sequences, so the calendar entries a patient already has are
updated, and a later single-visit e-mail refers to the same event):

- ``series.confirmation``: planned after the grace period when the series is booked; lists the
  visits still upcoming at send time (METHOD:REQUEST);
- ``series.cancellation``: the visits a change cancelled (METHOD:CANCEL for exactly those);
- ``series.change``: the visits a change moved, with their old and new times (METHOD:REQUEST).

A single series visit cancelled or moved through the ordinary appointment endpoints is told
the same way, by a series notice for that one visit (the receivers below), so the patient's
calendar file and wording stay those of the series. Rows hang on the ``Series``; the ledger
row's context names the visits of that change. Registered from ``SchedulingConfig.ready``.
"""

import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from email.utils import parseaddr

import icalendar
from django.conf import settings
from django.db.models import QuerySet
from django.dispatch import receiver
from django.utils.text import get_text_list

from clinic.models import ClinicSettings
from notifications import clock, ical, registry, services
from notifications.models import Notification
from notifications.registry import Email, Skip
from notifications.rendering import render_templates
from scheduling import signals
from scheduling.models import UPCOMING_STATUSES, Appointment, AppointmentEvent
from scheduling.notifications import local_label, manage_url, unsubscribe_url
from scheduling.series_models import Series
from scheduling.series_selectors import series_for
from scheduling.visit_details import visit_place

logger = logging.getLogger(__name__)

SERIES_CONFIRMATION = "series.confirmation"
SERIES_CHANGE = "series.change"
SERIES_CANCELLATION = "series.cancellation"
SERIES_KINDS = (SERIES_CONFIRMATION, SERIES_CHANGE, SERIES_CANCELLATION)


# --- Planning (after the series' transaction committed) ----------------------------------------


def safely(plan_fn: Callable[..., Notification], *args) -> None:
    """The series change has committed: a planning error is logged loudly, never turned into a
    500 for a booking that stands (as for the appointment e-mails)."""
    try:
        plan_fn(*args)
    except Exception:
        logger.exception("Planning series e-mail %s failed", plan_fn.__name__)


def _grace(now: datetime) -> datetime:
    return now + timedelta(minutes=ClinicSettings.load().notification_grace_minutes)


def plan_series_confirmation(series: Series) -> Notification:
    """One confirmation for the whole series, after the grace period."""
    return services.plan(
        series, SERIES_CONFIRMATION, _grace(clock.now()), series.patient.email, context={}
    )


def plan_series_cancellation(series: Series, appointment_ids: list[int]) -> Notification:
    """One notice for the visits one change cancelled, sent at once (as a cancellation is)."""
    return services.plan(
        series,
        SERIES_CANCELLATION,
        clock.now(),
        series.patient.email,
        context={"appointments": appointment_ids},
    )


def plan_series_change(series: Series, previous: dict[int, str]) -> Notification:
    """One notice for the visits one change moved (their old starts kept), after the grace."""
    return services.plan(
        series,
        SERIES_CHANGE,
        _grace(clock.now()),
        series.patient.email,
        context={
            "appointments": list(previous),
            "previous": {str(k): v for k, v in previous.items()},
        },
    )


@receiver(signals.appointment_cancelled, dispatch_uid="series_notifications.visit_cancelled")
def on_visit_cancelled(sender, appointment: Appointment, **kwargs) -> None:
    """One series visit cancelled through the ordinary endpoints: a series notice for it (the
    series' own changes plan theirs, with ``notify_patient=False``)."""
    if appointment.series_id is not None and kwargs.get("notify_patient", True):
        safely(plan_series_cancellation, appointment.series, [appointment.pk])


@receiver(signals.appointment_rescheduled, dispatch_uid="series_notifications.visit_moved")
def on_visit_moved(sender, appointment: Appointment, **kwargs) -> None:
    if appointment.series_id is None or not kwargs.get("notify_patient", True):
        return
    moved = (
        AppointmentEvent.objects.filter(
            appointment=appointment, kind=AppointmentEvent.Kind.RESCHEDULED
        )
        .order_by("-id")
        .values_list("data", flat=True)
        .first()
    )
    if moved:
        safely(plan_series_change, appointment.series, {appointment.pk: moved["old"]["start"]})


# --- Rendering at send time ------------------------------------------------------------------


def _series(notification: Notification) -> Series:
    series = (
        Series.objects.select_related("patient", "provider", "service", "location")
        .filter(pk=notification.subject_id)
        .first()
    )
    if series is None:
        raise Skip("series_gone")
    return series


def _visits(series: Series, ids: list[int] | None = None) -> list[Appointment]:
    """The series' visits (all, or those of one change), with what their e-mail needs."""
    visits = Appointment.objects.filter(series=series).select_related(
        "patient", "provider", "service", "location"
    )
    if ids is not None:
        visits = visits.filter(pk__in=ids)
    return list(visits.order_by("start"))


def _when_short(moment: datetime, zone) -> str:
    local = moment.astimezone(zone)
    return f"{local:%a %b} {local.day}, {local:%H:%M} {local.tzname()}"


def _line(visit: Appointment) -> dict:
    return {
        "when": local_label(visit.start, visit),
        "reference": visit.reference,
        "manage_url": manage_url(visit),
        "provider_name": visit.provider.display_name,
    }


def _calendar(series: Series, visits: list[Appointment], clinic: str, cancelled: bool):
    """One calendar file holding every visit given, each under its own UID and sequence."""
    cal = icalendar.Calendar()
    cal.add("prodid", ical.PRODID)
    cal.add("version", "2.0")
    cal.add("method", "CANCEL" if cancelled else "REQUEST")
    organizer = series.location.email or parseaddr(settings.DEFAULT_FROM_EMAIL)[1]
    for visit in visits:
        link = manage_url(visit)
        cal.add_component(
            ical.event(
                uid=visit.ical_uid,
                sequence=visit.ical_sequence,
                start=visit.start,
                end=visit.end,
                summary=f"{visit.service.name} with {visit.provider.display_name}",
                description=f"Reference {visit.reference}. Manage: {link}",
                location=visit_place(visit).calendar_location,
                url=link,
                organizer_email=organizer,
                organizer_name=clinic,
                attendee_email=series.patient.email,
                cancelled=cancelled,
                stamp=clock.now(),
            )
        )
    name = "series-cancel.ics" if cancelled else "series.ics"
    return ical.attachment(cal.to_ical(), name)


def _email(
    template: str, series: Series, visits: list[Appointment], extra: dict, cancelled: bool
) -> Email:
    clinic = ClinicSettings.load().name
    first = visits[0]
    context = {
        "clinic_name": clinic,
        "first_name": series.patient.first_name,
        "service_name": series.service.name,
        # The visits' own clinicians: a move may have given some of them to a colleague.
        "provider_name": get_text_list(
            list(dict.fromkeys(v.provider.display_name for v in visits)), "and"
        ),
        "place": visit_place(first),
        "location_name": series.location.name,
        "location_phone": series.location.phone,
        "count": len(visits),
        "first_when": _when_short(first.start, series.location.zone),
        "visits": [_line(v) for v in visits],
        "booking_url": f"{settings.PUBLIC_BASE_URL}/book/",
        "unsubscribe_url": unsubscribe_url(first),
        **extra,
    }
    subject, text, html = render_templates(f"scheduling/emails/{template}", context)
    return Email(
        subject=subject,
        text=text,
        html=html,
        to=series.patient.email,
        attachments=[_calendar(series, visits, clinic, cancelled)],
        unsubscribe_url=context["unsubscribe_url"],
        told={
            "appointments": [v.pk for v in visits],
            "sequences": {str(v.pk): v.ical_sequence for v in visits},
        },
    )


def _confirmed(series: Series) -> bool:
    return (
        services.rows_for(series, [SERIES_CONFIRMATION])
        .filter(status__in=[Notification.Status.SENT, Notification.Status.SENDING])
        .exists()
    )


def render_confirmation(notification: Notification, now: datetime) -> Email:
    """The series' visits still upcoming at send time (a visit cancelled inside the grace
    period is simply not announced)."""
    series = _series(notification)
    visits = [v for v in _visits(series) if v.status in UPCOMING_STATUSES and v.start > now]
    if not visits:
        raise Skip("no_upcoming_visits")
    return _email("series_confirmation", series, visits, {}, cancelled=False)


def render_cancellation(notification: Notification, now: datetime) -> Email:
    series = _series(notification)
    if not _confirmed(series):
        raise Skip("never_told")  # cancelled inside the grace period: the patient never heard
    visits = [
        v
        for v in _visits(series, notification.context.get("appointments", []))
        if v.status == Appointment.Status.CANCELLED
    ]
    if not visits:
        raise Skip("not_cancelled")
    return _email("series_cancellation", series, visits, {}, cancelled=True)


def render_change(notification: Notification, now: datetime) -> Email:
    series = _series(notification)
    previous = notification.context.get("previous", {})
    visits = [
        v
        for v in _visits(series, notification.context.get("appointments", []))
        if v.status in UPCOMING_STATUSES and previous.get(str(v.pk)) != v.start.isoformat()
    ]
    if not visits:
        raise Skip("unchanged")
    if not _confirmed(series):
        # Moved inside the confirmation's grace period: that confirmation tells the new times.
        raise Skip("never_told")
    moves = [
        dict(_line(v), previous=local_label(datetime.fromisoformat(previous[str(v.pk)]), v))
        for v in visits
    ]
    extra = {"moves": moves}
    return _email("series_change", series, visits, extra, cancelled=False)


def ledger_subjects(user) -> QuerySet[Series]:
    """A series' e-mails are read by whoever may read its visits (``series_for``)."""
    return series_for(user)


def register() -> None:
    """Called from ``SchedulingConfig.ready``: transactional, not clinical, like the
    appointment e-mails they replace for series visits."""
    registry.register(
        SERIES_CONFIRMATION, render=render_confirmation, visible_subjects=ledger_subjects
    )
    registry.register(SERIES_CHANGE, render=render_change, visible_subjects=ledger_subjects)
    registry.register(
        SERIES_CANCELLATION, render=render_cancellation, visible_subjects=ledger_subjects
    )
