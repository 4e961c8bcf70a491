"""When time frees up, the waitlist hears of it: receivers of the booking signals (sent after the
change committed) and of new hours, each writing an opening that a task then matches.

- a cancellation frees the visit's time; a move frees the time it left (read from the history
  row the move wrote);
- extra hours added, and time off or a closure removed, free their span for every provider
  concerned; these are written after the change commits, and only for a provider and location
  that still exist (deleting a provider cascades to its time off).
"""

from datetime import datetime, time, timedelta

from django.db import transaction
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from clinic.models import Location
from providers.models import Provider
from scheduling import signals
from scheduling.availability import local_instant
from scheduling.models import (
    Appointment,
    AppointmentEvent,
    AvailabilityException,
    Closure,
    Offering,
)
from scheduling.services.waitlist_matching import record_opening
from scheduling.waitlist_models import WaitlistOpening

Reason = WaitlistOpening.Reason


def _open_after_commit(location_id: int, provider_id: int, start: datetime, end: datetime) -> None:
    def record() -> None:
        if (
            Provider.objects.filter(pk=provider_id, is_active=True).exists()
            and Location.objects.filter(pk=location_id).exists()
        ):
            record_opening(
                location_id=location_id,
                provider_id=provider_id,
                start=start,
                end=end,
                reason=Reason.HOURS,
            )

    transaction.on_commit(record)


@receiver(signals.appointment_cancelled, dispatch_uid="waitlist-cancelled")
def cancelled(sender, appointment: Appointment, **kwargs) -> None:
    record_opening(
        location_id=appointment.location_id,
        provider_id=appointment.provider_id,
        start=appointment.start,
        end=appointment.end,
        reason=Reason.CANCELLED,
    )


@receiver(signals.appointment_rescheduled, dispatch_uid="waitlist-rescheduled")
def rescheduled(sender, appointment: Appointment, **kwargs) -> None:
    event = (
        AppointmentEvent.objects.filter(
            appointment=appointment, kind=AppointmentEvent.Kind.RESCHEDULED
        )
        .order_by("-pk")
        .first()
    )
    old = (event.data or {}).get("old") if event is not None else None
    if not old or not old.get("start"):
        return
    start = datetime.fromisoformat(old["start"])
    record_opening(
        location_id=appointment.location_id,
        provider_id=old.get("provider") or appointment.provider_id,
        start=start,
        end=start + (appointment.end - appointment.start),
        reason=Reason.RESCHEDULED,
    )


@receiver(post_save, sender=AvailabilityException, dispatch_uid="waitlist-extra-hours")
def extra_hours(sender, instance: AvailabilityException, created: bool, **kwargs) -> None:
    if instance.kind == AvailabilityException.Kind.EXTRA_HOURS and instance.location_id:
        _open_after_commit(instance.location_id, instance.provider_id, instance.start, instance.end)


@receiver(post_delete, sender=AvailabilityException, dispatch_uid="waitlist-time-off-lifted")
def time_off_lifted(sender, instance: AvailabilityException, **kwargs) -> None:
    if instance.kind == AvailabilityException.Kind.EXTRA_HOURS:
        return
    locations = (
        [instance.location_id]
        if instance.location_id
        else set(
            Offering.objects.filter(provider_id=instance.provider_id, is_active=True).values_list(
                "location_id", flat=True
            )
        )
    )
    for location_id in locations:
        _open_after_commit(location_id, instance.provider_id, instance.start, instance.end)


@receiver(post_delete, sender=Closure, dispatch_uid="waitlist-closure-lifted")
def closure_lifted(sender, instance: Closure, **kwargs) -> None:
    location = Location.objects.filter(pk=instance.location_id).first()
    if location is None:
        return
    start = local_instant(instance.start_date, time(0), location)
    end = local_instant(instance.end_date + timedelta(days=1), time(0), location)
    provider_ids = set(
        Offering.objects.filter(location=location, is_active=True).values_list(
            "provider_id", flat=True
        )
    )
    for provider_id in sorted(provider_ids):
        _open_after_commit(location.pk, provider_id, start, end)
