"""``manyi priorities``: the importance-performance priority matrix from the command line.

Reads a model (lavaan text or a questionnaire) and responses as ``manyi fit`` does, fits
the PLS model, and prints the matrix of one target's drivers: as text, or as JSON in the
shape the dashboard reads. With ``--by`` there is one block per segment (or period).
Nothing here imports the web stack.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import typer

from api.cli.fit_inputs import FitInputs, load_fit_inputs, parse_scale


class PrioritiesInputError(ValueError):
    """A command-line input that cannot be used; the message says how to fix it."""


@dataclass(frozen=True)
class PrioritiesRequest:
    model: Path
    data: Path
    target: str
    level: str = "construct"
    method: str = "ipma"
    scale: str | None = None
    by: str | None = None
    period: str | None = None
    weights: str | None = None
    dimension: str | None = None
    crosshair: str = "mean"
    bootstrap: int = 1000
    seed: int | None = None
    min_n: int = 100
    missing: str | None = None
    permutations: int = 1000
    allow_small_sample: bool = False


def _frame(inputs: FitInputs, request: PrioritiesRequest) -> pd.DataFrame:
    """Item scores plus the segment and weight columns taken from the data file."""
    frame = inputs.data.copy()
    table = inputs.table
    assert table is not None
    for option, column in (("--by", request.by), ("--weights", request.weights)):
        if column is None:
            continue
        if column not in table.columns:
            raise PrioritiesInputError(
                f"{option} {column!r}: the data has no such column; columns: "
                f"{', '.join(map(str, table.columns))}"
            )
        frame[column] = table[column]
    if request.weights is not None:
        weights = pd.to_numeric(frame[request.weights], errors="coerce")
        if weights.isna().any() or (weights < 0).any():
            row = int((weights.isna() | (weights < 0)).to_numpy().argmax())
            raise PrioritiesInputError(
                f"--weights {request.weights!r}: row {row + 1} holds "
                f"{table[request.weights].iloc[row]!r}; weights must be non-negative numbers"
            )
        frame[request.weights] = weights
    return frame


def _bounds(inputs: FitInputs, request: PrioritiesRequest) -> Any:
    if request.scale is not None:
        return parse_scale(request.scale)
    if inputs.questionnaire is not None:
        return inputs.questionnaire
    raise PrioritiesInputError(
        "the items' scale bounds are unknown: give --scale MIN,MAX (e.g. --scale 1,5), or "
        "a questionnaire as the model"
    )


def compute(request: PrioritiesRequest):
    """The priority matrix (or per-segment matrices) the request asks for."""
    from models.fit import fit_model
    from scoring.priorities import priority_matrix, segment_priorities

    if request.period is not None and request.by is None:
        raise PrioritiesInputError("--period cuts the dates of --by COLUMN: give --by too")
    scale = parse_scale(request.scale) if request.scale is not None else None
    inputs = load_fit_inputs(request.model, request.data, request.missing, scale)
    for warning in inputs.warnings:
        typer.echo(f"warning: {warning}", err=True)
    frame = _frame(inputs, request)
    bounds = _bounds(inputs, request)
    fit = fit_model(inputs.model, inputs.data, engine="pls",
                    allow_small_sample=request.allow_small_sample)  # fmt: skip
    constructs = fit.result.spec.constructs
    if request.target not in constructs:
        raise PrioritiesInputError(
            f"--target {request.target!r} is not a construct of the model: choose one of "
            f"{', '.join(constructs)}"
        )
    options: dict[str, Any] = dict(
        method=request.method, level=request.level, dimension=request.dimension,
        weights=request.weights, crosshair=request.crosshair, n_boot=request.bootstrap,
        random_state=request.seed,
    )  # fmt: skip
    if request.by is None:
        return priority_matrix(fit, frame, bounds, request.target, **options)
    return segment_priorities(
        fit, frame, bounds, request.target, by=request.by, period=request.period,
        min_n=request.min_n, permutations=request.permutations, **options,
    )  # fmt: skip


def plot_paths(path: Path, result) -> list[tuple[Path, Any]]:
    """Where each matrix is drawn: ``path`` itself, or ``<stem>_<segment><suffix>`` per
    segment (segments without a matrix are skipped)."""
    blocks = getattr(result, "blocks", None)
    if blocks is None:
        return [(path, result)]
    out = []
    for block in blocks:
        if block.matrix is not None:
            safe = re.sub(r"[^\w.-]+", "-", block.segment).strip("-") or "segment"
            out.append((path.with_name(f"{path.stem}_{safe}{path.suffix}"), block.matrix))
    return out
