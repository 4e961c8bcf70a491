"""The care plan page's "Book the plan's sessions": a link to the series form
(``scheduling.admin_series``) with the plan, its patient, lead and location filled in; the
plan's session frequency then proposes the weekdays and the number of visits
(``plans.series.propose_series``)."""

from urllib.parse import urlencode

from django.urls import reverse
from django.utils.html import format_html

from plans.models import CarePlan


def book_sessions_link(plan: CarePlan) -> str:
    """The link, or why there is none yet (a closed plan, no session frequency)."""
    if plan.phase == CarePlan.Phase.CLOSED or not plan.sessions_per_week:
        return "Set the session frequency to book the plan's sessions."
    query = urlencode(
        {
            "care_plan": plan.pk,
            "patient": plan.patient_id,
            "provider": plan.lead_id,
            "location": plan.location_id,
        }
    )
    url = f"{reverse('admin-series')}?{query}"
    return format_html('<a class="button" href="{}">Book the plan\u2019s sessions</a>', url)
