"""Agents, teams and queues measured fairly: rates with intervals, and shrunken rankings.

After a hotline contact the customer replies 1 (satisfied), 2 (fair) or 3 (dissatisfied).
Each unit (agent, team, queue, channel) gets its contacts, replies, response rate and the
shares of "1" and "3" with Wilson intervals (:func:`unit_rates`). An agent's raw share is
a poor thing to rank on: an agent with 4 replies, one of them "3", has a dissatisfaction
rate of 25% and would top a league table of 300 agents by chance alone. So each agent's
rate is shrunk toward their team's (or queue's) mean by empirical Bayes
(:func:`shrunken_rates`): a beta-binomial model whose prior is fitted per group by marginal
maximum likelihood (:func:`beta_binomial_prior`). Agents are ranked on the posterior means
with rank intervals (:func:`rank_shrunken`), and the "bottom 5%" can be flagged on raw or
on shrunken rates (:func:`flag_bottom`, :func:`bottom_flags`) to see the difference.

Pure: numpy, pandas, scipy; imports nothing of ``survey`` or ``api``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd
from scipy import optimize, stats
from scipy.special import betaln, digamma, expit, gammaln, logit

from scoring.proportions import wilson_interval

__all__ = [
    "RATE_COLUMNS",
    "SHRUNKEN_COLUMNS",
    "BetaPrior",
    "beta_binomial_log_likelihood",
    "beta_binomial_prior",
    "bottom_flags",
    "flag_bottom",
    "rank_shrunken",
    "shrunken_rates",
    "unit_rates",
]

FloatArray = npt.NDArray[np.float64]

#: Reply digits of the post-contact SMS.
SATISFIED, FAIR, DISSATISFIED = "1", "2", "3"

RATE_COLUMNS: tuple[str, ...] = (
    "contacts",
    "invitations",
    "replies",
    "response_rate",
    "satisfied",
    "satisfaction_rate",
    "satisfaction_ci_low",
    "satisfaction_ci_high",
    "dissatisfied",
    "dissatisfaction_rate",
    "dissatisfaction_ci_low",
    "dissatisfaction_ci_high",
)
SHRUNKEN_COLUMNS: tuple[str, ...] = (
    "group",
    "successes",
    "trials",
    "raw_rate",
    "prior_mean",
    "prior_precision",
    "prior_status",
    "shrinkage",
    "posterior_mean",
    "ci_low",
    "ci_high",
)

#: Prior status: fitted on the group's own units.
FITTED = "fitted"
#: Fitted, and the likelihood is flat in the between-unit variance up to the cap: the
#: units' rates differ no more than binomial noise says, so they are pooled toward the mean.
NO_BETWEEN_VARIANCE = "no_between_variance"
#: The group has too few units with replies to fit a prior; all units' prior is used.
POOLED = "pooled"


def _digits(answers: pd.Series) -> pd.Series:
    """Replies as the strings "1", "2", "3" (integers and floats read from files too)."""
    text = answers.astype("string").str.strip()
    return text.str.replace(r"\.0$", "", regex=True)


def unit_rates(
    contacts: pd.DataFrame,
    by: str | Sequence[str],
    *,
    answer: str = "digit",
    invited: str | None = None,
    level: float = 0.95,
) -> pd.DataFrame:
    """Contacts, replies, response rate and the shares of "1" and "3" of each unit.

    Parameters
    ----------
    contacts : pandas.DataFrame
        One row per contact. ``answer`` holds the reply digit ("1" satisfied, "2" fair,
        "3" dissatisfied; ints accepted) and is missing when the customer did not reply.
    by : str or sequence of str
        The unit column(s): ``"agent_id"``, ``"team"``, ``"queue"``, ``"channel"``, or e.g.
        ``["team", "day"]`` for trends.
    answer : str, default "digit"
        The reply column.
    invited : str, optional
        A boolean column saying whether the contact was invited. When given, the response
        rate is replies per invitation; otherwise replies per contact (every contact
        invited, as in a simulation).
    level : float, default 0.95
        Confidence level of the Wilson intervals.

    Returns
    -------
    pandas.DataFrame
        Indexed by ``by``, columns ``RATE_COLUMNS``. Rates and intervals are NaN for a
        unit without replies (a rate of nothing is not 0).

    See Also
    --------
    scoring.proportions.wilson_interval, shrunken_rates

    Notes
    -----
    ``satisfaction_rate`` = #"1" / replies and ``dissatisfaction_rate`` = #"3" / replies:
    a reply that is not one of the three digits (free text) counts as a reply but in
    neither share's numerator, so the shares are of all replies. Each share gets the
    Wilson score interval

    .. math:: \\frac{\\hat p + z^2/2n \\pm z\\sqrt{\\hat p(1-\\hat p)/n + z^2/4n^2}}{1 + z^2/n}

    which stays inside [0, 1] for small counts (Wilson 1927; Brown, Cai & DasGupta 2001).

    References
    ----------
    Wilson, E. B. (1927). Probable inference, the law of succession, and statistical
    inference. *JASA*, 22(158), 209-212. https://doi.org/10.1080/01621459.1927.10502953
    Brown, L. D., Cai, T. T., & DasGupta, A. (2001). Interval estimation for a binomial
    proportion. *Statistical Science*, 16(2), 101-133. https://doi.org/10.1214/ss/1009213286

    Examples
    --------
    >>> frame = pd.DataFrame({"agent_id": ["A", "A", "A", "B"], "digit": ["1", "3", None, "1"]})
    >>> unit_rates(frame, "agent_id")[["contacts", "replies", "satisfaction_rate"]]
    ... # doctest: +NORMALIZE_WHITESPACE
              contacts  replies  satisfaction_rate
    agent_id
    A                3        2                0.5
    B                1        1                1.0
    """
    keys = [by] if isinstance(by, str) else list(by)
    missing = [c for c in [*keys, answer] if c not in contacts.columns]
    if invited is not None and invited not in contacts.columns:
        missing.append(invited)
    if missing:
        raise ValueError(f"contacts lack column(s) {missing}")
    digits = _digits(contacts[answer])
    work = pd.DataFrame(
        {
            **{k: contacts[k] for k in keys},
            "_contact": 1,
            "_invited": contacts[invited].astype(bool) if invited is not None else True,
            "_reply": digits.notna().to_numpy(),
            "_satisfied": (digits == SATISFIED).fillna(False).to_numpy(),
            "_dissatisfied": (digits == DISSATISFIED).fillna(False).to_numpy(),
        }
    )
    counts = work.groupby(keys, sort=True, observed=True).sum()
    out = pd.DataFrame(index=counts.index)
    out["contacts"] = counts["_contact"].astype("int64")
    out["invitations"] = counts["_invited"].astype("int64")
    out["replies"] = counts["_reply"].astype("int64")
    with np.errstate(divide="ignore", invalid="ignore"):
        out["response_rate"] = np.where(
            out["invitations"] > 0, out["replies"] / out["invitations"], np.nan
        )
    for name, column in (("satisfaction", "_satisfied"), ("dissatisfaction", "_dissatisfied")):
        k = counts[column].astype("int64")
        out[column.lstrip("_")] = k
        n = out["replies"].to_numpy()
        intervals = [wilson_interval(int(a), int(b), level) for a, b in zip(k, n, strict=True)]
        with np.errstate(divide="ignore", invalid="ignore"):
            out[f"{name}_rate"] = np.where(n > 0, k / np.where(n > 0, n, 1), np.nan)
        out[f"{name}_ci_low"] = [np.nan if i is None else i[0] for i in intervals]
        out[f"{name}_ci_high"] = [np.nan if i is None else i[1] for i in intervals]
    return out[list(RATE_COLUMNS)]


@dataclass(frozen=True)
class BetaPrior:
    """A Beta(alpha, beta) prior of units' true rates, fitted to their counts.

    Attributes
    ----------
    alpha, beta : float
        The Beta parameters.
    mean : float
        ``alpha / (alpha + beta)``: the group's mean true rate.
    precision : float
        ``alpha + beta``: how many replies' worth of information the prior carries.
    icc : float
        ``1 / (alpha + beta + 1)``: the share of a single reply's variance that lies
        between units (the intraclass correlation of the beta-binomial).
    n_units : int
        Units with at least one trial that the prior was fitted on.
    log_likelihood : float
        The beta-binomial marginal log-likelihood at the fit (binomial coefficients
        included, as ``scipy.stats.betabinom.logpmf`` has them).
    status : str
        ``"fitted"``, ``"no_between_variance"`` (precision at its cap) or ``"pooled"``
        (too few units: another group's prior stands in).
    converged : bool
    """

    alpha: float
    beta: float
    mean: float
    precision: float
    icc: float
    n_units: int
    log_likelihood: float
    status: str
    converged: bool


def beta_binomial_log_likelihood(
    alpha: float, beta: float, successes: npt.ArrayLike, trials: npt.ArrayLike
) -> float:
    """The beta-binomial log-likelihood of counts: the sum of log P(y_i | n_i, alpha, beta).

    Notes
    -----
    .. math:: \\log P(y \\mid n) = \\log\\binom{n}{y} + \\log B(y + \\alpha, n - y + \\beta)
              - \\log B(\\alpha, \\beta)

    Equal to ``scipy.stats.betabinom.logpmf(y, n, alpha, beta).sum()`` (checked in the
    tests to 1e-9).
    """
    y = np.asarray(successes, dtype="float64")
    n = np.asarray(trials, dtype="float64")
    return float(
        np.sum(
            gammaln(n + 1)
            - gammaln(y + 1)
            - gammaln(n - y + 1)
            + betaln(y + alpha, n - y + beta)
            - betaln(alpha, beta)
        )
    )


def beta_binomial_prior(
    successes: npt.ArrayLike,
    trials: npt.ArrayLike,
    *,
    max_precision: float | None = None,
) -> BetaPrior:
    """Fit a Beta prior of units' true rates by marginal maximum likelihood.

    Parameters
    ----------
    successes, trials : array-like of int
        Per unit: the count of the outcome (e.g. "1" replies) and of replies. Units with
        no trials carry no information and are left out.
    max_precision : float, optional
        Cap of ``alpha + beta``. Defaults to the group's total trials: a prior should not
        claim to know the group's mean better than all the group's replies together do.

    Returns
    -------
    BetaPrior

    Raises
    ------
    ValueError
        When no unit has a trial, counts are negative, or successes exceed trials.

    See Also
    --------
    shrunken_rates, beta_binomial_log_likelihood

    Notes
    -----
    Unit :math:`i` has :math:`y_i` successes out of :math:`n_i` with true rate
    :math:`\\theta_i \\sim \\mathrm{Beta}(\\alpha, \\beta)`, so marginally
    :math:`y_i \\sim \\mathrm{BetaBinomial}(n_i, \\alpha, \\beta)`. The log-likelihood
    (:func:`beta_binomial_log_likelihood`) is maximised over
    :math:`(\\operatorname{logit}\\mu, \\log M)` with :math:`\\mu = \\alpha/(\\alpha+\\beta)`,
    :math:`M = \\alpha + \\beta` (L-BFGS-B, bounded), started from the method-of-moments
    estimate.

    **Why maximum likelihood, not the method of moments.** With unequal replies per
    agent (a new agent's 5, a veteran's 400) the moment estimator of the between-agent
    variance needs weights that themselves depend on the unknown variance (Kleinman
    1973), and it goes negative when the observed spread is below binomial noise, which
    is common for teams of 10-20 agents. The marginal likelihood weights each agent by its
    own ``n_i`` exactly and has a proper boundary: when the rates do not vary beyond
    binomial noise, the likelihood increases in :math:`M` without bound, and the fit
    stops at ``max_precision`` (status ``"no_between_variance"``: full pooling, with the
    prior as informative as the group's total replies). Rates all 0 or all 1 put
    :math:`\\mu` on the boundary: it is kept within
    :math:`[1/(2N+2), 1 - 1/(2N+2)]`, :math:`N` the total trials.

    Validated against an independent fit: ``scipy.stats.betabinom.logpmf`` maximised by
    Nelder-Mead over :math:`(\\log\\alpha, \\log\\beta)` gives the same log-likelihood to
    1e-6 and the same :math:`\\alpha, \\beta` to 1% (relative); and against recovery of
    known :math:`\\alpha, \\beta` on simulated counts.

    References
    ----------
    Skellam, J. G. (1948). A probability distribution derived from the binomial
    distribution by regarding the probability of success as variable between the sets of
    trials. *JRSS B*, 10(2), 257-261. https://doi.org/10.1111/j.2517-6161.1948.tb00014.x
    Kleinman, J. C. (1973). Proportions with extraneous variance: single and independent
    samples. *JASA*, 68(341), 46-54. https://doi.org/10.1080/01621459.1973.10481332
    Efron, B., & Morris, C. (1975). Data analysis using Stein's estimator and its
    generalizations. *JASA*, 70(350), 311-319. https://doi.org/10.1080/01621459.1975.10479864

    Examples
    --------
    >>> prior = beta_binomial_prior([8, 9, 5, 10], [10, 10, 10, 10])
    >>> round(prior.mean, 2), prior.status
    (0.8, 'fitted')
    """
    y = np.asarray(successes, dtype="float64").ravel()
    n = np.asarray(trials, dtype="float64").ravel()
    if y.shape != n.shape:
        raise ValueError(f"successes ({y.size}) and trials ({n.size}) differ in length")
    if np.any(~np.isfinite(y) | ~np.isfinite(n)) or np.any((y < 0) | (n < 0) | (y > n)):
        raise ValueError("counts must be finite with 0 <= successes <= trials")
    used = n > 0
    y, n = y[used], n[used]
    if y.size == 0:
        raise ValueError("no unit has a trial: a prior cannot be fitted to nothing")
    total = float(n.sum())
    cap = float(max_precision) if max_precision is not None else max(total, 2.0)
    mu_bound = 1.0 / (2.0 * total + 2.0)
    mu0 = float(np.clip(y.sum() / total, mu_bound, 1 - mu_bound))
    # Method of moments for a start: the spread of rates beyond binomial noise.
    rates = y / n
    noise = float(np.mean(mu0 * (1 - mu0) / n))
    spread = float(np.var(rates, ddof=1)) if y.size > 1 else 0.0
    icc0 = np.clip((spread - noise) / max(mu0 * (1 - mu0) - noise, 1e-12), 1e-3, 0.5)
    m0 = float(np.clip(1.0 / icc0 - 1.0, 1e-2, cap))

    def negative(theta: FloatArray) -> tuple[float, FloatArray]:
        """Minus the log-likelihood, without its constant binomial coefficients, and its
        exact gradient in (logit mu, log M): numerical differences cost three evaluations
        a step and made the fits most of the agents page's time."""
        mu, m = expit(theta[0]), math.exp(theta[1])
        a, b = mu * m, (1 - mu) * m
        value = np.sum(betaln(y + a, n - y + b)) - y.size * betaln(a, b)
        # d/da and d/db of sum(log B(y + a, n - y + b) - log B(a, b)).
        common = y.size * digamma(a + b) - np.sum(digamma(n + a + b))
        d_a = np.sum(digamma(y + a)) - y.size * digamma(a) + common
        d_b = np.sum(digamma(n - y + b)) - y.size * digamma(b) + common
        # a = mu M, b = (1 - mu) M: d/d logit(mu) = M mu (1 - mu) (d_a - d_b);
        # d/d log(M) = a d_a + b d_b.
        gradient = np.array([m * mu * (1 - mu) * (d_a - d_b), a * d_a + b * d_b])
        return -float(value), -gradient

    bounds = [(float(logit(mu_bound)), float(logit(1 - mu_bound))), (math.log(1e-2), math.log(cap))]
    start = np.array([logit(mu0), math.log(m0)])
    # Tight tolerances: the log-likelihood is in the hundreds and nearly flat in M, and
    # L-BFGS-B's default relative ftol would stop short of the maximum in the mean.
    fit = optimize.minimize(
        negative,
        start,
        jac=True,
        method="L-BFGS-B",
        bounds=bounds,
        options={"ftol": 1e-14, "gtol": 1e-9, "maxiter": 1000},
    )
    mu, m = float(expit(fit.x[0])), float(math.exp(fit.x[1]))
    at_cap = fit.x[1] >= bounds[1][1] - 1e-6
    return BetaPrior(
        alpha=mu * m,
        beta=(1 - mu) * m,
        mean=mu,
        precision=m,
        icc=1.0 / (m + 1.0),
        n_units=int(y.size),
        log_likelihood=beta_binomial_log_likelihood(mu * m, (1 - mu) * m, y, n),
        status=NO_BETWEEN_VARIANCE if at_cap else FITTED,
        converged=bool(fit.success),
    )


def shrunken_rates(
    table: pd.DataFrame,
    *,
    successes: str,
    trials: str,
    group: str | None = None,
    level: float = 0.95,
    min_units: int = 3,
) -> pd.DataFrame:
    """Empirical-Bayes rates: each unit's rate shrunk toward its group's mean.

    Parameters
    ----------
    table : pandas.DataFrame
        One row per unit (e.g. :func:`unit_rates` by agent, with the agent's team joined),
        indexed by unit.
    successes, trials : str
        Count columns: e.g. ``"satisfied"`` (or ``"dissatisfied"``) and ``"replies"``.
    group : str, optional
        The column whose mean each unit is shrunk toward (``"team"`` or ``"queue"``);
        None shrinks every unit toward the overall mean.
    level : float, default 0.95
        Level of the equal-tailed posterior interval.
    min_units : int, default 3
        A group with fewer units with replies cannot tell between-unit variance from
        noise: its units get the prior fitted on all units (status ``"pooled"``).

    Returns
    -------
    pandas.DataFrame
        Indexed like ``table``, columns ``SHRUNKEN_COLUMNS``: ``raw_rate`` (NaN with no
        trials), the group's ``prior_mean``, ``prior_precision`` and ``prior_status``,
        ``shrinkage`` (the weight on the prior mean), ``posterior_mean`` and its
        ``ci_low``/``ci_high``. A unit with no trials gets its prior: mean and interval of
        its group, shrinkage 1.

    See Also
    --------
    beta_binomial_prior, rank_shrunken, bottom_flags

    Notes
    -----
    With the group's prior :math:`\\mathrm{Beta}(\\alpha_g, \\beta_g)`, unit :math:`i`'s
    posterior is :math:`\\mathrm{Beta}(\\alpha_g + y_i, \\beta_g + n_i - y_i)`, with mean

    .. math:: \\tilde\\theta_i = \\frac{\\alpha_g + y_i}{\\alpha_g + \\beta_g + n_i}
              = B_i\\,\\mu_g + (1 - B_i)\\,\\frac{y_i}{n_i},\\qquad
              B_i = \\frac{\\alpha_g + \\beta_g}{\\alpha_g + \\beta_g + n_i}

    so an agent with few replies stays near their team's mean and an agent with many is
    measured by their own. The interval is the posterior's :math:`(1\\pm\\text{level})/2`
    quantiles (``scipy.stats.beta.ppf``). The prior's own estimation error is ignored (the
    usual empirical-Bayes approximation; Kass & Steffey 1989), which makes the intervals
    slightly too narrow for groups of few agents.

    References
    ----------
    Efron, B., & Morris, C. (1975). Data analysis using Stein's estimator and its
    generalizations. *JASA*, 70(350), 311-319. https://doi.org/10.1080/01621459.1975.10479864
    Kass, R. E., & Steffey, D. (1989). Approximate Bayesian inference in conditionally
    independent hierarchical models. *JASA*, 84(407), 717-726.
    https://doi.org/10.1080/01621459.1989.10478825

    Examples
    --------
    >>> agents = pd.DataFrame({"satisfied": [160, 170, 150, 0], "replies": [200, 200, 200, 4],
    ...                        "team": "T1"}, index=pd.Index(list("ABCD"), name="agent_id"))
    >>> shrunk = shrunken_rates(agents, successes="satisfied", trials="replies", group="team")
    >>> bool(shrunk.loc["D", "posterior_mean"] > 0.5)
    True
    """
    for column in (successes, trials) + ((group,) if group else ()):
        if column not in table.columns:
            raise ValueError(f"table lacks column {column!r}")
    if not 0 < level < 1:
        raise ValueError(f"level must lie strictly between 0 and 1, got {level!r}")
    if table.index.has_duplicates:
        raise ValueError("table lists a unit more than once; one row per unit")
    y = table[successes].to_numpy(dtype="float64")
    n = table[trials].to_numpy(dtype="float64")
    groups = (
        table[group].astype("object").to_numpy()
        if group
        else np.full(len(table), "all", dtype=object)
    )
    overall = beta_binomial_prior(y, n)
    alpha = np.empty(len(table))
    beta = np.empty(len(table))
    status = np.empty(len(table), dtype=object)
    for name in pd.unique(groups):
        members = groups == name
        with_data = int(np.sum(n[members] > 0))
        prior = (
            beta_binomial_prior(y[members], n[members])
            if with_data >= min_units
            else BetaPrior(**{**overall.__dict__, "status": POOLED})
        )
        alpha[members], beta[members], status[members] = prior.alpha, prior.beta, prior.status
    a_post, b_post = alpha + y, beta + n - y
    tail = (1 - level) / 2
    with np.errstate(divide="ignore", invalid="ignore"):
        raw = np.where(n > 0, y / np.where(n > 0, n, 1), np.nan)
    out = pd.DataFrame(
        {
            "group": groups,
            "successes": table[successes].to_numpy(),
            "trials": table[trials].to_numpy(),
            "raw_rate": raw,
            "prior_mean": alpha / (alpha + beta),
            "prior_precision": alpha + beta,
            "prior_status": status,
            "shrinkage": (alpha + beta) / (alpha + beta + n),
            "posterior_mean": a_post / (a_post + b_post),
            "ci_low": stats.beta.ppf(tail, a_post, b_post),
            "ci_high": stats.beta.ppf(1 - tail, a_post, b_post),
        },
        index=table.index,
    )
    return out[list(SHRUNKEN_COLUMNS)]


def flag_bottom(
    values: pd.Series, share: float = 0.05, *, higher_is_better: bool = True
) -> pd.Series:
    """Flag the worst ``share`` of units: the ``ceil(share * K)`` lowest (or highest) values.

    Units with a missing value are neither counted in ``K`` nor flagged. Ties at the cut
    are broken by the order of ``values`` (stable), so exactly ``ceil(share * K)`` units
    are flagged.

    Examples
    --------
    >>> flag_bottom(pd.Series([0.9, 0.5, 0.8, None], index=list("ABCD")), 0.3).tolist()
    [False, True, False, False]
    """
    if not 0 < share < 1:
        raise ValueError(f"share must lie strictly between 0 and 1, got {share!r}")
    v = values.to_numpy(dtype="float64")
    known = np.flatnonzero(~np.isnan(v))
    count = math.ceil(share * known.size)
    order = np.argsort(v[known] if higher_is_better else -v[known], kind="stable")
    flags = np.zeros(v.size, dtype=bool)
    flags[known[order[:count]]] = True
    return pd.Series(flags, index=values.index, name="bottom")


def bottom_flags(
    shrunk: pd.DataFrame, share: float = 0.05, *, higher_is_better: bool = True
) -> pd.DataFrame:
    """Who is in the "bottom 5%" by the raw rate, and who by the shrunken rate.

    Parameters
    ----------
    shrunk : pandas.DataFrame
        :func:`shrunken_rates`' result.
    share : float, default 0.05
    higher_is_better : bool, default True
        True for the satisfaction rate; False for the dissatisfaction rate.

    Returns
    -------
    pandas.DataFrame
        Indexed like ``shrunk``: ``raw_rate``, ``posterior_mean``, ``trials``,
        ``bottom_raw`` and ``bottom_shrunken``. Units without trials are flagged by
        neither (there is nothing to judge them on).

    Notes
    -----
    Raw rates put the agents with the fewest replies at both ends: 0 of 3 satisfied is
    the worst raw rate in any hotline. Shrunken rates keep such an agent near the team's
    mean until their replies say otherwise. On the simulated week
    (``survey.synthetic.contacts``) the shrunken flags hold fewer agents who are not truly
    in the bottom 5% (tests/integration/test_contact_recovery.py).
    """
    has_data = shrunk["trials"].to_numpy(dtype="float64") > 0
    posterior = shrunk["posterior_mean"].where(has_data)
    return pd.DataFrame(
        {
            "raw_rate": shrunk["raw_rate"],
            "posterior_mean": shrunk["posterior_mean"],
            "trials": shrunk["trials"],
            "bottom_raw": flag_bottom(
                shrunk["raw_rate"], share, higher_is_better=higher_is_better
            ).to_numpy(),
            "bottom_shrunken": flag_bottom(
                posterior, share, higher_is_better=higher_is_better
            ).to_numpy(),
        },
        index=shrunk.index,
    )


def rank_shrunken(
    shrunk: pd.DataFrame,
    *,
    bottom_share: float = 0.05,
    higher_is_better: bool = True,
    level: float = 0.95,
    draws: int = 4000,
    random_state: int | np.random.Generator | None = 0,
) -> pd.DataFrame:
    """Rank units on their shrunken rates, with rank intervals and P(bottom).

    Parameters
    ----------
    shrunk : pandas.DataFrame
        :func:`shrunken_rates`' result (it needs the posterior's parameters, which are
        recomputed from ``prior_mean``, ``prior_precision``, ``successes``, ``trials``).
    bottom_share : float, default 0.05
        The share of units counted as "the bottom" for ``p_bottom``.
    higher_is_better : bool, default True
    level : float, default 0.95
        Level of the rank interval.
    draws : int, default 4000
        Joint posterior draws (one Beta draw per unit each).
    random_state : int, numpy.random.Generator or None, default 0

    Returns
    -------
    pandas.DataFrame
        Indexed by unit, best first: the ``shrunk`` columns plus ``rank`` (1 = best, on
        the posterior mean), ``rank_low``, ``rank_high`` (the equal-tailed ``level``
        interval of the unit's rank over the posterior draws) and ``p_bottom`` (the
        posterior probability that the unit is among the ``ceil(bottom_share * K)``
        worst). Units without trials are not ranked (NA) and come last.

    Notes
    -----
    Ranks are computed in each draw :math:`\\theta^{(d)}_i \\sim
    \\mathrm{Beta}(\\alpha_g + y_i, \\beta_g + n_i - y_i)` independently per unit (the
    posteriors are independent given the fitted priors), and summarised by their
    quantiles. An agent with 4 replies has a wide posterior, hence a wide rank interval
    and a small ``p_bottom`` unless the 4 replies are far below the team: the table does
    not call them "the worst". Posterior rank summaries follow Laird & Louis (1989).

    References
    ----------
    Laird, N. M., & Louis, T. A. (1989). Empirical Bayes ranking methods. *Journal of
    Educational Statistics*, 14(1), 29-46. https://doi.org/10.3102/10769986014001029
    """
    if draws < 1:
        raise ValueError("draws must be at least 1")
    rng = np.random.default_rng(random_state)
    ranked_mask = shrunk["trials"].to_numpy(dtype="float64") > 0
    units = shrunk.loc[ranked_mask]
    m = units["prior_precision"].to_numpy(dtype="float64")
    mu = units["prior_mean"].to_numpy(dtype="float64")
    y = units["successes"].to_numpy(dtype="float64")
    n = units["trials"].to_numpy(dtype="float64")
    a_post, b_post = mu * m + y, (1 - mu) * m + n - y
    k = len(units)
    sign = -1.0 if higher_is_better else 1.0
    sample = rng.beta(a_post, b_post, size=(draws, k))
    # Rank 1 = best in each draw: the inverse of each draw's sorting permutation (what an
    # argsort of the argsort gives, for one sort instead of two).
    order = np.argsort(sign * sample, axis=1, kind="stable")
    ranks = np.empty_like(order)
    np.put_along_axis(ranks, order, np.arange(1, k + 1), axis=1)
    tail = (1 - level) / 2
    worst = math.ceil(bottom_share * k)
    point = pd.Series(sign * units["posterior_mean"].to_numpy()).rank(method="min")
    result = units.assign(
        rank=pd.array(point.to_numpy().astype("int64"), dtype="Int64"),
        rank_low=pd.array(np.floor(np.quantile(ranks, tail, axis=0)).astype("int64"), "Int64"),
        rank_high=pd.array(np.ceil(np.quantile(ranks, 1 - tail, axis=0)).astype("int64"), "Int64"),
        p_bottom=(ranks > k - worst).mean(axis=0),
    ).sort_values("rank", kind="stable")
    if (~ranked_mask).any():
        rest = shrunk.loc[~ranked_mask].assign(
            rank=pd.NA, rank_low=pd.NA, rank_high=pd.NA, p_bottom=np.nan
        )
        for column in ("rank", "rank_low", "rank_high"):
            rest[column] = rest[column].astype("Int64")
        result = pd.concat([result, rest])
    return result
