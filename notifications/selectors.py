"""Reads of the e-mail ledger."""

from django.db.models import QuerySet

from clinic import roles
from notifications import registry
from notifications.models import Notification


def visible_notifications(user) -> QuerySet[Notification]:
    """The ledger rows a staff user may read: front desk and clinicians see appointment e-mails,
    never the rows of clinical kinds (they would tell who has a care plan)."""
    rows = Notification.objects.all()
    if roles.is_manager(user):
        return rows
    return rows.exclude(kind__in=registry.clinical_kinds())
