"""Population margins for raking: reading, checking and matching them to respondents.

The input side of :func:`scoring.weights.rake`: a margin is a column (or a tuple of columns)
mapped to population counts or shares per category. Everything that can be wrong with a
margin is refused here with a :class:`RakingError` that names the margin, the categories
and a fix, before any weight is computed.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd

__all__ = [
    "MARGIN_COLUMNS",
    "Margin",
    "MarginKey",
    "RakingError",
    "base_weights_of",
    "check_cells",
    "margin_table",
    "prepare_margin",
    "relative_error",
    "scale_targets",
]

FloatArray = npt.NDArray[np.float64]
MarginKey = str | tuple[str, ...]

MARGIN_COLUMNS: tuple[str, ...] = ("margin", "category", "n", "target", "achieved")
"""Columns of :attr:`scoring.weights.RakeResult.margins`."""

# Margins given as shares sum to 1; counts of customers never do (a frame of one customer
# would be meaningless for weighting). Float sums of shares are off by a few ulps.
_SHARE_TOLERANCE = 1e-9
# Count margins read from one sample frame agree exactly; margins typed by hand or
# rounded may differ in the last digit, which raking cannot reconcile.
_TOTAL_TOLERANCE = 1e-6


class RakingError(ValueError):
    """Raking refused or failed.

    Attributes
    ----------
    code : str
        Stable identifier: ``"unknown-column"``, ``"missing-category"``,
        ``"unknown-category"``, ``"empty-cell"``, ``"invalid-margin"``,
        ``"inconsistent-totals"``, ``"invalid-weights"``, ``"invalid-argument"`` or
        ``"not-converged"``.
    message : str
        What is wrong, naming the margin and categories.
    fix : str
        What to do about it.
    """

    def __init__(self, code: str, message: str, fix: str) -> None:
        self.code = code
        self.message = message
        self.fix = fix
        super().__init__(f"[{code}] {message}; {fix}")


@dataclass(frozen=True)
class Margin:
    """One margin matched to the respondents: cell of each respondent, target per cell."""

    key: MarginKey
    codes: npt.NDArray[np.intp]  # respondent -> cell
    categories: list[Hashable]
    target: FloatArray  # population count per cell


def _columns_of(key: object) -> tuple[str, ...]:
    if isinstance(key, str):
        return (key,)
    if isinstance(key, tuple) and key and all(isinstance(part, str) for part in key):
        return key
    raise RakingError(
        "invalid-margin",
        f"margin key {key!r} is neither a column name nor a tuple of column names",
        "key each margin by a column, e.g. 'tier', or by a tuple for a joint margin, "
        "e.g. ('tier', 'region')",
    )


def _as_series(key: MarginKey, margin: object) -> pd.Series:
    if isinstance(margin, pd.Series):
        series = margin
    elif isinstance(margin, Mapping):
        series = pd.Series(dict(margin))
    else:
        raise RakingError(
            "invalid-margin",
            f"margin {key!r} is a {type(margin).__name__}",
            "give a pandas Series (or a dict) of population counts or shares indexed by "
            "category, e.g. frame.groupby('tier').size()",
        )
    if series.index.has_duplicates:
        repeated = sorted({str(c) for c in series.index[series.index.duplicated()]})
        raise RakingError(
            "invalid-margin",
            f"margin {key!r} lists categories {repeated} more than once",
            "give each category one population count",
        )
    try:
        values = series.to_numpy(dtype="float64")
    except (TypeError, ValueError) as error:
        raise RakingError(
            "invalid-margin",
            f"margin {key!r} holds non-numeric values ({error})",
            "give population counts or shares as numbers",
        ) from error
    if not np.all(np.isfinite(values)) or np.any(values < 0):
        raise RakingError(
            "invalid-margin",
            f"margin {key!r} holds NaN, infinite or negative values",
            "give non-negative population counts or shares for every category",
        )
    if values.sum() <= 0:
        raise RakingError(
            "invalid-margin",
            f"margin {key!r} sums to 0",
            "give the population count (or share) of each category",
        )
    return pd.Series(values, index=series.index)


def prepare_margin(sample: pd.DataFrame, key: object, margin: object) -> tuple[Margin, bool]:
    """Respondent codes and targets of one margin; the flag says it was given as shares."""
    columns = _columns_of(key)
    absent = [column for column in columns if column not in sample.columns]
    if absent:
        raise RakingError(
            "unknown-column",
            f"margin {key!r} names columns {absent} that are not in the sample",
            f"rename the margin or add the columns (the sample has {list(sample.columns)})",
        )
    series = _as_series(columns if len(columns) > 1 else columns[0], margin)
    if len(columns) > 1 and series.index.nlevels != len(columns):
        raise RakingError(
            "invalid-margin",
            f"joint margin {key!r} is indexed by {series.index.nlevels} level(s), not "
            f"{len(columns)}",
            "index a joint margin by a MultiIndex, e.g. frame.groupby(['tier', 'region']).size()",
        )
    part = sample[list(columns)]
    missing = part.isna().any(axis=1).to_numpy()
    if missing.any():
        raise RakingError(
            "missing-category",
            f"{int(missing.sum())} respondent(s) have no value for {list(columns)} (first at "
            f"index {part.index[missing][0]!r})",
            "fill the category from the sample frame, or drop those respondents before raking",
        )
    if len(columns) == 1:
        respondent_cells = pd.Index(part[columns[0]])
    else:
        respondent_cells = pd.MultiIndex.from_frame(part)
    codes = series.index.get_indexer_for(respondent_cells)
    unknown = codes < 0
    if unknown.any():
        values = sorted({str(v) for v in respondent_cells[unknown]})
        raise RakingError(
            "unknown-category",
            f"{int(unknown.sum())} respondent(s) have categories {values[:10]} of "
            f"{list(columns)} that margin {key!r} does not list (it lists "
            f"{[str(v) for v in series.index[:10]]}"
            f"{' ...' if len(series) > 10 else ''})",
            "add those categories to the margin (same spelling and type, e.g. 1 vs '1') "
            "or recode the respondents",
        )
    values = series.to_numpy()
    shares = abs(values.sum() - 1.0) <= _SHARE_TOLERANCE
    prepared = Margin(
        key=columns if len(columns) > 1 else columns[0],
        codes=codes.astype(np.intp),
        categories=list(series.index),
        target=values,
    )
    return prepared, shares


def base_weights_of(sample: pd.DataFrame, base_weights: object) -> FloatArray:
    if base_weights is None:
        return np.ones(len(sample))
    if isinstance(base_weights, str):
        if base_weights not in sample.columns:
            raise RakingError(
                "unknown-column",
                f"base weight column {base_weights!r} is not in the sample",
                "name an existing column or pass the weights as an array",
            )
        raw = sample[base_weights].to_numpy(dtype="float64", na_value=np.nan)
    else:
        raw = np.asarray(base_weights, dtype="float64")
    if raw.shape != (len(sample),):
        raise RakingError(
            "invalid-weights",
            f"base weights have shape {raw.shape}, the sample has {len(sample)} rows",
            "give one base weight per respondent",
        )
    if not np.all(np.isfinite(raw)) or np.any(raw < 0):
        raise RakingError(
            "invalid-weights",
            "base weights contain NaN, infinite or negative values",
            "give every respondent a finite, non-negative design weight",
        )
    return raw


def scale_targets(prepared: list[tuple[Margin, bool]], base_total: float) -> list[Margin]:
    """Targets as counts on one common population total."""
    count_totals = {m.key: float(m.target.sum()) for m, shares in prepared if not shares}
    if count_totals:
        total = next(iter(count_totals.values()))
        far = {
            key: value
            for key, value in count_totals.items()
            if abs(value - total) > _TOTAL_TOLERANCE * total
        }
        if far:
            raise RakingError(
                "inconsistent-totals",
                f"margins disagree on the population total: {count_totals}",
                "take every margin from the same sample frame, or give them as shares",
            )
    else:
        total = base_total
    scaled = []
    for margin, _ in prepared:
        # Rescaling count margins that agree to 1e-6 lets raking meet a 1e-8 tolerance.
        target = margin.target * (total / margin.target.sum())
        scaled.append(Margin(margin.key, margin.codes, margin.categories, target))
    return scaled


def check_cells(margins: list[Margin], base: FloatArray) -> list[str]:
    """Refuse cells with population but no (weighted) respondent; note the reverse."""
    notes = []
    for margin in margins:
        size = len(margin.categories)
        counts = np.bincount(margin.codes, minlength=size)
        mass = np.bincount(margin.codes, weights=base, minlength=size)
        empty = (margin.target > 0) & (mass <= 0)
        if empty.any():
            cells = [margin.categories[i] for i in np.flatnonzero(empty)]
            raise RakingError(
                "empty-cell",
                f"margin {margin.key!r}: categories {cells[:10]} have a population but no "
                "respondent (with a positive base weight)",
                "collapse them with a neighbouring category in both the sample and the "
                "margin, or drop that margin",
            )
        dropped = (margin.target == 0) & (counts > 0)
        if dropped.any():
            cells = [margin.categories[i] for i in np.flatnonzero(dropped)]
            notes.append(
                f"margin {margin.key!r}: {int(counts[dropped].sum())} respondent(s) in "
                f"categories {cells[:10]} with no population get weight 0"
            )
    return notes


def relative_error(margins: list[Margin], weights: FloatArray) -> float:
    worst = 0.0
    for margin in margins:
        achieved = np.bincount(margin.codes, weights=weights, minlength=len(margin.categories))
        positive = margin.target > 0
        if positive.any():
            error = np.abs(achieved[positive] - margin.target[positive]) / margin.target[positive]
            worst = max(worst, float(error.max()))
    return worst


def margin_table(margins: list[Margin], weights: FloatArray) -> pd.DataFrame:
    rows = []
    for margin in margins:
        size = len(margin.categories)
        counts = np.bincount(margin.codes, minlength=size)
        achieved = np.bincount(margin.codes, weights=weights, minlength=size)
        for i, category in enumerate(margin.categories):
            rows.append(
                (margin.key, category, int(counts[i]), float(margin.target[i]), float(achieved[i]))
            )
    return pd.DataFrame(rows, columns=list(MARGIN_COLUMNS))
