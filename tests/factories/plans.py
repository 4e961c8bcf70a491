"""Factories for the exercise library and care plans.

``ExerciseFactory`` gives a library exercise (``tags=[...]`` for the movements it loads).
``CarePlanFactory`` opens a plan in assessment, led by a current physiotherapist, through the
service; to move a plan on, use the helpers below, which also go through ``plans.services``.
"""

import datetime

import factory

from plans import services
from plans.models import CarePlan, Exercise
from plans.services import Actor
from tests.factories.clinic import LocationFactory
from tests.factories.patients import PatientFactory
from tests.factories.providers import DisciplineFactory, ProviderFactory


def physio(**kwargs):
    return ProviderFactory(discipline=DisciplineFactory(code="physiotherapist"), **kwargs)


def trainer(**kwargs):
    return ProviderFactory(discipline=DisciplineFactory(code="personal_trainer"), **kwargs)


def exercise_therapist(**kwargs):
    return ProviderFactory(discipline=DisciplineFactory(code="exercise_therapist"), **kwargs)


def massage_therapist(**kwargs):
    return ProviderFactory(discipline=DisciplineFactory(code="massage_therapist"), **kwargs)


class ExerciseFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Exercise
        django_get_or_create = ["slug"]

    slug = factory.Sequence(lambda n: f"exercise-{n}")
    name = factory.Sequence(lambda n: f"Exercise {n}")
    body_region = "knee"
    category = Exercise.Category.STRENGTH
    instructions = "Move slowly through a comfortable range and breathe out as you push."
    tags = factory.LazyFunction(list)


class CarePlanFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = CarePlan

    patient = factory.SubFactory(PatientFactory)
    location = factory.LazyFunction(lambda: LocationFactory(slug="pickering", name="Pickering"))
    title = "Knee rehabilitation"
    lead = factory.LazyAttribute(lambda o: physio(locations=[o.location]))

    @classmethod
    def _create(cls, model_class, *args, **kwargs):
        """Open the plan through the service, so it starts with its history and relationship.
        Opened as the system (no user): who may open a plan is tested where it is decided."""
        lead = kwargs.pop("lead")
        return services.create_plan(actor=Actor(lead, None), lead=lead, **kwargs)


def as_actor(provider) -> Actor:
    return Actor(provider, provider.user)


def in_rehabilitation(plan: CarePlan | None = None, **kwargs) -> CarePlan:
    """A plan with a diagnosis, one goal (knee flexion 90 -> 120 degrees) and rehab started."""
    plan = plan or CarePlanFactory(**kwargs)
    lead = as_actor(plan.lead)
    services.record_diagnosis(
        plan,
        actor=lead,
        condition="Total knee replacement",
        body_region="knee",
        cause="post_surgical",
    )
    services.add_goal(
        plan,
        actor=lead,
        kind="rom",
        measure="Knee flexion",
        baseline=90,
        target=120,
        due_date=datetime.date.today() + datetime.timedelta(weeks=8),
    )
    return services.start_rehabilitation(plan, actor=lead)


def in_maintenance(owner=None, plan: CarePlan | None = None, **kwargs) -> CarePlan:
    """A plan handed over (criteria met: the knee-flexion goal reached) to ``owner``."""
    plan = in_rehabilitation(plan, **kwargs)
    owner = owner or trainer(locations=[plan.location])
    lead = as_actor(plan.lead)
    services.record_outcome(plan, actor=lead, kind="rom", label="Knee flexion", value=125)
    return services.move_to_maintenance(plan, actor=lead, owner=owner)
