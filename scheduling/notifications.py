"""Appointment e-mails: planning them when bookings change, and rendering them at send time.

Planning (receivers of ``scheduling.signals``: a booking's inside its transaction, the other
changes' after they committed):

- booked or rescheduled: pending confirmation/change notices are withdrawn and one notice is
  planned a grace period from now (``ClinicSettings.notification_grace_minutes``), so a burst of
  edits ends in one notice; reminders are planned at the clinic's offsets before the start and
  reminders for an old start are withdrawn (``cancelled``, never sent late);
- cancelled, or moved on to arrived / completed / no-show: reminders are withdrawn; a cancellation
  is planned at once.

Rendering decides at send time, from the appointment as it is then: a change notice whose facts
equal what the patient was last told (an edit undone inside the grace period) is skipped, so is a
reminder for a start that moved, or one whose appointment has already begun.

Reminder offsets that are whole days are counted in calendar days in the location's zone (the
"day before" reminder goes out at the same local time, across a daylight-saving change); other
offsets are elapsed time.
"""

import logging
from datetime import UTC, datetime, timedelta
from email.utils import parseaddr
from urllib.parse import urlencode

from django.conf import settings
from django.db.models import IntegerField, OuterRef, QuerySet, Subquery
from django.dispatch import receiver
from django.urls import reverse

from clinic import rules_cache
from clinic.models import ClinicSettings
from notifications import clock, ical, registry, services
from notifications.models import Notification
from notifications.registry import Email, Skip
from notifications.rendering import render_templates
from patients.models import Consent
from patients.selectors import consent_column
from patients.tokens import unsubscribe_url as patient_unsubscribe_url
from scheduling import signals
from scheduling.models import UPCOMING_STATUSES, Appointment
from scheduling.selectors import appointments_for
from scheduling.visit_details import visit_place

logger = logging.getLogger(__name__)

CONFIRMATION = "appointment.confirmation"
CHANGE = "appointment.change"
REMINDER = "appointment.reminder"
CANCELLATION = "appointment.cancellation"
NOTICE_KINDS = (CONFIRMATION, CHANGE)
TOLD_KINDS = (CONFIRMATION, CHANGE, CANCELLATION)
DAY_MINUTES = 24 * 60


# --- Planning ---------------------------------------------------------------------------------


def reminder_times(appointment: Appointment, offsets_minutes: list[int]) -> dict[datetime, int]:
    """Planned time (UTC) -> offset in minutes, for each configured offset."""
    times: dict[datetime, int] = {}
    local_start = appointment.start.astimezone(appointment.location.zone)
    for offset in offsets_minutes:
        if offset % DAY_MINUTES == 0:
            local = local_start.replace(tzinfo=None) - timedelta(days=offset // DAY_MINUTES)
            at = local.replace(tzinfo=appointment.location.zone).astimezone(UTC)
        else:
            at = appointment.start.astimezone(UTC) - timedelta(minutes=offset)
        times[at] = offset
    return times


def _reminders_ahead(
    appointment: Appointment, clinic: ClinicSettings, now: datetime
) -> dict[datetime, int]:
    configured = clinic.reminder_offsets_minutes or []
    offsets = [o for o in configured if isinstance(o, int) and o > 0]
    return {at: offset for at, offset in reminder_times(appointment, offsets).items() if at > now}


def _reminder_items(appointment: Appointment, times: dict[datetime, int]) -> list[services.Planned]:
    return [
        services.Planned(
            REMINDER,
            at,
            appointment.patient.email,
            {"start": appointment.start.astimezone(UTC).isoformat(), "offset_minutes": offset},
        )
        for at, offset in sorted(times.items())
    ]


def plan_reminders(appointment: Appointment, now: datetime) -> list[Notification]:
    """Reminders at the offsets still ahead; reminders planned for another start are withdrawn."""
    if appointment.status not in UPCOMING_STATUSES:
        services.withdraw(appointment, [REMINDER], reason=f"appointment_{appointment.status}")
        return []
    times = _reminders_ahead(appointment, ClinicSettings.load(), now)
    services.withdraw(appointment, [REMINDER], reason="rescheduled", keep_planned_for=list(times))
    return [
        services.plan(appointment, i.kind, i.planned_for, i.recipient, context=i.context)
        for i in _reminder_items(appointment, times)
    ]


def _after_grace(clinic: ClinicSettings, now: datetime) -> datetime:
    """When a notice planned ``now`` goes out: edits inside the grace period share one notice."""
    return now + timedelta(minutes=clinic.notification_grace_minutes)


def plan_new_booking(
    appointment: Appointment,
    now: datetime,
    clinic: ClinicSettings | None = None,
    *,
    created_here: bool = False,
) -> list[Notification]:
    """A new booking's confirmation and reminders. A new appointment has nothing to withdraw and
    was never confirmed, so they are planned at once, in one INSERT; one announced before (the
    signal sent twice) is planned as a change, which withdraws the first notice. ``clinic``: the
    settings as the caller read them (through the rules cache), else read here.
    ``created_here``: the booking's own transaction, which inserted the appointment, plans it
    (``plan_first``), so it cannot have been announced before."""
    clinic = clinic or ClinicSettings.load()
    # A series visit is confirmed by the series' one e-mail (scheduling/series_notifications.py).
    in_series = appointment.series_id is not None
    notice = services.Planned(CONFIRMATION, _after_grace(clinic, now), appointment.patient.email)
    reminders = _reminder_items(appointment, _reminders_ahead(appointment, clinic, now))
    planned = services.plan_first(
        appointment, [*([] if in_series else [notice]), *reminders], created_here=created_here
    )
    if planned is None:
        if in_series:
            return plan_reminders(appointment, now)
        return [plan_notice(appointment, now), *plan_reminders(appointment, now)]
    return planned


def plan_notice(appointment: Appointment, now: datetime) -> Notification:
    """One confirmation (or change notice, once confirmed) after the grace period."""
    at = _after_grace(ClinicSettings.load(), now)
    services.withdraw(appointment, NOTICE_KINDS, reason="superseded")
    confirmed = (
        services.rows_for(appointment, [CONFIRMATION])
        .filter(status__in=[Notification.Status.SENT, Notification.Status.SENDING])
        .exists()
    )
    return services.plan(
        appointment, CHANGE if confirmed else CONFIRMATION, at, appointment.patient.email
    )


def plan_cancellation(appointment: Appointment, now: datetime) -> Notification:
    services.withdraw(appointment, [*NOTICE_KINDS, REMINDER], reason="appointment_cancelled")
    return services.plan(appointment, CANCELLATION, now, appointment.patient.email)


def _reload(appointment: Appointment) -> Appointment:
    return Appointment.objects.select_related("patient", "location").get(pk=appointment.pk)


def _safely(what: str, appointment: Appointment, plan_fn) -> None:
    """The booking change has committed; a planning error is logged, never turned into a 500.
    The sweep cannot invent rows, so this is logged loudly for staff to see."""
    try:
        plan_fn(_reload(appointment), clock.now())
    except Exception:
        logger.exception("Planning %s e-mails for appointment %s failed", what, appointment.pk)


def _clinic_settings(view: rules_cache.RulesView | None) -> ClinicSettings | None:
    """The settings from the booking's read of the rules cache (a trigger-covered table), so a
    booking does not query them; ``None`` without a view."""
    if view is None:
        return None
    return view.instance(("clinic settings",), ClinicSettings.load)


@receiver(signals.appointment_booked, dispatch_uid="notifications.appointment_booked")
def on_booked(sender, appointment: Appointment, **kwargs) -> None:
    """Sent inside the booking's transaction (``created_here``), with the booking's own row
    (its patient and location loaded): the rows are written with the booking, so a booking that
    rolls back plans nothing and one that commits cannot lose its e-mails; an error here fails
    the booking rather than being logged after it. The task is queued after commit
    (``enqueue_after_commit``)."""
    plan_new_booking(
        appointment,
        clock.now(),
        _clinic_settings(kwargs.get("view")),
        created_here=kwargs.get("created_here", False),
    )


def withdraw_reminders(appointment: Appointment, now: datetime) -> int:
    return services.withdraw(appointment, [REMINDER], reason="appointment_cancelled")


def _told_elsewhere(appointment: Appointment, kwargs: dict) -> bool:
    """A series visit's changes are told by the series' notices (series_notifications.py)."""
    return appointment.series_id is not None or not kwargs.get("notify_patient", True)


@receiver(signals.appointment_rescheduled, dispatch_uid="notifications.appointment_rescheduled")
def on_rescheduled(sender, appointment: Appointment, **kwargs) -> None:
    if _told_elsewhere(appointment, kwargs):
        _safely("reschedule", appointment, plan_reminders)
        return
    _safely("reschedule", appointment, lambda a, now: (plan_notice(a, now), plan_reminders(a, now)))


@receiver(signals.appointment_cancelled, dispatch_uid="notifications.appointment_cancelled")
def on_cancelled(sender, appointment: Appointment, **kwargs) -> None:
    if _told_elsewhere(appointment, kwargs):
        _safely("cancellation", appointment, withdraw_reminders)
        return
    _safely("cancellation", appointment, plan_cancellation)


@receiver(
    signals.appointment_status_changed, dispatch_uid="notifications.appointment_status_changed"
)
def on_status_changed(sender, appointment: Appointment, **kwargs) -> None:
    _safely("status change", appointment, plan_reminders)


# --- Rendering at send time -------------------------------------------------------------------


def facts(appointment: Appointment) -> dict:
    """What an e-mail tells the patient; two notices telling the same facts are one too many."""
    return {
        "start": appointment.start.astimezone(UTC).isoformat(),
        "end": appointment.end.astimezone(UTC).isoformat(),
        "location": appointment.location_id,
        "provider": appointment.provider_id,
        "service": appointment.service_id,
    }


# The calendar sequence the patient's calendar holds (the last notice sent), read with the row.
_told_sequence = (
    Notification.objects.filter(
        subject_type=Appointment._meta.label_lower,
        subject_id=OuterRef("pk"),
        kind__in=TOLD_KINDS,
        status=Notification.Status.SENT,
    )
    .order_by("-sent_at", "-id")
    .values("told__sequence")[:1]
)


def _load(notification: Notification) -> Appointment:
    """The appointment behind a row, read once per send in one query that also brings the
    patient's reminder consent and the clinic's name: the consent check and the renderer get the
    same row object, and each of those reads had been a round trip of its own."""
    cached = getattr(notification, "_appointment", None)
    if cached is not None:
        return cached
    appointment = _send_reads().filter(pk=notification.subject_id).first()
    if appointment is None:
        raise Skip("appointment_gone")
    notification._appointment = appointment
    return appointment


def _send_reads() -> QuerySet[Appointment]:
    joined = Appointment.objects.select_related("patient", "provider", "service", "location")
    return joined.annotate(
        reminders_consent=consent_column(Consent.Purpose.REMINDERS),
        clinic_name=Subquery(ClinicSettings.objects.filter(pk=1).values("name")),
        told_sequence=Subquery(_told_sequence, output_field=IntegerField()),
    )


def prepare_batch(notifications: list[Notification]) -> None:
    """``_load`` for a whole batch (``notifications.batches``) in one query: each row keeps its
    appointment as ``_load`` would, and a row whose appointment is gone reads it alone."""
    found = _send_reads().in_bulk({row.subject_id for row in notifications})
    for row in notifications:
        row.__dict__.pop("_appointment", None)
        if row.subject_id in found:
            row._appointment = found[row.subject_id]


def manage_url(appointment: Appointment) -> str:
    """The patient's page for this booking (view, reschedule, cancel), opened by its token."""
    path = reverse("manage-booking", args=[appointment.reference])
    query = urlencode({"token": appointment.manage_token})
    return f"{settings.PUBLIC_BASE_URL}{path}?{query}"


def unsubscribe_url(appointment: Appointment) -> str:
    return patient_unsubscribe_url(appointment.patient, "reminders")


def local_label(moment: datetime, appointment: Appointment) -> str:
    """``Sunday, March 8, 2026, 10:00 AM EDT`` in the location's zone."""
    local = moment.astimezone(appointment.location.zone)
    hour = local.strftime("%I").lstrip("0")
    return f"{local:%A, %B} {local.day}, {local.year}, {hour}:{local:%M %p} {local.tzname()}"


def _clinic_name(appointment: Appointment) -> str:
    """The name ``_load`` read along with the appointment (``None`` there: no settings row, a
    flushed database, so the default name, as ``ClinicSettings.load`` gives it)."""
    if not hasattr(appointment, "clinic_name"):
        return ClinicSettings.load().name
    name = appointment.clinic_name
    return name if name is not None else ClinicSettings._meta.get_field("name").default


def _context(appointment: Appointment) -> dict:
    location = appointment.location
    local = appointment.start.astimezone(location.zone)
    place = visit_place(appointment)
    return {
        "clinic_name": _clinic_name(appointment),
        "first_name": appointment.patient.first_name,
        "service_name": appointment.service.name,
        "provider_name": appointment.provider.display_name,
        "when": local_label(appointment.start, appointment),
        "when_short": f"{local:%a %b} {local.day}, {local:%H:%M} {local.tzname()}",
        "place": place,
        "location_name": location.name,
        "location_phone": location.phone,
        "reference": appointment.reference,
        "price": location.price_label(appointment.service.price)
        if appointment.service.price
        else "",
        "manage_url": manage_url(appointment),
        "booking_url": f"{settings.PUBLIC_BASE_URL}/book/",
        "unsubscribe_url": unsubscribe_url(appointment),
    }


def _sequence(appointment: Appointment, told: dict | None) -> int:
    """The appointment's sequence, kept above what the patient's calendar already holds."""
    sequence = appointment.ical_sequence
    if told and told.get("sequence", -1) >= sequence:
        sequence = told["sequence"] + 1
    return sequence


def _calendar(appointment: Appointment, context: dict, sequence: int, cancelled: bool):
    ics = ical.event_calendar(
        uid=appointment.ical_uid,
        sequence=sequence,
        start=appointment.start,
        end=appointment.end,
        summary=f"{context['service_name']} with {context['provider_name']}",
        description=f"Reference {appointment.reference}. Manage: {context['manage_url']}",
        location=context["place"].calendar_location,
        url=context["manage_url"],
        organizer_email=appointment.location.email or parseaddr(settings.DEFAULT_FROM_EMAIL)[1],
        organizer_name=context["clinic_name"],
        attendee_email=appointment.patient.email,
        cancelled=cancelled,
        stamp=clock.now(),
    )
    return ical.attachment(ics, "cancel.ics" if cancelled else "appointment.ics")


def _email(template: str, appointment: Appointment, context: dict, told: dict, attach) -> Email:
    subject, text, html = render_templates(f"scheduling/emails/{template}", context)
    return Email(
        subject=subject,
        text=text,
        html=html,
        to=appointment.patient.email,
        attachments=[attach] if attach is not None else [],
        unsubscribe_url=context["unsubscribe_url"],
        told=told,
    )


def render_notice(notification: Notification, now: datetime) -> Email:
    """Confirmation or change notice, with the appointment's state at send time."""
    appointment = _load(notification)
    if appointment.status not in UPCOMING_STATUSES:
        raise Skip(f"appointment_{appointment.status}")
    if now >= appointment.start:
        raise Skip("too_late")
    last = services.last_told(appointment, TOLD_KINDS)
    current = facts(appointment)
    if last is not None and last.get("facts") == current:
        raise Skip("unchanged")
    sequence = _sequence(appointment, last)
    context = _context(appointment)
    template = "confirmation"
    if last is not None:
        template = "change"
        context["previous_when"] = local_label(
            datetime.fromisoformat(last["facts"]["start"]), appointment
        )
    told = {"facts": current, "sequence": sequence}
    return _email(
        template, appointment, context, told, _calendar(appointment, context, sequence, False)
    )


def _planned_start(notification: Notification) -> datetime | None:
    """The start a reminder was planned for, as an instant (compared as such, never as text)."""
    planned = notification.context.get("start")
    return datetime.fromisoformat(planned) if planned else None


def render_reminder(notification: Notification, now: datetime) -> Email:
    appointment = _load(notification)
    if appointment.status not in UPCOMING_STATUSES:
        raise Skip(f"appointment_{appointment.status}")
    if _planned_start(notification) != appointment.start:
        raise Skip("rescheduled")
    if now >= appointment.start:
        raise Skip("too_late")
    context = _context(appointment)
    # The reminder's calendar file repeats what the patient's calendar already holds (the last
    # sequence told), so it refreshes the event rather than changing it.
    told_sequence = appointment.told_sequence
    sequence = appointment.ical_sequence if told_sequence is None else int(told_sequence)
    told = {"facts": facts(appointment)}
    attach = _calendar(appointment, context, sequence, False)
    return _email("reminder", appointment, context, told, attach)


def render_cancellation(notification: Notification, now: datetime) -> Email:
    appointment = _load(notification)
    if appointment.status != Appointment.Status.CANCELLED:
        raise Skip("not_cancelled")
    last = services.last_told(appointment, TOLD_KINDS)
    if last is None:
        # Cancelled before any notice went out (inside the grace period): the patient never
        # heard of this booking, so a cancellation would only confuse them.
        raise Skip("never_told")
    sequence = _sequence(appointment, last)
    context = _context(appointment)
    told = {"facts": facts(appointment), "sequence": sequence, "cancelled": True}
    return _email(
        "cancellation", appointment, context, told, _calendar(appointment, context, sequence, True)
    )


def reminders_consented(notification: Notification) -> bool:
    """Asked at send time, from the same read as the appointment (``consent_column``)."""
    return bool(_load(notification).reminders_consent)


def ledger_subjects(user) -> QuerySet[Appointment]:
    """Whose appointment e-mails a staff user may read in the ledger: the appointments the same
    user may list (front desk every one, a clinician their own schedule)."""
    return appointments_for(user)


def register() -> None:
    """Called from ``SchedulingConfig.ready``: appointment e-mails are not clinical (front desk
    books and tells patients the same facts), so each row follows its appointment."""
    common = {"visible_subjects": ledger_subjects, "prepare": prepare_batch}
    registry.register(CONFIRMATION, render=render_notice, **common)
    registry.register(CHANGE, render=render_notice, **common)
    registry.register(REMINDER, render=render_reminder, consent=reminders_consented, **common)
    registry.register(CANCELLATION, render=render_cancellation, **common)
