"""Multi-group PLS: measurement invariance of composites (MICOM) and the PLS-MGA test.

Two groups of one data set (two regions, two customer tiers, one hall against all
others) can have their PLS results compared only when the composites mean the same in
both. :func:`micom` tests that in the three steps of Henseler, Ringle & Sarstedt (2016);
:func:`micom_one_vs_rest` runs it for each value of a segment column against all other
rows pooled; :func:`pls_mga` tests the difference of each path (and optionally each outer
weight or loading) between the groups by permutation (Chin & Dibbern, 2010).

Every test here is a permutation test: the group labels are shuffled, both groups are
re-estimated, and the statistic is recomputed. A permuted group is a 0/1 vector of row
frequencies and the other group is one minus it, so the two groups' correlation matrices
come from :func:`models.pls_bootstrap.replicate_correlations` (mean replacement redone
inside each group, as a separate fit of that group does) and their PLS estimates from
:func:`models.pls_algorithm.estimate`, for a whole batch of permutations at once, in the
memory-bounded batches the bootstrap uses. Composite means and variances of a permuted
group are weighted sums of the pooled scores.

=============================  ============================================================
step (Henseler et al., 2016)   rule, per construct, at level ``alpha`` (.05 by default)
=============================  ============================================================
1 configural invariance        same model, items and data treatment in both groups: holds
                               by construction here (one specification, one data set)
2 compositional invariance     ``c``, the correlation of the composites built with group
                               1's and group 2's weights on the pooled data, is at least
                               the ``alpha`` quantile of its permutation distribution
3a equal composite means       the mean difference lies within the ``alpha/2`` and
                               ``1 - alpha/2`` quantiles of its permutation distribution
3b equal composite variances   the log variance ratio likewise
=============================  ============================================================

Verdict per construct: ``"full"`` (steps 2, 3a and 3b hold: the groups may be pooled),
``"partial"`` (step 2 holds, 3a or 3b does not: paths may be compared across groups, as
by :func:`pls_mga`, but not pooled) or ``"none"`` (step 2 fails: the composite is formed
differently; compare no results involving it).

References
----------
Henseler, J., Ringle, C. M., & Sarstedt, M. (2016). Testing measurement invariance of
composites using partial least squares. *International Marketing Review*, 33(3),
405-431. doi:10.1108/IMR-09-2014-0304

Chin, W. W., & Dibbern, J. (2010). An introduction to a permutation based procedure for
multi-group PLS analysis: results of tests of differences on simulated data and a cross
cultural analysis of the sourcing of information system services between Germany and the
USA. In V. Esposito Vinzi et al. (Eds.), *Handbook of Partial Least Squares* (pp.
171-193). Springer. doi:10.1007/978-3-540-32827-8_8
"""

from __future__ import annotations

import hashlib
import json
import numbers
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import pandas as pd

from models.diagnostics import ModelWarning
from models.pls_algorithm import Layout, PLSFit, Scheme, estimate, flatten, parameter_labels
from models.pls_bootstrap import (
    CenteredData,
    batch_size,
    generator,
    is_integer,
    percentile_interval,
    replicate_correlations,
)
from models.pls_data import Missing, PreparedData, check_spec, prepare_data
from models.syntax import PathSpec, parse_model

__all__ = [
    "MGAResult",
    "MICOMOneVsRest",
    "MICOMResult",
    "MIN_GROUP_ROWS",
    "MIN_PERMUTATIONS",
    "Verdict",
    "micom",
    "micom_one_vs_rest",
    "pls_mga",
]

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]
Verdict = Literal["full", "partial", "none"]

#: Fewest rows a group may have. Below it a group's weights are too noisy for a
#: permutation distribution to mean much, and permuted groups often hold a constant item.
MIN_GROUP_ROWS = 20
#: Fewest permutations at ``alpha = .05``: the 2.5% quantile needs at least one
#: permutation beyond it (``n_permutations * alpha / 2 >= 1``). Use 1,000 or more.
MIN_PERMUTATIONS = 40

CONFIGURAL_NOTE = (
    "established by design: both groups are estimated with the same model, the same items "
    "and the same data treatment (one specification, one data set, one missing-value rule)"
)
VERDICT_RULE = (
    "full: compositional invariance (step 2) and equal composite means and variances "
    "(step 3) hold; partial: step 2 holds, step 3 does not (compare paths, do not pool); "
    "none: step 2 fails"
)

_SCHEMES = ("path", "centroid", "factorial")
_MISSING = ("mean", "casewise")
_MGA_TABLES = {"paths": "~", "loadings": "=~", "weights": "<~"}
# Statistics equal up to rounding must compare equal: c of a single-item construct is 1
# in every group, and 0.9999999999999998 must not fall below a permutation quantile of 1.
_TIE = 1e-10


# --- results -----------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class MICOMResult:
    """Measurement invariance of composites (MICOM) between two groups.

    Attributes
    ----------
    spec : PathSpec
        The model.
    group : str
        The column that defines the groups.
    groups : tuple of str
        The two groups compared, group 1 first; differences are group 1 minus group 2.
    n_obs : dict
        Rows per group (after missing handling).
    configural : bool
        Step 1; True by design here.
    configural_note : str
        Why step 1 holds.
    compositional : pandas.DataFrame
        Step 2: ``construct, c, quantile, p_value, p_family, holds``. ``quantile`` is the
        ``alpha`` quantile of ``c`` under permutation; ``p_value`` the share of
        permutations with ``c`` at or below the observed one; ``p_family`` that p-value
        adjusted for testing all the constructs of this comparison at once (Westfall and
        Young's minP over the same permutations), for a verdict on the comparison as a
        whole, counting the observed split among the permutations so that it is never
        0. ``holds`` is the paper's per-construct rule.
    means : pandas.DataFrame
        Step 3a: ``construct, difference, quantile_low, quantile_high, p_value, holds``;
        the difference of the composite means (pooled standardized scores, so in pooled
        sd units), its ``alpha/2`` and ``1 - alpha/2`` permutation quantiles and the
        equal-tailed two-sided permutation p-value.
    variances : pandas.DataFrame
        Step 3b: ``construct, log_ratio, quantile_low, quantile_high, p_value, holds``
        for ``log(var_1 / var_2)``.
    invariance : pandas.DataFrame
        ``construct, compositional, equal_means, equal_variances, verdict`` with verdict
        ``"full"``, ``"partial"`` or ``"none"``.
    alpha : float
        Level of the tests.
    n_permutations : int
        Permutations requested; ``n_failed`` of them could not be estimated (a constant
        item in a permuted group, a singular system) and were discarded.
    n_failed, n_not_converged : int
        Discarded permutations; kept permutations whose weights did not converge.
    seed : int or None
        Seed that reproduces the permutations (None when a Generator was passed).
    dropped : int
        Rows left out: no group label, another group, or (casewise) a missing answer.
    warnings : tuple of ModelWarning
    provenance : dict
        Method, settings and library versions, sha256 of the items and labels used.
    """

    spec: PathSpec
    group: str
    groups: tuple[str, str]
    n_obs: dict[str, int]
    configural: bool
    configural_note: str
    compositional: pd.DataFrame
    means: pd.DataFrame
    variances: pd.DataFrame
    invariance: pd.DataFrame
    alpha: float
    n_permutations: int
    n_failed: int
    n_not_converged: int
    seed: int | None
    dropped: int
    warnings: tuple[ModelWarning, ...]
    provenance: dict[str, Any]

    @property
    def verdicts(self) -> dict[str, str]:
        """``{construct: "full" | "partial" | "none"}``."""
        table = self.invariance
        return dict(zip(table["construct"], table["verdict"], strict=True))

    def summary(self) -> str:
        """Plain-text report of the three steps and the verdicts."""
        g1, g2 = self.groups
        kept = self.n_permutations - self.n_failed
        head = [
            f"MICOM by {self.group}: {g1} (N = {self.n_obs[g1]}) vs {g2} (N = {self.n_obs[g2]})"
            + (f"; {self.dropped} rows left out" if self.dropped else ""),
            f"  {kept}/{self.n_permutations} permutations, alpha {self.alpha:g}, seed {self.seed}",
            f"Step 1, configural invariance: {self.configural_note}.",
        ]
        body = [
            (
                f"Step 2, compositional invariance (c >= its {self.alpha:g} quantile)",
                self.compositional,
            ),
            ("Step 3a, equal composite means (difference within the quantiles)", self.means),
            ("Step 3b, equal composite variances (log ratio within the quantiles)", self.variances),
            ("Verdicts", self.invariance),
        ]
        parts = ["\n".join(head)]
        parts += [f"{title}\n{_format_table(table)}" for title, table in body]
        parts.append(f"Rule: {VERDICT_RULE}.")
        if self.warnings:
            parts.append(_format_warnings(self.warnings))
        return "\n\n".join(parts)

    def __str__(self) -> str:
        return self.summary()

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (NaN as None) for the API and stored analyses."""
        return {
            "method": "micom",
            "model": self.spec.to_lavaan(),
            "group": self.group,
            "groups": list(self.groups),
            "n_obs": dict(self.n_obs),
            "dropped": self.dropped,
            "configural": self.configural,
            "configural_note": self.configural_note,
            "compositional": _records(self.compositional),
            "means": _records(self.means),
            "variances": _records(self.variances),
            "invariance": _records(self.invariance),
            "verdicts": self.verdicts,
            "rule": VERDICT_RULE,
            "alpha": self.alpha,
            "n_permutations": self.n_permutations,
            "n_failed": self.n_failed,
            "n_not_converged": self.n_not_converged,
            "seed": self.seed,
            "warnings": [w.to_dict() for w in self.warnings],
            "provenance": json.loads(json.dumps(self.provenance, default=str)),
        }


@dataclass(frozen=True, eq=False)
class MICOMOneVsRest:
    """MICOM of each unit of a segment column against all other rows pooled.

    Attributes
    ----------
    segment : str
        The column whose values are the units.
    units : tuple of str
        Units compared, in order of first appearance.
    results : tuple of MICOMResult
        One per unit (group 1 the unit, group 2 ``"not <unit>"``).
    verdicts : pandas.DataFrame
        Index the units, columns the constructs, cells ``"full"``, ``"partial"`` or
        ``"none"``.
    seed : int or None
        Seed that reproduces every unit's permutations (each unit's own seed is in its
        result).
    dropped : int
        Rows left out of every comparison: no segment value, or (casewise) a missing
        answer.
    """

    segment: str
    units: tuple[str, ...]
    results: tuple[MICOMResult, ...]
    verdicts: pd.DataFrame
    seed: int | None
    dropped: int

    @property
    def flagged(self) -> dict[str, tuple[str, ...]]:
        """``{unit: constructs whose verdict is not "full"}``, for units with any."""
        out = {}
        for unit, row in self.verdicts.iterrows():
            constructs = tuple(c for c, v in row.items() if v != "full")
            if constructs:
                out[str(unit)] = constructs
        return out

    def summary(self) -> str:
        """One line per unit: its size and the verdict of each construct."""
        first = self.results[0]
        lines = [
            f"MICOM, each {self.segment} vs the rest: {len(self.units)} units, "
            f"{first.n_permutations} permutations each, alpha {first.alpha:g}, seed {self.seed}"
            + (f"; {self.dropped} rows left out" if self.dropped else ""),
            f"Rule: {VERDICT_RULE}.",
            "",
        ]
        table = self.verdicts.copy()
        table.insert(0, "n", [r.n_obs[r.groups[0]] for r in self.results])
        lines.append(table.to_string())
        flagged = self.flagged
        lines.append("")
        if flagged:
            lines += [
                f"{unit}: not fully invariant on {', '.join(c)}" for unit, c in flagged.items()
            ]
        else:
            lines.append("Every unit is fully invariant on every construct.")
        # The pooled data's warnings are every unit's: print them once, the rest per unit.
        shared = set.intersection(*(set(r.warnings) for r in self.results))
        own = [(r.groups[0], w) for r in self.results for w in r.warnings if w not in shared]
        if shared or own:
            lines += ["", "Warnings"]
            lines += [
                f"  [{w.severity}] {w.code}: {w.message}"
                for w in self.results[0].warnings
                if w in shared
            ]
            lines += [f"  {unit}: [{w.severity}] {w.code}: {w.message}" for unit, w in own]
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.summary()

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict: the verdict table and every unit's full result."""
        return {
            "method": "micom-one-vs-rest",
            "segment": self.segment,
            "units": list(self.units),
            "verdicts": {
                str(unit): {str(c): str(v) for c, v in row.items()}
                for unit, row in self.verdicts.iterrows()
            },
            "flagged": {unit: list(c) for unit, c in self.flagged.items()},
            "rule": VERDICT_RULE,
            "seed": self.seed,
            "dropped": self.dropped,
            "results": [r.to_dict() for r in self.results],
        }


@dataclass(frozen=True, eq=False)
class MGAResult:
    """PLS multi-group analysis (PLS-MGA) of two groups by permutation.

    Attributes
    ----------
    spec : PathSpec
        The model.
    group : str
        The column that defines the groups.
    groups : tuple of str
        The two groups, group 1 first; differences are group 1 minus group 2.
    n_obs : dict
        Rows per group (after missing handling).
    estimates : pandas.DataFrame
        ``lhs, op, rhs, estimate_1, estimate_2, difference, p_value``: one row per path
        (``op="~"``, lhs the outcome) and, when asked, per loading (``"=~"``) and outer
        weight (``"<~"``). ``estimate_1`` and ``estimate_2`` are each group's own fit;
        ``p_value`` is the share of permutations whose absolute difference is at least
        the observed one.
    consistent : bool
        True when both groups were estimated by PLSc.
    n_permutations, n_failed, n_not_converged : int
        Permutations requested, discarded (not estimable), kept but not converged.
    seed : int or None
    dropped : int
        Rows left out: no group label, another group, or (casewise) a missing answer.
    warnings : tuple of ModelWarning
    provenance : dict
    """

    spec: PathSpec
    group: str
    groups: tuple[str, str]
    n_obs: dict[str, int]
    estimates: pd.DataFrame
    consistent: bool
    n_permutations: int
    n_failed: int
    n_not_converged: int
    seed: int | None
    dropped: int
    warnings: tuple[ModelWarning, ...]
    provenance: dict[str, Any]

    def summary(self) -> str:
        """Plain-text report: each parameter in both groups, the difference and p-value."""
        g1, g2 = self.groups
        kept = self.n_permutations - self.n_failed
        head = [
            "PLS-MGA permutation test"
            + (" (PLSc)" if self.consistent else "")
            + f" by {self.group}: {g1} (N = {self.n_obs[g1]}) vs {g2} (N = {self.n_obs[g2]})"
            + (f"; {self.dropped} rows left out" if self.dropped else ""),
            f"  {kept}/{self.n_permutations} permutations, seed {self.seed}; "
            f"estimate_1 is {g1}, estimate_2 is {g2}, difference = 1 - 2",
        ]
        parts = ["\n".join(head), _format_table(self.estimates)]
        if self.warnings:
            parts.append(_format_warnings(self.warnings))
        return "\n\n".join(parts)

    def __str__(self) -> str:
        return self.summary()

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (NaN as None) for the API and stored analyses."""
        return {
            "method": "pls-mga",
            "model": self.spec.to_lavaan(),
            "group": self.group,
            "groups": list(self.groups),
            "n_obs": dict(self.n_obs),
            "dropped": self.dropped,
            "consistent": self.consistent,
            "estimates": _records(self.estimates),
            "n_permutations": self.n_permutations,
            "n_failed": self.n_failed,
            "n_not_converged": self.n_not_converged,
            "seed": self.seed,
            "warnings": [w.to_dict() for w in self.warnings],
            "provenance": json.loads(json.dumps(self.provenance, default=str)),
        }


# --- public entry points -----------------------------------------------------------------


def micom(
    spec: PathSpec | str,
    frame: pd.DataFrame,
    group: str,
    *,
    groups: Sequence[Any] | None = None,
    n_permutations: int = 1000,
    alpha: float = 0.05,
    scheme: Scheme = "path",
    tol: float = 1e-7,
    max_iter: int = 300,
    missing: Missing = "mean",
    random_state: int | np.random.Generator | None = None,
) -> MICOMResult:
    """Measurement invariance of composites (MICOM) between two groups, by permutation.

    Parameters
    ----------
    spec : PathSpec or str
        The model, or lavaan text (as :func:`models.pls.fit_pls`).
    frame : pandas.DataFrame
        One row per respondent: the model's items ("cannot answer" as NaN) and the
        group column.
    group : str
        Column holding the group of each row. Rows without a value are left out.
    groups : pair of labels, optional
        The two groups to compare, group 1 first. Needed when the column has more than
        two values; by default its two values in order of first appearance.
    n_permutations : int
        Permutations of the group labels; at least ``2 / alpha`` (40 at .05), and 1,000
        or more for stable quantiles (Henseler et al. recommend 5,000).
    alpha : float
        Level of steps 2 and 3. Comparing several groups (as
        :func:`micom_one_vs_rest` does), divide it by their number for a Bonferroni bound.
    scheme, tol, max_iter, missing
        As in :func:`models.pls.fit_pls`. With ``missing="mean"`` every group's items
        are mean-replaced with that group's means when its weights are estimated, and
        with the pooled means for the pooled composites of steps 2 and 3.
    random_state : int, numpy.random.Generator or None
        Seed of the permutations; None draws a fresh one, recorded in ``seed``.

    Returns
    -------
    MICOMResult
        Steps 1 to 3 per construct and the verdicts ``"full"``, ``"partial"``, ``"none"``.

    Raises
    ------
    ValueError
        If ``group`` is not a column, the column has fewer than two groups (or more than
        two without ``groups``), a label in ``groups`` is absent, a group is empty or has
        fewer than :data:`MIN_GROUP_ROWS` rows, an item has no variance within a group,
        ``n_permutations`` is below ``2 / alpha``, or too few permutations could be
        estimated.
    ModelSyntaxError
        As :func:`models.pls.fit_pls`, for a model that does not fit the data.

    See Also
    --------
    micom_one_vs_rest : each value of a segment column against the rest.
    pls_mga : compare the paths once compositional invariance holds.

    Notes
    -----
    With :math:`Z` the pooled standardized items (mean-replaced with the pooled means),
    :math:`R` their correlation matrix and :math:`w^{(g)}_j` the outer weights of
    construct :math:`j` estimated on group :math:`g` alone,

    .. math::

        c_j = \\operatorname{cor}(Z w^{(1)}_j, Z w^{(2)}_j)
            = \\frac{w^{(1)T}_j R\\, w^{(2)}_j}
                   {\\sqrt{w^{(1)T}_j R\\, w^{(1)}_j \\; w^{(2)T}_j R\\, w^{(2)}_j}}.

    Step 2 holds when :math:`c_j` is at least the ``alpha`` quantile (type 7) of the
    permuted :math:`c_j`; its p-value is the share of permuted :math:`c_j \\le c_j`.
    Step 3 uses the pooled fit's weights :math:`w_j`: scores :math:`y = Z w_j`, the
    difference of the group means :math:`\\bar y^{(1)} - \\bar y^{(2)}` and
    :math:`\\log(s^2_{(1)} / s^2_{(2)})` (n-1 variances); each holds when it lies within
    the ``alpha/2`` and ``1 - alpha/2`` quantiles of its permutation distribution, and
    its p-value is :math:`\\min(1, 2\\min(P^*(\\le), P^*(\\ge)))`, the equal-tailed
    p-value matching that interval. The quantile rules decide; the p-values agree with
    them except when the observed value falls between two neighbouring permutation
    values around the quantile. Under invariance a quantile rule at tail probability
    :math:`a` rejects with probability :math:`(a(B - 1) + 1)/(B + 1)` for :math:`B`
    permutations, :math:`(1 - 2a)/(B + 1)` above :math:`a`: step 3 (two tails) at
    ``alpha = .05`` rejects at about 5.2% with 1,000 permutations, 6% with 200.

    A permutation keeps the group sizes, so every permuted group is a 0/1 frequency
    vector; both groups' correlation matrices follow from weighted sums of the pooled
    rows (:func:`models.pls_bootstrap.replicate_correlations`) and the groups of a whole
    batch are estimated at once. Permutations with a constant item in a group or a
    singular system are discarded and counted; permutations that do not converge are
    kept and counted.

    Validated by simulation (``tests/unit/models/test_pls_groups.py``): on invariant
    data steps 2, 3a and 3b reject at about 5%; a changed loading pattern in one group
    makes step 2 reject and a shifted item intercept makes step 3a reject, each with
    high power. Each group's weights equal those of :func:`models.pls.fit_pls` on that
    group alone.

    References
    ----------
    Henseler, J., Ringle, C. M., & Sarstedt, M. (2016). Testing measurement invariance
    of composites using partial least squares. *International Marketing Review*, 33(3),
    405-431. doi:10.1108/IMR-09-2014-0304

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> rng = np.random.default_rng(0)
    >>> f = rng.normal(size=(400, 1))
    >>> g = 0.6 * f + 0.8 * rng.normal(size=(400, 1))
    >>> frame = pd.DataFrame(np.hstack([f + rng.normal(size=(400, 2)),
    ...                                 g + rng.normal(size=(400, 2))]),
    ...                      columns=["a1", "a2", "b1", "b2"])
    >>> frame["tier"] = np.repeat(["gold", "silver"], 200)
    >>> result = micom("A =~ a1 + a2\\nB =~ b1 + b2\\nB ~ A", frame, "tier",
    ...                n_permutations=200, random_state=1)
    >>> result.verdicts
    {'A': 'full', 'B': 'full'}
    """
    _check_settings(scheme, tol, max_iter, missing)
    _check_permutations(n_permutations, alpha)
    spec, layout, notes = _parse(spec, frame)
    labels, first, keep = _two_groups(frame, group, groups)
    pooled = _Pooled.build(spec, layout, notes, frame, keep, missing)
    rng, seed = generator(random_state)
    return _micom(
        pooled,
        first[keep],
        (str(labels[0]), str(labels[1])),
        group,
        n_permutations,
        alpha,
        (scheme, tol, max_iter),
        rng,
        seed,
        int((~keep).sum()) + pooled.n_casewise,
    )


def micom_one_vs_rest(
    spec: PathSpec | str,
    frame: pd.DataFrame,
    segment: str,
    *,
    units: Sequence[Any] | None = None,
    n_permutations: int = 1000,
    alpha: float = 0.05,
    scheme: Scheme = "path",
    tol: float = 1e-7,
    max_iter: int = 300,
    missing: Missing = "mean",
    random_state: int | np.random.Generator | None = None,
) -> MICOMOneVsRest:
    """MICOM of each unit of a segment column against all other rows pooled.

    Tells a comparison of many units (regions, halls) which unit measures differently:
    unit ``u`` is group 1 and every other row with a segment value is group 2.

    Parameters
    ----------
    spec : PathSpec or str
        The model, or lavaan text.
    frame : pandas.DataFrame
        Items and the segment column.
    segment : str
        Column whose values are the units. Rows without a value are left out of every
        comparison.
    units : sequence of labels, optional
        Units to test, each against all other rows; by default every value of the
        column, in order of first appearance. Leave out a unit smaller than
        :data:`MIN_GROUP_ROWS` (its rows stay in the rest of the others).
    n_permutations, alpha, scheme, tol, max_iter, missing
        As in :func:`micom`. Each unit is a separate test at ``alpha``: with k units
        about ``k * alpha`` false alarms per construct are expected when all are
        invariant; pass ``alpha=0.05 / k`` for a Bonferroni bound.
    random_state : int, numpy.random.Generator or None
        Seed; each unit gets its own seed drawn from it (recorded in its result).

    Returns
    -------
    MICOMOneVsRest
        ``verdicts`` (unit x construct), ``flagged`` (units not fully invariant) and
        the full :class:`MICOMResult` of each unit.

    Raises
    ------
    ValueError
        If ``segment`` is not a column, it has fewer than two units, a unit in
        ``units`` is absent, a unit or its rest is smaller than :data:`MIN_GROUP_ROWS`,
        or as :func:`micom`.

    See Also
    --------
    micom : two groups.

    Notes
    -----
    The pooled data (and so the pooled weights, scores and correlation matrix of steps
    2 and 3) are the same for every unit: all rows with a segment value. A unit that
    differs also moves the rest it is compared with, the more so the fewer the units:
    other units can then be flagged on the same construct's mean, with a smaller
    difference of the opposite sign. The unit with the largest difference is the one
    that measures differently.

    References
    ----------
    Henseler, J., Ringle, C. M., & Sarstedt, M. (2016). Testing measurement invariance
    of composites using partial least squares. *International Marketing Review*, 33(3),
    405-431. doi:10.1108/IMR-09-2014-0304

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> rng = np.random.default_rng(2)
    >>> f = rng.normal(size=(900, 1))
    >>> g = 0.6 * f + 0.8 * rng.normal(size=(900, 1))
    >>> frame = pd.DataFrame(np.hstack([f + rng.normal(size=(900, 2)),
    ...                                 g + rng.normal(size=(900, 2))]),
    ...                      columns=["a1", "a2", "b1", "b2"])
    >>> frame["region"] = np.tile(["north", "south", "east", "west", "centre", "coast"], 150)
    >>> frame.loc[frame["region"] == "east", "a1"] += 1.0  # one item reads higher in the east
    >>> by_region = micom_one_vs_rest("A =~ a1 + a2\\nB =~ b1 + b2\\nB ~ A", frame, "region",
    ...                               n_permutations=500, alpha=0.05 / 6, random_state=1)
    >>> by_region.flagged
    {'east': ('A',)}
    >>> by_region.verdicts.loc["east", "A"]
    'partial'
    """
    _check_settings(scheme, tol, max_iter, missing)
    _check_permutations(n_permutations, alpha)
    spec, layout, notes = _parse(spec, frame)
    column = _group_column(frame, segment)
    keep = column.notna().to_numpy()
    present = _labels(column)
    if len(present) < 2:
        raise ValueError(
            f"column {segment!r} has {len(present)} unit(s) "
            f"({', '.join(map(repr, present)) or 'no values'}); one-vs-rest needs at least 2"
        )
    if units is None:
        chosen = present
    else:
        chosen = list(units)
        if isinstance(units, str) or not chosen:
            raise ValueError(f"units must be a non-empty sequence of labels, got {units!r}")
        _check_known(chosen, present, segment, "units")
        if len(set(map(str, chosen))) != len(chosen):
            raise ValueError(f"units must be distinct, got {chosen!r}")
    pooled = _Pooled.build(spec, layout, notes, frame, keep, missing)
    rng, seed = generator(random_state)
    unit_seeds = rng.integers(0, 2**63 - 1, size=len(chosen))
    settings = (scheme, tol, max_iter)
    values = column.to_numpy()[keep]
    results = []
    for unit, unit_seed in zip(chosen, unit_seeds, strict=True):
        first = _equals(values, unit)
        unit_rng = np.random.default_rng(int(unit_seed))
        results.append(
            _micom(
                pooled,
                first,
                (str(unit), f"not {unit}"),
                segment,
                n_permutations,
                alpha,
                settings,
                unit_rng,
                int(unit_seed),
                int((~keep).sum()) + pooled.n_casewise,
            )
        )
    verdicts = pd.DataFrame(
        [[r.verdicts[c] for c in pooled.layout.constructs] for r in results],
        index=pd.Index([str(u) for u in chosen], name=segment),
        columns=list(pooled.layout.constructs),
    )
    return MICOMOneVsRest(
        segment=segment,
        units=tuple(str(u) for u in chosen),
        results=tuple(results),
        verdicts=verdicts,
        seed=seed,
        dropped=int((~keep).sum()) + pooled.n_casewise,
    )


def pls_mga(
    spec: PathSpec | str,
    frame: pd.DataFrame,
    group: str,
    *,
    groups: Sequence[Any] | None = None,
    parameters: Sequence[str] = ("paths",),
    n_permutations: int = 1000,
    scheme: Scheme = "path",
    tol: float = 1e-7,
    max_iter: int = 300,
    missing: Missing = "mean",
    consistent: bool = False,
    random_state: int | np.random.Generator | None = None,
) -> MGAResult:
    """PLS multi-group analysis: the permutation test of group differences.

    Parameters
    ----------
    spec : PathSpec or str
        The model, or lavaan text.
    frame : pandas.DataFrame
        Items and the group column.
    group : str
        Column holding the group of each row; rows without a value are left out.
    groups : pair of labels, optional
        The two groups, group 1 first; needed when the column has more than two values.
    parameters : sequence of {"paths", "loadings", "weights"}
        Which estimates to compare; paths by default.
    n_permutations : int
        Permutations of the group labels, at least :data:`MIN_PERMUTATIONS`; 1,000 or
        more for p-values near .05.
    scheme, tol, max_iter, missing, consistent
        As in :func:`models.pls.fit_pls`; each group (observed or permuted) is estimated
        on its own rows, mean replacement with its own means.
    random_state : int, numpy.random.Generator or None
        Seed of the permutations.

    Returns
    -------
    MGAResult
        Per parameter: both groups' estimates, the difference and its p-value.

    Raises
    ------
    ValueError
        For the input errors of :func:`micom`, an unknown name in ``parameters``, or
        fewer than :data:`MIN_PERMUTATIONS` permutations.

    See Also
    --------
    micom : establish (at least partial) invariance before comparing paths.

    Notes
    -----
    For each parameter :math:`\\theta`, the observed difference is
    :math:`d = \\hat\\theta^{(1)} - \\hat\\theta^{(2)}` from each group's own fit, and
    its two-sided p-value is :math:`\\#\\{b : |d^*_b| \\ge |d|\\} / B` over the
    :math:`B` permutations that could be estimated (Chin & Dibbern, 2010). The test is
    exact under exchangeability of the groups, i.e. when the whole model (not only the
    parameter) is the same in both; Henseler et al. (2016) require at least partial
    measurement invariance (:func:`micom`) before paths are compared.

    Validated by simulation (``tests/unit/models/test_pls_groups.py``): equal paths
    reject at about 5%, a difference of .3 in a path rejects with high power; each
    group's estimates equal :func:`models.pls.fit_pls` on that group alone.

    References
    ----------
    Chin, W. W., & Dibbern, J. (2010). An introduction to a permutation based procedure
    for multi-group PLS analysis. In V. Esposito Vinzi et al. (Eds.), *Handbook of
    Partial Least Squares* (pp. 171-193). Springer. doi:10.1007/978-3-540-32827-8_8

    Henseler, J., Ringle, C. M., & Sarstedt, M. (2016). Testing measurement invariance
    of composites using partial least squares. *International Marketing Review*, 33(3),
    405-431. doi:10.1108/IMR-09-2014-0304

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> rng = np.random.default_rng(0)
    >>> f = rng.normal(size=(400, 1))
    >>> slope = np.repeat([0.2, 0.7], 200)[:, None]  # the path differs between the groups
    >>> g = slope * f + 0.7 * rng.normal(size=(400, 1))
    >>> frame = pd.DataFrame(np.hstack([f + rng.normal(size=(400, 2)),
    ...                                 g + rng.normal(size=(400, 2))]),
    ...                      columns=["a1", "a2", "b1", "b2"])
    >>> frame["tier"] = np.repeat(["gold", "silver"], 200)
    >>> mga = pls_mga("A =~ a1 + a2\\nB =~ b1 + b2\\nB ~ A", frame, "tier",
    ...               n_permutations=200, random_state=1)
    >>> row = mga.estimates.iloc[0]
    >>> row["lhs"], row["rhs"], bool(row["difference"] < 0), bool(row["p_value"] < 0.05)
    ('B', 'A', True, True)
    """
    _check_settings(scheme, tol, max_iter, missing)
    if not (is_integer(n_permutations) and n_permutations >= MIN_PERMUTATIONS):
        raise ValueError(
            f"n_permutations must be an integer >= {MIN_PERMUTATIONS} so that a p-value "
            f"can fall below .05; got {n_permutations!r} (1,000 or more is recommended)"
        )
    if not isinstance(consistent, bool):
        raise ValueError(f"consistent must be True or False, got {consistent!r}")
    unknown = [p for p in parameters if p not in _MGA_TABLES]
    if isinstance(parameters, str) or unknown or not parameters:
        raise ValueError(
            f"parameters must be a non-empty sequence of {tuple(_MGA_TABLES)}, got {parameters!r}"
        )
    spec, layout, notes = _parse(spec, frame)
    labels, first, keep = _two_groups(frame, group, groups)
    pooled = _Pooled.build(spec, layout, notes, frame, keep, missing)
    names = (str(labels[0]), str(labels[1]))
    first = first[keep]
    pooled.check_groups(first, names)
    rng, seed = generator(random_state)

    table = np.array(parameter_labels(layout), dtype=object)
    chosen = np.isin(table[:, 0], list(parameters))

    def statistic(counts: FloatArray, fit: PLSFit) -> FloatArray:
        flat = flatten(fit, layout)[:, chosen]
        k = counts.shape[0]
        return np.concatenate([flat[:k] - flat[k:], flat[:k], flat[k:]], axis=1)

    settings = (scheme, tol, max_iter)
    run = _permute(pooled, first, n_permutations, rng, statistic, settings, consistent)
    size = int(chosen.sum())
    observed, draws = run.observed, run.draws[:, :size]
    difference = observed[:size]
    p_value = (np.abs(draws) >= np.abs(difference) - _TIE).mean(axis=0)
    estimates = pd.DataFrame(
        {
            "lhs": table[chosen, 1],
            "op": [_MGA_TABLES[kind] for kind in table[chosen, 0]],
            "rhs": table[chosen, 2],
            "estimate_1": observed[size : 2 * size],
            "estimate_2": observed[2 * size :],
            "difference": difference,
            "p_value": p_value,
        }
    )
    warnings = pooled.warnings + run.warnings(names, max_iter)
    return MGAResult(
        spec=spec,
        group=group,
        groups=names,
        n_obs=pooled.group_sizes(first, names),
        estimates=estimates,
        consistent=consistent,
        n_permutations=n_permutations,
        n_failed=run.n_failed,
        n_not_converged=run.n_not_converged,
        seed=seed,
        dropped=int((~keep).sum()) + pooled.n_casewise,
        warnings=warnings,
        provenance=pooled.provenance(
            "PLS-MGA permutation test (Chin & Dibbern 2010)",
            first,
            names,
            seed,
            n_permutations,
            (scheme, tol, max_iter),
            consistent=consistent,
            parameters=list(parameters),
        ),
    )


# --- the pooled data and the permutation engine ------------------------------------------


@dataclass(frozen=True)
class _Pooled:
    """The rows compared, prepared once: pooled for steps 2-3, centred for the groups."""

    spec: PathSpec
    layout: Layout
    data: PreparedData  # pooled, missing handled over all rows compared
    centred: CenteredData  # for the groups' own mean replacement and correlations
    warnings: tuple[ModelWarning, ...]
    missing: str

    @classmethod
    def build(
        cls,
        spec: PathSpec,
        layout: Layout,
        notes: tuple[ModelWarning, ...],
        frame: pd.DataFrame,
        keep: BoolArray,
        missing: Missing,
    ) -> _Pooled:
        items = frame.loc[:, list(layout.items)].iloc[np.flatnonzero(keep)]
        data = prepare_data(items.reset_index(drop=True), layout.items, missing)
        centred = CenteredData.from_array(data.raw)
        return cls(spec, layout, data, centred, notes + data.warnings, missing)

    @property
    def n_casewise(self) -> int:
        """Rows dropped by casewise deletion (0 under mean replacement)."""
        return self.data.n_input - len(self.data.values)

    def rows(self) -> npt.NDArray[np.intp]:
        """Positions, among the rows kept, of the rows used (casewise may drop some)."""
        return self.data.index.to_numpy()

    def group_sizes(self, first: BoolArray, names: tuple[str, str]) -> dict[str, int]:
        used = first[self.rows()]
        return {names[0]: int(used.sum()), names[1]: int((~used).sum())}

    def check_groups(self, first: BoolArray, names: tuple[str, str]) -> None:
        """Refuse groups that cannot be estimated on their own."""
        used = first[self.rows()]
        raw = self.data.raw
        after = " after casewise deletion" if self.missing == "casewise" else ""
        for name, rows in ((names[0], used), (names[1], ~used)):
            size = int(rows.sum())
            if size == 0:
                raise ValueError(
                    f"group {name!r} is empty{after}; compare groups that both have rows"
                )
            if size < MIN_GROUP_ROWS:
                raise ValueError(
                    f"group {name!r} has {size} rows{after}, fewer than the {MIN_GROUP_ROWS} "
                    "a group needs; merge it with a neighbouring group or leave it out"
                )
            block = raw[rows]
            absent = np.isnan(block)
            high = np.where(absent, -np.inf, block).max(axis=0)
            low = np.where(absent, np.inf, block).min(axis=0)
            flat = [self.layout.items[j] for j in np.flatnonzero(~(high - low > 0))]
            if flat:
                raise ValueError(
                    f"in group {name!r}, {', '.join(flat)} has no variance (all answers "
                    "equal or missing), so the group cannot be estimated on its own; drop "
                    "the item from the model or merge the group"
                )

    def provenance(
        self,
        method: str,
        first: BoolArray,
        names: tuple[str, str],
        seed: int | None,
        n_permutations: int,
        settings: tuple[Scheme, float, int],
        **extra: Any,
    ) -> dict[str, Any]:
        scheme, tol, max_iter = settings
        digest = hashlib.sha256("\x1f".join(self.layout.items).encode())
        raw = self.data.raw
        digest.update(np.where(np.isnan(raw), np.nan, raw).astype("<f8").tobytes())
        digest.update(first[self.rows()].tobytes())
        return {
            "engine": "pls",
            "method": method,
            "groups": list(names),
            "scheme": scheme,
            "tol": tol,
            "max_iter": max_iter,
            "missing": self.missing,
            "n_permutations": n_permutations,
            "seed": seed,
            **extra,
            "numpy": np.__version__,
            "pandas": pd.__version__,
            "data_sha256": digest.hexdigest(),
        }


@dataclass(frozen=True)
class _Permuted:
    """A statistic for the observed groups and for each estimable permutation."""

    observed: FloatArray  # (K,)
    draws: FloatArray  # (B kept, K)
    n_permutations: int
    n_failed: int
    n_not_converged: int
    observed_converged: bool

    def warnings(self, names: tuple[str, str], max_iter: int) -> tuple[ModelWarning, ...]:
        out = []
        if not self.observed_converged:
            out.append(
                ModelWarning(
                    "not-converged",
                    f"the outer weights of {names[0]!r} or {names[1]!r} did not converge in "
                    f"{max_iter} iterations; its estimates are not a PLS solution. Raise "
                    "max_iter or check the model.",
                    "error",
                )
            )
        if self.n_failed:
            out.append(
                ModelWarning(
                    "permutations-failed",
                    f"{self.n_failed} of {self.n_permutations} permutations could not be "
                    "estimated (an item constant in a permuted group, or a singular system) "
                    "and were discarded.",
                    "warning",
                )
            )
        if self.n_not_converged:
            out.append(
                ModelWarning(
                    "permutations-not-converged",
                    f"{self.n_not_converged} permutations did not converge in {max_iter} "
                    "iterations; they are kept.",
                    "warning",
                )
            )
        return tuple(out)


def _permute(
    pooled: _Pooled,
    first: BoolArray,
    n_permutations: int,
    rng: np.random.Generator,
    statistic: Callable[[FloatArray, PLSFit], FloatArray],
    settings: tuple[Scheme, float, int],
    consistent: bool = False,
) -> _Permuted:
    """Run ``statistic(counts, fit)`` on the observed split and on permuted splits.

    ``counts`` (k, n) holds group 1's 0/1 row frequencies; ``fit`` is the PLS fit of the
    stack of 2k correlation matrices, group 1's k first and group 2's k last. Both
    groups of a batch go through one ``replicate_correlations`` and one ``estimate``.
    """
    scheme, tol, max_iter = settings
    used = first[pooled.rows()].astype(np.float64)
    n = used.size

    def evaluate(counts: FloatArray) -> tuple[FloatArray, BoolArray, BoolArray]:
        k = counts.shape[0]
        corr, ok = replicate_correlations(pooled.centred, counts, complement=True)
        fit = estimate(corr, pooled.layout, scheme, tol, max_iter, consistent)
        values = statistic(counts, fit)
        good = ok & fit.ok
        good = good[:k] & good[k:] & np.isfinite(values).all(axis=1)
        return values, good, fit.converged[:k] & fit.converged[k:]

    observed, good, converged = evaluate(used[None])
    if not good[0]:
        raise ValueError(
            "the groups cannot be estimated on their own (a singular system: perfectly "
            "collinear items in a mode B block or collinear predictors within a group; or, "
            "under PLSc, a rho_A that is not positive); drop redundant items or paths, or "
            "merge groups"
        )
    draws, n_not_converged = [], 0
    # Two replicates (the two groups) per permutation: half the bootstrap's batch.
    size = max(1, batch_size(n) // 2)
    for start in range(0, n_permutations, size):
        k = min(size, n_permutations - start)
        # Row-wise shuffles consume the stream in order, so batching does not change them.
        counts = rng.permuted(np.tile(used, (k, 1)), axis=1)
        values, good, conv = evaluate(counts)
        draws.append(values[good])
        n_not_converged += int((good & ~conv).sum())
    kept = np.concatenate(draws)
    n_failed = n_permutations - len(kept)
    if len(kept) < MIN_PERMUTATIONS:
        raise ValueError(
            f"only {len(kept)} of {n_permutations} permutations could be estimated "
            f"(at least {MIN_PERMUTATIONS} are needed): a permuted group often holds a "
            "constant item; use larger groups or drop near-constant items"
        )
    return _Permuted(
        observed[0], kept, n_permutations, n_failed, n_not_converged, bool(converged[0])
    )


def _micom(
    pooled: _Pooled,
    first: BoolArray,
    names: tuple[str, str],
    column: str,
    n_permutations: int,
    alpha: float,
    settings: tuple[Scheme, float, int],
    rng: np.random.Generator,
    seed: int | None,
    dropped: int,
) -> MICOMResult:
    """MICOM of the split ``first`` (over the kept rows) of the pooled data."""
    pooled.check_groups(first, names)
    scheme, tol, max_iter = settings
    layout, data = pooled.layout, pooled.data
    corr = data.correlations()
    fit = estimate(corr[None], layout, scheme, tol, max_iter)
    if not fit.ok[0]:
        raise ValueError(
            "the pooled PLS system is singular (perfectly collinear items in a mode B "
            "block or collinear predictors); drop redundant items or paths"
        )
    # Step 3's composites: pooled weights on the pooled standardized items, so each score
    # has mean 0 and variance 1 over the pooled rows.
    scores = data.standardized @ fit.weights[0]
    squares = scores**2
    total, total_sq = scores.sum(axis=0), squares.sum(axis=0)

    def statistic(counts: FloatArray, group_fit: PLSFit) -> FloatArray:
        k = counts.shape[0]
        w1, w2 = group_fit.weights[:k], group_fit.weights[k:]
        r_w2 = corr @ w2
        cross = np.einsum("kpc,kpc->kc", w1, r_w2)
        var1 = np.einsum("kpc,kpc->kc", w1, corr @ w1)
        var2 = np.einsum("kpc,kpc->kc", w2, r_w2)
        with np.errstate(invalid="ignore", divide="ignore"):
            c = cross / np.sqrt(var1 * var2)
        n1 = counts.sum(axis=1)[:, None]
        n2 = counts.shape[1] - n1
        s1, q1 = counts @ scores, counts @ squares
        s2, q2 = total - s1, total_sq - q1
        m1, m2 = s1 / n1, s2 / n2
        v1 = (q1 - n1 * m1**2) / (n1 - 1.0)
        v2 = (q2 - n2 * m2**2) / (n2 - 1.0)
        with np.errstate(invalid="ignore", divide="ignore"):
            log_ratio = np.log(v1 / v2)
        return np.concatenate([c, m1 - m2, log_ratio], axis=1)

    run = _permute(pooled, first, n_permutations, rng, statistic, settings)
    parts = np.split(run.observed, 3)
    drawn = np.split(run.draws, 3, axis=1)
    constructs = list(layout.constructs)

    c, c_draws = parts[0], drawn[0]
    c_quantile = np.quantile(c_draws, alpha, axis=0)
    compositional = pd.DataFrame(
        {
            "construct": constructs,
            "c": c,
            "quantile": c_quantile,
            "p_value": (c_draws <= c + _TIE).mean(axis=0),
            "p_family": _min_p_adjusted(c, c_draws),
            "holds": c >= c_quantile - _TIE,
        }
    )
    means = _two_sided("difference", constructs, parts[1], drawn[1], alpha)
    variances = _two_sided("log_ratio", constructs, parts[2], drawn[2], alpha)
    step2 = compositional["holds"].to_numpy()
    step3 = means["holds"].to_numpy() & variances["holds"].to_numpy()
    verdict = np.where(~step2, "none", np.where(step3, "full", "partial"))
    invariance = pd.DataFrame(
        {
            "construct": constructs,
            "compositional": step2,
            "equal_means": means["holds"].to_numpy(),
            "equal_variances": variances["holds"].to_numpy(),
            "verdict": verdict.astype(object),
        }
    )
    warnings = list(pooled.warnings) + list(run.warnings(names, max_iter))
    if not fit.converged[0]:
        warnings.append(
            ModelWarning(
                "not-converged",
                f"the pooled outer weights did not converge in {max_iter} iterations; step "
                "3's composites are not a PLS solution. Raise max_iter or check the model.",
                "error",
            )
        )
    return MICOMResult(
        spec=pooled.spec,
        group=column,
        groups=names,
        n_obs=pooled.group_sizes(first, names),
        configural=True,
        configural_note=CONFIGURAL_NOTE,
        compositional=compositional,
        means=means,
        variances=variances,
        invariance=invariance,
        alpha=alpha,
        n_permutations=n_permutations,
        n_failed=run.n_failed,
        n_not_converged=run.n_not_converged,
        seed=seed,
        dropped=dropped,
        warnings=tuple(warnings),
        provenance=pooled.provenance(
            "MICOM (Henseler, Ringle & Sarstedt 2016)",
            first,
            names,
            seed,
            n_permutations,
            settings,
            alpha=alpha,
        ),
    )


def _min_p_adjusted(observed: FloatArray, draws: FloatArray) -> FloatArray:
    """Step 2's p-values adjusted for testing every construct of one comparison.

    Westfall & Young's single-step minP: each permutation's smallest per-construct
    p-value (the share of that construct's permuted ``c`` at or below the permutation's
    own) forms the null distribution of the minimum, and a construct's adjusted p-value
    is the share of permutations whose minimum is at or below its own p-value. It holds
    the family-wise error over the constructs at the level it is compared with, using
    the correlation between the constructs' ``c`` that Bonferroni ignores, and needs no
    more permutations than one test does.

    Westfall, P. H., & Young, S. S. (1993). *Resampling-Based Multiple Testing*. Wiley.
    Phipson, B., & Smyth, G. K. (2010). Permutation p-values should never be zero.
    *Statistical Applications in Genetics and Molecular Biology*, 9(1), 39.
    doi:10.2202/1544-6115.1585
    """
    count = draws.shape[0]
    ordered = np.sort(draws, axis=0)
    permuted_p = np.column_stack(
        [np.searchsorted(ordered[:, j], draws[:, j] + _TIE, side="right") / count
         for j in range(draws.shape[1])]
    )  # fmt: skip
    smallest = np.sort(permuted_p.min(axis=1))
    observed_p = (draws <= observed + _TIE).mean(axis=0)
    # Counting the observed split as one of the permutations (Phipson & Smyth 2010): a
    # p-value is never 0, so an adjustment across units (Holm) can still do its work.
    below = np.searchsorted(smallest, observed_p + 1e-12, side="right")
    return (1.0 + below) / (1.0 + count)


def _two_sided(
    name: str, constructs: list[str], observed: FloatArray, draws: FloatArray, alpha: float
) -> pd.DataFrame:
    """Step 3's table: the statistic against its equal-tailed permutation quantiles."""
    low, high = percentile_interval(draws, 1.0 - alpha)
    below = (draws <= observed + _TIE).mean(axis=0)
    above = (draws >= observed - _TIE).mean(axis=0)
    return pd.DataFrame(
        {
            "construct": constructs,
            name: observed,
            "quantile_low": low,
            "quantile_high": high,
            "p_value": np.minimum(1.0, 2.0 * np.minimum(below, above)),
            "holds": (observed >= low - _TIE) & (observed <= high + _TIE),
        }
    )


# --- inputs ------------------------------------------------------------------------------


def _parse(
    spec: PathSpec | str, frame: pd.DataFrame
) -> tuple[PathSpec, Layout, tuple[ModelWarning, ...]]:
    if isinstance(spec, str):
        spec = parse_model(spec)
    warnings = check_spec(spec, frame.columns)
    return spec, Layout.from_spec(spec), warnings


def _group_column(frame: pd.DataFrame, group: str) -> pd.Series:
    if group not in frame.columns:
        raise ValueError(
            f"group column {group!r} is not in the data; its columns are "
            + ", ".join(map(str, frame.columns))
        )
    return frame[group]


def _labels(column: pd.Series) -> list[Any]:
    """Distinct non-missing values, in order of first appearance (as lavaan's groups)."""
    return list(pd.unique(column.dropna()))


def _equals(values: npt.NDArray[Any], label: Any) -> BoolArray:
    return np.asarray(pd.Series(values) == label, dtype=bool)


def _check_known(chosen: list[Any], present: list[Any], column: str, name: str) -> None:
    absent = [label for label in chosen if not any(_same(label, p) for p in present)]
    if absent:
        raise ValueError(
            f"{name}: {', '.join(map(repr, absent))} not found in column {column!r}; its "
            f"values are {', '.join(map(repr, present))}"
        )


def _same(a: Any, b: Any) -> bool:
    return bool(a == b)


def _two_groups(
    frame: pd.DataFrame, group: str, groups: Sequence[Any] | None
) -> tuple[tuple[Any, Any], BoolArray, BoolArray]:
    """The two labels, group 1's rows and the rows of either group (over all rows)."""
    column = _group_column(frame, group)
    present = _labels(column)
    if groups is None:
        if len(present) < 2:
            raise ValueError(
                f"column {group!r} has {len(present)} group(s) "
                f"({', '.join(map(repr, present)) or 'no values'}); two are needed"
            )
        if len(present) > 2:
            raise ValueError(
                f"column {group!r} has {len(present)} groups ({', '.join(map(repr, present))});"
                " pass groups=(first, second) to compare two of them, or use "
                "micom_one_vs_rest to compare each with all the others"
            )
        chosen = present
    else:
        chosen = list(groups)
        if isinstance(groups, str) or len(chosen) != 2 or _same(chosen[0], chosen[1]):
            raise ValueError(f"groups must be two different labels, got {groups!r}")
        _check_known(chosen, present, group, "groups")
    values = column.to_numpy()
    first = _equals(values, chosen[0])
    keep = first | _equals(values, chosen[1])
    return (chosen[0], chosen[1]), first, keep


def _check_settings(scheme: str, tol: float, max_iter: int, missing: str) -> None:
    if scheme not in _SCHEMES:
        raise ValueError(f"scheme must be one of {_SCHEMES}, got {scheme!r}")
    if missing not in _MISSING:
        raise ValueError(f"missing must be one of {_MISSING}, got {missing!r}")
    if not (isinstance(tol, numbers.Real) and not isinstance(tol, bool) and tol > 0):
        raise ValueError(f"tol must be a positive number, got {tol!r}")
    if not (is_integer(max_iter) and max_iter >= 1):
        raise ValueError(f"max_iter must be an integer >= 1, got {max_iter!r}")


def _check_permutations(n_permutations: int, alpha: float) -> None:
    if not (isinstance(alpha, numbers.Real) and not isinstance(alpha, bool) and 0 < alpha < 1):
        raise ValueError(f"alpha must be strictly between 0 and 1, got {alpha!r}")
    needed = max(MIN_PERMUTATIONS, int(np.ceil(2.0 / alpha - 1e-9)))
    if not (is_integer(n_permutations) and n_permutations >= needed):
        raise ValueError(
            f"n_permutations={n_permutations!r} is too few for the {alpha / 2:g} quantile "
            f"at alpha={alpha:g}: at least {needed} are needed so that one permutation lies "
            "beyond it (1,000 or more recommended)"
        )


# --- text and JSON -----------------------------------------------------------------------


def _format_table(table: pd.DataFrame) -> str:
    return table.to_string(index=False, float_format=lambda v: f"{v:.3f}", na_rep="")


def _format_warnings(warnings: tuple[ModelWarning, ...]) -> str:
    return "Warnings\n" + "\n".join(f"  [{w.severity}] {w.code}: {w.message}" for w in warnings)


def _records(table: pd.DataFrame) -> list[dict[str, Any]]:
    # Through pandas' JSON writer: NaN becomes null and numpy scalars plain numbers.
    return json.loads(table.to_json(orient="records", double_precision=15))
