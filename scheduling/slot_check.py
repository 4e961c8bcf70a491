"""Was a refused start ever a slot? "Taken" (409 ``slot-unavailable``) would mislead for a time
the availability search could never offer: off the slot step, outside the provider's hours, in
time off, or for a service whose room kind the location lacks. Those get 422 ``not-a-slot``.

Asked only after a booking or move found no free option, so the happy path pays nothing: one
more search of the same day over empty calendars.
"""

from datetime import datetime

from clinic.errors import FieldProblem, RuleProblem
from clinic.models import Location, Room
from scheduling.availability import Rules, search
from scheduling.models import Service

NOT_A_SLOT = "not-a-slot"


def not_a_slot(detail: str, code: str) -> RuleProblem:
    return RuleProblem(
        detail, NOT_A_SLOT, "Not a bookable start time.", [FieldProblem("start", code, detail)]
    )


def never_a_slot(
    *,
    service: Service,
    location: Location,
    start: datetime,
    candidates: list[int],
    rules: Rules,
    now: datetime,
    online: bool,
) -> RuleProblem | None:
    """The 422 when ``start`` is not a start time the availability endpoint could ever offer
    these providers; None when it is (it was free once, so it is taken)."""
    if (
        service.room_kind
        and not Room.objects.filter(
            location=location, kind=service.room_kind, is_active=True
        ).exists()
    ):
        kind = Room.Kind(service.room_kind).label.lower()
        return not_a_slot(f"{location.name} has no {kind}, which {service.name} needs.", "no_room")
    day = start.astimezone(location.zone).date()
    result = search(
        service=service,
        location=location,
        start_date=day,
        end_date=day,
        provider_ids=candidates,
        now=now,
        online=online,
        rules=rules,
        with_bookings=False,
    )
    if any(slot.start == start for slot in result.slots):
        return None
    return not_a_slot(
        "This is not a start time for this service: ask the availability endpoint for the "
        "times on offer.",
        "not_a_start_time",
    )
