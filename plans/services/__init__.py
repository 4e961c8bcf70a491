"""Writes for care plans, one module per sub-domain; every public name is re-exported here.

- ``lifecycle``: open, start rehabilitation, move to maintenance, refer back, close;
- ``clinical``: diagnosis and precautions (assessment);
- ``rehab``: goals, planned interventions, session frequency;
- ``program``: the home-exercise program (prescriptions and their versions);
- ``exercises``: the exercise library;
- ``outcomes``: outcome measures and goal progress;
- ``_guards``: the actor and the checks every write makes (scope, ownership, phase), and the
  history-and-audit row each change writes.
"""

from plans.services._guards import (
    CLINICAL_PHASES,
    DESIGN_PROGRAM,
    DIAGNOSE,
    INVALID_TRANSITION,
    PRESCRIBE_PLAN,
    Actor,
    Phase,
    actor_for,
)
from plans.services.clinical import add_precaution, record_diagnosis, remove_precaution
from plans.services.exercises import exercise_tag_conflicts, save_exercise
from plans.services.lifecycle import (
    close_plan,
    create_plan,
    move_to_maintenance,
    refer_back,
    start_rehabilitation,
)
from plans.services.outcomes import record_outcome
from plans.services.program import (
    DOSAGE_FIELDS,
    change_prescription,
    prescribe_exercise,
    stop_prescription,
)
from plans.services.rehab import (
    add_goal,
    add_intervention,
    remove_intervention,
    set_session_frequency,
)

__all__ = [
    "CLINICAL_PHASES",
    "DESIGN_PROGRAM",
    "DIAGNOSE",
    "DOSAGE_FIELDS",
    "INVALID_TRANSITION",
    "PRESCRIBE_PLAN",
    "Actor",
    "Phase",
    "actor_for",
    "add_goal",
    "add_intervention",
    "add_precaution",
    "change_prescription",
    "close_plan",
    "create_plan",
    "exercise_tag_conflicts",
    "move_to_maintenance",
    "prescribe_exercise",
    "record_diagnosis",
    "record_outcome",
    "refer_back",
    "remove_intervention",
    "remove_precaution",
    "save_exercise",
    "set_session_frequency",
    "start_rehabilitation",
    "stop_prescription",
]
