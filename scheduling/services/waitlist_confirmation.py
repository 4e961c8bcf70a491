"""Double opt-in for the widget's waitlist entries.

Anyone can fill in the widget, so an entry it files could name a made-up address (and hold every
freed time for half an hour in its turn) or someone else's (who would then get offers they never
asked for). Such an entry starts unconfirmed: the matcher and the front desk pass it over until
the person follows the link e-mailed to the entry's address (``waitlist.confirm``, planned in the
join's transaction, sent once by the ledger). Entries made by the front desk are confirmed when
made. An entry left unconfirmed for ``CONFIRM_WITHIN`` is expired by the waitlist sweep.
"""

from datetime import datetime, timedelta

from django.db import transaction

from clinic.audit import record_event
from clinic.models import AuditEvent
from notifications import clock
from notifications import services as ledger
from scheduling.waitlist_models import WaitlistEntry

CONFIRM_KIND = "waitlist.confirm"
CONFIRM_WITHIN = timedelta(hours=48)
"""How long a widget entry waits for its confirmation: long enough for someone who reads their
mail once a day or over a weekend, short enough that entries filed under addresses nobody reads
leave the list within two days."""

Entry = WaitlistEntry.Status


def plan_confirmation(entry: WaitlistEntry, now: datetime) -> None:
    """Plan the entry's one confirmation e-mail, in the caller's (the join's) transaction."""
    ledger.plan(entry, CONFIRM_KIND, now, entry.patient.email)


def confirm_deadline_passed(entry: WaitlistEntry, now: datetime) -> bool:
    return entry.created_at <= now - CONFIRM_WITHIN


def confirm_entry(entry: WaitlistEntry, *, now: datetime | None = None) -> WaitlistEntry:
    """Confirm the place from the e-mailed link. Confirming again, or an entry no longer
    waiting, changes nothing; one past its confirmation time is expired instead."""
    now = now or clock.now()
    with transaction.atomic():
        entry = WaitlistEntry.objects.select_for_update().get(pk=entry.pk)
        if entry.confirmed_at is not None or entry.status != Entry.WAITING:
            return entry
        if confirm_deadline_passed(entry, now):
            entry.status, entry.closed_at = Entry.EXPIRED, now
            entry.save(update_fields=["status", "closed_at"])
            return entry
        entry.confirmed_at = now
        entry.save(update_fields=["confirmed_at"])
        record_event(
            actor=None,
            action=AuditEvent.Action.UPDATE,
            object_type="waitlist_entry",
            object_id=entry.pk,
            patient_id=entry.patient_id,
            summary="Confirmed the waitlist place from the e-mailed link",
            channel="api",
        )
    return entry


def expire_unconfirmed(now: datetime) -> int:
    """The sweep's part: close widget entries nobody confirmed within ``CONFIRM_WITHIN``."""
    return WaitlistEntry.objects.filter(
        status=Entry.WAITING,
        confirmed_at__isnull=True,
        created_at__lte=now - CONFIRM_WITHIN,
    ).update(status=Entry.EXPIRED, closed_at=now)
