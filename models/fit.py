"""One checked model fit: the engine's result plus its measurement quality.

This is what ``manyi fit`` and the analysis jobs run: a model never leaves without its
reliability and validity verdicts, and every warning of either travels with it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd

from .diagnostics import ModelWarning
from .pls import PLSResult, fit_pls
from .quality import MeasurementQuality, measurement_quality
from .syntax import PathSpec, parse_model

if TYPE_CHECKING:
    # Imported when an SEM is fitted: semopy and sympy cost a PLS fit 1.6 s otherwise.
    from .sem_result import SEMResult

#: No model is fitted on fewer rows, whatever the rules below allow.
MIN_ROWS = 30
#: The "10 times" rule of PLS (Barclay, Higgins & Thompson 1995; Hair et al. 2022).
PLS_ROWS_PER_ARROW = 10

Engine = Literal["pls", "sem"]
QualityData = Literal["estimation", "pairwise"]
QUALITY_NOT_ASSESSED = ModelWarning(
    "quality-not-assessed",
    "measurement quality was not assessed: standardized loadings beyond ±1 make "
    "reliability and AVE undefined; resolve the improper solution first",
    "info",
)
_REPORT_COLUMNS = ("lhs", "op", "rhs", "estimate", "std_estimate", "se", "ci_low", "ci_high",
                   "p_value")  # fmt: skip


class SampleTooSmall(ValueError):
    """Fewer rows than the model needs (:func:`minimum_sample_size`); the message gives the
    numbers and how to proceed."""


def minimum_sample_size(spec: PathSpec, engine: Engine) -> tuple[int, str]:
    """The fewest rows a model is fitted on, and the rule that sets it.

    PLS: ten times the largest number of arrows pointing at one construct, counting the
    structural paths into it and, for a formative (mode B) construct, its indicators
    (the "10 times" rule, Barclay, Higgins & Thompson 1995), and never fewer than
    :data:`MIN_ROWS`. The rule is a floor, not a power analysis: detecting small paths
    needs more (Hair et al. 2022, ch. 1). SEM: more rows than free parameters (the
    sample covariance matrix must be able to pin them down), and never fewer than
    :data:`MIN_ROWS`.
    """
    if engine == "pls":
        arrows = {c: len(spec.predictors(c)) for c in spec.constructs}
        for block in spec.measurement:
            if block.mode == "B":
                arrows[block.construct] = max(arrows[block.construct], len(block.indicators))
        construct = max(arrows, key=arrows.get) if arrows else None
        most = arrows.get(construct, 0) if construct else 0
        ten_times = PLS_ROWS_PER_ARROW * most
        if ten_times > MIN_ROWS:
            return ten_times, f"10 times the {most} arrows pointing at {construct}"
        return MIN_ROWS, f"the floor of {MIN_ROWS} rows for any model"
    from .sem_groups import ModelOutOfReach, free_parameters

    try:
        count = free_parameters(spec.to_lavaan())
    except ModelOutOfReach:  # a form only semopy fits: the floor alone
        return MIN_ROWS, f"the floor of {MIN_ROWS} rows for any model"
    if count + 1 > MIN_ROWS:
        return count + 1, f"more rows than the model's {count} free parameters"
    return MIN_ROWS, f"the floor of {MIN_ROWS} rows for any model"


def check_items(data: pd.DataFrame, *, constant: bool = True) -> None:
    """Refuse an item with no answers or (``constant``) the same answer in every row.

    Such an item cannot measure anything: PLS cannot standardize it and the SEM's
    covariance matrix is singular because of it. The message names it and the fix.
    """
    # Whole columns at once: per-column pandas calls cost 0.1 s at 200,000 rows.
    values = data.to_numpy(dtype=float)
    present = ~np.isnan(values)
    counts = present.sum(axis=0)
    low = np.where(present, values, np.inf).min(axis=0, initial=np.inf)
    high = np.where(present, values, -np.inf).max(axis=0, initial=-np.inf)
    for name, count, first, last in zip(data.columns, counts, low, high, strict=True):
        if count == 0:
            raise ValueError(
                f"item {name} has no answers in any of the {len(data)} rows: check the "
                "column (a wrong name or a missing-value code for every answer), or drop it "
                "from the model"
            )
        if constant and first == last:
            raise ValueError(
                f"item {name} has the same answer ({first:g}) in all its "
                f"{count} answers, so it cannot measure anything: drop it from the "
                "model, or check the data"
            )


@dataclass(frozen=True)
class ModelFit:
    """A fitted model (PLS or SEM) with its measurement quality.

    ``converged`` and ``proper`` come from the engine (non-convergence, Heywood cases,
    standardized values beyond ±1, ...); measurement problems (low reliability, AVE,
    HTMT) are warnings that travel with the fit without making it improper.
    """

    engine: Engine
    spec: PathSpec
    result: PLSResult | SEMResult
    #: None when the solution is too improper to judge (standardized loadings beyond ±1).
    quality: MeasurementQuality | None

    @property
    def n_obs(self) -> int:
        return self.result.n_obs

    @property
    def converged(self) -> bool:
        return bool(self.result.converged)

    @property
    def proper(self) -> bool:
        return self.converged and not any(w.severity == "error" for w in self.result.warnings)

    @property
    def warnings(self) -> tuple[ModelWarning, ...]:
        if self.quality is None:
            return tuple(self.result.warnings) + (QUALITY_NOT_ASSESSED,)
        return tuple(self.result.warnings) + tuple(self.quality.warnings)

    def summary(self) -> str:
        quality = self.quality.summary() if self.quality else QUALITY_NOT_ASSESSED.message
        return self.result.summary() + "\n\n" + quality

    def _repr_html_(self) -> str:
        quality = (
            self.quality._repr_html_()
            if self.quality
            else (f"<p>{QUALITY_NOT_ASSESSED.message}</p>")
        )
        return self.result._repr_html_() + quality

    def to_dict(self) -> dict[str, Any]:
        """The JSON of ``manyi fit --json`` (NaN becomes None)."""
        estimates = self.result.estimates
        constructs = self.quality.constructs if self.quality else pd.DataFrame()
        pairs = self.quality.pairs if self.quality else pd.DataFrame(columns=["a", "b", "htmt"])
        report: dict[str, Any] = {
            "engine": self.engine,
            "n_obs": int(self.n_obs),
            "converged": self.converged,
            "proper": self.proper,
            "warnings": [
                {"code": w.code, "message": w.message, "severity": w.severity, "subject": w.subject}
                for w in self.warnings
            ],  # fmt: skip
            "paths": _rows(estimates[estimates["op"] == "~"]),
            "loadings": _rows(estimates[estimates["op"] == "=~"]),
            "r2": {k: _number(v) for k, v in self._r2().items()},
            "reliability": {
                str(name): {
                    key: _number(row.get(key)) for key in ("alpha", "rho_a", "rho_c", "ave")
                }  # fmt: skip
                for name, row in constructs.to_dict("index").items()
            },
            "htmt": [
                {"a": str(r["a"]), "b": str(r["b"]), "value": _number(r["htmt"])}
                for r in pairs.to_dict("records")
            ],
            "effects": self._effects(),
        }
        if isinstance(self.result, PLSResult):
            # Every construct's outer weights, with their bootstrap intervals: for a
            # formative (mode B) construct they are the result.
            report["weights"] = _rows(self.result.weights)
        else:
            keys = ("chisq", "df", "pvalue", "cfi", "tli", "rmsea", "rmsea_ci_low",
                    "rmsea_ci_high", "srmr", "aic", "bic", "loglik", "baseline_chisq",
                    "baseline_df")  # fmt: skip
            robust = ("chisq_scaled", "scaling_factor", "baseline_chisq_scaled",
                      "baseline_scaling_factor", "cfi_robust", "tli_robust",
                      "rmsea_robust")  # fmt: skip
            fit = self.result.fit
            report["fit"] = {k: _number(fit.get(k)) for k in (*keys, *robust) if k in fit}
            report["variances"] = _rows(estimates[estimates["op"] == "~~"])
        formative = self.quality.formative if self.quality else pd.DataFrame()
        report["vif"] = [
            {"construct": str(r["construct"]), "item": str(r["item"]), "vif": _number(r["vif"])}
            for r in formative.to_dict("records")
        ]
        return report

    def _r2(self) -> dict[str, float]:
        if isinstance(self.result, PLSResult):
            return dict(zip(self.result.r2["lhs"], self.result.r2["r2"], strict=True))
        return {k: v for k, v in self.result.r2.items() if k in self.spec.constructs}

    def _effects(self) -> list[dict[str, Any]]:
        if isinstance(self.result, PLSResult):
            table = self.result.effects
        else:
            table = _sem_effects(self.spec, self.result)
        return [
            {
                "lhs": str(r["lhs"]),
                "rhs": str(r["rhs"]),
                "direct": _number(r["direct"]),
                "indirect": _number(r["indirect"]),
                "total": _number(r["total"]),
            }  # fmt: skip
            for r in table.to_dict("records")
        ]


def fit_model(
    spec: PathSpec | str,
    frame: pd.DataFrame,
    *,
    engine: Engine = "pls",
    scheme: str = "path",
    n_boot: int = 0,
    random_state: int | None = None,
    missing: str = "mean",
    consistent: bool = False,
    estimator: str = "ML",
    quality_data: QualityData = "estimation",
    allow_small_sample: bool = False,
) -> ModelFit:
    """Fit ``spec`` with the chosen engine and check its measurement.

    Parameters
    ----------
    spec : PathSpec or str
        The model in lavaan syntax, or parsed.
    frame : pandas.DataFrame
        One row per respondent; item scores with "cannot answer" already NaN.
    engine : {"pls", "sem"}
        PLS path modelling (:func:`models.pls.fit_pls`) or covariance-based SEM
        (:func:`models.sem.fit_sem`).
    scheme, n_boot, random_state, missing, consistent
        PLS settings (inner weighting scheme, bootstrap resamples, seed, missing-value
        handling, consistent PLS for reflective constructs).
    estimator : str
        SEM objective (``"ML"``, ``"GLS"``, ``"ULS"``, ``"FIML"``).
    quality_data : {"estimation", "pairwise"}
        The data reliability, HTMT and the other quality checks are computed on.
        ``"estimation"`` (default): the data the model is estimated on, as seminr and
        SmartPLS do, so that the checks describe the fitted model. For PLS that is the
        mean-replaced (or casewise-complete) rows; for ML, GLS and ULS the listwise-complete
        rows. ``"pairwise"``: the raw answers, each correlation over the respondents who
        answered both items (every answer kept, but a matrix that may not be positive
        semi-definite). FIML has no completed data set, so it is always pairwise.
    allow_small_sample : bool
        Fit even below :func:`minimum_sample_size` (the caller owns the risk); otherwise
        :class:`SampleTooSmall`.

    Returns
    -------
    ModelFit

    Notes
    -----
    For SEM, the construct scores that the Fornell-Larcker and cross-loading checks need
    are Bartlett scores of each block taken on its own (weights λᵢ/θᵢ with θᵢ = 1 − λᵢ²
    from the standardized solution), and rho_A, which needs PLS weights, is not computed.
    """
    spec = parse_model(spec) if isinstance(spec, str) else spec
    spec.check_data(frame.columns)
    items = list(spec.observed)
    data = frame[items].apply(pd.to_numeric, errors="coerce")
    # An empty item first: it also empties every complete row. A constant one after the
    # sample size, which is the first thing wrong with five rows.
    check_items(data, constant=False)
    listwise = engine == "sem" and estimator != "FIML" or missing == "casewise"
    rows = int(data.notna().all(axis=1).sum() if listwise else data.notna().any(axis=1).sum())
    minimum, rule = minimum_sample_size(spec, engine)
    if rows < minimum and not allow_small_sample:
        plural = "" if rows == 1 else "s"
        usable = f"complete row{plural}" if listwise else f"row{plural} with an answer"
        raise SampleTooSmall(
            f"{rows} {usable} {'is' if rows == 1 else 'are'} too few for this model: "
            f"{engine.upper()} needs at least {minimum} ({rule}). Collect more responses or "
            "simplify the model"
        )
    check_items(data)
    blocks = {c: list(spec.blocks[c]) for c in spec.constructs if spec.blocks.get(c)}
    if engine == "pls":
        result: PLSResult | SEMResult = fit_pls(
            spec,
            data,
            scheme=scheme,
            n_boot=n_boot,
            random_state=random_state,  # type: ignore[arg-type]
            missing=missing,
            consistent=consistent,  # type: ignore[arg-type]
        )
        loadings = _matrix(result.estimates[result.estimates["op"] == "=~"], "estimate")
        weights = _matrix(result.weights, "estimate")
        scores = result.scores
    elif engine == "sem":
        from .sem import fit_sem

        result = fit_sem(spec, data, estimator=estimator)
        loadings = _matrix(result.estimates[result.estimates["op"] == "=~"], "std_estimate")
        weights = None
        scores = _bartlett_scores(data, blocks, loadings)
    else:
        raise ValueError(f"unknown engine {engine!r}: use 'pls' or 'sem'")
    if (loadings.abs() > 1).to_numpy().any():
        # A Heywood case: reliability and AVE are undefined, and the solution is already
        # flagged improper by the engine.
        return ModelFit(engine, spec, result, None)
    if quality_data not in ("estimation", "pairwise"):
        raise ValueError(f"quality_data {quality_data!r}: use 'estimation' or 'pairwise'")
    checked = data.loc[scores.index]
    if quality_data == "estimation" and engine == "pls" and missing == "mean":
        checked = checked.fillna(data.mean())  # PLS's own mean replacement (pls_data)
    elif quality_data == "estimation" and estimator != "FIML":
        checked = checked.dropna()
        scores = scores.loc[checked.index]
    quality = measurement_quality(
        checked, blocks, loadings, weights, scores, modes={c: spec.modes[c] for c in blocks}
    )
    return ModelFit(engine, spec, result, quality)


def _matrix(table: pd.DataFrame, column: str) -> pd.DataFrame:
    """Items × constructs, zero outside each construct's block (seminr's layout)."""
    return table.pivot_table(index="rhs", columns="lhs", values=column, fill_value=0.0)


def _bartlett_scores(data, blocks, loadings) -> pd.DataFrame:
    complete = data.dropna()
    z = (complete - complete.mean()) / complete.std(ddof=1)
    scores = {}
    for construct, items in blocks.items():
        lam = loadings.loc[items, construct].to_numpy()
        theta = np.clip(1 - lam**2, 1e-6, None)  # a Heywood case must not divide by zero
        scores[construct] = z[items].to_numpy() @ (lam / theta)
    table = pd.DataFrame(scores, index=complete.index)
    return (table - table.mean()) / table.std(ddof=1)


def _sem_effects(spec: PathSpec, result: SEMResult) -> pd.DataFrame:
    names = list(spec.constructs)
    index = {n: i for i, n in enumerate(names)}
    b = np.zeros((len(names), len(names)))
    est = result.estimates
    for r in est[est["op"] == "~"].to_dict("records"):
        if r["lhs"] in index and r["rhs"] in index:
            b[index[r["lhs"]], index[r["rhs"]]] = r["estimate"]
    total = np.linalg.inv(np.eye(len(names)) - b) - np.eye(len(names))
    rows = [
        {
            "lhs": names[i],
            "rhs": names[j],
            "direct": b[i, j],
            "indirect": total[i, j] - b[i, j],
            "total": total[i, j],
        }  # fmt: skip
        for i in range(len(names))
        for j in range(len(names))
        if abs(total[i, j]) > 0 or b[i, j] != 0
    ]
    return pd.DataFrame(rows, columns=["lhs", "rhs", "direct", "indirect", "total"])


def _number(value: Any) -> float | None:
    if value is None:
        return None
    value = float(value)
    return None if math.isnan(value) or math.isinf(value) else value


def _rows(table: pd.DataFrame) -> list[dict[str, Any]]:
    return [
        {
            k: (str(r[k]) if k in ("lhs", "op", "rhs") else _number(r[k]))
            for k in _REPORT_COLUMNS
            if k != "op"
        }  # fmt: skip
        for r in table.to_dict("records")
    ]
