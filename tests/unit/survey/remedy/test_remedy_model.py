"""The "potentially dissatisfied" classifier: features, validation, JSON scoring."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from survey.questionnaire import load_questionnaire
from survey.remedy.classifier import (
    DissatisfactionClassifier,
    delong_auc,
    feature_items,
    features_of,
    flags,
    precision_threshold,
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
    return DissatisfactionClassifier(random_state=0).fit(features, y)


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


def test_delong_matches_sklearn_auc_and_the_direct_variance_formula():
    rng = np.random.default_rng(4)
    y = rng.integers(0, 2, 300)
    scores = np.round(y * 0.8 + rng.normal(size=300), 1)  # rounded: many ties
    result = delong_auc(y, scores)
    assert result.auc == pytest.approx(roc_auc_score(y, scores), abs=1e-12)
    # DeLong's structural components from the kernel psi(x, y) = 1 if x > y, 1/2 if equal.
    pos, neg = scores[y == 1], scores[y == 0]
    psi = (pos[:, None] > neg[None, :]) + 0.5 * (pos[:, None] == neg[None, :])
    v10, v01 = psi.mean(axis=1), psi.mean(axis=0)
    variance = v10.var(ddof=1) / len(pos) + v01.var(ddof=1) / len(neg)
    assert result.se == pytest.approx(np.sqrt(variance), rel=1e-10)
    assert result.ci_low == pytest.approx(result.auc - 1.959963984540054 * result.se, abs=1e-12)


def test_precision_threshold_is_the_lowest_score_meeting_the_target():
    y = np.array([1, 1, 0, 1, 0, 0])
    scores = np.array([0.9, 0.8, 0.7, 0.6, 0.5, 0.4])
    assert precision_threshold(y, scores, 0.75) == 0.6  # 3 of the top 4
    assert precision_threshold(y, scores, 1.0) == 0.8
    assert precision_threshold(np.zeros(6), scores, 0.5) is None


def test_json_scoring_equals_sklearn_predict_proba(fitted, sample_table):
    features, _ = sample_table
    probe = features.head(400).copy()
    probe.loc[probe.index[:5], "region"] = "Atlantis"  # a category never seen in training
    probe.loc[probe.index[5:10], "channel"] = ""
    probe.loc[probe.index[10:20], "net_clarity"] = np.nan  # cannot answer
    parameters = json.loads(json.dumps(fitted.parameters_))  # plain JSON, round-tripped
    expected = fitted.pipeline_.predict_proba(probe[fitted.pipeline_.feature_names_in_])[:, 1]
    mine = np.array([score(parameters, row) for row in probe.to_dict("records")])
    np.testing.assert_allclose(mine, expected, rtol=0, atol=1e-12)


def test_sample_data_gives_a_usable_classifier(fitted):
    summary = fitted.summary()
    assert summary["usable"] and summary["reason"] is None
    assert 0.70 <= summary["auc_ci_low"] < summary["auc"] < summary["auc_ci_high"] < 0.95
    assert summary["n_train"] + summary["n_validation"] == 4981
    assert 0 < fitted.threshold_ < 1 and flags(fitted.parameters_, fitted.threshold_)
    at = summary["at_threshold"]
    assert 0.3 < at["precision"] < 0.7 and 0 < at["flagged_share"] < 0.5


def test_a_classifier_trained_on_noise_is_unusable():
    rng = np.random.default_rng(7)
    n = 1200
    features = pd.DataFrame(
        {
            "net_clarity": rng.integers(1, 6, n).astype(float),
            "tenure_months": rng.integers(1, 80, n).astype(float),
            "monthly_spend": rng.gamma(4, 20, n),
            "region": rng.choice(["Ningbo", "Wenzhou"], n),
        }
    )
    noise = DissatisfactionClassifier(random_state=1).fit(features, rng.integers(0, 2, n))
    assert not noise.usable_
    assert "below the minimum 0.7" in noise.reason_ or "0.5 (chance)" in noise.reason_


def test_fit_refuses_too_few_dissatisfied_responses():
    features = pd.DataFrame({"net_clarity": np.arange(100.0)})
    y = np.r_[np.ones(5, dtype=int), np.zeros(95, dtype=int)]
    with pytest.raises(ValueError, match="at least 20 dissatisfied"):
        DissatisfactionClassifier().fit(features, y)


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
