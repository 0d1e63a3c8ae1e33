"""Reply-mode campaigns: which questionnaires fit, and the SMS texts that ask and re-prompt."""

from __future__ import annotations

import pytest

from survey.sms.reply_mode import ReplyModeError, prompt, reply_questions, reprompt
from tests.questionnaires import HOTLINE, hotline_questionnaire


def test_reply_questions_are_the_items_in_questionnaire_order():
    questionnaire = hotline_questionnaire()
    assert [q.name for q in reply_questions(questionnaire)] == ["overall", "solved", "recommend"]


def test_a_questionnaire_with_more_than_three_items_is_refused_with_the_reason():
    extra = {"name": "again", "type": "nps", "label": {"zh": "再次？", "en": "Again?"}}
    questionnaire = hotline_questionnaire(items=[*HOTLINE["items"], extra])
    with pytest.raises(ReplyModeError, match="it has 4 items; an SMS reply campaign asks 1 to 3"):
        reply_questions(questionnaire)


def test_items_that_cannot_be_answered_with_a_number_are_refused_by_name(sample_questionnaire):
    text_item = {"name": "why", "type": "text", "label": {"zh": "为什么？", "en": "Why?"}}
    questionnaire = hotline_questionnaire(items=[HOTLINE["items"][0], text_item])
    with pytest.raises(ReplyModeError, match="item 'why' is of type text"):
        reply_questions(questionnaire)
    with pytest.raises(ReplyModeError, match="item 'complained' is of type yes_no"):
        reply_questions(sample_questionnaire)


def test_choice_codes_that_are_not_numbers_are_refused():
    lists = dict(HOTLINE["choice_lists"])
    lists["sat3"] = [dict(choice, name=code) for choice, code in
                     zip(lists["sat3"], ("a", "b", "c"), strict=True)]  # fmt: skip
    questionnaire = hotline_questionnaire(choice_lists=lists)
    with pytest.raises(ReplyModeError, match=r"choice codes \['a', 'b', 'c'\]"):
        reply_questions(questionnaire)


def test_prompt_lists_the_numbers_to_reply_with_in_the_customers_language():
    questionnaire = hotline_questionnaire()
    overall, _, recommend = questionnaire.items
    assert prompt(overall, questionnaire, "zh") == (
        "您对本次热线服务满意吗？\n请回复数字：1 满意，2 一般，3 不满意"
    )
    assert prompt(overall, questionnaire, "en") == (
        "Were you satisfied with the call?\nReply with a number: 1 Satisfied, 2 Neutral, "
        "3 Dissatisfied"
    )
    assert prompt(recommend, questionnaire, "en").endswith("Reply with a number from 0 to 10.")


def test_the_reprompt_is_short_and_says_which_numbers_answer():
    questionnaire = hotline_questionnaire()
    overall, _, recommend = questionnaire.items
    assert reprompt(overall, questionnaire, "zh") == "抱歉，没有看懂。请回复1-3中的一个数字。"
    assert "0-10" in reprompt(recommend, questionnaire, "en")
