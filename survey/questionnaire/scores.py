"""Answer codes to item scores: the one conversion the fit, the priorities and the analyses use.

A column of a few hundred thousand answers holds a handful of distinct codes, so each
column is factorised once (in C) and only its distinct codes go through
:meth:`Item.score` (reverse scoring, "cannot answer" and the other missing choices); the
scores are then gathered by index. 200,000 responses × 29 items cost about as much as
29 small dictionaries, where scoring cell by cell in Python took seconds.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import numpy as np
import pandas as pd

from survey.questionnaire.document import Questionnaire

__all__ = ["answer_code", "far_out_values", "item_scores"]


def answer_code(value: Any) -> str:
    """A stored or read answer as its code: ``5.0`` and ``" 5"`` are ``"5"``."""
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        return str(int(value))
    return str(value).strip()


def item_scores(
    table: pd.DataFrame,
    items: Iterable[str],
    questionnaire: Questionnaire | None = None,
    missing: Iterable[str] = (),
    scale: tuple[float, float] | None = None,
) -> pd.DataFrame:
    """Scores of ``items``, missing values as NaN.

    Parameters
    ----------
    table : DataFrame
        One column per item, holding answer codes (text or numbers).
    items : iterable of str
        The columns to score.
    questionnaire : Questionnaire, optional
        When given, an item it defines is scored by its choices (reverse scoring and
        missing choices included); other columns are read as plain numbers.
    missing : iterable of str
        Codes that mean "missing" whatever the questionnaire says (``--missing 6,9``).
    scale : (low, high), optional
        The declared scale of the columns read as plain numbers (``--scale 1,10``).

    Raises
    ------
    ValueError
        A column named in ``items`` is absent; a questionnaire item holds a code that is
        none of its choices; a plain column holds text that is not a number, or a number
        outside ``scale``. The message names the column, the value, how many rows hold
        it and the ``--missing`` fix.
    """
    items = list(items)
    absent = [item for item in items if item not in table.columns]
    if absent:
        raise ValueError(f"the data has no column(s) {', '.join(absent)} named in the model")
    missing = set(missing)
    known = set(questionnaire.item_names) if questionnaire is not None else set()
    scores = {}
    for name in items:
        positions, uniques = pd.factorize(table[name], use_na_sentinel=True)
        codes = [answer_code(value) for value in uniques]
        counts = np.bincount(positions[positions >= 0], minlength=len(codes))
        if name in known:
            item = questionnaire.item(name)  # type: ignore[union-attr]
            values = []
            for code, count in zip(codes, counts, strict=True):
                if code in missing:
                    values.append(np.nan)
                    continue
                if not _is_answer(item, code):
                    raise ValueError(
                        f"column {name} holds {code!r} in {count} row(s), which is not one "
                        f"of its answer codes ({_choices(item)}); if it means missing, "
                        f"declare it with --missing {code}"
                    )
                values.append(_score(item.score(code)))
        else:
            values = [_number(name, c, n, scale) if c not in missing else np.nan
                      for c, n in zip(codes, counts, strict=True)]  # fmt: skip
        lookup = np.append(np.asarray(values, dtype=float), np.nan)  # position -1: missing
        scores[name] = lookup[positions]
    return pd.DataFrame(scores, index=table.index, columns=items, dtype=float)


def far_out_values(scores: pd.DataFrame) -> list[str]:
    """Warnings for a repeated value far outside a column's other values.

    Without a declared scale, ``-99`` among answers 1 to 10 is most likely a missing-value
    code that was not declared, and would be averaged in as a score. A value held by at
    least two rows counts as far out when it lies further below the smallest of the other
    values (or above the largest) than their whole range. Columns with more than 50
    distinct values are measurements, not codes, and are left alone.
    """
    found = []
    for name in scores.columns:
        counts = scores[name].value_counts()
        if len(counts) > 50 or len(counts) < 3:
            continue
        for value, count in counts.items():
            if count < 2:
                continue
            rest = counts.index[counts.index != value]
            low, high = float(rest.min()), float(rest.max())
            span = high - low
            if span > 0 and (value < low - span or value > high + span):
                code = answer_code(value)
                found.append(
                    f"column {name} holds {code} in {count} rows, far outside its other "
                    f"values ({answer_code(low)} to {answer_code(high)}): if it is a "
                    f"missing-value code, declare it with --missing {code}; otherwise give "
                    "the scale with --scale MIN,MAX"
                )
    return found


def _is_answer(item, code: str) -> bool:
    if item.choices is not None and item.choices.choice(code) is not None:
        return True
    if item.type == "nps":
        try:
            return 0.0 <= float(code) <= 10.0
        except ValueError:
            return False
    return False


def _choices(item) -> str:
    if item.type == "nps":
        extra = [c.name for c in item.choices.choices if c.missing] if item.choices else []
        return ", ".join(["0 to 10", *extra])
    return ", ".join(c.name for c in item.choices.choices) if item.choices else "none"


def _score(value: float | None) -> float:
    return np.nan if value is None else float(value)


def _number(column: str, code: str, count: int, scale: tuple[float, float] | None) -> float:
    try:
        number = float(code)
    except ValueError:
        number = math.inf
    if not math.isfinite(number):
        raise ValueError(
            f"column {column} holds {code!r}, which is not a number; give its "
            "missing codes with --missing or fit the questionnaire instead"
        )
    if scale is not None and not scale[0] <= number <= scale[1]:
        raise ValueError(
            f"column {column} holds {code} in {count} row(s), outside the scale "
            f"{answer_code(scale[0])} to {answer_code(scale[1])} (--scale); if it means "
            f"missing, declare it with --missing {code}"
        )
    return number
