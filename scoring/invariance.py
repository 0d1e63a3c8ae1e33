"""Are the units' indexes comparable? Compositional invariance of each unit against the rest.

A ranking of regions or service halls, or one priority matrix per segment, compares
indexes that are weighted sums of items. If the items combine differently in one unit
(its composite weights differ), its index measures something else, and its place in the
ranking says nothing. :func:`unit_comparability` runs step 2 of MICOM (compositional
invariance, :func:`models.pls_groups.micom_one_vs_rest`) for every unit against all the
others pooled and says which units' indexes are not comparable, in Chinese and English.

Differences in composite *means* (MICOM step 3) are what a ranking shows, so they are not
a reason to withhold a comparison; only step 2 is.

The decision, with many units and constructs: within one unit, the constructs' p-values
are adjusted together (Westfall and Young's minP over the unit's own permutations,
``p_family``); the units' smallest adjusted p-values are then adjusted across units by
Holm's method. A unit is flagged when its Holm-adjusted p-value is below ``alpha``, and
the constructs named are those whose own adjusted p-value is below ``alpha``. The whole
comparison thus holds its family-wise error at ``alpha`` whatever the number of units,
provided there are enough permutations: the smallest attainable p-value is
1/``n_permutations``, so ``n_permutations`` must exceed units/``alpha`` (1,000 is enough
for 50 units at .05; fewer units need fewer).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from models.diagnostics import ModelWarning
from models.pls_groups import MIN_GROUP_ROWS, micom_one_vs_rest
from models.sem_result import json_number
from models.syntax import PathSpec
from scoring.rankings import adjust_p_values

__all__ = ["COMPARABILITY_COLUMNS", "UnitComparability", "unit_comparability"]

COMPARABILITY_COLUMNS: tuple[str, ...] = (
    "n", "p_value", "p_adjusted", "comparable", "not_comparable_on",
)  # fmt: skip


@dataclass(frozen=True)
class UnitComparability:
    """Which units' indexes can be compared, by compositional invariance.

    Attributes
    ----------
    column : str
        The column whose values are the units.
    table : DataFrame
        Indexed by unit: ``n``, ``p_value`` (the unit's smallest construct p-value adjusted
        over its constructs), ``p_adjusted`` (Holm across units), ``comparable`` (bool;
        None for a unit too small to test) and ``not_comparable_on`` (the constructs whose
        weights differ there).
    alpha : float
    n_permutations : int
    seed : int or None
    """

    column: str
    table: pd.DataFrame
    alpha: float
    n_permutations: int
    seed: int | None

    @property
    def flagged(self) -> dict[str, tuple[str, ...]]:
        """``{unit: constructs}`` of the units whose indexes are not comparable."""
        rows = self.table[self.table["comparable"] == False]  # noqa: E712 - None is "untested"
        return {str(u): tuple(r) for u, r in rows["not_comparable_on"].items()}

    def messages(self) -> dict[str, str]:
        """The warning in Chinese and English ("" for each when every unit is comparable)."""
        if not self.flagged:
            return {"zh": "", "en": ""}
        named = "; ".join(f"{u} ({', '.join(c)})" for u, c in self.flagged.items())
        return {
            "zh": (
                f"以下{self.column}的指数与其他单位不可比较：{named}。这些单位的题项组合方式不同"
                f"（MICOM 组成不变性检验未通过，α = {self.alpha:g}），其排名和差异不能解读。"
            ),
            "en": (
                f"The indexes of these {self.column} units are not comparable with the "
                f"others: {named}. Their items combine differently (MICOM compositional "
                f"invariance fails at alpha = {self.alpha:g}), so their rank and differences "
                "cannot be read."
            ),
        }

    def warnings(self) -> list[ModelWarning]:
        """One ``not-comparable`` warning per flagged unit (English; see :meth:`messages`)."""
        return [
            ModelWarning(
                "not-comparable",
                f"The indexes of {self.column} {unit} are not comparable with the other "
                f"units: the weights of {', '.join(constructs)} differ there (MICOM step 2).",
                "warning",
                f"{self.column}={unit}",
            )
            for unit, constructs in self.flagged.items()
        ]

    def to_dict(self) -> dict[str, Any]:
        rows = []
        for unit, row in self.table.iterrows():
            rows.append(
                {
                    "unit": str(unit),
                    "n": int(row["n"]),
                    "p_value": json_number(row["p_value"]),
                    "p_adjusted": json_number(row["p_adjusted"]),
                    "comparable": None if row["comparable"] is None else bool(row["comparable"]),
                    "not_comparable_on": list(row["not_comparable_on"]),
                }
            )
        return {
            "column": self.column,
            "method": "MICOM step 2 one unit vs the rest; minP within unit, Holm across units",
            "alpha": self.alpha,
            "n_permutations": self.n_permutations,
            "seed": self.seed,
            "units": rows,
            "message": self.messages(),
        }


def unit_comparability(
    spec: PathSpec | str,
    frame: pd.DataFrame,
    column: str,
    *,
    min_n: int = MIN_GROUP_ROWS,
    n_permutations: int = 1000,
    alpha: float = 0.05,
    random_state: int | np.random.Generator | None = None,
) -> UnitComparability:
    """Test each unit of ``column`` against all others for compositional invariance.

    Parameters
    ----------
    spec : PathSpec or str
        The PLS model whose composites are compared.
    frame : DataFrame
        Item scores and ``column``.
    column : str
        The units (region, service hall, segment).
    min_n : int
        Units with fewer rows are not tested (``comparable`` None); they stay in the rest
        the others are compared with. At least :data:`models.pls_groups.MIN_GROUP_ROWS`.
    n_permutations, alpha, random_state
        As in :func:`models.pls_groups.micom`.

    Returns
    -------
    UnitComparability

    Examples
    --------
    See ``tests/unit/scoring/test_invariance.py``: one region whose items are combined
    differently is flagged, and only it.
    """
    if column not in frame.columns:
        raise ValueError(f"no column {column!r} to compare units by")
    labels = frame[column].astype("string")
    counts = labels.value_counts(sort=False)
    order = [u for u in pd.unique(labels.dropna())]
    tested = [u for u in order if counts[u] >= max(min_n, MIN_GROUP_ROWS)]
    rest = len(labels.dropna())
    tested = [u for u in tested if rest - counts[u] >= MIN_GROUP_ROWS]
    table = pd.DataFrame(
        {
            "n": [int(counts[u]) for u in order],
            "p_value": np.nan,
            "p_adjusted": np.nan,
            "comparable": [None] * len(order),
            "not_comparable_on": [()] * len(order),
        },
        index=pd.Index(order, name=column),
    )
    seed = None
    if len(tested) >= 2:
        result = micom_one_vs_rest(
            spec, frame.assign(**{column: labels}), column, units=tested,
            n_permutations=n_permutations, alpha=alpha, random_state=random_state,
        )  # fmt: skip
        seed = result.seed
        smallest = [float(r.compositional["p_family"].min()) for r in result.results]
        adjusted = adjust_p_values(smallest, "holm")
        for unit, micom, p, p_adj in zip(tested, result.results, smallest, adjusted, strict=True):
            failing = micom.compositional[micom.compositional["p_family"] < alpha]
            table.at[unit, "p_value"] = p
            table.at[unit, "p_adjusted"] = float(p_adj)
            table.at[unit, "comparable"] = bool(p_adj >= alpha)
            table.at[unit, "not_comparable_on"] = (
                () if p_adj >= alpha else tuple(failing["construct"])
            )
    return UnitComparability(column, table, alpha, n_permutations, seed)
