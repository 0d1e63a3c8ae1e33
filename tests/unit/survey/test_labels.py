"""Every code a page shows has a label in Chinese and in English, next to the code."""

from __future__ import annotations

import pytest

from survey.cati import outcomes
from survey.remedy import rules


@pytest.mark.parametrize(
    ("codes", "labels"),
    [
        ([*outcomes.OUTCOMES, outcomes.STOPPED], outcomes.LABELS),
        (rules.OUTCOMES, rules.OUTCOME_LABELS),
        (rules.ROOT_CAUSES, rules.ROOT_CAUSE_LABELS),
        ([*(r.code for r in rules.DEFAULT_RULES), rules.CLASSIFIER_REASON], rules.REASON_LABELS),
    ],
    ids=["call outcomes", "follow-up outcomes", "root causes", "follow-up reasons"],
)
def test_every_code_has_a_chinese_and_an_english_label(codes, labels):
    assert set(codes) == set(labels), "a code without a label, or a label without a code"
    for code in codes:
        zh, en = labels[code]
        assert zh.strip() and en.strip(), code
        assert any("\u4e00" <= ch <= "\u9fff" for ch in zh), f"{code}: {zh!r} is not Chinese"
        assert en.isascii(), f"{code}: {en!r} is not English"
