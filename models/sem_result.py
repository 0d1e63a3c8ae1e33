"""The result of a covariance-based SEM fit: a frozen record that reports itself.

:class:`SEMResult` holds what :func:`models.sem.fit_sem` computed and renders it as text
(:meth:`SEMResult.summary`), as HTML in Jupyter and as a JSON-ready dict for the API. It
computes nothing and imports no engine, so presentation changes stay here.
"""

from __future__ import annotations

import html
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from models.diagnostics import ModelWarning

__all__ = ["SEMResult", "json_number", "json_records", "three_decimals"]


@dataclass(frozen=True)
class SEMResult:
    """A fitted covariance-based SEM.

    Attributes
    ----------
    model : str
        The lavaan model syntax that was fitted.
    estimates : DataFrame
        One row per parameter, columns :data:`models.vocabulary.ESTIMATE_COLUMNS`
        (lavaan's ``lhs, op, rhs``; ``std_estimate`` is lavaan's ``std.all``). Fixed
        parameters (marker loadings, fixed covariates) have NaN ``se``, ``z``,
        ``p_value`` and interval.
    fit : dict
        ``chisq, df, pvalue, cfi, tli, rmsea, rmsea_ci_low, rmsea_ci_high, srmr, aic,
        bic, loglik, baseline_chisq, baseline_df`` as lavaan computes them (NaN where the
        estimator does not define one).
    r2 : dict
        R² of every endogenous variable (indicators included), as lavaan's
        ``inspect(fit, "r2")``.
    n_obs : int
        Observations used.
    converged : bool
        The optimizer reported success.
    proper : bool
        False when any warning has severity ``"error"``.
    warnings : tuple of ModelWarning
    provenance : dict
        Engine, estimator, semopy objective, library versions, data hash.
    """

    model: str
    estimates: pd.DataFrame
    fit: dict[str, float]
    r2: dict[str, float]
    n_obs: int
    converged: bool
    proper: bool
    warnings: tuple[ModelWarning, ...]
    provenance: dict[str, Any] = field(default_factory=dict)

    def summary(self) -> str:
        """Plain-text report: fit measures, estimates, R² and warnings."""
        f = self.fit
        lines = [
            f"SEM ({self.provenance.get('estimator')}), N = {self.n_obs}, "
            f"converged: {self.converged}, proper: {self.proper}",
            f"  chi-square {f['chisq']:.3f} on {f['df']} df, p = {f['pvalue']:.3f}",
            f"  CFI {f['cfi']:.3f}  TLI {f['tli']:.3f}  SRMR {f['srmr']:.3f}",
            f"  RMSEA {f['rmsea']:.3f} [{f['rmsea_ci_low']:.3f}, {f['rmsea_ci_high']:.3f}]",
            f"  logL {f['loglik']:.3f}  AIC {f['aic']:.3f}  BIC {f['bic']:.3f}",
            *(
                [
                    f"  robust (Yuan-Bentler): chi-square {f['chisq_scaled']:.3f}, scaling "
                    f"factor {f['scaling_factor']:.3f}; CFI {f['cfi_robust']:.3f}  TLI "
                    f"{f['tli_robust']:.3f}  RMSEA {f['rmsea_robust']:.3f}"
                ]
                if "chisq_scaled" in f
                else []
            ),
            "",
            self.estimates.to_string(index=False, float_format=three_decimals),
            "",
            "R-square: " + ", ".join(f"{k} {v:.3f}" for k, v in self.r2.items()),
        ]
        lines += [f"[{w.severity}] {w.code}: {w.message}" for w in self.warnings]
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        warnings = "".join(
            f"<li><b>{html.escape(w.code)}</b> ({w.severity}): {html.escape(w.message)}</li>"
            for w in self.warnings
        )
        fit = "".join(f"<tr><th>{k}</th><td>{v:.3f}</td></tr>" for k, v in self.fit.items())
        return (
            f"<p>SEM ({html.escape(str(self.provenance.get('estimator')))}), "
            f"N = {self.n_obs}, converged: {self.converged}, proper: {self.proper}</p>"
            f"<table>{fit}</table>"
            + self.estimates.to_html(index=False, float_format=three_decimals)
            + (f"<ul>{warnings}</ul>" if warnings else "")
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (NaN becomes None)."""
        return {
            "model": self.model,
            "estimates": json_records(self.estimates),
            "fit": {k: json_number(v) for k, v in self.fit.items()},
            "r2": {k: json_number(v) for k, v in self.r2.items()},
            "n_obs": self.n_obs,
            "converged": self.converged,
            "proper": self.proper,
            "warnings": [w.to_dict() for w in self.warnings],
            "provenance": dict(self.provenance),
        }


def json_number(value: Any) -> Any:
    """A numpy or float scalar as a plain JSON number; NaN and ±inf become None."""
    if isinstance(value, (float, np.floating)):
        return None if not math.isfinite(value) else float(value)
    if isinstance(value, np.integer):
        return int(value)
    return value


def json_records(table: pd.DataFrame) -> list[dict[str, Any]]:
    """A table's rows as JSON-ready dicts (:func:`json_number` on every cell)."""
    return [{k: json_number(v) for k, v in row.items()} for row in table.to_dict(orient="records")]


def three_decimals(value: float) -> str:
    """How the SEM results print a number in their tables."""
    return f"{value:.3f}"
