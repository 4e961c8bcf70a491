"""Intake triage (DOMAIN.md section 3): each indicator group, mixed answers, red flags first."""

import pytest

from patients.triage import (
    EXERCISE_THERAPY,
    MASSAGE_THERAPY,
    PERSONAL_TRAINING,
    PHYSIOTHERAPY,
    TriageAnswers,
    triage,
)


def ranked(**answers) -> list[str]:
    return [r.discipline for r in triage(TriageAnswers(**answers)).recommendations]


@pytest.mark.parametrize(
    "answers",
    [
        {"persistent_pain_or_stiffness": True},
        {"recovering_from_surgery_or_injury": True},
        {"condition_limits_mobility": True},
    ],
)
def test_pain_surgery_injury_or_limited_mobility_put_physiotherapy_first(answers):
    result = triage(TriageAnswers(**answers))
    assert result.recommendations[0].discipline == PHYSIOTHERAPY
    assert result.recommendations[0].reasons
    assert not result.red_flags


def test_a_chronic_condition_and_the_wish_to_stay_active_point_to_exercise_therapy():
    result = triage(
        TriageAnswers(chronic_conditions=("diabetes",), wants_to_stay_active_safely=True)
    )
    assert result.recommendations[0].discipline == EXERCISE_THERAPY
    assert "diabetes" in result.recommendations[0].reasons[0]


def test_healthy_with_fitness_goals_points_to_personal_training():
    assert ranked(goals=("weight_loss", "stamina")) == [PERSONAL_TRAINING]


def test_relaxation_or_tension_without_injury_points_to_massage():
    assert ranked(goals=("relaxation", "muscle_tension")) == [MASSAGE_THERAPY]


def test_massage_is_not_suggested_for_an_injury():
    assert MASSAGE_THERAPY not in ranked(
        recovering_from_surgery_or_injury=True, goals=("muscle_tension",)
    )


def test_stress_fits_both_training_and_massage_for_a_healthy_person():
    assert ranked(goals=("stress_management",)) == [PERSONAL_TRAINING, MASSAGE_THERAPY]


def test_mixed_answers_rank_every_fitting_discipline_with_its_own_reasons():
    result = triage(
        TriageAnswers(
            persistent_pain_or_stiffness=True,
            chronic_conditions=("heart_disease",),
            wants_to_stay_active_safely=True,
            goals=("fitness", "relaxation"),
        )
    )
    disciplines = [r.discipline for r in result.recommendations]
    # Not healthy, so training comes last, suggested for later.
    assert disciplines == [PHYSIOTHERAPY, EXERCISE_THERAPY, MASSAGE_THERAPY, PERSONAL_TRAINING]
    assert all(r.reasons for r in result.recommendations)
    assert "once the care above clears you" in result.recommendations[-1].reasons[0]


@pytest.mark.parametrize("flag", ["numbness", "imbalance", "muscle_weakness"])
def test_a_red_flag_puts_physiotherapy_first_whatever_else_is_answered(flag):
    result = triage(
        TriageAnswers(
            **{flag: True},
            chronic_conditions=("diabetes", "chronic_pain"),
            wants_to_stay_active_safely=True,
            goals=("fitness", "stamina", "weight_loss", "tone", "relaxation"),
        )
    )
    assert result.recommendations[0].discipline == PHYSIOTHERAPY
    assert [f.code for f in result.red_flags] == [flag]
    assert MASSAGE_THERAPY not in [r.discipline for r in result.recommendations]


def test_no_indication_still_answers_with_a_free_consult_suggestion():
    result = triage(TriageAnswers())
    assert [r.discipline for r in result.recommendations] == [PHYSIOTHERAPY]
    assert result.disclaimer


def test_api_returns_ranked_recommendations_red_flags_and_disclaimer(client):
    response = client.post(
        "/api/v1/public/triage/",
        {"answers": {"numbness": True, "goals": ["relaxation", "fitness"]}},
        content_type="application/json",
    )
    assert response.status_code == 200
    body = response.json()
    assert body["recommendations"][0]["discipline"] == PHYSIOTHERAPY
    assert body["recommendations"][0]["rank"] == 1
    assert body["red_flags"] == [{"code": "numbness", "message": "Numbness or tingling"}]
    assert "not medical advice" in body["disclaimer"]


def test_api_refuses_an_unknown_answer_value_naming_the_field(client):
    response = client.post(
        "/api/v1/public/triage/",
        {"answers": {"goals": ["flying"]}},
        content_type="application/json",
    )
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "answers.goals.0"


@pytest.mark.django_db
def test_the_questionnaire_is_listed_in_the_openapi_schema(client):
    schema = client.get("/api/schema/?format=json").json()
    answers = schema["components"]["schemas"]["TriageAnswersRequest"]["properties"]
    assert {"numbness", "imbalance", "muscle_weakness", "goals", "chronic_conditions"} <= set(
        answers
    )
    assert answers["numbness"]["description"]
