"""MICOM and PLS-MGA (models.pls_groups), checked three ways.

1. **Against separate fits.** Each group's estimates equal :func:`models.pls.fit_pls` on
   that group's rows alone (mean replacement with the group's own means), and MICOM's
   statistics equal their definitions computed from such fits and the pooled fit, to
   1e-10, with missing answers in the data.
2. **Against a loop.** The vectorised permutations (frequency-weighted correlation
   matrices, a batch of groups estimated at once) give the same permutation draws, and
   so the same p-values, as refitting ``fit_pls`` on every permuted group in a loop.
3. **By simulation** (``slow``): two groups of ``N_PER_GROUP`` = 250 rows each drawn
   from a known population, ``N_REPLICATIONS`` = 200 replications per condition
   (seeds ``FIRST_SEED + rep``), ``N_PERMUTATIONS`` = 200 permutations each, which keeps
   the whole file at about 15 s on 2 cores. The population: two correlated exogenous
   factors X1 and X2 (r = .3) and Y = .4 X1 + .3 X2 + error, each measured by three
   reflective items with loadings .8, .75, .7 (all variables unit variance), estimated
   as ``=~`` blocks (PLS mode A). Conditions, group 2 changed as stated:

   - *invariant*: both groups from the same population;
   - *shifted weights*: X1's loadings in group 2 are .3, .75, .9 (the first item nearly
     stops measuring X1, the third measures it better), so its PLS weights change;
   - *shifted intercept*: x1's mean is higher by 0.8 (of its sd of 1) in group 2;
   - *path difference*: Y ~ X1 is .7 in group 2 instead of .4 (a difference of .3).

   What a rate should be: under invariance the permutation tests are exact, but a
   quantile rule at tail probability a over B permutations rejects with probability
   about (a (B - 1) + 1) / (B + 1): 5.45% for step 2 and 2 x 2.97% = 5.9% for each part
   of step 3 at B = 200; PLS-MGA's ``p < .05`` (share of permutations at least as
   extreme) rejects with probability 10/201 = 5.0%. With 200 replications the binomial
   standard error at 5-6% is 1.6-1.7 points, so each single rate must lie within
   [1%, 11%] (about 3 SE either side; 0 rejections, a test that cannot reject, fails), and
   the rate pooled over the three constructs of one step (600 decisions) within
   [3%, 9%]. Power must reach 80% (observed above 90%; 80% is 4 or more SE below).

   Observed with these seeds (rejection rates, X1 / X2 / Y):

   - invariant: step 2 .070 / .040 / .060 (pooled .057), step 3a .025 / .035 / .060
     (pooled .040), step 3b .070 / .070 / .035 (pooled .058); PLS-MGA Y~X1 .030,
     Y~X2 .050;
   - shifted weights: step 2 on X1 .940 (X2 .040, Y .065; step 3b on X1 .225, as the
     changed loadings also change the composite's variance);
   - shifted intercept: step 3a on X1 .945 (step 2 on X1 .055);
   - path difference: PLS-MGA Y~X1 .955 (Y~X2 .055).

   A separate run of 4,000 invariant replications (n = 100 per group, B = 200) gave
   5.2-6.5% per MICOM statistic, 5.7% on average, where the quantile rules imply
   5.45-5.9%.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

import models.pls_groups as pls_groups
from models.pls import fit_pls
from models.pls_groups import (
    MIN_GROUP_ROWS,
    MIN_PERMUTATIONS,
    micom,
    micom_one_vs_rest,
    pls_mga,
)

MODEL = """
X1 =~ x1 + x2 + x3
X2 =~ x4 + x5 + x6
Y =~ y1 + y2 + y3
Y ~ X1 + X2
"""
ITEMS = ["x1", "x2", "x3", "x4", "x5", "x6", "y1", "y2", "y3"]
CONSTRUCTS = ["X1", "X2", "Y"]
LOADINGS = np.array([0.8, 0.75, 0.7])
PATHS = (0.4, 0.3)
FACTOR_CORRELATION = 0.3

N_REPLICATIONS = 200
N_PER_GROUP = 250
N_PERMUTATIONS = 200
FIRST_SEED = 40_000
SIZE_BOUNDS = (0.01, 0.11)  # one statistic, 200 replications: about 3 SE around 5-6%
POOLED_BOUNDS = (0.03, 0.09)  # one step over 3 constructs, 600 decisions
POWER_FLOOR = 0.80


def population(
    rng: np.random.Generator,
    n: int,
    loadings_x1: np.ndarray = LOADINGS,
    paths: tuple[float, float] = PATHS,
    shift_x1: float = 0.0,
) -> np.ndarray:
    """n rows of the nine items: unit-variance factors, items and construct Y."""
    r = FACTOR_CORRELATION
    factors = rng.multivariate_normal([0.0, 0.0], [[1.0, r], [r, 1.0]], size=n)
    b1, b2 = paths
    error_var = 1.0 - (b1**2 + b2**2 + 2.0 * b1 * b2 * r)
    y = factors @ np.array(paths) + np.sqrt(error_var) * rng.normal(size=n)
    columns = []
    for factor, loadings in (
        (factors[:, 0], loadings_x1),
        (factors[:, 1], LOADINGS),
        (y, LOADINGS),
    ):
        for loading in loadings:
            columns.append(loading * factor + np.sqrt(1.0 - loading**2) * rng.normal(size=n))
    items = np.column_stack(columns)
    items[:, 0] += shift_x1
    return items


def two_groups(seed: int, n1: int = N_PER_GROUP, n2: int | None = None, **group2) -> pd.DataFrame:
    """Group "a" from the population, group "b" from it with ``group2``'s changes."""
    rng = np.random.default_rng(seed)
    n2 = n1 if n2 is None else n2
    items = np.vstack([population(rng, n1), population(rng, n2, **group2)])
    frame = pd.DataFrame(items, columns=ITEMS)
    frame["g"] = np.repeat(["a", "b"], [n1, n2])
    return frame


def with_missing(frame: pd.DataFrame, share: float, seed: int) -> pd.DataFrame:
    """Blank a share of the item cells ("cannot answer")."""
    rng = np.random.default_rng(seed)
    out = frame.copy()
    blank = rng.random((len(frame), len(ITEMS))) < share
    out[ITEMS] = out[ITEMS].mask(blank)
    return out


def weight_matrix(result) -> np.ndarray:
    """(items, constructs) standardized outer weights of a fit_pls result."""
    w = np.zeros((len(ITEMS), len(CONSTRUCTS)))
    for row in result.weights.itertuples():
        w[ITEMS.index(row.rhs), CONSTRUCTS.index(row.lhs)] = row.estimate
    return w


def pooled_standardized(frame: pd.DataFrame) -> np.ndarray:
    """The pooled items, mean-replaced with the pooled means, standardized (n-1 sd)."""
    items = frame[ITEMS].fillna(frame[ITEMS].mean())
    return ((items - items.mean()) / items.std(ddof=1)).to_numpy()


def composite_correlations(z: np.ndarray, w1: np.ndarray, w2: np.ndarray) -> np.ndarray:
    return np.array([np.corrcoef(z @ w1[:, j], z @ w2[:, j])[0, 1] for j in range(w1.shape[1])])


def mean_and_variance_differences(scores: pd.DataFrame, first: np.ndarray):
    a, b = scores[first], scores[~first]
    difference = (a.mean() - b.mean()).to_numpy()
    log_ratio = np.log(a.var(ddof=1) / b.var(ddof=1)).to_numpy()
    return difference, log_ratio


# --- 1. against separate fits ------------------------------------------------------------


def test_mga_group_estimates_equal_separate_fits_with_missing_answers():
    frame = with_missing(two_groups(1, 180, 120, paths=(0.6, 0.2)), share=0.08, seed=2)
    result = pls_mga(
        MODEL,
        frame,
        "g",
        parameters=("paths", "loadings", "weights"),
        n_permutations=MIN_PERMUTATIONS,
        random_state=3,
    )
    table = result.estimates
    for label, column in (("a", "estimate_1"), ("b", "estimate_2")):
        separate = fit_pls(MODEL, frame[frame["g"] == label])
        expected = pd.concat([separate.estimates, separate.weights], ignore_index=True)
        merged = table.merge(expected, on=["lhs", "op", "rhs"], validate="one_to_one")
        assert len(merged) == len(table) == 2 + 2 * len(ITEMS)
        np.testing.assert_allclose(merged[column], merged["estimate"], rtol=0, atol=1e-10)
    np.testing.assert_allclose(
        table["difference"], table["estimate_1"] - table["estimate_2"], rtol=0, atol=1e-14
    )
    assert result.n_obs == {"a": 180, "b": 120}


def test_mga_under_plsc_equals_separate_plsc_fits():
    frame = two_groups(27, 120, 100, paths=(0.6, 0.2))
    result = pls_mga(MODEL, frame, "g", consistent=True, n_permutations=40, random_state=28)
    assert result.consistent and result.n_failed == 0
    for label, column in (("a", "estimate_1"), ("b", "estimate_2")):
        separate = fit_pls(MODEL, frame[frame["g"] == label], consistent=True).estimates
        paths = separate.loc[separate["op"] == "~", "estimate"].to_numpy()
        np.testing.assert_allclose(result.estimates[column], paths, rtol=0, atol=1e-10)


def test_micom_statistics_equal_their_definitions_with_missing_answers():
    frame = with_missing(
        two_groups(4, 150, 210, loadings_x1=np.array([0.4, 0.75, 0.9]), shift_x1=0.5),
        share=0.1,
        seed=5,
    )
    result = micom(MODEL, frame, "g", n_permutations=MIN_PERMUTATIONS, random_state=6)
    first = (frame["g"] == "a").to_numpy()
    w1 = weight_matrix(fit_pls(MODEL, frame[first]))
    w2 = weight_matrix(fit_pls(MODEL, frame[~first]))
    c = composite_correlations(pooled_standardized(frame), w1, w2)
    np.testing.assert_allclose(result.compositional["c"], c, rtol=0, atol=1e-10)
    assert (c < 1.0).all()
    difference, log_ratio = mean_and_variance_differences(fit_pls(MODEL, frame).scores, first)
    np.testing.assert_allclose(result.means["difference"], difference, rtol=0, atol=1e-10)
    np.testing.assert_allclose(result.variances["log_ratio"], log_ratio, rtol=0, atol=1e-10)
    assert result.configural and "by design" in result.configural_note


# --- 2. against a loop -------------------------------------------------------------------


def loop_draws(frame: pd.DataFrame, seed: int, n_permutations: int):
    """c, mean and log-variance differences, path differences: one fit per permuted group.

    The permutations are those pls_groups draws: each row of
    ``rng.permuted(tile(group-1 indicator), axis=1)`` is one permuted group 1.
    """
    rng = np.random.default_rng(seed)
    first = (frame["g"] == "a").to_numpy()
    permuted = rng.permuted(np.tile(first.astype(float), (n_permutations, 1)), axis=1) > 0
    z = pooled_standardized(frame)
    scores = fit_pls(MODEL, frame).scores
    draws = {"c": [], "difference": [], "log_ratio": [], "paths": []}
    for rows in permuted:
        one, two = fit_pls(MODEL, frame[rows]), fit_pls(MODEL, frame[~rows])
        draws["c"].append(composite_correlations(z, weight_matrix(one), weight_matrix(two)))
        difference, log_ratio = mean_and_variance_differences(scores, rows)
        draws["difference"].append(difference)
        draws["log_ratio"].append(log_ratio)
        paths = [
            e.estimates.loc[e.estimates["op"] == "~", "estimate"].to_numpy() for e in (one, two)
        ]
        draws["paths"].append(paths[0] - paths[1])
    return {name: np.array(values) for name, values in draws.items()}


def test_permutation_p_values_equal_a_loop_of_separate_fits():
    frame = with_missing(two_groups(7, 70, 50, paths=(0.8, 0.3)), 0.05, seed=8)
    frame.loc[frame["g"] == "b", ["x1", "x2", "x3"]] += 1.0  # X1's mean differs
    n_perm = MIN_PERMUTATIONS
    loop = loop_draws(frame, seed=9, n_permutations=n_perm)
    result = micom(MODEL, frame, "g", n_permutations=n_perm, random_state=9)
    mga = pls_mga(MODEL, frame, "g", n_permutations=n_perm, random_state=9)
    assert result.n_failed == 0 and mga.n_failed == 0

    c = result.compositional["c"].to_numpy()
    np.testing.assert_allclose(result.compositional["p_value"], (loop["c"] <= c + 1e-10).mean(0))
    np.testing.assert_allclose(
        result.compositional["quantile"], np.quantile(loop["c"], 0.05, axis=0), atol=1e-10
    )
    for table, name in ((result.means, "difference"), (result.variances, "log_ratio")):
        observed, draws = table[name].to_numpy(), loop[name]
        low, high = np.quantile(draws, [0.025, 0.975], axis=0)
        np.testing.assert_allclose(table["quantile_low"], low, atol=1e-10)
        np.testing.assert_allclose(table["quantile_high"], high, atol=1e-10)
        tails = np.minimum((draws <= observed + 1e-10).mean(0), (draws >= observed - 1e-10).mean(0))
        np.testing.assert_allclose(table["p_value"], np.minimum(1.0, 2.0 * tails))
        np.testing.assert_array_equal(table["holds"], (observed >= low) & (observed <= high))
    difference = mga.estimates["difference"].to_numpy()
    np.testing.assert_allclose(
        mga.estimates["p_value"], (np.abs(loop["paths"]) >= np.abs(difference) - 1e-10).mean(0)
    )
    # The data were built to differ: the loop's p-values are not all trivially 1.
    assert result.means.loc[0, "p_value"] < 0.05


def test_batches_do_not_change_the_permutations(monkeypatch):
    frame = two_groups(10, 60, 60, shift_x1=0.3)
    whole = micom(MODEL, frame, "g", n_permutations=50, random_state=11).to_dict()
    monkeypatch.setattr(pls_groups, "batch_size", lambda n: 6)  # 3 permutations per batch
    batched = micom(MODEL, frame, "g", n_permutations=50, random_state=11).to_dict()
    assert batched == whole


# --- results: verdicts, determinism, JSON, text ------------------------------------------


def test_verdicts_follow_the_steps_full_partial_none():
    frame = two_groups(12, 300, 300, loadings_x1=np.array([0.2, 0.75, 0.9]))
    frame.loc[frame["g"] == "b", "x4"] += 1.0  # X2's mean differs, its weights do not
    result = micom(MODEL, frame, "g", n_permutations=200, random_state=13)
    table = result.invariance.set_index("construct")
    assert result.verdicts["X1"] == "none" and not table.loc["X1", "compositional"]
    assert result.verdicts["X2"] == "partial"
    assert table.loc["X2", "compositional"] and not table.loc["X2", "equal_means"]
    # Y is untouched: "full" unless step 3 rejects by chance (about 10% of samples).
    steps = table.loc["Y", ["compositional", "equal_means", "equal_variances"]]
    assert result.verdicts["Y"] == ("full" if steps.all() else "partial")


def test_single_item_construct_is_compositionally_invariant():
    frame = two_groups(14, 80, 80)
    model = "X1 =~ x1 + x2 + x3\nS =~ x4\nY =~ y1 + y2 + y3\nY ~ X1 + S"
    result = micom(model, frame, "g", n_permutations=50, random_state=15)
    row = result.compositional.set_index("construct").loc["S"]
    assert row["c"] == pytest.approx(1.0, abs=1e-12)
    assert row["holds"] and row["p_value"] == 1.0


def test_same_seed_same_result_and_none_records_a_seed():
    frame = two_groups(16, 60, 60)
    one = micom(MODEL, frame, "g", n_permutations=60, random_state=17)
    two = micom(MODEL, frame, "g", n_permutations=60, random_state=17)
    assert one.to_dict() == two.to_dict()
    fresh = micom(MODEL, frame, "g", n_permutations=60)
    again = micom(MODEL, frame, "g", n_permutations=60, random_state=fresh.seed)
    assert fresh.seed is not None and again.to_dict() == fresh.to_dict()
    other = micom(MODEL, frame, "g", n_permutations=60, random_state=18)
    assert other.to_dict()["compositional"] != one.to_dict()["compositional"]


def test_results_are_json_ready_and_print_every_step():
    frame = with_missing(two_groups(19, 60, 60), 0.05, seed=20)
    frame.loc[:4, "g"] = None  # rows without a group are left out and counted
    result = micom(MODEL, frame, "g", n_permutations=50, random_state=21)
    mga = pls_mga(
        MODEL, frame, "g", parameters=("paths", "weights"), n_permutations=50, random_state=22
    )
    for item in (result, mga):
        text = json.dumps(item.to_dict(), allow_nan=False)
        assert '"dropped": 5' in text
    data = result.to_dict()
    assert data["verdicts"].keys() == set(CONSTRUCTS)
    assert data["compositional"][0].keys() == {
        "construct", "c", "quantile", "p_value", "p_family", "holds",
    }  # fmt: skip
    # minP: never below the construct's own p-value, never above Bonferroni's bound.
    table = result.compositional
    count = len(table)
    assert (table["p_family"] > 0).all() and (table["p_family"] >= table["p_value"] - 1e-12).all()
    assert (table["p_family"] <= (count * table["p_value"]).clip(upper=1) + 2 / 40).all()
    text = result.summary()
    for fragment in ("Step 1", "Step 2", "Step 3a", "Step 3b", "Verdicts", "a (N = 55)"):
        assert fragment in text
    assert set(mga.estimates["op"]) == {"~", "<~"}
    assert "PLS-MGA" in mga.summary()


def test_casewise_deletion_counts_dropped_rows_and_matches_separate_fits():
    frame = with_missing(two_groups(22, 90, 90, paths=(0.6, 0.3)), 0.01, seed=23)
    complete = frame.dropna()
    result = pls_mga(MODEL, frame, "g", missing="casewise", n_permutations=40, random_state=1)
    assert result.dropped == len(frame) - len(complete) > 0
    separate = fit_pls(MODEL, complete[complete["g"] == "b"]).estimates
    np.testing.assert_allclose(
        result.estimates["estimate_2"], separate.loc[separate["op"] == "~", "estimate"], atol=1e-10
    )


# --- one unit against the rest -------------------------------------------------------------


def test_one_vs_rest_flags_the_unit_that_measures_differently():
    rng = np.random.default_rng(24)
    units = ["north", "south", "east", "west"]
    frame = pd.DataFrame(population(rng, 800), columns=ITEMS)
    frame["region"] = np.tile(units, 200)
    frame.loc[frame["region"] == "east", "x1"] += 1.0
    result = micom_one_vs_rest(
        MODEL, frame, "region", n_permutations=200, alpha=0.05 / 4, random_state=25
    )
    assert result.units == tuple(units)
    assert list(result.verdicts.columns) == CONSTRUCTS
    assert result.verdicts.loc["east", "X1"] == "partial"
    assert "east" in result.flagged
    x1_differences = {r.groups[0]: abs(r.means.loc[0, "difference"]) for r in result.results}
    assert max(x1_differences, key=x1_differences.get) == "east"
    # Each unit's result is MICOM of that unit against the rest, with the unit's seed.
    east = result.results[2]
    column = np.where(frame["region"] == "east", "east", "not east")
    alone = micom(
        MODEL,
        frame.assign(side=column),
        "side",
        groups=("east", "not east"),
        n_permutations=200,
        alpha=0.05 / 4,
        random_state=east.seed,
    )
    pd.testing.assert_frame_equal(alone.invariance, east.invariance)
    pd.testing.assert_frame_equal(alone.means, east.means)
    json.dumps(result.to_dict(), allow_nan=False)
    assert "east: not fully invariant on X1" in result.summary()


# --- input errors --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def small():
    return two_groups(26, 60, 60)


@pytest.mark.parametrize(
    ("change", "kwargs", "message"),
    [
        (None, {"group": "nope"}, "group column 'nope' is not in the data"),
        ("one", {}, r"has 1 group\(s\) \('a'\); two are needed"),
        ("three", {}, r"has 3 groups .*pass groups=\(first, second\)"),
        ("three", {"groups": ("a", "zz")}, "'zz' not found in column 'g'"),
        ("three", {"groups": ("a", "a")}, "two different labels"),
        ("tiny", {}, f"group 'b' has 10 rows, fewer than the {MIN_GROUP_ROWS}"),
        ("constant", {}, "in group 'b', x2 has no variance"),
        ("empty", {"missing": "casewise"}, "group 'b' is empty after casewise deletion"),
        ("unanswered", {}, "in group 'b', y3 has no variance"),
        (None, {"n_permutations": 39}, "at least 40 are needed"),
        (None, {"n_permutations": 100, "alpha": 0.01}, "at least 200 are needed"),
        (None, {"alpha": 1.5}, "alpha must be strictly between 0 and 1"),
        (None, {"scheme": "pca"}, "scheme must be one of"),
        (None, {"random_state": "seed"}, "random_state must be an int"),
    ],
)
def test_micom_refuses_bad_input_with_a_fix(small, change, kwargs, message):
    frame = small.copy()
    if change == "one":
        frame["g"] = "a"
    elif change == "three":
        frame.loc[:9, "g"] = "c"
    elif change == "tiny":
        frame = frame.iloc[:70]
    elif change == "constant":
        frame.loc[frame["g"] == "b", "x2"] = 3.0
    elif change in ("empty", "unanswered"):
        frame.loc[frame["g"] == "b", "y3"] = np.nan
    kwargs = {"group": "g", "n_permutations": 50, **kwargs}
    with pytest.raises(ValueError, match=message):
        micom(MODEL, frame, kwargs.pop("group"), **kwargs)


def test_mga_and_one_vs_rest_refuse_bad_input(small):
    with pytest.raises(ValueError, match="parameters must be a non-empty sequence"):
        pls_mga(MODEL, small, "g", parameters=("paths", "r2"), n_permutations=50)
    with pytest.raises(ValueError, match="parameters must be a non-empty sequence"):
        pls_mga(MODEL, small, "g", parameters="paths", n_permutations=50)
    with pytest.raises(ValueError, match="integer >= 40"):
        pls_mga(MODEL, small, "g", n_permutations=10)
    with pytest.raises(ValueError, match="one-vs-rest needs at least 2"):
        micom_one_vs_rest(MODEL, small.assign(g="a"), "g", n_permutations=50)
    with pytest.raises(ValueError, match="'west' not found in column 'g'"):
        micom_one_vs_rest(MODEL, small, "g", units=["a", "west"], n_permutations=50)
    lopsided = small.copy()
    lopsided.loc[:4, "g"] = "c"
    with pytest.raises(ValueError, match="group 'c' has 5 rows"):
        micom_one_vs_rest(MODEL, lopsided, "g", n_permutations=50)
    micom_one_vs_rest(MODEL, lopsided, "g", units=["a", "b"], n_permutations=50, random_state=1)


# --- 3. simulation: size and power -----------------------------------------------------------


def rejections(frame: pd.DataFrame, seed: int, with_mga: bool = True):
    """MICOM's rejections (step, construct) and PLS-MGA's (path) for one replication."""
    result = micom(MODEL, frame, "g", n_permutations=N_PERMUTATIONS, random_state=seed)
    steps = np.array(
        [~result.compositional["holds"], ~result.means["holds"], ~result.variances["holds"]],
        dtype=bool,
    )
    verdicts = result.invariance["verdict"].to_numpy()
    # The verdict follows the steps in every replication.
    expected = np.where(steps[0], "none", np.where(steps[1] | steps[2], "partial", "full"))
    assert (verdicts == expected).all()
    paths = None
    if with_mga:
        mga = pls_mga(MODEL, frame, "g", n_permutations=N_PERMUTATIONS, random_state=seed)
        paths = mga.estimates["p_value"].to_numpy() < 0.05
    return steps, paths


def simulate(with_mga: bool = True, **group2):
    steps, paths = [], []
    for rep in range(N_REPLICATIONS):
        frame = two_groups(FIRST_SEED + rep, **group2)
        s, p = rejections(frame, rep, with_mga)
        steps.append(s)
        paths.append(p)
    return np.mean(steps, axis=0), (np.mean(paths, axis=0) if with_mga else None)


@pytest.fixture(scope="module")
def invariant():
    return simulate()


@pytest.mark.slow
def test_invariant_groups_micom_rejects_at_the_nominal_rate(invariant):
    rates, _ = invariant  # (step 2, 3a, 3b) x (X1, X2, Y)
    low, high = SIZE_BOUNDS
    assert ((rates >= low) & (rates <= high)).all(), rates
    pooled = rates.mean(axis=1)
    assert ((pooled >= POOLED_BOUNDS[0]) & (pooled <= POOLED_BOUNDS[1])).all(), pooled


@pytest.mark.slow
def test_equal_paths_mga_rejects_at_the_nominal_rate(invariant):
    _, rates = invariant  # Y~X1, Y~X2
    low, high = SIZE_BOUNDS
    assert ((rates >= low) & (rates <= high)).all(), rates


@pytest.mark.slow
def test_shifted_weights_step_2_rejects_with_high_power():
    rates, _ = simulate(with_mga=False, loadings_x1=np.array([0.3, 0.75, 0.9]))
    assert rates[0, 0] >= POWER_FLOOR, rates
    assert rates[0, 1] <= SIZE_BOUNDS[1], rates  # X2 is untouched


@pytest.mark.slow
def test_shifted_intercept_step_3_means_rejects_with_high_power():
    rates, _ = simulate(with_mga=False, shift_x1=0.8)
    assert rates[1, 0] >= POWER_FLOOR, rates
    assert rates[0, 0] <= SIZE_BOUNDS[1], rates  # a mean shift leaves the weights alone


@pytest.mark.slow
def test_path_difference_mga_rejects_with_high_power():
    steps = []
    paths = []
    for rep in range(N_REPLICATIONS):
        frame = two_groups(FIRST_SEED + rep, paths=(0.7, PATHS[1]))
        mga = pls_mga(MODEL, frame, "g", n_permutations=N_PERMUTATIONS, random_state=rep)
        paths.append(mga.estimates["p_value"].to_numpy() < 0.05)
        steps.append(mga.estimates["difference"].to_numpy())
    rates = np.mean(paths, axis=0)  # Y~X1, Y~X2
    assert rates[0] >= POWER_FLOOR, rates
    assert rates[1] <= SIZE_BOUNDS[1], rates
    assert np.mean(steps, axis=0)[0] < -0.2  # group 1 minus group 2: .4 - .7
