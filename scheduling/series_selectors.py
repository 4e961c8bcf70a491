"""Which recurring series a staff user may see and change: those whose visits they may see
(``appointments_for``: front desk and managers every one, a clinician their own schedule)."""

from django.db.models import QuerySet

from clinic.roles import User
from scheduling.selectors import appointments_for
from scheduling.series_models import Series


def series_for(user: User) -> QuerySet[Series]:
    return Series.objects.filter(
        pk__in=appointments_for(user).filter(series__isnull=False).values("series_id")
    )
