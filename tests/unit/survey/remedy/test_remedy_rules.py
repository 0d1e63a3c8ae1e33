"""Service-remedy rules: which answers open a follow-up, and how rules are checked."""

from __future__ import annotations

import pytest

from survey.questionnaire import load_questionnaire
from survey.remedy.rules import DEFAULT_RULES, Rule, RuleError, fired_rules, parse_rules
from tests.common import SAMPLES


@pytest.fixture(scope="module")
def hotline():
    questionnaire, _ = load_questionnaire(SAMPLES / "hotline_questionnaire.yaml")
    return questionnaire


def neutral(questionnaire) -> dict[str, str]:
    """Every rating item answered 3 (fair / neutral): no default rule may fire."""
    return {i.name: "3" for i in questionnaire.items if i.type == "rating"}


def test_neutral_answers_fire_no_rule(sample_questionnaire):
    assert fired_rules(DEFAULT_RULES, sample_questionnaire, neutral(sample_questionnaire)) == []


@pytest.mark.parametrize(
    ("code", "fired"),
    [
        ("1", ["overall_dissatisfied", "item_very_poor"]),
        ("2", ["overall_dissatisfied"]),
        ("3", []),
        ("5", []),
        ("6", []),
    ],
)
def test_overall_satisfaction_fires_at_two_or_less_and_never_on_cannot_answer(
    sample_questionnaire, code, fired
):
    answers = {**neutral(sample_questionnaire), "sat_overall": code}
    assert fired_rules(DEFAULT_RULES, sample_questionnaire, answers) == fired


@pytest.mark.parametrize(("code", "fires"), [("1", True), ("2", False), ("6", False)])
def test_any_rating_item_very_poor_fires_only_on_its_lowest_score(
    sample_questionnaire, code, fires
):
    answers = {**neutral(sample_questionnaire), "hall_waiting": code}
    assert fired_rules(DEFAULT_RULES, sample_questionnaire, answers) == (
        ["item_very_poor"] if fires else []
    )


def test_unanswered_items_fire_nothing(sample_questionnaire):
    assert fired_rules(DEFAULT_RULES, sample_questionnaire, {}) == []
    assert fired_rules(DEFAULT_RULES, sample_questionnaire, {"sat_overall": None}) == []


def test_at_least_counts_matching_items(sample_questionnaire):
    rules = parse_rules(
        [{"code": "two_very_poor", "item": "*", "op": "<=", "value": 1, "at_least": 2}]
    )
    one = {**neutral(sample_questionnaire), "net_clarity": "1"}
    assert fired_rules(rules, sample_questionnaire, one) == []
    assert fired_rules(rules, sample_questionnaire, {**one, "bil_notice": "1"}) == ["two_very_poor"]


@pytest.mark.parametrize(("code", "fires"), [("3", True), ("2", False), ("1", False)])
def test_sms_dissatisfied_reply_fires_on_the_hotline_evaluation(hotline, code, fires):
    # Code 3 is 不满意 (dissatisfied), scored 1; code 1 (满意) is scored 3.
    answers = {"overall": code, "solved": "2", "recommend": "0"}
    assert fired_rules(DEFAULT_RULES, hotline, answers) == (["sms_dissatisfied"] if fires else [])


def test_a_rule_for_another_form_or_a_missing_item_does_not_apply(sample_questionnaire):
    rules = [
        Rule("hotline", "sat_overall", "<=", 5, form_id="hotline_eval"),
        Rule("absent", "no_such_item", "<=", 5),
    ]
    answers = {**neutral(sample_questionnaire), "sat_overall": "1"}
    assert fired_rules(rules, sample_questionnaire, answers) == []


def test_rules_from_data_with_every_operator(sample_questionnaire):
    rules = parse_rules(
        [
            {"code": f"r{i}", "item": "sat_overall", "op": op, "value": 3}
            for i, op in enumerate(("<=", "<", ">=", ">", "==", "!="))
        ]
    )
    answers = {"sat_overall": "3"}
    assert fired_rules(rules, sample_questionnaire, answers) == ["r0", "r2", "r4"]


def test_invalid_rules_report_every_problem_with_its_place():
    data = [
        {"code": "Bad Code", "item": "sat_overall", "op": "<=", "value": 2},
        {"code": "low", "item": "sat_overall", "op": "=<", "value": "2"},
        {"code": "low", "item": "sat_overall", "op": "<=", "value": True, "colour": "red"},
        {"code": "few", "item": "net_clarity", "op": "<=", "value": 1, "at_least": 2},
        "not a rule",
    ]
    with pytest.raises(RuleError) as raised:
        parse_rules(data)
    problems = "\n".join(raised.value.problems)
    assert "rule 1: code 'Bad Code' must be a lower-case identifier" in problems
    assert "rule 2: op '=<' is not one of" in problems
    assert "rule 2: value '2' must be a number" in problems
    assert "rule 3: code 'low' is already used" in problems
    assert "rule 3: value True must be a number" in problems
    assert "rule 3: unknown field(s) colour" in problems
    assert "rule 4: at_least applies only to item '*'" in problems
    assert "rule 5: expected a mapping" in problems


def test_the_classifier_reason_cannot_be_taken_by_a_rule():
    with pytest.raises(RuleError, match="already used"):
        parse_rules([{"code": "potentially_dissatisfied", "item": "x", "op": "<", "value": 1}])
