"""The "potentially dissatisfied" classifier in the domain: features, JSON scoring, the sample.

The statistics (the fit, the DeLong interval, the threshold) are tested in
tests/unit/models/test_classifier.py.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from models.classifier import fit_classifier
from survey.questionnaire import load_questionnaire
from survey.remedy.classifier import (
    CATEGORICAL_ATTRIBUTES,
    feature_items,
    features_of,
    flags,
    score,
    training_table,
)
from tests.common import SAMPLES


@pytest.fixture(scope="module")
def sample_table(sample_questionnaire):
    responses = pd.read_csv(SAMPLES / "responses.csv", dtype={"customer_id": str})
    frame = pd.read_csv(SAMPLES / "frame.csv", dtype={"customer_id": str})
    return training_table(sample_questionnaire, responses, frame)


@pytest.fixture(scope="module")
def fitted(sample_table):
    features, y = sample_table
    return fit_classifier(features, y, categorical=CATEGORICAL_ATTRIBUTES, random_state=0)


def test_features_leave_out_the_target_its_construct_and_what_it_causes(sample_questionnaire):
    items = set(feature_items(sample_questionnaire))
    assert {"net_data_speed", "bil_notice", "hall_attitude", "cmp_result", "complained"} <= items
    # satisfaction itself, loyalty (caused by it), NPS, text asked only when dissatisfied
    leaks = {
        "sat_overall",
        "sat_expectation",
        "sat_ideal",
        "loy_continue",
        "loy_recommend",
        "loy_price",
        "nps",
        "improve",
        "complaint_topic",
    }
    assert not items & leaks


def test_an_item_asked_only_because_of_the_target_is_no_feature():
    hotline, _ = load_questionnaire(SAMPLES / "hotline_questionnaire.yaml")
    # "solved" is asked only when overall != 1: its presence would reveal the target.
    assert feature_items(hotline, "overall") == ()


def test_training_table_scores_answers_and_drops_an_unknown_target(sample_questionnaire):
    responses = pd.DataFrame(
        {
            "customer_id": ["C1", "C2", "C3"],
            "channel": ["web", "cati", "x"],
            "sat_overall": [2, 6, 4],
            "net_clarity": [6, 4, 1],
        }
    )
    frame = pd.DataFrame(
        {
            "customer_id": ["C1", "C2", "C3"],
            "tenure_months": [3, 4, 5],
            "monthly_spend": [50.0, 60.0, 70.0],
            "tier": [1, 2, 3],
            "region": ["Ningbo", "Ningbo", "Wenzhou"],
        }
    )
    features, y = training_table(sample_questionnaire, responses, frame)
    assert y.tolist() == [1, 0]  # "6" (cannot answer) has no truth: left out
    assert np.isnan(features["net_clarity"].iloc[0]) and features["net_clarity"].iloc[1] == 1.0
    assert features["channel"].tolist() == ["web_link", "x"]
    assert features["tier"].tolist() == ["1", "3"] and features["tenure_months"].iloc[1] == 5.0


def test_json_scoring_equals_sklearn_predict_proba(fitted, sample_table):
    features, _ = sample_table
    probe = features.head(400).copy()
    probe.loc[probe.index[:5], "region"] = "Atlantis"  # a category never seen in training
    probe.loc[probe.index[5:10], "channel"] = ""
    probe.loc[probe.index[10:20], "net_clarity"] = np.nan  # cannot answer
    parameters = json.loads(json.dumps(fitted.parameters()))  # plain JSON, round-tripped
    expected = fitted.pipeline.predict_proba(probe[fitted.pipeline.feature_names_in_])[:, 1]
    mine = np.array([score(parameters, row) for row in probe.to_dict("records")])
    np.testing.assert_allclose(mine, expected, rtol=0, atol=1e-12)


def test_sample_data_gives_a_usable_classifier(fitted):
    summary = fitted.to_dict()
    assert summary["usable"] and summary["reason"] is None
    assert 0.70 <= summary["auc_ci_low"] < summary["auc"] < summary["auc_ci_high"] < 0.95
    assert summary["n_train"] + summary["n_validation"] == 4981
    assert 0 < fitted.threshold < 1 and flags(fitted.parameters(), fitted.threshold)
    at = summary["at_threshold"]
    assert 0.3 < at["precision"] < 0.7 and 0 < at["flagged_share"] < 0.5


def test_live_features_match_training_features(sample_questionnaire, sample_table):
    items = feature_items(sample_questionnaire)
    answers = {"net_clarity": "6", "complained": "yes", "sat_overall": "1"}
    attributes = {
        "tier": 3,
        "region": "Ningbo",
        "tenure_months": 12,
        "monthly_spend": 80.5,
        "channel": "web",
    }
    row = features_of(sample_questionnaire, items, answers, attributes)
    assert list(row) == list(sample_table[0].columns)
    assert row["net_clarity"] is None and row["complained"] == 1.0
    assert row["tier"] == "3" and row["channel"] == "web_link" and "sat_overall" not in row
