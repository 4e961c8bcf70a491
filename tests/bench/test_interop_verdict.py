"""The verdict of the visit-note, FHIR and calendar-feed phases: a run in which an answer is not
the expected 2xx (or 304), a clinical read goes unaudited, or a query count grows with the
notes, the Bundle or the feed's window must fail, whatever its speed; and the report's target
rows say which. (No timing is asserted here.)"""

import copy

import pytest

from bench.report import _interop_rows, invariants_hold
from tests.bench.test_verdict import CLEAN as BASE

TIMING = {"n": 3, "p50": 1.0, "p95": 1.0, "p99": 1.0, "min": 1.0, "max": 1.0, "iqr": 0.0}


def _search(case: str, count: int, queries: int, audited: bool) -> dict:
    return {
        "case": case,
        "resource": case.split()[0],
        "search": True,
        "count": count,
        "status": 200,
        "entries": count,
        "total": 300,
        "queries": queries,
        "audited": audited,
        "audit_rows": count if audited else 0,
        "server": TIMING,
        "us_per_entry": 5.0,
    }


CLEAN = {
    **BASE,
    "visit_notes": {
        "write": {"start": {"queries": 20, "server": TIMING}},
        "list": [
            {
                "notes": n,
                "shown": n,
                "audit_rows": n,
                "queries": 10,
                "server": TIMING,
                "us_per_note": 5.0,
            }
            for n in (10, 200)
        ],
        "unexpected": [],
    },
    "fhir": [
        {
            **_search("Patient read", 0, 5, True),
            "search": False,
            "count": None,
            "entries": 1,
            "audit_rows": 1,
        },
        _search("Patient search", 10, 6, True),
        _search("Patient search", 200, 6, True),
        _search("Practitioner search", 10, 3, False),
        _search("Practitioner search", 200, 3, False),
    ],
    "calendar_feed": {
        "appointments": {"full": 2600, "week": 40},
        "queries": {"full": 4, "week": 4},
        "request": TIMING,
        "not_modified": TIMING,
        "unexpected": [],
    },
}


def broken(path: tuple, value) -> dict:
    results = copy.deepcopy(CLEAN)
    target = results
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return results


def test_a_clean_run_passes_and_every_queries_constant_target_is_met():
    assert invariants_hold(CLEAN)
    rows = _interop_rows(CLEAN)
    assert len(rows) == 3
    assert all(row.endswith("| met |") for row in rows)


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (("visit_notes", "list", 1, "queries"), 11),
        (("visit_notes", "list", 1, "audit_rows"), 199),
        (("visit_notes", "list", 1, "shown"), 50),
        (("visit_notes", "unexpected"), ["sign: 409"]),
        (("fhir", 2, "queries"), 7),
        (("fhir", 2, "status"), 500),
        (("fhir", 2, "entries"), 199),
        (("fhir", 2, "audit_rows"), 1),
        (("fhir", 0, "audit_rows"), 0),
        (("fhir", 4, "audit_rows"), 200),
        (("calendar_feed", "queries", "full"), 5),
        (("calendar_feed", "unexpected"), ["abc.ics: 200, expected 304"]),
    ],
)
def test_a_run_that_breaks_an_answer_an_audit_row_or_a_constant_count_fails(path, value):
    assert not invariants_hold(broken(path, value))


@pytest.mark.parametrize(
    ("path", "row"),
    [
        (("visit_notes", "list", 1, "queries"), 0),
        (("fhir", 4, "queries"), 1),
        (("calendar_feed", "queries", "full"), 2),
    ],
)
def test_a_count_that_grows_misses_its_target_row(path, row):
    assert _interop_rows(broken(path, 99))[row].endswith("| **missed** |")


def test_runs_recorded_before_these_phases_still_pass():
    assert invariants_hold(BASE)
    assert _interop_rows(BASE) == []
