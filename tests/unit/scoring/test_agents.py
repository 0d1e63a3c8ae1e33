"""Agents' rates, the beta-binomial prior and its shrinkage, checked against scipy.

The prior's fit is checked against an independent maximisation of
``scipy.stats.betabinom``'s log-likelihood (Nelder-Mead over log alpha, log beta) and by
recovering known parameters; the rates' intervals against statsmodels' Wilson interval.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import optimize, stats

from scoring.agents import (
    NO_BETWEEN_VARIANCE,
    POOLED,
    beta_binomial_log_likelihood,
    beta_binomial_prior,
    bottom_flags,
    flag_bottom,
    rank_shrunken,
    shrunken_rates,
    unit_rates,
)


def _independent_fit(y: np.ndarray, n: np.ndarray) -> tuple[float, float, float]:
    """alpha, beta and log-likelihood by scipy's betabinom and Nelder-Mead on the logs."""

    def negative(theta: np.ndarray) -> float:
        a, b = np.exp(theta)
        return -float(stats.betabinom.logpmf(y, n, a, b).sum())

    fit = optimize.minimize(
        negative,
        np.log([2.0, 2.0]),
        method="Nelder-Mead",
        options={"xatol": 1e-9, "fatol": 1e-10, "maxiter": 20_000},
    )
    a, b = np.exp(fit.x)
    return float(a), float(b), -float(fit.fun)


def _counts(alpha: float, beta: float, units: int, seed: int, low: int = 20, high: int = 300):
    rng = np.random.default_rng(seed)
    n = rng.integers(low, high, units)
    y = rng.binomial(n, rng.beta(alpha, beta, units))
    return y, n


def test_unit_rates_count_replies_and_give_statsmodels_wilson_intervals():
    from statsmodels.stats.proportion import proportion_confint

    frame = pd.DataFrame(
        {
            "agent_id": ["A"] * 6 + ["B"] * 3 + ["C"] * 2,
            "digit": ["1", "1", "3", "2", None, "3 等了太久"] + [1, 3, None] + [None, None],
        }
    )
    rates = unit_rates(frame, "agent_id")
    assert rates.loc["A", ["contacts", "replies", "satisfied", "dissatisfied"]].tolist() == [
        6,
        5,
        2,
        1,
    ]
    # Free text counts as a reply, in neither numerator.
    assert rates.loc["A", "satisfaction_rate"] == pytest.approx(2 / 5)
    low, high = proportion_confint(2, 5, alpha=0.05, method="wilson")
    assert rates.loc["A", ["satisfaction_ci_low", "satisfaction_ci_high"]].tolist() == (
        pytest.approx([low, high], abs=1e-12)
    )
    assert rates.loc["B", "dissatisfaction_rate"] == pytest.approx(0.5)
    assert rates.loc["C", "replies"] == 0
    assert np.isnan(rates.loc["C", "satisfaction_rate"])
    assert np.isnan(rates.loc["C", "satisfaction_ci_low"])
    assert rates.loc["A", "response_rate"] == pytest.approx(5 / 6)


def test_unit_rates_with_invitations_give_replies_per_invitation():
    frame = pd.DataFrame(
        {"team": ["T"] * 4, "digit": ["1", None, None, None], "invited": [True, True, False, False]}
    )
    rates = unit_rates(frame, "team", invited="invited")
    assert rates.loc["T", ["contacts", "invitations", "replies"]].tolist() == [4, 2, 1]
    assert rates.loc["T", "response_rate"] == pytest.approx(0.5)


def test_log_likelihood_is_scipys_betabinom():
    y, n = _counts(8.0, 2.0, 50, seed=1)
    ours = beta_binomial_log_likelihood(8.0, 2.0, y, n)
    assert ours == pytest.approx(stats.betabinom.logpmf(y, n, 8.0, 2.0).sum(), abs=1e-9)


@pytest.mark.parametrize(("alpha", "beta", "seed"), [(8.0, 2.0, 1), (30.0, 5.0, 2), (3.0, 9.0, 3)])
def test_prior_is_the_independent_maximum_likelihood_fit(alpha, beta, seed):
    y, n = _counts(alpha, beta, 40, seed)
    prior = beta_binomial_prior(y, n)
    a, b, loglik = _independent_fit(y, n)
    # Same maximum: log-likelihood to 1e-6, parameters to 1% (the surface is flat in M).
    assert prior.log_likelihood == pytest.approx(loglik, abs=1e-6)
    assert prior.alpha == pytest.approx(a, rel=0.01)
    assert prior.beta == pytest.approx(b, rel=0.01)
    assert prior.status == "fitted" and prior.converged


def test_prior_recovers_known_parameters_from_many_units():
    y, n = _counts(16.0, 4.0, 2000, seed=7, low=50, high=400)
    prior = beta_binomial_prior(y, n)
    assert prior.mean == pytest.approx(0.8, abs=0.005)
    assert prior.precision == pytest.approx(20.0, rel=0.1)
    assert prior.icc == pytest.approx(1 / 21, rel=0.1)


def test_no_between_unit_variance_pools_fully_with_a_prior_no_stronger_than_the_data():
    rng = np.random.default_rng(3)
    n = np.full(15, 100)
    y = rng.binomial(n, 0.8)
    # Rates exactly at the mean: the likelihood rises in M without bound.
    flat = beta_binomial_prior(np.full(15, 80), n)
    assert flat.status == NO_BETWEEN_VARIANCE
    assert flat.precision == pytest.approx(n.sum(), rel=1e-6)
    assert flat.mean == pytest.approx(0.8, abs=1e-3)
    assert beta_binomial_prior(y, n).precision <= n.sum() * (1 + 1e-9)


def test_all_successes_keep_the_prior_mean_inside_zero_one():
    prior = beta_binomial_prior([10, 20, 5], [10, 20, 5])
    assert 0.95 < prior.mean < 1
    assert np.isfinite(prior.alpha) and np.isfinite(prior.beta)


def test_no_trials_at_all_and_impossible_counts_are_refused():
    with pytest.raises(ValueError, match="no unit has a trial"):
        beta_binomial_prior([0, 0], [0, 0])
    with pytest.raises(ValueError, match="successes <= trials"):
        beta_binomial_prior([5], [3])


def _team(seed: int = 11) -> pd.DataFrame:
    """A team of 20 agents with ~200 replies each around 80% satisfied, and agent X with 4."""
    rng = np.random.default_rng(seed)
    n = rng.integers(150, 250, 20)
    y = rng.binomial(n, np.clip(rng.normal(0.8, 0.05, 20), 0, 1))
    agents = pd.DataFrame(
        {"satisfied": y, "replies": n, "team": "T1"},
        index=pd.Index([f"A{i:02d}" for i in range(20)], name="agent_id"),
    )
    return pd.concat(
        [agents, pd.DataFrame({"satisfied": [0], "replies": [4], "team": ["T1"]}, index=["X"])]
    )


def test_posterior_is_the_conjugate_beta_of_the_fitted_prior():
    table = _team()
    shrunk = shrunken_rates(table, successes="satisfied", trials="replies", group="team")
    prior = beta_binomial_prior(table["satisfied"], table["replies"])
    a = prior.alpha + table["satisfied"]
    b = prior.beta + table["replies"] - table["satisfied"]
    assert shrunk["posterior_mean"].to_numpy() == pytest.approx((a / (a + b)).to_numpy(), abs=1e-10)
    assert shrunk["ci_low"].to_numpy() == pytest.approx(stats.beta.ppf(0.025, a, b), abs=1e-10)
    assert shrunk["ci_high"].to_numpy() == pytest.approx(stats.beta.ppf(0.975, a, b), abs=1e-10)
    weight = prior.precision / (prior.precision + table["replies"])
    assert shrunk["shrinkage"].to_numpy() == pytest.approx(weight.to_numpy(), abs=1e-10)


def test_an_agent_with_four_replies_is_not_called_the_worst():
    table = _team()
    shrunk = shrunken_rates(table, successes="satisfied", trials="replies", group="team")
    flags = bottom_flags(shrunk, share=0.05)
    # 0 of 4 is the worst raw rate, and the raw "bottom 5%" flags it ...
    assert flags.loc["X", "bottom_raw"]
    # ... but its shrunken rate stays near the team's and is not flagged.
    assert not flags.loc["X", "bottom_shrunken"]
    assert shrunk.loc["X", "posterior_mean"] > 0.5
    ranked = rank_shrunken(shrunk, random_state=1)
    assert ranked.loc["X", "rank"] < len(table)
    # Its rank interval spans most of the table: the ranking says it is not known.
    assert ranked.loc["X", "rank_high"] - ranked.loc["X", "rank_low"] >= len(table) // 2
    assert ranked.loc["X", "p_bottom"] < 0.5


def test_a_group_with_one_agent_takes_the_overall_prior_and_no_replies_take_the_prior():
    table = _team()
    table.loc["solo"] = [50, 60, "T2"]
    table.loc["new"] = [0, 0, "T1"]
    shrunk = shrunken_rates(table, successes="satisfied", trials="replies", group="team")
    assert shrunk.loc["solo", "prior_status"] == POOLED
    overall = beta_binomial_prior(table["satisfied"], table["replies"])
    assert shrunk.loc["solo", "prior_mean"] == pytest.approx(overall.mean)
    new = shrunk.loc["new"]
    assert np.isnan(new["raw_rate"])
    assert new["shrinkage"] == 1.0
    assert new["posterior_mean"] == pytest.approx(new["prior_mean"])
    flags = bottom_flags(shrunk)
    assert not flags.loc["new", "bottom_raw"] and not flags.loc["new", "bottom_shrunken"]
    ranked = rank_shrunken(shrunk)
    assert pd.isna(ranked.loc["new", "rank"])
    assert ranked.index[-1] == "new"


def test_flag_bottom_flags_the_ceiling_of_the_share_and_skips_missing_values():
    values = pd.Series([0.9, 0.1, 0.5, np.nan, 0.2] * 10)
    flags = flag_bottom(values, 0.05)
    assert flags.sum() == 2  # ceil(0.05 * 40)
    assert (values[flags] == 0.1).all()
    worst_dissatisfaction = flag_bottom(values, 0.05, higher_is_better=False)
    assert (values[worst_dissatisfaction] == 0.9).all()
