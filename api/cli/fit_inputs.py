"""Reading what ``manyi fit`` fits: a model (lavaan text or a questionnaire) and data.

Kept apart from the web stack: nothing here imports FastAPI, so the command line starts
fast and runs where only the statistics are installed.
"""

from __future__ import annotations

from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from survey.questionnaire.bounded import read_excel
from survey.questionnaire.scores import answer_code, far_out_values, item_scores

QUESTIONNAIRE_SUFFIXES = (".yaml", ".yml", ".xlsx")
DATA_SUFFIXES = (".csv", ".xlsx", ".parquet")


@dataclass(frozen=True)
class FitInputs:
    model: str  # lavaan syntax
    data: pd.DataFrame  # item scores, missing values as NaN
    source: str  # what the model came from
    table: pd.DataFrame | None = None  # the data file as read (segment and weight columns)
    questionnaire: Any = None  # when the model came from a questionnaire
    warnings: tuple[str, ...] = ()  # about the data, for the person who gave it


def read_model(path: Path):
    """A model file: lavaan syntax text, or a questionnaire that generates its model.

    Returns ``(lavaan text, questionnaire or None)``.
    """
    if not path.exists():
        raise FileNotFoundError(f"no model file at {path}")
    if path.suffix.lower() in QUESTIONNAIRE_SUFFIXES:
        from survey.questionnaire import load_questionnaire

        questionnaire, _ = load_questionnaire(path)
        return questionnaire.lavaan_syntax(), questionnaire
    return path.read_text(encoding="utf-8"), None


def read_table(path: Path) -> pd.DataFrame:
    if not path.exists():
        raise FileNotFoundError(f"no data file at {path}")
    suffix = path.suffix.lower()
    if suffix == ".csv":
        options = {"dtype": str, "keep_default_na": False, "na_values": [""]}
        # pyarrow parses on every core: 0.17 s for 200,000 responses, where pandas' own
        # parser takes 0.75 s. A file it cannot read is read again by pandas' parser
        # below, so that the error the user sees is one explained there.
        with suppress(Exception):
            return pd.read_csv(path, engine="pyarrow", **options)
        try:
            return pd.read_csv(path, **options)
        except pd.errors.EmptyDataError:
            raise ValueError(
                f"{path}: the file is empty; expected a CSV with a header row of item names "
                "and one row per response"
            ) from None
        except UnicodeDecodeError:
            raise ValueError(
                f"{path}: not UTF-8 text; expected a CSV "
                "saved as UTF-8 (in Excel: Save As, CSV UTF-8), or use .xlsx or .parquet"
            ) from None
        except pd.errors.ParserError as error:
            raise ValueError(f"{path}: not a readable CSV ({error})") from None
    if suffix == ".xlsx":
        return read_excel(path, dtype=str)
    if suffix == ".parquet":
        return pd.read_parquet(path)
    raise ValueError(
        f"cannot read {suffix or 'a file without extension'} data: use {', '.join(DATA_SUFFIXES)}"
    )


def parse_scale(text: str) -> tuple[float, float]:
    """``"1,5"`` -> (1.0, 5.0): the declared scale of items read as plain numbers."""
    parts = [p.strip() for p in text.split(",")]
    try:
        low, high = (float(p) for p in parts)
    except ValueError:
        raise ValueError(
            f"--scale {text!r}: give the scale's minimum and maximum, e.g. --scale 1,5"
        ) from None
    if not high > low:
        raise ValueError(f"--scale {text!r}: the maximum must exceed the minimum")
    return low, high


def parse_missing_codes(text: str | None) -> tuple[str, ...]:
    """``"6,9"`` -> ("6", "9"): answer codes to treat as missing."""
    if not text:
        return ()
    codes = tuple(code.strip() for code in text.split(",") if code.strip())
    if not codes:
        raise ValueError("--missing takes a comma-separated list of codes, e.g. --missing 6,9")
    return codes


def load_fit_inputs(
    model_path: Path,
    data_path: Path,
    missing: str | None,
    scale: tuple[float, float] | None = None,
) -> FitInputs:
    from models.syntax import parse_model

    text, questionnaire = read_model(model_path)
    spec = parse_model(text)
    table = read_table(data_path)
    codes = parse_missing_codes(missing)
    data = item_scores(table, spec.observed, questionnaire, codes, scale)
    known = set(questionnaire.item_names) if questionnaire is not None else set()
    plain = [item for item in spec.observed if item not in known]
    warnings = () if scale is not None else tuple(far_out_values(data[plain]))
    return FitInputs(text, data, str(model_path), table, questionnaire, warnings)


def load_group_inputs(
    model_path: Path, data_path: Path, missing: str | None, group: str
) -> FitInputs:
    """The inputs of a multi-group fit: item scores plus the group column as text."""
    inputs = load_fit_inputs(model_path, data_path, missing)
    table = inputs.table
    if group not in table.columns:
        raise ValueError(
            f"--group {group}: {data_path} has no such column; its columns are "
            + ", ".join(map(str, table.columns))
        )
    labels = table[group].map(lambda v: None if pd.isna(v) else answer_code(v))
    data = inputs.data.assign(**{group: labels})
    return FitInputs(inputs.model, data, inputs.source, table, inputs.questionnaire,
                     inputs.warnings)  # fmt: skip
