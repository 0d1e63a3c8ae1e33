"""The pure parts of answering a questionnaire: pages, skip logic, validation, resuming."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from survey.answering.pages import (
    INTERVIEWER,
    RESPONDENT,
    TEXT_MAX,
    build_pages,
    decode,
    latest_answers,
    next_page,
    offered_codes,
    previous_page,
    relevant_items,
    resume_page,
    unanswered_required,
    validate_page,
    visible_pages,
)
from survey.questionnaire import build_questionnaire, read_yaml

SAMPLE_QUESTIONNAIRE = Path(__file__).parents[4] / "data/samples/csi_questionnaire.yaml"

SMALL = """
form_id: small
version: "1"
languages: [zh, en]
default_language: zh
title: {zh: 小问卷, en: Small survey}
missing_codes:
  cannot_answer: {label: {zh: 无法回答, en: Cannot answer}}
  refused: {label: {zh: 拒绝回答, en: Refused}, modes: [interviewer]}
choice_lists:
  q5:
    - {name: "1", score: 1, label: {zh: 差, en: Poor}}
    - {name: "2", score: 2, label: {zh: 较差, en: Fair}}
    - {name: "3", score: 3, label: {zh: 好, en: Good}}
    - {name: "6", missing: cannot_answer, label: {zh: 无法回答, en: Cannot answer}}
    - {name: "7", missing: refused, label: {zh: 拒绝回答, en: Refused}}
  channels:
    - {name: app, label: {zh: 应用, en: App}}
    - {name: hall, label: {zh: 营业厅, en: Hall}}
    - {name: "6", missing: cannot_answer, label: {zh: 无法回答, en: Cannot answer}}
constructs:
  a: {label: {zh: 甲, en: A}}
  b: {label: {zh: 乙, en: B}}
items:
  - {name: a1, type: rating, choices: q5, construct: a, required: true, label: {zh: 甲一, en: A1}}
  - {name: a2, type: rating, choices: q5, construct: a, required: true, label: {zh: 甲二, en: A2}}
  - {name: a3, type: rating, choices: q5, construct: a, relevant: "${a2} <= 1",
     label: {zh: 甲三, en: A3}}
  - {name: used, type: multiple, choices: channels, label: {zh: 渠道, en: Channels}}
  - {name: why, type: text, relevant: "selected(${used}, 'hall')", label: {zh: 为什么, en: Why}}
  - {name: b1, type: rating, choices: q5, construct: b, required: true, label: {zh: 乙一, en: B1}}
  - {name: b2, type: rating, choices: q5, construct: b, label: {zh: 乙二, en: B2}}
  - {name: nps, type: nps, label: {zh: 推荐, en: Recommend}}
model: |
  b ~ a
"""


@pytest.fixture(scope="module")
def small():
    raw, locate = read_yaml(SMALL)
    questionnaire, _ = build_questionnaire(raw, locate)
    return questionnaire


def names(pages):
    return [page.item_names for page in pages]


def test_grouped_pages_follow_constructs_and_split_where_skip_logic_looks_back(small):
    # a3 depends on a2 (same construct) and why on used: a page without JavaScript cannot
    # show them as the question above is answered, so each starts a page.
    assert names(build_pages(small, "grouped")) == [
        ("a1", "a2"),
        ("a3",),
        ("used",),
        ("why",),
        ("b1", "b2"),
        ("nps",),
    ]


def test_single_layout_gives_one_item_per_page_numbered_from_one(small):
    pages = build_pages(small, "single")
    assert names(pages) == [(name,) for name in small.item_names]
    assert [page.number for page in pages] == list(range(1, 9))


def test_unknown_layout_is_refused_with_the_choices(small):
    with pytest.raises(ValueError, match="grouped or single"):
        build_pages(small, "carousel")


def test_sample_questionnaire_grouped_has_one_page_per_construct_run(sample_questionnaire):
    pages = build_pages(sample_questionnaire, "grouped")
    assert [page.construct for page in pages] == [
        "image",
        "network",
        "billing",
        "hall",
        "new_services",
        None,
        None,
        "complaint",
        "satisfaction",
        None,
        "loyalty",
        None,
    ]
    assert pages[6].item_names == ("complaint_topic",)


def test_latest_answer_per_item_wins_and_a_null_row_clears():
    rows = [("a1", "1"), ("a2", "3"), ("a1", "2"), ("a2", None)]
    assert latest_answers(rows) == {"a1": "2", "a2": None}


def test_relevant_items_follow_answers_and_cannot_answer_counts_as_empty(small):
    assert relevant_items(small, {}) == frozenset({"a1", "a2", "used", "b1", "b2", "nps"})
    assert "a3" in relevant_items(small, {"a2": "1"})
    # "Cannot answer" (6) is a missing value: it is not <= 1, nor anything else.
    assert "a3" not in relevant_items(small, {"a2": "6"})
    assert "why" in relevant_items(small, {"used": json.dumps(["app", "hall"])})
    assert "why" not in relevant_items(small, {"used": json.dumps(["6"])})


def test_an_item_left_out_by_skip_logic_does_not_feed_later_skip_logic():
    raw, locate = read_yaml(
        SMALL.replace(
            "- {name: why, type: text, relevant: \"selected(${used}, 'hall')\"",
            '- {name: why, type: text, relevant: "${a3} = 1"',
        )
    )
    chained, _ = build_questionnaire(raw, locate)
    # a3 was answered while relevant, then a2 changed: a3 no longer counts, nor does why.
    assert "why" in relevant_items(chained, {"a2": "1", "a3": "1"})
    assert "why" not in relevant_items(chained, {"a2": "3", "a3": "1"})


def test_remembered_skip_logic_equals_skip_logic_worked_out_afresh(small):
    """relevant_items remembers results by the answers conditions name; every other answer,
    and whether an item is absent or blank, must not change what it returns."""
    import random

    from survey.answering.pages import _relevant_items

    sample, _ = read_yaml(SAMPLE_QUESTIONNAIRE.read_text(encoding="utf-8"))
    sample, _ = build_questionnaire(sample, _)
    rng = random.Random(7)
    for questionnaire in (small, sample):
        for _ in range(400):
            answers: dict[str, str | None] = {}
            for item in questionnaire.items:
                draw = rng.random()
                if draw < 0.3:
                    continue  # never shown
                if draw < 0.4:
                    answers[item.name] = None  # shown, left blank
                elif item.type == "multiple":
                    codes = [c.name for c in item.choices.choices]
                    answers[item.name] = json.dumps(rng.sample(codes, rng.randint(0, 2)))
                elif item.choices is not None:
                    answers[item.name] = rng.choice([c.name for c in item.choices.choices])
                else:
                    answers[item.name] = rng.choice(["0", "5", "10", "text"])
            assert relevant_items(questionnaire, answers) == _relevant_items(questionnaire, answers)


def test_decode_gives_lists_for_multiple_choice_and_text_otherwise(small):
    used, a1 = small.item("used"), small.item("a1")
    assert decode(used, '["app","hall"]') == ["app", "hall"]
    assert decode(used, None) == []
    assert decode(used, "not json") == []
    assert decode(a1, "2") == "2"
    assert decode(a1, None) is None


def test_interviewer_only_missing_codes_are_offered_to_interviewers_only(small):
    a1 = small.item("a1")
    assert offered_codes(a1, small, RESPONDENT) == ("1", "2", "3", "6")
    assert offered_codes(a1, small, INTERVIEWER) == ("1", "2", "3", "6", "7")
    assert offered_codes(small.item("nps"), small) == tuple(str(n) for n in range(11))
    assert offered_codes(small.item("why"), small) == ()


def test_validate_page_accepts_codes_and_cannot_answer(small):
    items = [small.item("a1"), small.item("a2")]
    check = validate_page(small, items, {"a1": ["3"], "a2": ["6"], "csrf": ["x"]})
    assert check.ok
    assert check.values == {"a1": "3", "a2": "6"}


def test_validate_page_reports_required_and_invalid_choice_per_field(small):
    items = [small.item("a1"), small.item("a2"), small.item("b2")]
    check = validate_page(small, items, {"a1": [""], "a2": ["9"]})
    assert {name: error.code for name, error in check.errors.items()} == {
        "a1": "required",
        "a2": "invalid_choice",
    }
    assert check.values["b2"] is None  # optional and blank: stored as a blank


def test_refused_is_an_invalid_choice_for_a_respondent_but_valid_for_an_interviewer(small):
    items = [small.item("a1")]
    assert validate_page(small, items, {"a1": ["7"]}).errors["a1"].code == "invalid_choice"
    assert validate_page(small, items, {"a1": ["7"]}, INTERVIEWER).values == {"a1": "7"}


def test_two_values_for_a_single_choice_are_refused(small):
    check = validate_page(small, [small.item("a1")], {"a1": ["1", "2"]})
    assert check.errors["a1"].code == "invalid_choice"


def test_multiple_choice_is_stored_in_questionnaire_order_as_json(small):
    check = validate_page(small, [small.item("used")], {"used": ["hall", "app"]})
    assert check.ok and check.values == {"used": '["app", "hall"]'}
    blank = validate_page(small, [small.item("used")], {})
    assert blank.ok and blank.values == {"used": None}


def test_cannot_answer_is_exclusive_in_multiple_choice(small):
    check = validate_page(small, [small.item("used")], {"used": ["app", "6"]})
    assert check.errors["used"].code == "exclusive_missing"


def test_text_is_trimmed_line_breaks_normalised_and_length_checked(small):
    why = small.item("why")
    assert validate_page(small, [why], {"why": ["  a\r\nb  "]}).values == {"why": "a\nb"}
    assert validate_page(small, [why], {"why": ["   "]}).values == {"why": None}
    too_long = validate_page(small, [why], {"why": ["x" * (TEXT_MAX + 1)]})
    assert too_long.errors["why"].code == "too_long"
    assert validate_page(small, [why], {"why": ["x" * TEXT_MAX]}).ok


def test_unanswered_required_ignores_items_skip_logic_leaves_out(small):
    answers = {"a1": "1", "a2": "1", "b1": "6"}
    # a3 is relevant (a2 <= 1) but optional; b1 answered "cannot answer" counts as answered.
    assert unanswered_required(small, answers) == []
    assert unanswered_required(small, {"a1": "1"}) == ["a2", "b1"]


def test_resume_page_is_the_first_page_not_yet_answered(small):
    pages = build_pages(small, "grouped")
    assert resume_page(pages, small, {}).number == 1
    # a2 = 3 leaves a3 out: the next page to answer is the channels page.
    assert resume_page(pages, small, {"a1": "1", "a2": "3"}).item_names == ("used",)
    # A page seen and left blank (a NULL row) counts as answered when optional.
    seen = {"a1": "1", "a2": "3", "used": None}
    assert resume_page(pages, small, seen).item_names == ("b1", "b2")
    # A required answer cleared later sends the customer back to it.
    assert resume_page(pages, small, {**seen, "a1": None}).number == 1


def test_resume_page_when_everything_is_answered_is_the_last_page(small):
    pages = build_pages(small, "grouped")
    answers = {"a1": "1", "a2": "3", "used": None, "b1": "2", "b2": None, "nps": "9"}
    assert resume_page(pages, small, answers).item_names == ("nps",)


def test_next_and_previous_pages_skip_pages_without_a_question_to_ask(small):
    pages = build_pages(small, "grouped")
    relevant = relevant_items(small, {"a2": "3"})
    visible = visible_pages(pages, relevant)
    assert [page.item_names for page in visible] == [
        ("a1", "a2"),
        ("used",),
        ("b1", "b2"),
        ("nps",),
    ]
    assert next_page(pages, pages[0], relevant).item_names == ("used",)
    assert previous_page(pages, visible[1], relevant).number == 1
    assert previous_page(pages, pages[0], relevant) is None
    assert next_page(pages, visible[-1], relevant) is None
