"""Claiming a waitlist offer: the patient books the time held for their entry.

The claim is an online booking: it gives what an online booking of the service must give
(``scheduling.requirements``), and it ends the hold and books in one transaction through
``book_appointment``, so scope, policy and the patient's own calendar are judged once more by
their owners; if anything refuses, nothing changes and the hold stays. Lock order as in
``scheduling.services.waitlist``: entry row, then its offer rows, then (inside the booking) the
patient row and the provider's advisory lock.
"""

from datetime import date, datetime

from django.db import transaction

from clinic.audit import record_event
from clinic.errors import ConflictProblem, FieldProblem, ValidationProblem
from clinic.models import AuditEvent
from notifications import clock
from patients.models import Patient
from patients.services import match_or_create_patient
from scheduling.models import Appointment
from scheduling.requirements import missing_fields
from scheduling.services.booking import book_appointment
from scheduling.waitlist_models import WaitlistEntry, WaitlistOffer

Entry = WaitlistEntry.Status
OfferStatus = WaitlistOffer.Status


def offer_expired(detail: str) -> ConflictProblem:
    return ConflictProblem(
        detail,
        slug="offer-expired",
        title="The offer is no longer open.",
        errors=[FieldProblem("token", "offer_expired", detail)],
    )


def claim_offer(
    entry: WaitlistEntry,
    *,
    patient_details: dict | None = None,
    reason: str = "",
    now: datetime | None = None,
) -> Appointment:
    """Book the entry's held time. Exactly one claim of an offer books; a second claim, a claim
    after the hold expired, one leaving out what an online booking of the service must give
    (422, ``scheduling.requirements``) or one whose booking is refused (409
    ``slot-unavailable``) books nothing and leaves the hold as it was."""
    now = now or clock.now()
    patient_details = patient_details or {}
    missing = missing_fields(entry.service, patient_details, reason)
    if missing:
        raise ValidationProblem("Some required details are missing.", missing)
    with transaction.atomic():
        entry = (
            WaitlistEntry.objects.select_for_update(of=("self",))
            .select_related("patient", "service", "location")
            .get(pk=entry.pk)
        )
        offer = entry.offers.select_for_update().filter(status=OfferStatus.OFFERED).first()
        if offer is None:
            if entry.status == Entry.BOOKED:
                raise offer_expired("This offer has already been claimed.")
            raise offer_expired("There is no open offer for this entry.")
        if offer.expires_at <= now:
            raise offer_expired("The hold on this time has ended.")
        offer.status, offer.ended_at = OfferStatus.CLAIMED, now
        offer.save(update_fields=["status", "ended_at"])
        if patient_details.get("date_of_birth") and not entry.patient.date_of_birth:
            _record_date_of_birth(entry.patient, patient_details["date_of_birth"])
        appointment = book_appointment(
            service=entry.service,
            location=entry.location,
            start=offer.start,
            patient=entry.patient,
            provider=offer.provider,
            source=Appointment.Source.ONLINE,
            reason=reason,
            now=now,
        )
        offer.appointment = appointment
        offer.save(update_fields=["appointment"])
        entry.status, entry.closed_at = Entry.BOOKED, now
        entry.save(update_fields=["status", "closed_at"])
        record_event(
            actor=None,
            action=AuditEvent.Action.UPDATE,
            object_type="waitlist_offer",
            object_id=offer.pk,
            patient_id=entry.patient_id,
            summary=f"Claimed; booked {appointment.reference}",
            channel="api",
        )
    return appointment


def _record_date_of_birth(patient: Patient, date_of_birth: date) -> None:
    """The claim's date of birth fills a record that had none, as an online booking's does
    (the patients owner adds missing details only, and audits it)."""
    match_or_create_patient(
        first_name=patient.first_name,
        last_name=patient.last_name,
        email=patient.email,
        date_of_birth=date_of_birth,
    )
    patient.refresh_from_db()
