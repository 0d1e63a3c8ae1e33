"""Small helpers shared by the scoring results: intervals, JSON records, text tables."""

from __future__ import annotations

import html
import json
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from models.diagnostics import ModelWarning
from models.pls_bootstrap import percentile_interval

FloatArray = npt.NDArray[np.float64]


#: The scale of every index and performance: an interval never leaves it.
INDEX_SCALE = (0.0, 100.0)


def interval(
    draws: FloatArray, level: float, width: int, scale: tuple[float, float] | None = None
) -> tuple[FloatArray, FloatArray]:
    """Percentile interval per column (type-7 quantiles); NaN without draws.

    With ``scale`` (an index's 0-100), the bounds are kept inside it: a resample whose
    outer weights turn negative can put a weighted mean of 0-100 scores outside 0-100, a
    value no index can take.
    """
    if draws.shape[0] < 2:
        nan = np.full(width, np.nan)
        return nan, nan.copy()
    low, high = percentile_interval(draws, level)
    if scale is not None:
        low, high = np.clip(low, *scale), np.clip(high, *scale)
    return low, high


def frozen(array: FloatArray) -> FloatArray:
    """A read-only copy, so draws on a frozen result cannot be changed in place."""
    out = np.array(array, dtype=np.float64, copy=True)
    out.setflags(write=False)
    return out


def records(table: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows as dicts, NaN as None (JSON-ready)."""
    clean = table.astype(object).where(table.notna(), None)
    return clean.to_dict(orient="records")


def jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str))


def text_table(table: pd.DataFrame, digits: int = 2) -> str:
    return table.to_string(index=False, float_format=lambda v: f"{v:.{digits}f}", na_rep="")


def warning_lines(warnings: tuple[ModelWarning, ...]) -> str:
    return "\n".join(f"  [{w.severity}] {w.code}: {w.message}" for w in warnings)


def summary_text(parts: list[str], warnings: tuple[ModelWarning, ...]) -> str:
    """Sections of a text summary, blank-line separated, the warnings (if any) last."""
    if warnings:
        parts = [*parts, "Warnings\n" + warning_lines(warnings)]
    return "\n\n".join(parts)


class TextReport:
    """Mixin of the scoring results, which each define ``summary()``: ``str()`` is it."""

    def __str__(self) -> str:
        return self.summary()  # type: ignore[attr-defined]


def result_dict(
    fields: dict[str, Any],
    warnings: tuple[ModelWarning, ...],
    provenance: dict[str, Any],
    draws: Any = None,
) -> dict[str, Any]:
    """``fields``, then the warnings and the provenance, JSON-ready; ``draws`` last if given."""
    out = {
        **fields,
        "warnings": [w.to_dict() for w in warnings],
        "provenance": jsonable(provenance),
    }
    if draws is not None:
        out["draws"] = draws
    return out


def html_report(title: str, facts: str, tables: list[tuple[str, pd.DataFrame]], warnings) -> str:
    parts = [f"<p><b>{html.escape(title)}</b>: {html.escape(facts)}</p>"]
    for name, table in tables:
        body = table.to_html(index=False, float_format=lambda v: f"{v:.2f}", na_rep="")
        parts.append(f"<h4>{html.escape(name)}</h4>{body}")
    if warnings:
        items = "".join(
            f"<li>{html.escape(w.code)}: {html.escape(w.message)}</li>" for w in warnings
        )
        parts.append(f"<h4>Warnings</h4><ul>{items}</ul>")
    return "\n".join(parts)


def model_provenance(result: Any) -> dict[str, Any] | None:
    """The parts of a model's provenance that identify it (None for a block mapping)."""
    if result is None:
        return None
    keys = ("engine", "estimator", "consistent", "scheme", "missing", "n_obs", "data_sha256")
    return {k: result.provenance.get(k) for k in keys}


def versions() -> dict[str, str]:
    return {"numpy": np.__version__, "pandas": pd.__version__}


def se(draws: FloatArray) -> FloatArray:
    """Bootstrap standard errors per column (n-1); NaN with fewer than 2 draws."""
    if draws.shape[0] < 2:
        return np.full(draws.shape[1], np.nan)
    return draws.std(axis=0, ddof=1)


def number(value: float) -> float | None:
    return None if np.isnan(value) else float(value)


def provenance(prep: Any, boot: Any, n_boot: int, level: float) -> dict[str, Any]:
    """Bootstrap settings and outcome, weighting, bounds and the model's identity."""
    return {
        "n_obs": prep.n,
        "n_boot": n_boot,
        "n_failed": boot.n_failed if boot else 0,
        "n_not_converged": boot.n_not_converged if boot else 0,
        "seed": boot.seed if boot else None,
        "level": level,
        "interval": "percentile",
        "weighted": prep.respondent_weights is not None,
        "bounds": {
            item: [float(lo), float(lo + span)]
            for item, lo, span in zip(prep.items, prep.low, prep.span, strict=True)
        },
        "model": model_provenance(prep.result),
        **versions(),
    }


def boot_line(provenance: dict[str, Any], level: float) -> str:
    """The bootstrap line of a text summary ("" without a bootstrap)."""
    if not provenance["n_boot"]:
        return ""
    p = provenance
    return (
        f"\n  bootstrap {p['n_boot'] - p['n_failed']}/{p['n_boot']} resamples, "
        f"percentile {level:.0%} intervals, seed {p['seed']}"
    )
