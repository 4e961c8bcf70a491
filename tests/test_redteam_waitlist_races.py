"""Red-team races of the waitlist on PostgreSQL: threads with their own connections start at a
barrier. A claim racing a withdrawal or the hold's expiry, and one opening matched by several
workers at once, each end in exactly one consistent outcome."""

import datetime
from collections import Counter

import pytest

from clinic.errors import ConflictProblem
from notifications.models import Notification
from scheduling.models import Appointment, WaitlistEntry, WaitlistOffer, WaitlistOpening
from scheduling.services import claim_offer, withdraw_entry
from scheduling.services.waitlist_matching import expire_offer, match_opening
from tests.waitlist.conftest import CLAIM_KWARGS
from tests.waitlist.test_waitlist_races import clinic, in_parallel, no_throttles, postgres_only

__all__ = ["clinic", "no_throttles", "postgres_only"]

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def offered(clinic, name: str):
    """An entry of ``name`` holding the 10:00 time a cancellation freed."""
    booked = clinic.book(patient=clinic.patient(f"Booked{name}"))
    entry = clinic.wait(clinic.patient(name))
    Appointment.objects.filter(pk=booked.pk).update(
        status=Appointment.Status.CANCELLED, cancelled_at=clinic.start - datetime.timedelta(days=7)
    )
    opening = WaitlistOpening.objects.create(
        location=clinic.location,
        provider=clinic.physio,
        start=clinic.start,
        end=clinic.start + datetime.timedelta(hours=1),
        reason="cancelled",
        created_at=clinic.start - datetime.timedelta(days=7),
    )
    [offer] = match_opening(opening.pk)
    assert offer.entry_id == entry.pk
    return entry, offer


def _outcome(call):
    def run():
        try:
            return ("ok", call())
        except ConflictProblem as refused:
            return ("409", refused.slug)

    return run


def test_a_claim_racing_a_withdrawal_either_books_or_withdraws_never_both(clinic):
    for round_ in range(4):
        entry, offer = offered(clinic, f"Racer{round_}")
        results = in_parallel(
            [
                _outcome(lambda e=entry: claim_offer(e, **CLAIM_KWARGS)),
                _outcome(lambda e=entry: withdraw_entry(e)),
            ]
        )
        assert not any(r[0] == "crash" for r in results), results
        entry.refresh_from_db()
        booked = Appointment.objects.filter(patient=entry.patient).exclude(status="cancelled")
        offer.refresh_from_db()
        if entry.status == WaitlistEntry.Status.BOOKED:
            assert booked.count() == 1
            assert offer.status == WaitlistOffer.Status.CLAIMED
        else:
            assert entry.status == WaitlistEntry.Status.WITHDRAWN, results
            assert not booked.exists()
            assert offer.status == WaitlistOffer.Status.WITHDRAWN
        assert not WaitlistOffer.objects.filter(entry=entry, status="offered").exists()
        Appointment.objects.filter(patient=entry.patient).update(
            status="cancelled", cancelled_at=clinic.start - datetime.timedelta(days=7)
        )


def test_a_claim_at_the_last_moment_racing_the_expiry_ends_one_way(clinic):
    for round_ in range(4):
        entry, offer = offered(clinic, f"Late{round_}")
        just_before = offer.expires_at - datetime.timedelta(milliseconds=1)
        results = in_parallel(
            [
                _outcome(lambda e=entry, t=just_before: claim_offer(e, now=t, **CLAIM_KWARGS)),
                _outcome(lambda o=offer: expire_offer(o.pk, now=o.expires_at)),
            ]
        )
        assert not any(r[0] == "crash" for r in results), results
        offer.refresh_from_db()
        booked = Appointment.objects.filter(patient=entry.patient).exclude(status="cancelled")
        if offer.status == WaitlistOffer.Status.CLAIMED:
            assert booked.count() == 1, results
        else:
            assert offer.status == WaitlistOffer.Status.EXPIRED, results
            assert not booked.exists()
        Appointment.objects.filter(patient=entry.patient).update(
            status="cancelled", cancelled_at=clinic.start - datetime.timedelta(days=7)
        )
        WaitlistEntry.objects.filter(pk=entry.pk).update(status="withdrawn")


def test_one_opening_matched_by_four_workers_at_once_is_offered_and_mailed_once(clinic):
    entries = [clinic.wait(clinic.patient(f"Waiter{i}")) for i in range(3)]
    opening = WaitlistOpening.objects.create(
        location=clinic.location,
        provider=clinic.physio,
        start=clinic.start,
        end=clinic.start + datetime.timedelta(hours=1),
        reason="cancelled",
        created_at=clinic.start - datetime.timedelta(days=7),
    )
    results = in_parallel([lambda: len(match_opening(opening.pk))] * 4)
    assert Counter(results) == Counter({1: 1, 0: 3}), results
    [offer] = WaitlistOffer.objects.all()
    assert offer.entry_id == entries[0].pk
    assert Notification.objects.filter(kind="waitlist.offer").count() == 1
