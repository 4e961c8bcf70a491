"""The staff schedule API (``GET /api/v1/schedule/``): the front desk's calendar of a location.

Timed in-process (Django's test client: routing, DRF, the selector and JSON rendering, without
a socket) as a manager, for a day and a week at locations of 5, 20 and 50 providers, with the
SQL query count of each, which must not grow with providers or days.
"""

from bench.dataset import Clinic
from bench.stats import counting_queries, repeat, summarize

PATH = "/api/v1/schedule/"


def _client():
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group
    from rest_framework.test import APIClient

    from clinic import roles

    user, _ = get_user_model().objects.get_or_create(
        username="bench-manager", defaults={"is_staff": True}
    )
    user.groups.add(Group.objects.get(name=roles.MANAGER))
    client = APIClient()
    client.force_authenticate(user)
    return client


def measure(clinic: Clinic, runs: int) -> list[dict]:
    """Per case: providers, days, p50/p95 server time, queries and appointments shown."""

    client = _client()
    rows = []
    for size in sorted(clinic.locations):
        for days in (1, 7):
            params = {
                "location": clinic.locations[size],
                "date": clinic.first_day.isoformat(),
                "days": days,
            }
            client.get(PATH, params)  # warm: the process's first request reads its settings
            with counting_queries() as captured:
                response = client.get(PATH, params)
            # Counted now: the next request's request_started signal empties the query log.
            queries = len(captured)
            assert response.status_code == 200, response.content[:300]
            shown = sum(
                len(column["appointments"])
                for day in response.json()["days"]
                for column in day["columns"]
            )
            timing = summarize(repeat(lambda p=params: client.get(PATH, p), runs=runs))
            rows.append(
                {
                    "case": f"{size} providers x {days} day{'s' if days > 1 else ''}",
                    "providers": size,
                    "days": days,
                    "queries": queries,
                    "appointments": shown,
                    "server": timing,
                }
            )
    return rows
