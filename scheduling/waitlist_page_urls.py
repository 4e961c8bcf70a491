"""The patient's waitlist pages (server-rendered HTML), mounted at ``/waitlist/``."""

from django.urls import path

from scheduling import waitlist_pages

urlpatterns = [
    path("<int:entry_id>/", waitlist_pages.waitlist_entry, name="waitlist-entry"),
    path("<int:entry_id>/confirm/", waitlist_pages.confirm_entry, name="waitlist-entry-confirm"),
    path("<int:entry_id>/withdraw/", waitlist_pages.withdraw_entry, name="waitlist-entry-withdraw"),
]
