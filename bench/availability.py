"""Availability: the public endpoint's server time, its SQL query count, and how both scale.

Three ways of timing the same search, from the inside out (in-process twice: as it is, the
providers' merged busy time kept between requests, and with it dropped before each request, as
after a change to every calendar):

- ``selector``: ``scheduling.selectors.public_slots`` called directly (the computation);
- ``in-process``: ``GET /api/v1/public/availability/`` through Django's test client (URL routing,
  DRF, validation, the selector and JSON rendering: the server's time, without a socket);
- ``http``: the same GET over loopback against gunicorn (what a widget on this host waits).
"""

import time
from dataclasses import dataclass
from datetime import date
from urllib.parse import urlencode

from bench.dataset import Clinic
from bench.stats import Summary, counting_queries, repeat, summarize

PATH = "/api/v1/public/availability/"


@dataclass
class Case:
    label: str
    location_size: int
    weeks: int | None  # None: a month (30 days)
    provider: int | None = None

    def days(self, clinic: Clinic) -> tuple[date, date]:
        return clinic.month() if self.weeks is None else clinic.days(self.weeks)

    def url(self, clinic: Clinic) -> str:
        first, last = self.days(clinic)
        query = {
            "service": clinic.service_id,
            "location": clinic.locations[self.location_size],
            "start": first.isoformat(),
            "end": last.isoformat(),
        }
        if self.provider is not None:
            query["provider"] = self.provider
        return f"{PATH}?{urlencode(query)}"

    def providers(self) -> int:
        return 1 if self.provider is not None else self.location_size


def headline_cases(clinic: Clinic) -> list[Case]:
    one = clinic.providers[20][0]
    return [
        Case("1 provider x month", 20, None, provider=one),
        Case("20 providers x month", 20, None),
    ]


def scaling_cases(clinic: Clinic) -> list[Case]:
    one = clinic.providers[50][0]
    cases = []
    for weeks in (1, 4, 8):
        cases.append(Case(f"1 provider x {weeks} wk", 50, weeks, provider=one))
        for size in (5, 20, 50):
            cases.append(Case(f"{size} providers x {weeks} wk", size, weeks))
    return cases


def _query_count(client, url: str) -> int:

    with counting_queries() as captured:
        response = client.get(url)
    assert response.status_code == 200, response.content[:500]
    return len(captured)


def _provider_slots(clinic: Clinic, case: Case) -> int:
    """Provider-slots the search computes (before "any provider" merges equal start times)."""
    from clinic.models import Location
    from scheduling.availability import search
    from scheduling.models import Service

    first, last = case.days(clinic)
    result = search(
        service=Service.objects.get(pk=clinic.service_id),
        location=Location.objects.get(pk=clinic.locations[case.location_size]),
        start_date=first,
        end_date=last,
        provider_ids=[case.provider] if case.provider is not None else None,
    )
    return len(result.slots)


def measure_in_process(clinic: Clinic, cases: list[Case], runs: int, selector: bool) -> list[dict]:
    from django.test import Client

    from clinic.models import Location
    from providers.models import Provider
    from scheduling import busy_time
    from scheduling.models import Service
    from scheduling.selectors import public_slots

    client = Client()
    service = Service.objects.get(pk=clinic.service_id)
    rows = []
    for case in cases:
        url = case.url(clinic)
        response = client.get(url)
        assert response.status_code == 200, response.content[:500]
        slots = len(response.json()["slots"])
        row = {
            "case": case.label,
            "providers": case.providers(),
            "days": (case.days(clinic)[1] - case.days(clinic)[0]).days + 1,
            "slots_returned": slots,
            "provider_slots": _provider_slots(clinic, case),
            "queries": _query_count(client, url),
            "in_process": summarize(repeat(lambda url=url: client.get(url), runs)),
            # Every provider's busy time merged again, as after a change to each calendar.
            "in_process_uncached": summarize(
                repeat(lambda url=url: (busy_time.clear(), client.get(url)), runs)
            ),
        }
        if selector:
            location = Location.objects.get(pk=clinic.locations[case.location_size])
            provider = Provider.objects.get(pk=case.provider) if case.provider else None
            first, last = case.days(clinic)
            row["selector"] = summarize(
                repeat(
                    lambda location=location, provider=provider, first=first, last=last: (
                        public_slots(
                            service=service,
                            location=location,
                            start_date=first,
                            end_date=last,
                            provider=provider,
                        )
                    ),
                    runs,
                )
            )
        rows.append(row)
    return rows


def measure_http(
    clinic: Clinic, cases: list[Case], client, runs: int
) -> dict[str, tuple[Summary, Summary]]:
    """Per case: (what the client waited, gunicorn's own request time from its access log)."""
    results = {}
    for case in cases:
        url = case.url(clinic)

        def get(url=url):
            response = client.get(url)
            assert response.status == 200, response.body[:500]

        for _ in range(4):
            get()
        since = client.log_offset()
        waited = repeat(get, runs, warmup=0)
        time.sleep(0.5)  # let the workers flush their access-log lines
        served = client.server_seconds(since, PATH)[-runs:]
        results[case.label] = (summarize(waited), summarize(served))
    return results
