"""The logistic-regression classifier: DeLong's AUC interval, the threshold, the verdict."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from models.classifier import (
    ClassifierFit,
    delong_auc,
    fit_classifier,
    precision_threshold,
    threshold_rates,
)


def signal(n: int = 1500, seed: int = 3) -> tuple[pd.DataFrame, np.ndarray]:
    """Two informative numbers (one often missing), a noise number and a category."""
    rng = np.random.default_rng(seed)
    x1, x2 = rng.normal(size=n), rng.normal(size=n)
    region = rng.choice(["north", "south", "east"], n)
    logit = -0.5 + 1.6 * x1 - 1.0 * x2 + 0.8 * (region == "south")
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    features = pd.DataFrame(
        {
            "x1": x1,
            "x2": np.where(rng.random(n) < 0.1, np.nan, x2),
            "noise": rng.normal(size=n),
            "never": np.full(n, np.nan),  # all missing: left out
            "region": region,
        }
    )
    return features, y


@pytest.fixture(scope="module")
def fitted() -> ClassifierFit:
    features, y = signal()
    return fit_classifier(features, y, categorical=("region", "channel"), random_state=0)


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


def test_delong_interval_is_clipped_and_needs_two_of_each_class():
    perfect = delong_auc(np.array([0, 0, 0, 1, 1, 1]), np.array([1, 2, 3, 4, 5, 6.0]))
    assert perfect.auc == 1.0 and perfect.ci_high == 1.0 and perfect.level == 0.95
    with pytest.raises(ValueError, match="at least two cases of each class"):
        delong_auc(np.array([0, 0, 1]), np.array([0.1, 0.2, 0.3]))


def test_precision_threshold_is_the_lowest_score_meeting_the_target():
    y = np.array([1, 1, 0, 1, 0, 0])
    scores = np.array([0.9, 0.8, 0.7, 0.6, 0.5, 0.4])
    assert precision_threshold(y, scores, 0.75) == 0.6  # 3 of the top 4
    assert precision_threshold(y, scores, 1.0) == 0.8
    assert precision_threshold(np.zeros(6), scores, 0.5) is None


def test_precision_threshold_never_splits_a_tie():
    y = np.array([1, 1, 0, 0])
    scores = np.array([0.9, 0.5, 0.5, 0.1])
    # The sorted order puts the positive 0.5 first (2 of 2 flagged are positive), but a
    # threshold of 0.5 flags both tied cases: 2 of 3, short of 0.7.
    assert precision_threshold(y, scores, 0.7) == 0.9


def test_threshold_rates_count_precision_recall_and_share_flagged():
    y = np.array([1, 1, 0, 1, 0, 0])
    scores = np.array([0.9, 0.8, 0.7, 0.6, 0.5, 0.4])
    rates = threshold_rates(y, scores, 0.6)
    assert rates.precision == 0.75 and rates.recall == 1.0 and rates.flagged_share == 4 / 6
    nothing = threshold_rates(y, scores, None)
    assert nothing.precision is None and nothing.recall == 0.0 and nothing.flagged_share == 0.0


def test_a_classifier_of_a_real_signal_is_usable_and_frozen(fitted):
    assert fitted.usable and fitted.reason is None
    assert 0.70 <= fitted.validation.ci_low < fitted.validation.auc < fitted.validation.ci_high
    assert fitted.n_train + fitted.n_validation == 1500 and fitted.n_validation == 375
    assert 0 < fitted.threshold < 1 and fitted.at_threshold.precision >= 0.3
    assert [t.name for t in fitted.numeric] == ["x1", "x2", "noise"]  # "never" left out
    assert [t.name for t in fitted.categorical] == ["region"]  # "channel" is no column
    x1, x2, noise = (t.coefficient for t in fitted.numeric)
    assert x1 > 1 and x2 < -0.5 and abs(noise) < 0.2
    with pytest.raises(dataclasses.FrozenInstanceError):
        fitted.usable = False  # type: ignore[misc]


def test_parameters_are_plain_json_with_the_pipeline_numbers(fitted):
    parameters = fitted.parameters()
    assert json.loads(json.dumps(parameters)) == parameters
    assert parameters["kind"] == "logistic_regression"
    assert parameters["validation"] == fitted.to_dict()
    assert parameters["validation"]["ci_method"] == "DeLong"
    model = fitted.pipeline.named_steps["model"]
    numbers = [n["coefficient"] for n in parameters["numeric"]]
    categories = list(parameters["categorical"][0]["coefficients"].values())
    np.testing.assert_array_equal(numbers + categories, model.coef_[0])
    assert parameters["intercept"] == model.intercept_[0]
    assert set(parameters["categorical"][0]["coefficients"]) == {"east", "north", "south"}


def test_the_same_seed_gives_the_same_fit():
    features, y = signal(600, seed=5)
    one = fit_classifier(features, y, categorical=("region",), random_state=2)
    two = fit_classifier(features, y, categorical=("region",), random_state=2)
    assert one.parameters() == two.parameters()


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
    noise = fit_classifier(features, rng.integers(0, 2, n), categorical=("region",), random_state=1)
    assert not noise.usable
    assert "below the minimum 0.7" in noise.reason or "0.5 (chance)" in noise.reason


def test_fit_refuses_too_few_cases_of_a_class():
    features = pd.DataFrame({"net_clarity": np.arange(100.0)})
    y = np.r_[np.ones(5, dtype=int), np.zeros(95, dtype=int)]
    with pytest.raises(ValueError, match=r"at least 20 positive \(1\).*got 5 and 95"):
        fit_classifier(features, y)


@pytest.mark.parametrize(
    ("settings", "fragment"),
    [
        ({"validation_share": 1.0}, "validation_share"),
        ({"min_auc": 0.4}, "min_auc"),
        ({"precision_target": 0.0}, "precision_target"),
    ],
)
def test_fit_refuses_settings_out_of_range(settings, fragment):
    features, y = signal(200)
    with pytest.raises(ValueError, match=fragment):
        fit_classifier(features, y, categorical=("region",), **settings)


def test_fit_refuses_features_and_targets_of_different_lengths():
    features, y = signal(200)
    with pytest.raises(ValueError, match="rows of features"):
        fit_classifier(features, y[:-1], categorical=("region",))
