"""Property: whatever sequence of prescriptions, dosage changes, precautions and lifted
precautions a plan goes through, its active program never holds an exercise that an active
precaution forbids, and every refused step changes nothing."""

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from clinic.errors import DomainError
from plans import services
from plans.models import MovementTag
from tests.factories.plans import ExerciseFactory, as_actor, in_rehabilitation

TAGS = [
    MovementTag.IMPACT,
    MovementTag.DEEP_KNEE_FLEXION,
    MovementTag.LOADED_SPINAL_FLEXION,
    MovementTag.OVERHEAD_PRESSING,
]
tag_sets = st.lists(st.sampled_from(TAGS), min_size=0, max_size=2, unique=True)
some_tags = st.lists(st.sampled_from(TAGS), min_size=1, max_size=2, unique=True)
steps = st.lists(
    st.one_of(
        st.tuples(st.just("prescribe"), st.integers(0, 5)),
        st.tuples(st.just("change"), st.integers(0, 20)),
        st.tuples(st.just("precaution"), some_tags),
        st.tuples(st.just("lift"), st.integers(0, 20)),
    ),
    min_size=1,
    max_size=12,
)


def program_conflicts(plan) -> list[tuple[str, list[str]]]:
    forbidden = set()
    for precaution in plan.precautions.filter(is_active=True):
        forbidden |= set(precaution.tags)
    return [
        (p.exercise.name, p.exercise.tags)
        for p in plan.prescriptions.filter(is_active=True).select_related("exercise")
        if forbidden & set(p.exercise.tags)
    ]


@pytest.mark.django_db
@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(exercise_tags=st.lists(tag_sets, min_size=6, max_size=6), script=steps)
def test_no_sequence_of_changes_puts_a_forbidden_exercise_in_the_program(exercise_tags, script):
    plan = in_rehabilitation()
    lead = as_actor(plan.lead)
    library = [
        ExerciseFactory(
            slug=f"prop-{i}-{'-'.join(tags) or 'free'}",
            name=f"Prop {i} {tags}",
            tags=[str(t) for t in tags],
        )
        for i, tags in enumerate(exercise_tags)
    ]
    for step, arg in script:
        version = plan.program_version
        refusal = None
        try:
            apply(plan, lead, library, step, arg)
        except DomainError as error:
            refusal = error.slug
        plan.refresh_from_db()
        if refusal is not None:
            assert (refusal, plan.program_version) == ("precaution-conflict", version)
        assert program_conflicts(plan) == []


def apply(plan, lead, library, step: str, arg) -> None:
    if step == "prescribe":
        services.prescribe_exercise(
            plan, actor=lead, exercise=library[arg], sets=2, reps=10, times_per_week=3
        )
    elif step == "change":
        active = list(plan.prescriptions.filter(is_active=True).order_by("id"))
        if active:
            services.change_prescription(active[arg % len(active)], actor=lead, sets=3)
    elif step == "precaution":
        services.add_precaution(plan, actor=lead, tags=[str(t) for t in arg])
    else:
        active = list(plan.precautions.filter(is_active=True).order_by("id"))
        if active:
            services.remove_precaution(active[arg % len(active)], actor=lead, reason="ok")
