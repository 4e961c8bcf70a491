"""Writes for scheduling, one module per sub-domain; every name is re-exported here.

- ``booking``: the one booking rule (``book_appointment``) and the widget's ``book_online``;
- ``lifecycle``: cancel, reschedule and the status changes of an appointment;
- ``consult``: the free consult's outcome;
- ``callbacks``: the call-back queue;
- ``offerings``: who offers what where, within scope;
- ``series`` (+ ``series_preview``): recurring visits, previewed, booked and changed together;
- ``waitlist``, ``waitlist_claim``, ``waitlist_confirmation``, ``waitlist_matching``: the
  waitlist's entries, offers (holds), claims and the widget entries' confirmation; freed time
  matched to it, holds ending;
- ``errors``: the refusals (problem slugs) the others raise;
- ``_common``: the history row, the after-commit signal and time checks they share.

See ``booking`` for how a booking stays correct under concurrency.
"""

from scheduling.services._common import Status
from scheduling.services.booking import book_appointment, book_online, schedule_provider_for
from scheduling.services.callbacks import request_callback, update_callback
from scheduling.services.consult import may_record_outcome, record_consult_outcome
from scheduling.services.errors import (
    OUTSIDE_POLICY,
    SLOT_UNAVAILABLE,
    inactive_service,
    invalid_transition,
    outside_policy,
    slot_unavailable,
)
from scheduling.services.lifecycle import (
    STATUS_PHRASES,
    TRANSITIONS,
    cancel_appointment,
    change_status,
    is_late,
    reschedule_appointment,
)
from scheduling.services.offerings import check_offering_scope, create_offering
from scheduling.services.series import (
    CarePlanProposal,
    SeriesRule,
    book_series,
    cancel_series,
    move_series,
    preview_series,
    register_care_plan_source,
)
from scheduling.services.waitlist import (  # the waitlist (issue 19)
    join_waitlist,
    join_waitlist_online,
    offer_by_hand,
    withdraw_entry,
)
from scheduling.services.waitlist_claim import claim_offer
from scheduling.services.waitlist_confirmation import confirm_entry  # double opt-in

__all__ = [
    "OUTSIDE_POLICY",
    "SLOT_UNAVAILABLE",
    "STATUS_PHRASES",
    "TRANSITIONS",
    "CarePlanProposal",
    "SeriesRule",
    "Status",
    "book_appointment",
    "book_online",
    "book_series",
    "cancel_appointment",
    "cancel_series",
    "change_status",
    "check_offering_scope",
    "claim_offer",
    "confirm_entry",
    "create_offering",
    "inactive_service",
    "invalid_transition",
    "is_late",
    "join_waitlist",
    "join_waitlist_online",
    "may_record_outcome",
    "move_series",
    "offer_by_hand",
    "outside_policy",
    "preview_series",
    "record_consult_outcome",
    "register_care_plan_source",
    "request_callback",
    "reschedule_appointment",
    "schedule_provider_for",
    "slot_unavailable",
    "update_callback",
    "withdraw_entry",
]
