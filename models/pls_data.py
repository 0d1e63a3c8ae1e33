"""Input checks and data preparation for PLS: the model's items as a numeric matrix.

Missing answers ("cannot answer" coded as NaN) are handled here, by mean replacement or
casewise deletion, as seminr and SmartPLS do; the raw matrix with its NaN is kept so
that the bootstrap can redo the mean replacement inside every resample.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt
import pandas as pd

from models.diagnostics import ModelWarning
from models.syntax import ModelSyntaxError, PathSpec

__all__ = ["Missing", "PreparedData", "check_spec", "prepare_data"]

FloatArray = npt.NDArray[np.float64]
Missing = Literal["mean", "casewise"]

# Share of missing answers per item above which mean replacement is flagged (seminr's 5%).
_MISSING_SHARE_WARNING = 0.05


@dataclass(frozen=True)
class PreparedData:
    raw: FloatArray  # (n, p) rows used, NaN kept (for resampling with re-imputation)
    values: FloatArray  # (n, p) after mean replacement
    index: pd.Index
    n_input: int
    warnings: tuple[ModelWarning, ...]
    mean: FloatArray  # (p,) of values
    sd: FloatArray  # (p,) of values, n-1 denominator as seminr and SmartPLS
    standardized: FloatArray  # (n, p)

    def correlations(self) -> FloatArray:
        """The items' correlation matrix (p, p), from the standardized values."""
        z = self.standardized
        return (z.T @ z) / (len(z) - 1)


def prepare_data(frame: pd.DataFrame, items: tuple[str, ...], missing: Missing) -> PreparedData:
    non_numeric = [c for c in items if not pd.api.types.is_numeric_dtype(frame[c])]
    if non_numeric:
        raise ValueError(
            f"indicator columns must be numeric; not numeric: {', '.join(non_numeric)}. "
            "Code answers as numbers and 'cannot answer' as NaN."
        )
    raw = frame.loc[:, list(items)].to_numpy(dtype=np.float64, na_value=np.nan, copy=True)
    if np.isinf(raw).any():
        bad = [items[j] for j in np.flatnonzero(np.isinf(raw).any(axis=0))]
        raise ValueError(f"infinite values in {', '.join(bad)}; use NaN for missing answers")
    index = frame.index
    warnings: list[ModelWarning] = []
    is_missing = np.isnan(raw)
    if missing == "casewise":
        complete = ~is_missing.any(axis=1)
        if not complete.all():
            dropped = int((~complete).sum())
            warnings.append(
                ModelWarning(
                    "casewise-deletion",
                    f"{dropped} of {len(raw)} rows dropped for missing answers "
                    "(casewise deletion).",
                    "info",
                )
            )
        raw, index = raw[complete], index[complete]
        is_missing = is_missing[complete]
    empty = [items[j] for j in np.flatnonzero(is_missing.all(axis=0))]
    if empty or len(raw) < 3:
        what = f"no answers for {', '.join(empty)}" if empty else f"only {len(raw)} rows"
        raise ValueError(f"cannot estimate the model: {what} after {missing} missing handling")
    share = is_missing.mean(axis=0)
    for j in np.flatnonzero(share > _MISSING_SHARE_WARNING):
        warnings.append(
            ModelWarning(
                "missing-data",
                f"{share[j]:.1%} of answers missing for {items[j]}; mean replacement shrinks its "
                "variance and its correlations.",
                "warning",
                items[j],
            )
        )
    values = np.where(is_missing, np.nanmean(raw, axis=0), raw)
    sd = values.std(axis=0, ddof=1)
    constant = [items[j] for j in np.flatnonzero(~(sd > 0))]
    if constant:
        raise ValueError(f"indicators with zero variance cannot be standardized: {constant}")
    mean = values.mean(axis=0)
    standardized = (values - mean) / sd
    return PreparedData(raw, values, index, len(frame), tuple(warnings), mean, sd, standardized)


def _construct_name(item: str) -> str:
    name = item.capitalize()
    return name if name != item else f"{item}_construct"


def check_spec(spec: PathSpec, columns: pd.Index) -> tuple[ModelWarning, ...]:
    """Refuse what the PLS engine cannot estimate; note what it ignores."""
    spec.check_data(columns)
    constructs = set(spec.constructs)
    lines = {(r.lhs, r.rhs.name): r.line for r in spec.regressions}
    for outcome, predictor in spec.paths:
        for name in (outcome, predictor):
            if name not in constructs:
                raise ModelSyntaxError(
                    f"{name!r} in the path {outcome} ~ {predictor} is an observed variable; "
                    "PLS needs every variable of a structural path to be a construct",
                    f"Give it a single-item block, e.g. `{_construct_name(name)} =~ {name}`, "
                    "and use that construct in the path.",
                    lines[(outcome, predictor)],
                )
    for block in spec.measurement:
        nested = [n for n in block.indicator_names if n in constructs]
        if nested:
            raise ModelSyntaxError(
                f"construct {block.construct!r} is measured by constructs {nested}; "
                "higher-order constructs are not supported by the PLS engine",
                "Use the two-stage approach: estimate the first-order model, then model "
                "the second-order construct on its scores.",
                block.line,
            )
    in_paths = set(spec.structural_variables)
    for block in spec.measurement:
        if block.construct not in in_paths:
            raise ModelSyntaxError(
                f"construct {block.construct!r} is in no structural path; PLS inner "
                "estimation needs every construct connected",
                "Add a path to or from it, or remove its block.",
                block.line,
            )
    warnings = []
    if spec.covariance_terms:
        warnings.append(
            ModelWarning(
                "covariances-ignored",
                "PLS does not estimate ~~ covariances; they were ignored.",
                "info",
            )
        )
    terms = [t for b in spec.measurement for t in b.indicators] + [r.rhs for r in spec.regressions]
    if any(t.fixed is not None or t.free or t.label is not None for t in terms):
        warnings.append(
            ModelWarning(
                "modifiers-ignored",
                "PLS ignores pre-multipliers (1*x, NA*x, labels); all weights are estimated.",
                "info",
            )
        )
    return tuple(warnings)
