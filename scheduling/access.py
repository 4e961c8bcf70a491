"""The appointments that count as real care for clinical access (``patients.access``).

An appointment lets its provider read the patient's records when it is attended (arrived or
completed) or upcoming and confirmed, *and* someone other than that clinician vouched for it:
front desk or a manager booked, confirmed, or marked it; or the system did (demo data,
commands). An anonymous online booking, a confirmation through the booking's manage token
(the booking's answer hands that token to whoever booked, so it proves nothing about holding
the patient's e-mail), or a clinician's own booking and confirmation of their own calendar,
vouches for nothing, so none of them can open a chart. Cancelled, no-show and unconfirmed
bookings grant nothing; the rule is evaluated on every request, so a cancellation removes what
the booking granted.
"""

from datetime import datetime

from django.db.models import Exists, OuterRef, Q, QuerySet

from scheduling.models import Appointment, AppointmentEvent

Status = Appointment.Status
Kind = AppointmentEvent.Kind

# The events that establish where an appointment stands; who caused them is what vouches.
_STANDING_KINDS = (Kind.BOOKED, Kind.CONFIRMED, Kind.ARRIVED, Kind.COMPLETED)
MANAGE_LINK = "manage_link"


def _vouched_for(provider) -> QuerySet:
    others = Q(actor__isnull=False)
    if provider.user_id is not None:
        others &= ~Q(actor_id=provider.user_id)
    # No user: the system, or whoever holds the manage token (an anonymous online booking, or a
    # confirmation through the token): those prove nothing and are left out.
    system = (
        Q(actor__isnull=True)
        & (~Q(kind=Kind.BOOKED) | Q(appointment__source=Appointment.Source.STAFF))
        # (a missing key is no manage link: SQL's NOT of NULL would drop those rows too)
        & (Q(data__via__isnull=True) | ~Q(data__via=MANAGE_LINK))
    )
    return AppointmentEvent.objects.filter(
        appointment=OuterRef("pk"), kind__in=_STANDING_KINDS
    ).filter(others | system)


def appointment_patient_ids(provider, now: datetime) -> QuerySet:
    """Patients ``provider`` treats through appointments, as ``patient_id`` values."""
    standing = Q(status__in=(Status.ARRIVED, Status.COMPLETED)) | Q(
        status=Status.CONFIRMED, end__gt=now
    )
    return (
        Appointment.objects.filter(provider=provider)
        .filter(standing)
        .filter(Exists(_vouched_for(provider)))
        .values("patient_id")
    )
