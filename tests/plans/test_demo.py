"""The demo clinic has care plans in every phase, built through the services."""

import pytest
from django.core.management import call_command

from plans.models import CarePlan, Exercise

pytestmark = pytest.mark.django_db


def test_demo_plans_cover_every_phase_and_the_issue_stories():
    call_command("seed_demo", verbosity=0)
    assert Exercise.objects.count() >= 40
    assert set(CarePlan.objects.values_list("phase", flat=True)) == set(CarePlan.Phase.values)

    knee = CarePlan.objects.get(title="Right total knee replacement")
    assert knee.phase == "rehabilitation"
    assert knee.diagnoses.get().cause == "post_surgical"

    back = CarePlan.objects.get(title="Low back pain, return to lifting")
    assert back.phase == "maintenance"
    assert back.maintenance_owner.discipline.code == "personal_trainer"
    assert back.precautions.get(is_active=True).tags == ["loaded_spinal_flexion"]
    forbidden = [
        p.exercise.name
        for p in back.prescriptions.filter(is_active=True)
        if "loaded_spinal_flexion" in p.exercise.tags
    ]
    assert forbidden == []

    referred = CarePlan.objects.get(title="Left hamstring strain")
    assert referred.phase == "rehabilitation"
    assert referred.lead.discipline.code == "physiotherapist"
    path = [e.after["phase"] for e in referred.events.all() if e.after and "phase" in e.after]
    assert path == ["assessment", "rehabilitation", "maintenance", "rehabilitation"]
