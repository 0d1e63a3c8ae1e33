"""The frozen result of a PLS fit and the tables it is built from.

:func:`assemble_result` turns the arrays of :mod:`models.pls_algorithm` (and the
bootstrap of :mod:`models.pls_bootstrap`) into the tidy tables of :class:`PLSResult`,
in the shared vocabulary of :mod:`models.vocabulary`.
"""

from __future__ import annotations

import html
import json
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import pandas as pd

from models.diagnostics import ModelWarning
from models.distributions import two_sided_p
from models.pls_algorithm import Layout, PLSFit, flatten, parameter_labels
from models.pls_bootstrap import PLSBootstrap
from models.pls_data import PreparedData
from models.syntax import PathSpec
from models.vocabulary import ESTIMATE_COLUMNS

__all__ = ["EFFECT_COLUMNS", "R2_COLUMNS", "Interval", "PLSResult", "assemble_result"]

FloatArray = npt.NDArray[np.float64]
Interval = Literal["percentile", "bca"]

EFFECT_COLUMNS = (
    "lhs",
    "rhs",
    "direct",
    "indirect",
    "total",
    "total_se",
    "total_p_value",
    "total_ci_low",
    "total_ci_high",
)
R2_COLUMNS = ("lhs", "r2", "adj_r2", "se", "ci_low", "ci_high")


@dataclass(frozen=True, eq=False)
class PLSResult:
    """A fitted PLS path model.

    Attributes
    ----------
    spec : PathSpec
        The specification fitted.
    estimates : pandas.DataFrame
        Columns ``ESTIMATE_COLUMNS``: structural paths (``op="~"``, lhs the outcome) then
        outer loadings (``op="=~"``, lhs the construct, rhs the item). PLS estimates are
        standardized, so ``estimate`` equals ``std_estimate``. ``se``, ``z``,
        ``p_value``, ``ci_low``, ``ci_high`` are NaN unless bootstrapped.
    weights : pandas.DataFrame
        Outer weights, same columns, ``op="<~"`` (the composite formed by the items,
        whatever the block's mode).
    unstandardized_weights : pandas.DataFrame
        ``lhs, rhs, weight, item_mean, item_sd``: ``weight = w / sd(item)``, the weight
        of the raw item in the construct score, needed by 0-100 indexes.
    r2 : pandas.DataFrame
        ``lhs, r2, adj_r2, se, ci_low, ci_high`` per endogenous construct.
    effects : pandas.DataFrame
        ``lhs`` (outcome), ``rhs`` (predictor), ``direct``, ``indirect``, ``total``, and
        the total effect's bootstrap ``total_se``, ``total_p_value``, ``total_ci_low``,
        ``total_ci_high`` (NaN unless bootstrapped), for every pair joined by a path.
    scores : pandas.DataFrame
        Standardized construct scores, indexed like the rows used.
    construct_correlations : pandas.DataFrame
        Correlations of the construct scores; under PLSc the disattenuated correlations
        the paths were estimated from (those of the latent variables, not of ``scores``).
    n_obs : int
        Rows used.
    converged : bool
    n_iter : int
        Outer-weight updates performed.
    warnings : tuple of ModelWarning
    provenance : dict
        Engine, settings, library versions, sha256 of the data used.
    bootstrap : PLSBootstrap or None
        Resampling details when ``n_boot > 0``.
    rho_a : pandas.DataFrame or None
        Under PLSc (``consistent=True``): ``construct, rho_a, corrected`` per construct,
        rho_A being 1 for the constructs left uncorrected (mode B, single items).
        None for plain PLS.
    """

    spec: PathSpec
    estimates: pd.DataFrame
    weights: pd.DataFrame
    unstandardized_weights: pd.DataFrame
    r2: pd.DataFrame
    effects: pd.DataFrame
    scores: pd.DataFrame
    construct_correlations: pd.DataFrame
    n_obs: int
    converged: bool
    n_iter: int
    warnings: tuple[ModelWarning, ...]
    provenance: dict[str, Any]
    bootstrap: PLSBootstrap | None = None
    rho_a: pd.DataFrame | None = None

    @property
    def consistent(self) -> bool:
        """True for a PLSc fit."""
        return self.rho_a is not None

    @property
    def proper(self) -> bool:
        """False when any warning has severity ``"error"`` (e.g. not converged)."""
        return not any(w.severity == "error" for w in self.warnings)

    def summary(self) -> str:
        """Plain-text report: fit facts, paths, R², loadings, weights and warnings."""
        p = self.provenance
        head = [
            "PLS path model" + (" (consistent PLS, PLSc)" if self.consistent else ""),
            f"  observations {self.n_obs} (of {p['n_rows_input']}), missing: {p['missing']}",
            f"  scheme {p['scheme']}, converged {self.converged} after {self.n_iter} "
            f"iterations (tol {p['tol']:g})",
        ]
        if self.bootstrap is not None:
            b = self.bootstrap
            head.append(
                f"  bootstrap {b.n_boot - b.n_failed}/{b.n_boot} resamples, "
                f"{p['ci']} {p['level']:.0%} intervals, seed {b.seed}"
            )
        body = [
            ("Structural paths", self.estimates[self.estimates["op"] == "~"]),
            ("R-squared", self.r2),
            ("Effects", self.effects[["lhs", "rhs", "direct", "indirect", "total"]]),
            ("Outer loadings", self.estimates[self.estimates["op"] == "=~"]),
            ("Outer weights", self.weights),
        ]
        if self.rho_a is not None:
            body.append(("Reliability rho_A (PLSc correction)", self.rho_a))
        parts = ["\n".join(head)]
        for title, table in body:
            parts.append(f"{title}\n{_format_table(table)}")
        if self.warnings:
            parts.append(
                "Warnings\n"
                + "\n".join(f"  [{w.severity}] {w.code}: {w.message}" for w in self.warnings)
            )
        return "\n\n".join(parts)

    def __str__(self) -> str:
        return self.summary()

    def _repr_html_(self) -> str:
        p = self.provenance
        facts = (
            f"<p><b>PLS path model{' (PLSc)' if self.consistent else ''}</b>: "
            f"n = {self.n_obs}, scheme {html.escape(p['scheme'])}, "
            f"converged {self.converged} after {self.n_iter} iterations</p>"
        )
        tables = [
            ("Structural paths", self.estimates[self.estimates["op"] == "~"]),
            ("R-squared", self.r2),
            ("Outer loadings", self.estimates[self.estimates["op"] == "=~"]),
            ("Outer weights", self.weights),
        ]
        if self.rho_a is not None:
            tables.append(("Reliability rho_A (PLSc correction)", self.rho_a))
        parts = [facts] + [
            f"<h4>{title}</h4>{t.to_html(index=False, float_format=_fmt, na_rep='')}"
            for title, t in tables
        ]
        if self.warnings:
            items = "".join(
                f"<li>{html.escape(w.code)}: {html.escape(w.message)}</li>" for w in self.warnings
            )
            parts.append(f"<h4>Warnings</h4><ul>{items}</ul>")
        return "\n".join(parts)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (NaN as None) for the API and stored analyses."""
        return {
            "engine": "pls",
            "model": self.spec.to_lavaan(),
            "n_obs": self.n_obs,
            "converged": self.converged,
            "n_iter": self.n_iter,
            "proper": self.proper,
            "consistent": self.consistent,
            "estimates": _records(self.estimates),
            "weights": _records(self.weights),
            "unstandardized_weights": _records(self.unstandardized_weights),
            "r2": _records(self.r2),
            "effects": _records(self.effects),
            "rho_a": None if self.rho_a is None else _records(self.rho_a),
            "warnings": [w.to_dict() for w in self.warnings],
            "bootstrap": None
            if self.bootstrap is None
            else {
                "n_boot": self.bootstrap.n_boot,
                "n_failed": self.bootstrap.n_failed,
                "n_not_converged": self.bootstrap.n_not_converged,
                "n_inadmissible": self.bootstrap.n_inadmissible,
                "seed": self.bootstrap.seed,
            },
            "provenance": json.loads(json.dumps(self.provenance, default=str)),
        }


def _fmt(value: float) -> str:
    return f"{value:.3f}"


def _format_table(table: pd.DataFrame) -> str:
    shown = table.dropna(axis=1, how="all")
    return shown.to_string(index=False, float_format=_fmt, na_rep="")


def _records(table: pd.DataFrame) -> list[dict[str, Any]]:
    clean = table.astype(object).where(table.notna(), None)
    return clean.to_dict(orient="records")


# --- assembling the tables ---------------------------------------------------------------


def assemble_result(
    spec: PathSpec,
    layout: Layout,
    data: PreparedData,
    fit: PLSFit,
    boot: PLSBootstrap | None,
    ci: Interval,
    level: float,
    consistent: bool,
    warnings: tuple[ModelWarning, ...],
    provenance: dict[str, Any],
) -> PLSResult:
    """The result of the full-sample ``fit`` (a stack of one) and its bootstrap."""
    mean, sd = data.mean, data.sd
    labels = np.array(parameter_labels(layout), dtype=object)
    kinds, lhs, rhs = labels[:, 0], labels[:, 1], labels[:, 2]
    inference = _inference(flatten(fit, layout)[0], boot, ci, level)

    def table(kind: str, op: str) -> pd.DataFrame:
        rows = kinds == kind
        columns = {
            "lhs": lhs[rows],
            "op": np.full(rows.sum(), op, dtype=object),
            "rhs": rhs[rows],
            "std_estimate": inference["estimate"][rows],
        }
        columns.update({name: values[rows] for name, values in inference.items()})
        return pd.DataFrame(columns, columns=list(ESTIMATE_COLUMNS))

    estimates = pd.concat([table("paths", "~"), table("loadings", "=~")], ignore_index=True)
    weights = table("weights", "<~")
    item_pos = {item: i for i, item in enumerate(layout.items)}
    rows = [item_pos[i] for i in weights["rhs"]]
    unstandardized = pd.DataFrame(
        {
            "lhs": weights["lhs"],
            "rhs": weights["rhs"],
            "weight": weights["estimate"].to_numpy() / sd[rows],
            "item_mean": mean[rows],
            "item_sd": sd[rows],
        }
    )

    n, n_pred = len(data.values), np.array([len(p) for _, p in layout.predictors])
    r2_values = fit.r2[0]
    in_r2 = kinds == "r2"
    r2 = pd.DataFrame(
        {
            "lhs": list(layout.endogenous),
            "r2": r2_values,
            "adj_r2": 1.0 - (1.0 - r2_values) * (n - 1) / (n - n_pred - 1),
            "se": inference["se"][in_r2],
            "ci_low": inference["ci_low"][in_r2],
            "ci_high": inference["ci_high"][in_r2],
        },
        columns=list(R2_COLUMNS),
    )

    in_total = kinds == "total"
    o, p = np.nonzero(layout.reachable())
    direct = fit.paths[0, o, p]
    total = fit.total[0, o, p]
    effects = pd.DataFrame(
        {
            "lhs": lhs[in_total],
            "rhs": rhs[in_total],
            "direct": direct,
            "indirect": total - direct,
            "total": total,
            "total_se": inference["se"][in_total],
            "total_p_value": inference["p_value"][in_total],
            "total_ci_low": inference["ci_low"][in_total],
            "total_ci_high": inference["ci_high"][in_total],
        },
        columns=list(EFFECT_COLUMNS),
    )

    constructs = list(layout.constructs)
    scores = pd.DataFrame(data.standardized @ fit.weights[0], index=data.index, columns=constructs)
    construct_corr = pd.DataFrame(fit.construct_corr[0], index=constructs, columns=constructs)
    rho_a = None
    if consistent:
        rho_a = pd.DataFrame(
            {"construct": constructs, "rho_a": fit.rho_a[0], "corrected": layout.reflective}
        )
    return PLSResult(
        spec=spec,
        estimates=estimates,
        weights=weights,
        unstandardized_weights=unstandardized,
        r2=r2,
        effects=effects,
        scores=scores,
        construct_correlations=construct_corr,
        n_obs=n,
        converged=bool(fit.converged[0]),
        n_iter=int(fit.n_iter[0]),
        warnings=warnings,
        provenance=provenance,
        bootstrap=boot,
        rho_a=rho_a,
    )


def _inference(
    estimate: FloatArray, boot: PLSBootstrap | None, ci: Interval, level: float
) -> dict[str, FloatArray]:
    """Estimate, se, z, p and interval per parameter (NaN without a bootstrap)."""
    if boot is None:
        nan = np.full(estimate.shape, np.nan)
        return {
            "estimate": estimate,
            "se": nan,
            "z": nan,
            "p_value": nan,
            "ci_low": nan,
            "ci_high": nan,
        }
    se = boot.se().to_numpy()
    # A parameter fixed by the design (the weight of a single-item block is 1 in every
    # resample) has se ~1e-16: report no test and a degenerate interval, not z = 1e16.
    degenerate = se <= 1e-10 * np.maximum(1.0, np.abs(estimate))
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.where(degenerate, np.nan, estimate / se)
    interval = boot.interval(ci, level)
    return {
        "estimate": estimate,
        "se": np.where(degenerate, 0.0, se),
        "z": z,
        "p_value": two_sided_p(np.asarray(z, dtype=float)),
        "ci_low": np.where(degenerate, estimate, interval["ci_low"].to_numpy()),
        "ci_high": np.where(degenerate, estimate, interval["ci_high"].to_numpy()),
    }
