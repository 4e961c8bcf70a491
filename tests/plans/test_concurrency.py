"""Transitions and program changes on one plan at the same moment, from real parallel
connections on PostgreSQL: the plan row lock serialises them, so nothing is lost or doubled."""

import threading

import pytest
from django.db import connection

from clinic.errors import DomainError
from plans import services
from plans.models import CarePlan
from tests.factories.plans import (
    ExerciseFactory,
    as_actor,
    in_maintenance,
    in_rehabilitation,
    trainer,
)
from tests.factories.providers import ensure_scope_catalog

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def run_together(*calls) -> list[object]:
    """Start every call at once, each in a thread with its own database connection."""
    barrier = threading.Barrier(len(calls))
    results: list[object] = [None] * len(calls)

    def worker(index: int, call) -> None:
        try:
            barrier.wait()
            results[index] = call()
        except DomainError as error:
            results[index] = error
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(i, c)) for i, c in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    return results


def test_two_simultaneous_handovers_give_one_owner_and_one_refusal():
    ensure_scope_catalog()
    plan = in_rehabilitation()
    lead = as_actor(plan.lead)
    first, second = trainer(locations=[plan.location]), trainer(locations=[plan.location])
    results = run_together(
        lambda: services.move_to_maintenance(plan, actor=lead, owner=first, override_reason="a"),
        lambda: services.move_to_maintenance(plan, actor=lead, owner=second, override_reason="b"),
    )
    refusals = [r for r in results if isinstance(r, DomainError)]
    assert [r.slug for r in refusals] == ["invalid-transition"]
    plan.refresh_from_db()
    assert plan.phase == CarePlan.Phase.MAINTENANCE
    assert plan.maintenance_owner in (first, second)
    assert plan.events.filter(kind="phase_changed", after__phase="maintenance").count() == 1


def test_simultaneous_prescriptions_each_get_their_own_program_version():
    ensure_scope_catalog()
    owner = trainer()
    plan = in_maintenance(owner=owner)
    actor = as_actor(owner)
    exercises = [ExerciseFactory() for _ in range(4)]
    start = plan.program_version
    results = run_together(
        *[
            (
                lambda e=e: services.prescribe_exercise(
                    plan, actor=actor, exercise=e, sets=2, reps=10, times_per_week=3
                )
            )
            for e in exercises
        ]
    )
    assert not [r for r in results if isinstance(r, DomainError)]
    plan.refresh_from_db()
    assert plan.program_version == start + 4
    assert sorted(r.version for r in results) == [start + 1, start + 2, start + 3, start + 4]
    latest = plan.program_versions.get(number=start + 4)
    assert len(latest.content["exercises"]) == 4
