"""Synthetic responses: reproducible, documented, and carrying the truth they came from."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import yaml

from survey.frames.sample_frame import generate_frame
from survey.synthetic.responses import implied_r2, read_truth, simulate_responses
from tests.common import SAMPLES

TRUTH = read_truth(SAMPLES / "csi_truth.yaml")


@pytest.fixture(scope="module")
def data(sample_questionnaire):
    return simulate_responses(sample_questionnaire, generate_frame(), TRUTH, 5000, seed=11)


def scores(data, questionnaire, items):
    return pd.DataFrame({i: data[i].map(questionnaire.item(i).score) for i in items}).astype(float)


def test_same_seed_same_data_other_seed_other_data(sample_questionnaire):
    frame = generate_frame(2000)
    a = simulate_responses(sample_questionnaire, frame, TRUTH, 300, seed=5)
    b = simulate_responses(sample_questionnaire, frame, TRUTH, 300, seed=5)
    c = simulate_responses(sample_questionnaire, frame, TRUTH, 300, seed=6)
    pd.testing.assert_frame_equal(a, b)
    assert not a.equals(c)


def test_cli_reproduces_the_committed_sample_and_writes_the_truth_beside_it(tmp_path):
    out = tmp_path / "responses.csv"
    run = subprocess.run(
        [sys.executable, "-m", "api.cli.main", "sample", "generate", "--n", "5000", "--seed", "1",
         "--out", str(out)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert out.read_bytes() == (SAMPLES / "responses.csv").read_bytes()
    truth = yaml.safe_load((tmp_path / "responses.truth.yaml").read_text(encoding="utf-8"))
    assert truth["generated"] == {
        "n": 5000,
        "seed": 1,
        "implied_r2": {k: round(v, 6) for k, v in implied_r2(TRUTH).items()},
    }
    assert truth["paths"] == TRUTH["paths"]


def test_implied_r2_matches_the_latent_model():
    # Satisfaction: b' Σ b with Σ = 0.65 I + 0.35 11'.
    b = np.array(list(TRUTH["paths"]["satisfaction"].values()))
    sigma = 0.65 * np.eye(6) + 0.35
    assert implied_r2(TRUTH)["satisfaction"] == pytest.approx(b @ sigma @ b, abs=1e-12)


def test_answers_are_codes_of_the_questionnaire(data, sample_questionnaire):
    for item in sample_questionnaire.items:
        if item.choices is None:
            continue
        allowed = {c.name for c in item.choices.choices}
        present = set(data[item.name].dropna().astype(str))
        assert present <= allowed, item.name


def test_cannot_answer_rates_follow_the_truth(data):
    # 5000 draws: the binomial SD of a 15% rate is 0.5 points; 2 points is > 4 SD.
    rates = TRUTH["cannot_answer"]
    for item in ("cmp_result", "new_notice", "net_coverage"):
        expected = rates.get(item, rates["default"])
        assert (data[item] == "6").mean() == pytest.approx(expected, abs=0.02)


def test_skip_logic_leaves_items_unasked(data, sample_questionnaire):
    sat = data["sat_overall"].map(sample_questionnaire.item("sat_overall").score)
    asked = data["improve"].notna()
    assert (asked == (sat <= 2)).all()
    assert (data["complaint_topic"].notna() == (data["complained"] == "yes")).all()


def test_network_is_the_lowest_performing_and_most_important_driver(data, sample_questionnaire):
    blocks = sample_questionnaire.construct_items()
    means = {c: scores(data, sample_questionnaire, items).mean(axis=1) for c, items in
             blocks.items()}  # fmt: skip
    drivers = list(TRUTH["paths"]["satisfaction"])
    performance = {d: means[d].mean() for d in drivers}
    assert min(performance, key=performance.get) == "network"
    table = pd.DataFrame(means).dropna()
    x = (table[drivers] - table[drivers].mean()) / table[drivers].std()
    beta, *_ = np.linalg.lstsq(
        np.column_stack([np.ones(len(x)), x]), table["satisfaction"], rcond=None
    )
    importance = dict(zip(drivers, beta[1:], strict=True))
    assert max(importance, key=importance.get) == "network"
    assert min(importance, key=importance.get) == "new_services"


def test_careless_responders_straight_line(data, sample_questionnaire):
    rated = [i.name for i in sample_questionnaire.items if i.construct]
    codes = data[rated].replace("6", np.nan)
    straight = codes.nunique(axis=1) == 1
    # 1.5% straight-liners by design; a few attentive respondents may also give one answer.
    assert 0.01 <= straight.mean() <= 0.03


def test_truth_with_paths_explaining_more_than_all_variance_is_refused(sample_questionnaire):
    bad = dict(TRUTH, paths={**TRUTH["paths"], "satisfaction": {
        d: 0.9 for d in TRUTH["paths"]["satisfaction"]}})  # fmt: skip
    with pytest.raises(ValueError, match="R²"):
        simulate_responses(sample_questionnaire, generate_frame(100), bad, 10, seed=1)
