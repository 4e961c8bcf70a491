"""The benchmark's verdict: a run that double-books, lets two people win one slot, sends a
reminder twice or loses one must fail, whatever its speed. (No timing is asserted here.)"""

import copy

import pytest

from bench.report import invariants_hold

CLEAN = {
    "booking": {
        "rounds": [{"bookings": 600, "created": 600, "errors": 0}],
    },
    "double_bookings_after_contention": {"provider": 0, "patient": 0},
    "contention": [{"racers": 200, "statuses": {201: 1, 409: 199}, "winners_in_sql": 1}],
    "reminders": {"duplicates": 0, "lost": 0},
    "peer": {"same_slots": True},
}


def broken(path: tuple, value) -> dict:
    results = copy.deepcopy(CLEAN)
    target = results
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return results


def test_a_clean_run_passes():
    assert invariants_hold(CLEAN)


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (("booking", "rounds", 0, "errors"), 1),
        (("booking", "rounds", 0, "created"), 599),
        (("double_bookings_after_contention", "provider"), 1),
        (("double_bookings_after_contention", "patient"), 2),
        (("contention", 0, "statuses"), {201: 2, 409: 198}),
        (("contention", 0, "statuses"), {201: 1, 409: 198, 500: 1}),
        (("contention", 0, "winners_in_sql"), 2),
        (("reminders", "duplicates"), 1),
        (("reminders", "lost"), 3),
        (("peer", "same_slots"), False),
    ],
)
def test_a_run_that_breaks_a_booking_or_e_mail_guarantee_fails(path, value):
    assert not invariants_hold(broken(path, value))


def test_a_peer_that_could_not_run_does_not_fail_the_run():
    assert invariants_hold(broken(("peer",), {"error": "no network"}))
