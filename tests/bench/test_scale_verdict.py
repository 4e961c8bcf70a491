"""The verdict of the bare-insert, mixed-load and scale-out phases: a run in which either host
double-books, a planned collision has two winners or none, a request errors, or an e-mail is sent
twice or lost must fail, whatever its speed; and the bare-insert view exists only in the bench's
own URLconf. (No timing is asserted here.)"""

import copy

import pytest
from django.urls import Resolver404, resolve

from bench.bare import BARE_PATH
from bench.report import invariants_hold
from tests.bench.test_verdict import CLEAN as BASE

ROUND = {"bookings": 600, "created": 600, "errors": 0}
CLEAN = {
    **BASE,
    "bare": {
        "api": [dict(ROUND)],
        "bare": [dict(ROUND)],
        "double_bookings": {"provider": 0, "patient": 0},
    },
    "mixed": {
        "errors": 0,
        "collisions": 40,
        "collisions_one_winner": 40,
        "collided_slots_live": [1],
        "double_bookings": {"provider": 0, "patient": 0},
    },
    "scaleout": {
        "booking": dict(ROUND),
        "race": {"racers": 200, "statuses": {"201": 1, "409": 199}, "winners_in_sql": 1},
        "double_bookings": {"provider": 0, "patient": 0},
        "reminders": {"duplicates": 0, "lost": 0},
    },
}


def broken(path: tuple, value) -> dict:
    results = copy.deepcopy(CLEAN)
    target = results
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return results


def test_a_clean_run_with_the_scale_phases_passes():
    assert invariants_hold(CLEAN)


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (("bare", "api", 0, "errors"), 1),
        (("bare", "bare", 0, "created"), 599),
        (("bare", "double_bookings", "provider"), 1),
        (("mixed", "errors"), 1),
        (("mixed", "collisions_one_winner"), 39),
        (("mixed", "collided_slots_live"), [1, 2]),
        (("mixed", "double_bookings", "patient"), 1),
        (("scaleout", "booking", "created"), 599),
        (("scaleout", "race", "statuses"), {"201": 2, "409": 198}),
        (("scaleout", "race", "winners_in_sql"), 0),
        (("scaleout", "double_bookings", "provider"), 1),
        (("scaleout", "reminders", "duplicates"), 1),
        (("scaleout", "reminders", "lost"), 2),
    ],
)
def test_a_double_booking_an_error_or_an_e_mail_twice_on_any_host_fails_the_run(path, value):
    assert not invariants_hold(broken(path, value))


def test_the_bare_insert_view_is_not_reachable_in_the_product():
    with pytest.raises(Resolver404):
        resolve(BARE_PATH)
    assert resolve(BARE_PATH, urlconf="bench.bare_urls").func.__name__ == "bare_booking"


def test_the_bare_ratio_pairs_each_api_round_with_the_bare_round_run_right_after_it():
    """A machine that slows for one pair must not mix a fast round of one kind with a slow
    round of the other: the verdict is the median of the pairs' ratios."""
    from bench.bare import paired_ratio

    api = [{"rate": 300.0}, {"rate": 200.0}, {"rate": 250.0}]
    bare = [{"rate": 900.0}, {"rate": 500.0}, {"rate": 1000.0}]
    assert paired_ratio(api, bare) == pytest.approx(1 / 3)  # pairs 33%, 40%, 25%
    assert paired_ratio(api, [{"rate": 0.0}] * 3) == 0.0
