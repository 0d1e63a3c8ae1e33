"""Answer codes to scores: one vectorised conversion, the same as Item.score cell by cell."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from survey.questionnaire import load_questionnaire
from survey.questionnaire.scores import answer_code, item_scores
from tests.common import SAMPLES


@pytest.fixture(scope="module")
def questionnaire():
    return load_questionnaire(SAMPLES / "csi_questionnaire.yaml")[0]


def cell_by_cell(table, items, questionnaire, missing=()):
    """The definition: every cell through Item.score (what the fit did before)."""
    out = {}
    for name in items:
        item = questionnaire.item(name)
        codes = table[name].map(lambda v: None if pd.isna(v) else answer_code(v))
        codes = codes.where(~codes.isin(missing))
        out[name] = codes.map(lambda c, item=item: np.nan if c is None else item.score(c))
    return pd.DataFrame(out, index=table.index).astype(float)


def test_the_sample_responses_score_as_item_score_does_cell_by_cell(questionnaire):
    table = pd.read_csv(SAMPLES / "responses.csv", dtype=str, keep_default_na=False,
                        na_values=[""])  # fmt: skip
    items = [i for i in questionnaire.item_names if i in table.columns][:20]
    expected = cell_by_cell(table, items, questionnaire)
    pd.testing.assert_frame_equal(item_scores(table, items, questionnaire), expected)
    assert expected.isna().any().any()  # "cannot answer" (code 6) is among them


def test_reverse_scoring_missing_choices_numbers_and_missing_codes(questionnaire):
    name = questionnaire.item_names[0]
    item = questionnaire.item(name)
    reversed_item = dataclasses.replace(item, reverse_scored=True)
    low, high = item.bounds
    table = pd.DataFrame({name: ["1", " 5", "6", None, "2"], "plain": [1.0, 2.5, 9.0, None, 3.0]})
    scores = item_scores(table, [name, "plain"], questionnaire, missing=["2"])
    assert scores[name].tolist()[:2] == [item.score("1"), item.score("5")]
    assert np.isnan(scores[name].iloc[2]) and np.isnan(scores[name].iloc[3])  # 6: cannot answer
    assert np.isnan(scores[name].iloc[4])  # declared missing with --missing 2
    assert scores["plain"].tolist()[:3] == [1.0, 2.5, 9.0]
    assert reversed_item.score("1") == low + high - item.score("1")
    numbers = pd.DataFrame({name: [1.0, 5.0, np.nan]})  # a Parquet file's floats
    assert item_scores(numbers, [name], questionnaire)[name].tolist()[:2] == [
        item.score("1"), item.score("5"),
    ]  # fmt: skip


@pytest.mark.parametrize("value", ["n/a", "inf", "-inf"])
def test_text_in_a_column_without_an_item_is_named_with_the_fix(value):
    table = pd.DataFrame({"x1": ["1", value, "3"]})
    with pytest.raises(ValueError, match=r"column x1 holds '.*', which is not a number.*--missing"):
        item_scores(table, ["x1"])


def test_a_column_named_in_the_model_but_absent_is_named():
    with pytest.raises(ValueError, match="no column.*x2"):
        item_scores(pd.DataFrame({"x1": [1]}), ["x1", "x2"])
