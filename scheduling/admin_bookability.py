"""The offering admin tells staff when an offering can never be booked (DOMAIN.md section 4):
a "Bookable" column in the list and a warning on the offering's page and after saving it.

The reasons come from ``scheduling.bookability``, the rule the public services list filters by,
so what staff are told and what the widget shows cannot disagree.
"""

from django.contrib import admin, messages
from django.http import HttpRequest

from scheduling.bookability import offering_problems
from scheduling.models import Offering


class UnbookableWarningMixin:
    """For ``ModelAdmin`` of ``Offering``; list ``"bookable"`` in ``list_display``."""

    def get_changelist_instance(self, request: HttpRequest):
        """Judge the page's offerings at once (a fixed number of queries per page)."""
        changelist = super().get_changelist_instance(request)
        problems = offering_problems(changelist.result_list)
        for offering in changelist.result_list:
            offering.unbookable = problems[offering.pk]
        return changelist

    @admin.display(description="Bookable")
    def bookable(self, obj: Offering) -> str:
        problems = getattr(obj, "unbookable", None)
        if problems is None:
            problems = offering_problems([obj])[obj.pk]
        return "Yes" if not problems else "No: " + " ".join(p.message for p in problems)

    def _warn_if_unbookable(self, request: HttpRequest, offering: Offering) -> None:
        problems = offering_problems([offering])[offering.pk]
        if problems:
            messages.warning(
                request,
                "This offering can never be booked, so the booking widget does not show it: "
                + " ".join(p.message for p in problems),
            )

    def change_view(self, request: HttpRequest, object_id, form_url="", extra_context=None):
        if request.method == "GET":
            offering = self.get_object(request, object_id)
            if offering is not None:
                self._warn_if_unbookable(request, offering)
        return super().change_view(request, object_id, form_url, extra_context)

    def save_model(self, request: HttpRequest, obj: Offering, form, change: bool) -> None:
        super().save_model(request, obj, form, change)
        self._warn_if_unbookable(request, obj)
