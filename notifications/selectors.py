"""Reads of the e-mail ledger."""

from django.db.models import Q, QuerySet

from clinic import roles
from notifications import registry
from notifications.models import Notification


def visible_notifications(user) -> QuerySet[Notification]:
    """The ledger rows a staff user may read. A row tells who is e-mailed about what, so it is
    shown only to whom its subject is shown: managers see every row; anyone else the rows of
    registered kinds whose subject the owning app's ``visible_subjects`` lets them see, and
    never a clinical kind unless they are a clinician. One query, however many kinds."""
    rows = Notification.objects.all()
    if roles.is_manager(user):
        return rows
    allowed = Q(pk__in=[])
    for kind in registry.kinds():
        if kind.visible_subjects is None or (kind.clinical and not roles.is_clinician(user)):
            continue
        subjects = kind.visible_subjects(user)
        allowed |= Q(
            kind=kind.key,
            subject_type=subjects.model._meta.label_lower,
            subject_id__in=subjects.order_by().values("pk"),
        )
    return rows.filter(allowed)
