"""Celery tasks of the waitlist: thin wrappers over ``scheduling.services.waitlist_matching``.

Task messages are hints: an opening records what to match and an offer when its hold ends, so
a lost or repeated message changes nothing the sweep (beat, every minute) would not fix.
Imported by ``SchedulingConfig.ready`` so the worker registers them.
"""

from celery import shared_task

from scheduling.services import waitlist as waitlist_services
from scheduling.services import waitlist_matching


@shared_task(name=waitlist_services.MATCH_TASK, ignore_result=True)
def match_opening(opening_id: int) -> int:
    return len(waitlist_matching.match_opening(opening_id))


@shared_task(name=waitlist_services.EXPIRE_TASK, ignore_result=True)
def expire_offer(offer_id: int) -> bool:
    return waitlist_matching.expire_offer(offer_id)


@shared_task(name="scheduling.waitlist_sweep", ignore_result=True)
def sweep() -> dict:
    return waitlist_matching.sweep()
