"""Reads of the waitlist: the holder of an entry (its id and secret token), the staff list and
the entry's current offer."""

import secrets

from django.db.models import Prefetch, QuerySet

from clinic import roles
from clinic.errors import FieldProblem, NotFoundProblem
from clinic.roles import User
from notifications import clock
from scheduling.waitlist_models import WaitlistEntry, WaitlistOffer

_DUMMY_TOKEN = secrets.token_urlsafe(32)


def entry_for_holder(entry_id: object, token: str) -> WaitlistEntry:
    """The entry when id and token match; one 404 for a wrong token and an unknown id alike
    (constant-time compare against a dummy token), as for bookings (``scheduling.holder``)."""
    entry = None
    if isinstance(entry_id, int) or (isinstance(entry_id, str) and entry_id.isdigit()):
        entry = (
            WaitlistEntry.objects.select_related("patient", "service", "location", "provider")
            .filter(pk=int(entry_id))
            .first()
        )
    expected = entry.token if entry is not None else _DUMMY_TOKEN
    if not secrets.compare_digest(expected.encode(), (token or "").encode()) or entry is None:
        raise NotFoundProblem(
            "No waitlist entry with this id and token.",
            [FieldProblem("token", "not_found", "Check the link in your e-mail.")],
        )
    return entry


def current_offer(entry: WaitlistEntry) -> WaitlistOffer | None:
    """The open offer (the time held for the entry), if any: one whose hold has run out is
    no longer held (a claim is refused), even before the sweep ends it."""
    return (
        entry.offers.select_related("provider")
        .filter(status=WaitlistOffer.Status.OFFERED, expires_at__gt=clock.now())
        .first()
    )


def waitlist_for(user: User | None, queryset: QuerySet | None = None) -> QuerySet[WaitlistEntry]:
    """The entries a staff user may list: the front desk and managers run the waitlist; a
    clinician sees none (it names patients and what they wait for, not care they give)."""
    queryset = queryset if queryset is not None else WaitlistEntry.objects.all()
    if not roles.runs_the_desk(user):
        return queryset.none()
    return queryset.select_related("patient", "service", "location", "provider").prefetch_related(
        Prefetch("offers", queryset=WaitlistOffer.objects.select_related("provider", "offered_by"))
    )
