"""A PLS model lined up with its data, the items' scale bounds and respondent weights.

:func:`prepare` checks that the frame is the data the model was fitted to, that every
answer lies inside its scale's bounds (a "cannot answer" code left as a number is an
error, not a score) and that respondent weights are usable, and returns a
:class:`Prepared` model that :mod:`scoring.rescaled` restates on 0-100 scales.
"""

from __future__ import annotations

import hashlib
import reprlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from models.diagnostics import ModelWarning
from models.fit import ModelFit
from models.pls import PLSResult
from models.pls_algorithm import Layout
from models.pls_bootstrap import CenteredData
from models.pls_data import prepare_data

__all__ = ["Bounds", "ModelLike", "Prepared", "bound_arrays", "check_in_bounds", "prepare"]

FloatArray = npt.NDArray[np.float64]
#: Scale bounds: one ``(min, max)`` for every item, a mapping item -> ``(min, max)``, or
#: a questionnaire (any object whose ``item(name).bounds`` gives ``(min, max)``).
Bounds = tuple[float, float] | Mapping[str, tuple[float, float]] | Any
ModelLike = PLSResult | ModelFit

# --- scale bounds ---------------------------------------------------------------------


def bound_arrays(bounds: Bounds, items: Sequence[str]) -> tuple[FloatArray, FloatArray]:
    """``(low, span)`` per item from scale bounds, ``span = max - min``.

    Parameters
    ----------
    bounds : tuple, mapping or questionnaire
        See :data:`Bounds`.
    items : sequence of str

    Returns
    -------
    low, span : numpy.ndarray of shape (len(items),)

    Raises
    ------
    ValueError
        For an item without bounds, or bounds that are not finite with ``max > min``.
    """
    low, high = np.empty(len(items)), np.empty(len(items))
    for j, item in enumerate(items):
        pair = _bounds_of(bounds, item)
        if pair is None:
            raise ValueError(
                f"no scale bounds for {item!r}: give (min, max) for every item, e.g. "
                f"bounds={{{item!r}: (1, 5)}}, or the questionnaire"
            )
        try:
            low[j], high[j] = (float(v) for v in pair)
        except (TypeError, ValueError) as exc:
            shown = reprlib.repr(pair)  # a whole questionnaire passed by mistake is long
            raise ValueError(
                f"bounds of {item!r} must be two numbers (min, max), got {shown}; pass a "
                "Questionnaire, a mapping of item to (min, max), or one (min, max) pair"
            ) from exc
        if not (np.isfinite(low[j]) and np.isfinite(high[j]) and high[j] > low[j]):
            raise ValueError(f"bounds of {item!r} must be finite with max > min, got {pair!r}")
    return low, high - low


def _bounds_of(bounds: Bounds, item: str) -> Any:
    if isinstance(bounds, tuple | list):
        return bounds
    if isinstance(bounds, Mapping):
        return bounds.get(item)
    if hasattr(bounds, "item"):
        try:
            return bounds.item(item).bounds
        except KeyError:
            return None
    raise TypeError(
        "bounds must be a (min, max) pair, a mapping item -> (min, max), or a questionnaire"
    )


def check_in_bounds(raw: FloatArray, items: Sequence[str], low: FloatArray, span: FloatArray):
    """Refuse answers outside the scale (a "cannot answer" code left as a score, say)."""
    with np.errstate(invalid="ignore"):
        outside = (raw < low) | (raw > low + span)
    bad = np.flatnonzero(outside.any(axis=0))
    if bad.size:
        j = int(bad[0])
        values = np.unique(raw[outside[:, j], j])[:5]
        raise ValueError(
            f"{items[j]!r} has values {values.tolist()} outside its scale "
            f"[{low[j]:g}, {low[j] + span[j]:g}]: code 'cannot answer' and other missing "
            "codes as NaN, and check the bounds"
        )


# --- the prepared model ---------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class Prepared:
    """A model's blocks, the data it was fitted to, and everything 0-100 needs.

    ``layout`` and ``result`` are None for a plain block mapping (mean indexes only).
    """

    items: tuple[str, ...]
    constructs: tuple[str, ...]
    mask: FloatArray  # (p, C)
    blocks: tuple[npt.NDArray[np.intp], ...]
    raw: FloatArray  # (n, p) rows used, NaN for missing answers
    index: pd.Index
    low: FloatArray  # (p,)
    span: FloatArray  # (p,)
    respondent_weights: FloatArray | None  # (n,) aligned with raw
    centred: CenteredData
    centre: FloatArray  # (p,) the centring of ``centred`` (observed means)
    item_sd: FloatArray  # (p,) of the mean-imputed items, n-1 (as the model standardised)
    layout: Layout | None
    result: PLSResult | None
    settings: dict[str, Any]
    warnings: tuple[ModelWarning, ...]

    @property
    def n(self) -> int:
        return int(self.raw.shape[0])


def prepare(
    model: ModelLike | Mapping[str, Sequence[str]],
    frame: pd.DataFrame,
    bounds: Bounds,
    weights: str | npt.ArrayLike | None,
    *,
    need_pls: bool,
) -> Prepared:
    """Check and line up a model, its data, the scale bounds and respondent weights.

    Parameters
    ----------
    model : PLSResult, ModelFit or mapping
        A PLS result, a :class:`models.fit.ModelFit` holding one (its warnings include
        the measurement-quality verdicts), or, when ``need_pls`` is False, a mapping
        construct -> items.
    frame : pandas.DataFrame
        The data the model was fitted to; checked against ``provenance["data_sha256"]``.
    bounds : tuple, mapping or questionnaire
        Scale bounds (see :data:`Bounds`).
    weights : str, array-like or None
        Respondent weights: a column of ``frame`` or one value per row of ``frame``.
    need_pls : bool
        Refuse a block mapping (PLS weights are needed).

    Returns
    -------
    Prepared
        Rows used by the model (casewise deletion applied), raw values with NaN, the
        bounds as ``low``/``span``, weights aligned to the rows, the model's settings
        and warnings.

    Raises
    ------
    TypeError
        For a model that is neither a PLS fit nor (when allowed) a block mapping.
    ValueError
        For a frame that is not the model's data, missing items, values outside their
        bounds, or invalid respondent weights.
    """
    if not isinstance(frame, pd.DataFrame):
        raise TypeError(f"frame must be a pandas DataFrame, got {type(frame).__name__}")
    result, warnings = _unwrap(model, need_pls)
    if result is not None:
        layout: Layout | None = Layout.from_spec(result.spec)
        items, constructs = layout.items, layout.constructs
        mask, blocks = layout.mask, layout.blocks
        p = result.provenance
        settings = {k: p[k] for k in ("scheme", "tol", "max_iter", "missing", "consistent")}
    else:
        layout = None
        items, constructs, mask, blocks = _plain_blocks(model)  # type: ignore[arg-type]
        settings = {"missing": "mean"}
    missing = [c for c in items if c not in frame.columns]
    if missing:
        raise ValueError(f"items not in frame: {', '.join(missing)}")
    data = prepare_data(frame, items, settings["missing"])
    if result is not None:
        fitted = result.provenance.get("data_sha256")
        if fitted is not None and fitted != _data_hash(items, data.raw):
            raise ValueError(
                "frame is not the data the model was fitted to (its items hash differently "
                "from the model's provenance); pass the same rows, columns and missing values"
            )
    low, span = bound_arrays(bounds, items)
    check_in_bounds(data.raw, items, low, span)
    rows = _rows_used(frame, items, settings["missing"])
    respondent = _respondent_weights(weights, frame, rows, data.raw)
    centred = CenteredData.from_array(data.raw)
    return Prepared(
        items=tuple(items),
        constructs=tuple(constructs),
        mask=mask,
        blocks=tuple(blocks),
        raw=data.raw,
        index=data.index,
        low=low,
        span=span,
        respondent_weights=respondent,
        centred=centred,
        centre=np.nanmean(data.raw, axis=0),
        item_sd=data.sd,
        layout=layout,
        result=result,
        settings=settings,
        warnings=warnings,
    )


def _unwrap(model: Any, need_pls: bool) -> tuple[PLSResult | None, tuple[ModelWarning, ...]]:
    if isinstance(model, ModelFit):
        if not isinstance(model.result, PLSResult):
            raise TypeError(
                "0-100 indexes, impacts and IPMA need PLS outer weights; fit the model "
                "with engine='pls'"
            )
        # ModelFit.warnings adds the measurement-quality verdicts to the engine's.
        return model.result, tuple(model.warnings)
    if isinstance(model, PLSResult):
        return model, tuple(model.warnings)
    if need_pls or not isinstance(model, Mapping):
        raise TypeError(
            "model must be a PLSResult or a ModelFit from the PLS engine"
            + ("" if need_pls else ", or a mapping construct -> items")
        )
    return None, ()


def _plain_blocks(blocks: Mapping[str, Sequence[str]]):
    if not blocks:
        raise ValueError("the block mapping is empty")
    items: list[str] = []
    for construct, names in blocks.items():
        if isinstance(names, str) or not len(names):
            raise ValueError(f"construct {construct!r} needs a non-empty list of items")
        items += [n for n in names if n not in items]
    mask = np.zeros((len(items), len(blocks)))
    rows = []
    for j, names in enumerate(blocks.values()):
        r = np.array([items.index(n) for n in names], dtype=np.intp)
        mask[r, j] = 1.0
        rows.append(r)
    return tuple(items), tuple(blocks), mask, tuple(rows)


def _rows_used(frame: pd.DataFrame, items: Sequence[str], missing: str) -> npt.NDArray[np.intp]:
    if missing != "casewise":
        return np.arange(len(frame))
    raw = frame.loc[:, list(items)].to_numpy(dtype=np.float64, na_value=np.nan)
    return np.flatnonzero(~np.isnan(raw).any(axis=1))


def _respondent_weights(
    weights: str | npt.ArrayLike | None,
    frame: pd.DataFrame,
    rows: npt.NDArray[np.intp],
    raw: FloatArray,
) -> FloatArray | None:
    if weights is None:
        return None
    if isinstance(weights, str):
        if weights not in frame.columns:
            raise ValueError(f"weight column {weights!r} is not in frame")
        values = pd.to_numeric(frame[weights], errors="coerce").to_numpy(dtype=np.float64)
    else:
        values = np.asarray(weights, dtype=np.float64)
    if values.shape != (len(frame),):
        raise ValueError(
            f"weights must have one value per row of frame ({len(frame)}), got {values.shape}"
        )
    if not np.isfinite(values).all() or (values < 0).any():
        raise ValueError("respondent weights must be finite and non-negative")
    used = values[rows]
    answered = (~np.isnan(raw)) * used[:, None]
    if not (answered.sum(axis=0) > 0).all():
        raise ValueError("every item needs at least one answer with a positive weight")
    return used


def _data_hash(items: Sequence[str], raw: FloatArray) -> str:
    # Same digest as models.pls records in provenance["data_sha256"] (reimplemented:
    # the models helper is private).
    digest = hashlib.sha256("\x1f".join(items).encode())
    digest.update(np.where(np.isnan(raw), np.nan, raw).astype("<f8").tobytes())
    return digest.hexdigest()
