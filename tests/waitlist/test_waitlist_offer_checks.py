"""What the offer's lock reads in its one query (the patient's e-mail and whether they hold
another time then) and the settings the matcher reads with the services: each rule held on the
matcher's path and on the front desk's."""

import datetime

import pytest

from clinic.errors import ConflictProblem
from scheduling.models import WaitlistEntry, WaitlistOffer, WaitlistOpening, WaitlistSettings
from scheduling.services.waitlist import create_offer, offer_by_hand
from scheduling.services.waitlist_matching import match_opening
from tests.factories.scheduling import ServiceFactory
from tests.scheduling.conftest import make_physio
from tests.waitlist.conftest import offer_mails, open_offer

pytestmark = pytest.mark.django_db


def _opening(clinic) -> WaitlistOpening:
    return WaitlistOpening.objects.create(
        location=clinic.location,
        provider=clinic.physio,
        start=clinic.start,
        end=clinic.start + datetime.timedelta(hours=1),
        reason="cancelled",
        created_at=clinic.start - datetime.timedelta(days=3),
    )


def _hold_elsewhere(clinic, entry: WaitlistEntry) -> WaitlistOffer:
    """An open offer of ``entry``'s time with a colleague (the entry is then offered)."""
    colleague = make_physio(clinic.location, clinic.service, "Colleague")
    end = clinic.start + datetime.timedelta(hours=1)
    WaitlistEntry.objects.filter(pk=entry.pk).update(status=WaitlistEntry.Status.OFFERED)
    return WaitlistOffer.objects.create(
        entry=entry,
        provider=colleague,
        start=clinic.start,
        end=end,
        blocked_start=clinic.start,
        blocked_end=end,
        offered_at=clinic.start - datetime.timedelta(days=3),
        expires_at=clinic.start,
    )


def test_the_matcher_passes_over_a_patient_already_offered_another_time_then(clinic):
    patient = clinic.patient("Twice")
    _hold_elsewhere(clinic, clinic.wait(patient))
    again, other = clinic.wait(patient), clinic.wait(clinic.patient("Other"))
    [offer] = match_opening(_opening(clinic).pk)
    assert offer.entry_id == other.pk
    assert open_offer(again) is None


def test_the_front_desk_cannot_offer_a_patient_a_second_time_then(clinic):
    patient = clinic.patient("Twice")
    _hold_elsewhere(clinic, clinic.wait(patient))
    again = clinic.wait(patient)
    with pytest.raises(ConflictProblem):
        offer_by_hand(again, provider=clinic.physio, start=clinic.start, actor=None)
    assert open_offer(again) is None


def test_the_offer_e_mail_goes_to_the_patients_address_read_with_the_lock(clinic):
    entry = clinic.wait(clinic.patient("Mailed"))
    [offer] = match_opening(_opening(clinic).pk)
    assert offer.entry_id == entry.pk
    assert list(offer_mails(offer).values_list("recipient", flat=True)) == ["mailed@example.org"]


def test_an_entry_whose_service_changed_since_it_was_read_is_not_offered(clinic):
    entry = clinic.wait(clinic.patient("Changed"))
    other = ServiceFactory(code="physio-other", name="Other visit", acts=["diagnose"])
    stale = WaitlistEntry(pk=entry.pk, service=other, location=clinic.location)
    now = clinic.start - datetime.timedelta(days=3)
    assert create_offer(stale, provider_id=clinic.physio.pk, start=clinic.start, now=now) is None
    assert not WaitlistOffer.objects.exists()


def test_the_matcher_holds_for_the_clinics_hold_minutes(clinic):
    WaitlistSettings.objects.update_or_create(pk=1, defaults={"hold_minutes": 45})
    clinic.wait(clinic.patient("Held"))
    [offer] = match_opening(_opening(clinic).pk)
    assert offer.expires_at - offer.offered_at == datetime.timedelta(minutes=45)


def test_the_matcher_makes_the_settings_row_with_its_defaults_when_the_clinic_has_none(clinic):
    WaitlistSettings.objects.all().delete()
    clinic.wait(clinic.patient("Default"))
    [offer] = match_opening(_opening(clinic).pk)
    default = WaitlistSettings._meta.get_field("hold_minutes").default
    assert offer.expires_at - offer.offered_at == datetime.timedelta(minutes=default)
    assert WaitlistSettings.objects.filter(pk=1).exists()
