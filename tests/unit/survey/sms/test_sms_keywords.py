"""Inbound SMS replies: opt-out, opt-in, help, digit answers and free text."""

from __future__ import annotations

import pytest

from survey.sms.keywords import (
    OPT_OUT_KEYWORDS,
    ReplyKind,
    classify_reply,
    normalize_reply,
)


@pytest.mark.parametrize(
    "text",
    [
        "TD",
        "td",
        " Td ",
        "ＴＤ",  # full-width
        "T D",
        "TD。",
        "退订",
        " 退订 ",
        "退订！",
        "【退订】",
        "T",
        "取消订阅",
        "STOP",
        "stop",
        "Stop.",
        "STOP!!!",
        "ｓｔｏｐ",
        "stop\u200b",  # a zero-width space pasted along
        "UNSUBSCRIBE",
        "STOPALL",
        "stop all",
        "CANCEL",
        "END",
        "QUIT",
        "REVOKE",
        "OPTOUT",
        "opt-out",
        "Opt out",
        "\tstop\n",
        "STOP 🙏",
    ],
)
def test_opt_out_keyword_alone_is_an_opt_out(text):
    reply = classify_reply(text)
    assert reply.kind is ReplyKind.OPT_OUT
    assert reply.keyword in OPT_OUT_KEYWORDS


@pytest.mark.parametrize(
    "text",
    [
        "stop sending me this",
        "please stop",
        "STOP PLEASE",
        "I could not stop laughing",
        "不要再发了",
        "请退订",
        "td please",
    ],
)
def test_keyword_inside_a_longer_message_is_free_text(text):
    reply = classify_reply(text)
    assert reply.kind is ReplyKind.TEXT


@pytest.mark.parametrize(
    ("text", "mentions"),
    [
        ("stop sending me this", True),
        ("请退订", True),
        ("不要再发了", True),
        ("td please", True),
        ("the end of the call was fine", False),
        ("服务很好", False),
        ("I could not stop laughing", True),  # a person reads it; nothing is decided
    ],
)
def test_free_text_flags_an_opt_out_wish_for_a_person_to_read(text, mentions):
    reply = classify_reply(text)
    assert reply.kind is ReplyKind.TEXT
    assert reply.mentions_opt_out is mentions


@pytest.mark.parametrize("text", ["START", "start", "Unstop", " ＵＮＳＴＯＰ "])
def test_start_and_unstop_opt_back_in(text):
    assert classify_reply(text).kind is ReplyKind.OPT_IN


def test_yes_is_not_taken_as_consent():
    assert classify_reply("YES").kind is ReplyKind.TEXT


@pytest.mark.parametrize("text", ["HELP", "help", "Help?", "INFO", "帮助", "ｈｅｌｐ"])
def test_help_keywords(text):
    assert classify_reply(text).kind is ReplyKind.HELP


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("1", 1),
        ("0", 0),
        ("9", 9),
        (" 3 ", 3),
        ("１", 1),  # full-width digit
        ("３．", 3),
        ("1.", 1),
        ("2。", 2),
        ("(4)", 4),
        ("【5】", 5),
        ("①", 1),  # circled digit
        ("\u30001\u3000", 1),  # ideographic spaces
        ("10", 10),  # 10-point scales
        ("8分", 8),
        ("８ 分", 8),
        ("五", 5),
        ("十", 10),
        ("1!", 1),
    ],
)
def test_digit_answers_tolerate_width_spaces_and_punctuation(text, value):
    reply = classify_reply(text)
    assert reply.kind is ReplyKind.ANSWER
    assert reply.value == value


@pytest.mark.parametrize("text", ["1 2", "123", "1a", "a1", "1,2", "", "   ", "。", "😀", "0000"])
def test_not_a_single_answer(text):
    reply = classify_reply(text)
    assert reply.kind is ReplyKind.TEXT
    assert reply.value is None


def test_opt_out_wins_over_everything_else():
    # "T" is the Chinese convention "退订回T": never read as anything but an opt-out.
    assert classify_reply("t").kind is ReplyKind.OPT_OUT


def test_normalisation_folds_width_case_and_spaces():
    assert normalize_reply("  ＨＥＬＬＯ\u3000 Ｗｏｒｌｄ！ ") == "hello world"
    assert normalize_reply("...") == ""


def test_classify_refuses_non_text():
    with pytest.raises(TypeError):
        classify_reply(None)  # type: ignore[arg-type]
