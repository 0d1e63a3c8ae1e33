"""Measurement quality: is each construct measured well enough to trust its index?

:func:`measurement_quality` runs the reliability statistics of :mod:`models.reliability`
and the discriminant-validity statistics of :mod:`models.validity` on one estimated
measurement model and turns every failed criterion into a coded
:class:`~models.diagnostics.ModelWarning` that names the construct, pair or item, the value,
the threshold and what to do about it.

Which statistics apply depends on the construct:

* reflective (mode A) with two or more items: all of them;
* single item: none of reliability or AVE (one item cannot be checked against others), an
  info note says so, and its correlations still take part in HTMT, Fornell-Larcker and
  the cross-loadings;
* formative (mode B): none of reliability, AVE or HTMT (its items need not correlate), an
  info note says so and points at the checks that do apply.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd

from models.diagnostics import ModelWarning
from models.reliability import (
    Blocks,
    _check_blocks,
    _indicator_frame,
    ave,
    cronbach_alpha,
    rho_a,
    rho_c,
)
from models.validity import cross_loadings, fornell_larcker, htmt

__all__ = ["MeasurementQuality", "Mode", "QualityThresholds", "measurement_quality"]

Mode = Literal["A", "B"]
_MODES: tuple[str, ...] = ("A", "B")

Verdict = Literal["pass", "fail", "not-applicable"]

_CONSTRUCT_COLUMNS = ("mode", "n_items", "alpha", "rho_a", "rho_c", "ave", "verdict")
_PAIR_COLUMNS = ("a", "b", "htmt", "correlation", "verdict")


@dataclass(frozen=True, slots=True)
class QualityThresholds:
    """The cut-offs a measurement model is judged against.

    Parameters
    ----------
    alpha, rho_a, rho_c : float, default 0.70
        Minimum Cronbach's alpha, rho_A and rho_C (Nunnally & Bernstein 1994; Hair et al.).
    ave : float, default 0.50
        Minimum average variance extracted (Fornell & Larcker 1981).
    htmt_conservative : float, default 0.85
        HTMT above this signals a lack of discriminant validity (Henseler et al. 2015).
    htmt_liberal : float, default 0.90
        HTMT above this signals it even for conceptually similar constructs.
    """

    alpha: float = 0.70
    rho_a: float = 0.70
    rho_c: float = 0.70
    ave: float = 0.50
    htmt_conservative: float = 0.85
    htmt_liberal: float = 0.90

    def __post_init__(self) -> None:
        for name, value in asdict(self).items():
            if not 0.0 < value <= 1.0:
                raise ValueError(f"threshold {name} must be in (0, 1], got {value!r}")
        if self.htmt_conservative > self.htmt_liberal:
            raise ValueError(
                f"htmt_conservative ({self.htmt_conservative}) must not exceed htmt_liberal "
                f"({self.htmt_liberal})"
            )


def _pair_subject(a: str, b: str) -> str:
    # lavaan's covariance operator: the subject reads as "a with b" in model syntax too.
    return f"{a}~~{b}"


def _json_number(value: Any) -> float | int | str | bool | None:
    """A cell as a JSON-safe Python value (NaN -> None)."""
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return None if math.isnan(value) else float(value)
    return value


def _records(table: pd.DataFrame) -> list[dict[str, Any]]:
    return [
        {str(k): _json_number(v) for k, v in row.items()}
        for row in table.reset_index().to_dict(orient="records")
    ]


def _nested(matrix: pd.DataFrame) -> dict[str, dict[str, float | None]]:
    return {
        str(r): {str(c): _json_number(matrix.loc[r, c]) for c in matrix.columns}
        for r in matrix.index
    }


@dataclass(frozen=True, eq=False)
class MeasurementQuality:
    """Reliability and validity of one measurement model, with verdicts.

    Attributes
    ----------
    constructs : pandas.DataFrame
        Indexed by ``construct``: ``mode``, ``n_items``, ``alpha``, ``rho_a``, ``rho_c``,
        ``ave`` (NaN where not defined or not applicable) and ``verdict`` (``"pass"``,
        ``"fail"`` or ``"not-applicable"``) on reliability and convergent validity.
    pairs : pandas.DataFrame
        One row per pair of constructs: ``a``, ``b``, ``htmt`` (NaN when a formative
        construct is involved), ``correlation`` of the scores and ``verdict`` on
        discriminant validity (HTMT and Fornell-Larcker).
    fornell_larcker : pandas.DataFrame
        sqrt(AVE) on the diagonal, score correlations below it, NaN above.
    cross_loadings : pandas.DataFrame
        Correlation of every indicator (rows) with every construct score (columns).
    warnings : tuple of ModelWarning
        Every failed criterion (severity ``"warning"``) and every criterion that could not
        be applied (severity ``"info"``).
    thresholds : QualityThresholds
    alpha_variant : {"standardized", "raw"}
        Which Cronbach's alpha the ``alpha`` column holds.
    n_obs : int
        Respondents (rows) in the indicator frame.
    """

    constructs: pd.DataFrame
    pairs: pd.DataFrame
    fornell_larcker: pd.DataFrame
    cross_loadings: pd.DataFrame
    warnings: tuple[ModelWarning, ...]
    thresholds: QualityThresholds = field(default_factory=QualityThresholds)
    alpha_variant: str = "standardized"
    n_obs: int = 0
    #: Formative (mode B) indicators: ``construct``, ``item``, ``vif``.
    formative: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=VIF_COLUMNS))

    @property
    def ok(self) -> bool:
        """True when no criterion failed (info notes do not count)."""
        return not any(w.severity in ("warning", "error") for w in self.warnings)

    def to_dict(self) -> dict[str, Any]:
        """Plain, JSON-serialisable form for the API (NaN becomes None)."""
        return {
            "ok": self.ok,
            "n_obs": self.n_obs,
            "alpha_variant": self.alpha_variant,
            "thresholds": asdict(self.thresholds),
            "constructs": _records(self.constructs),
            "pairs": _records(self.pairs.set_index(["a", "b"])),
            "fornell_larcker": _nested(self.fornell_larcker),
            "cross_loadings": _nested(self.cross_loadings),
            "formative": [
                {"construct": r["construct"], "item": r["item"],
                 "vif": None if not math.isfinite(r["vif"]) else float(r["vif"])}
                for r in self.formative.to_dict("records")
            ],  # fmt: skip
            "warnings": [w.to_dict() for w in self.warnings],
        }

    def summary(self) -> str:
        """The result as plain text."""
        t = self.thresholds
        fmt = "{:.3f}".format
        parts = [
            f"Measurement quality (n = {self.n_obs}, Cronbach's alpha: {self.alpha_variant})",
            f"Thresholds: alpha >= {t.alpha:.2f}, rho_A >= {t.rho_a:.2f}, "
            f"rho_C >= {t.rho_c:.2f}, AVE >= {t.ave:.2f}, HTMT < {t.htmt_conservative:.2f} "
            f"(conservative) / {t.htmt_liberal:.2f} (liberal)",
            "",
            "Constructs",
            self.constructs.to_string(float_format=fmt, na_rep="."),
            "",
            "Construct pairs",
            self.pairs.to_string(index=False, float_format=fmt, na_rep=".")
            if len(self.pairs)
            else "(one construct: no pairs)",
            "",
            "Fornell-Larcker (diagonal: sqrt(AVE); below: score correlations)",
            self.fornell_larcker.to_string(float_format=fmt, na_rep=""),
            "",
            "Cross-loadings",
            self.cross_loadings.to_string(float_format=fmt),
            "",
        ]
        if len(self.formative):
            parts += [f"Formative indicators (VIF; {VIF_LIMIT:g} or more: collinear)",
                      self.formative.to_string(index=False, float_format=fmt), ""]  # fmt: skip
        parts += [
            f"Warnings ({len(self.warnings)})" if self.warnings else "Warnings: none",
        ]
        parts += [f"  [{w.severity}] {w.code}: {w.message}" for w in self.warnings]
        return "\n".join(parts)

    def __str__(self) -> str:
        return self.summary()

    def _repr_html_(self) -> str:
        warnings = "".join(
            f"<li><b>{w.severity}</b> <code>{w.code}</code>: {w.message}</li>"
            for w in self.warnings
        )
        return (
            f"<p>Measurement quality (n = {self.n_obs}, alpha: {self.alpha_variant})</p>"
            + self.constructs.to_html(float_format="{:.3f}".format, na_rep=".")
            + self.pairs.to_html(index=False, float_format="{:.3f}".format, na_rep=".")
            + (f"<ul>{warnings}</ul>" if warnings else "<p>No warnings.</p>")
        )


# --------------------------------------------------------------------------- checks


def _check_modes(
    modes: Mapping[str, str] | None, blocks: Mapping[str, list[str]]
) -> dict[str, str]:
    modes = dict(modes or {})
    unknown = [c for c in modes if c not in blocks]
    if unknown:
        raise ValueError(f"modes names constructs that have no block: {unknown}")
    bad = {c: m for c, m in modes.items() if m not in _MODES}
    if bad:
        raise ValueError(
            f"modes must be 'A' (reflective) or 'B' (formative), got {bad}; lavaan's =~ is "
            "'A' and <~ is 'B'"
        )
    return {c: modes.get(c, "A") for c in blocks}


def _check_scores(scores: pd.DataFrame, constructs: list[str]) -> pd.DataFrame:
    if not isinstance(scores, pd.DataFrame):
        raise TypeError(
            f"scores must be a DataFrame with one column per construct, not {type(scores)!r}"
        )
    absent = [c for c in constructs if c not in scores.columns]
    if absent:
        raise ValueError(
            f"scores have no column for constructs {absent}; pass the scores estimated for "
            "these blocks"
        )
    return scores[constructs]


# --------------------------------------------------------------------------- advice


def _weakest_item(loadings: pd.DataFrame, construct: str, items: list[str]) -> tuple[str, float]:
    own = loadings.loc[items, construct].astype("float64")
    return str(own.idxmin()), float(own.min())


def _item_advice(loadings: pd.DataFrame, construct: str, items: list[str]) -> str:
    item, loading = _weakest_item(loadings, construct, items)
    if len(items) == 2:
        return (
            f"With only two items the block is fragile: review the weaker item {item!r} "
            f"(loading {loading:.3f}) or add items that measure {construct!r}."
        )
    return (
        f"Review the weakest item {item!r} (loading {loading:.3f}): reword it, or drop it if "
        "the remaining items still cover the construct's content."
    )


def _alpha_without(
    frame: pd.DataFrame, items: list[str], drop: str, standardized: bool, construct: str
) -> float:
    kept = [i for i in items if i != drop]
    return float(cronbach_alpha(frame, {construct: kept}, standardized)["alpha"].iloc[0])


def _reliability_warnings(
    construct: str,
    row: pd.Series,
    items: list[str],
    frame: pd.DataFrame,
    loadings: pd.DataFrame,
    thresholds: QualityThresholds,
    standardized: bool,
) -> list[ModelWarning]:
    found: list[ModelWarning] = []
    advice = _item_advice(loadings, construct, items)
    if row["alpha"] < thresholds.alpha:
        extra = ""
        if len(items) > 2:
            weakest, _ = _weakest_item(loadings, construct, items)
            without = _alpha_without(frame, items, weakest, standardized, construct)
            extra = f" Without {weakest!r} alpha would be {without:.3f}."
        found.append(
            ModelWarning(
                "low-alpha",
                f"Cronbach's alpha of {construct!r} is {row['alpha']:.3f}, below "
                f"{thresholds.alpha:.2f}: its items do not hang together. {advice}{extra}",
                subject=construct,
            )
        )
    if row["rho_a"] < thresholds.rho_a:  # NaN (no weights given) compares False
        found.append(
            ModelWarning(
                "low-rho-a",
                f"rho_A of {construct!r} is {row['rho_a']:.3f}, below {thresholds.rho_a:.2f}: "
                f"its score is not a reliable measure. {advice}",
                subject=construct,
            )
        )
    if row["rho_c"] < thresholds.rho_c:
        found.append(
            ModelWarning(
                "low-rho-c",
                f"Composite reliability rho_C of {construct!r} is {row['rho_c']:.3f}, below "
                f"{thresholds.rho_c:.2f}. {advice}",
                subject=construct,
            )
        )
    if row["ave"] < thresholds.ave:
        found.append(
            ModelWarning(
                "low-ave",
                f"AVE of {construct!r} is {row['ave']:.3f}, below {thresholds.ave:.2f}: the "
                "construct explains less of its items' variance than error does (items "
                f"loading below 0.708 contribute less than half). {advice}",
                subject=construct,
            )
        )
    return found


#: A formative indicator's VIF at or above this signals critical collinearity among the
#: indicators of its construct (Hair, Hult, Ringle & Sarstedt 2022, ch. 5; 3 is the ideal).
VIF_LIMIT = 5.0
VIF_COLUMNS = ("construct", "item", "vif")


def formative_vifs(
    data: pd.DataFrame, blocks: Mapping[str, list[str]], modes: Mapping[str, str]
) -> tuple[pd.DataFrame, list[ModelWarning]]:
    """VIF of every indicator of a formative construct, and ``high-vif`` warnings.

    ``VIF_j = 1 / (1 − R²_j)``, with ``R²_j`` from regressing item j on the construct's other
    items; all at once as the diagonal of the inverse correlation matrix of the block. An
    item that is a linear combination of the others has an infinite VIF.
    """
    rows, found = [], []
    for construct, items in blocks.items():
        if modes[construct] != "B" or len(items) < 2:
            continue
        corr = data[items].corr().to_numpy()
        try:
            vifs = np.diag(np.linalg.inv(corr))
        except np.linalg.LinAlgError:
            vifs = np.full(len(items), math.inf)
        if np.linalg.cond(corr) > 1e12:
            vifs = np.full(len(items), math.inf)
        for item, vif in zip(items, vifs, strict=True):
            rows.append({"construct": construct, "item": item, "vif": float(vif)})
            if vif >= VIF_LIMIT:
                found.append(
                    ModelWarning(
                        "high-vif",
                        f"the formative item {item!r} of {construct!r} has a VIF of "
                        f"{vif:.2f} (at least {VIF_LIMIT:g}): it largely repeats the other "
                        "items of its construct, so their weights are unstable and may flip "
                        "sign. Drop or merge the redundant items.",
                        "warning",
                        item,
                    )
                )
    return pd.DataFrame(rows, columns=list(VIF_COLUMNS)), found


def _not_applicable_notes(
    blocks: Mapping[str, list[str]], modes: Mapping[str, str]
) -> list[ModelWarning]:
    notes = []
    for construct, items in blocks.items():
        if modes[construct] == "B":
            notes.append(
                ModelWarning(
                    "formative-construct",
                    f"{construct!r} is formative (mode B): alpha, rho_A, rho_C, AVE and HTMT "
                    "do not apply because its items need not correlate. Assess it with "
                    "indicator VIFs, the significance of its weights and a redundancy "
                    "analysis instead.",
                    severity="info",
                    subject=construct,
                )
            )
        elif len(items) == 1:
            notes.append(
                ModelWarning(
                    "single-item-construct",
                    f"{construct!r} is measured by the single item {items[0]!r}: reliability "
                    "(alpha, rho_A, rho_C) and AVE are not defined and are reported as "
                    "missing. Its measurement error cannot be assessed from these data; use "
                    "a multi-item scale if the construct matters for decisions.",
                    severity="info",
                    subject=construct,
                )
            )
    return notes


def _htmt_warning(
    a: str, b: str, value: float, thresholds: QualityThresholds
) -> ModelWarning | None:
    if value > thresholds.htmt_liberal:
        limit, reason = thresholds.htmt_liberal, "even for conceptually similar constructs"
    elif value > thresholds.htmt_conservative:
        limit = thresholds.htmt_conservative
        reason = (
            "acceptable only for conceptually similar constructs, up to "
            f"{thresholds.htmt_liberal:.2f}"
        )
    else:
        return None
    return ModelWarning(
        f"htmt-above-{limit:.2f}",
        f"HTMT of {a!r} and {b!r} is {value:.3f}, above {limit:.2f} ({reason}): respondents "
        "may not tell the two apart. Look for items that load on both (see the "
        "cross-loadings), reword them, or consider merging the constructs.",
        subject=_pair_subject(a, b),
    )


def _fornell_larcker_warning(
    a: str, b: str, correlation: float, root_ave: Mapping[str, float]
) -> ModelWarning | None:
    # Each side is checked only where its AVE is defined (reflective, two or more items).
    exceeded = [
        f"sqrt(AVE) of {c!r} ({root_ave[c]:.3f})"
        for c in (a, b)
        if not math.isnan(root_ave[c]) and abs(correlation) >= root_ave[c]
    ]
    if not exceeded:
        return None
    return ModelWarning(
        "fornell-larcker-violated",
        f"Fornell-Larcker criterion violated for {a!r} and {b!r}: their score correlation "
        f"{correlation:.3f} is not below {' nor '.join(exceeded)}, so they share more variance "
        "with each other than with their own items. Check the pair's HTMT and review items "
        "that load on both.",
        subject=_pair_subject(a, b),
    )


def _cross_loading_warnings(
    table: pd.DataFrame, blocks: Mapping[str, list[str]], modes: Mapping[str, str]
) -> list[ModelWarning]:
    found = []
    # Positions, not labels: label lookups in this loop cost more than the whole check.
    values = table.to_numpy(dtype=float)
    row = {item: i for i, item in enumerate(table.index)}
    constructs = list(table.columns)
    for construct, items in blocks.items():
        # Formative items are not expected to correlate most with their own construct.
        if modes[construct] == "B" or len(constructs) < 2:
            continue
        column = constructs.index(construct)
        others = [j for j in range(len(constructs)) if j != column]
        for item in items:
            # Absolute values: a strong negative correlation with another construct is as
            # much a sign of a misplaced (or mis-coded) item as a positive one.
            line = values[row[item]]
            cross = np.abs(line[others])
            if np.isnan(cross).all() or np.nanmax(cross) <= abs(line[column]):
                continue
            rival_column = others[int(np.nanargmax(cross))]
            rival = str(constructs[rival_column])
            found.append(
                ModelWarning(
                    "cross-loading",
                    f"Item {item!r} of {construct!r} correlates more with {rival!r} "
                    f"({line[rival_column]:.3f}) than with its own construct "
                    f"({line[column]:.3f}): it may measure {rival!r}. Check its "
                    f"wording, or move it to {rival!r} if its content fits there.",
                    subject=item,
                )
            )
    return found


# --------------------------------------------------------------------------- tables


def _construct_table(
    frame: pd.DataFrame,
    blocks: Mapping[str, list[str]],
    modes: Mapping[str, str],
    loadings: pd.DataFrame,
    weights: pd.DataFrame | None,
    standardized_alpha: bool,
) -> pd.DataFrame:
    table = pd.DataFrame(
        {"mode": [modes[c] for c in blocks], "n_items": [len(i) for i in blocks.values()]},
        index=pd.Index(list(blocks), name="construct"),
    )
    for column in ("alpha", "rho_a", "rho_c", "ave"):
        table[column] = np.nan
    checked = {c: items for c, items in blocks.items() if modes[c] == "A" and len(items) > 1}
    if checked:
        rows = list(checked)
        table.loc[rows, "alpha"] = cronbach_alpha(frame, checked, standardized_alpha)["alpha"]
        if weights is not None:
            table.loc[rows, "rho_a"] = rho_a(frame, checked, weights)["rho_a"]
        table.loc[rows, "rho_c"] = rho_c(loadings, checked)["rho_c"]
        table.loc[rows, "ave"] = ave(loadings, checked)["ave"]
    return table


def _pair_table(
    constructs: list[str],
    htmt_table: pd.DataFrame | None,
    fl_table: pd.DataFrame,
    thresholds: QualityThresholds,
) -> tuple[pd.DataFrame, list[ModelWarning]]:
    """Per-pair HTMT and score correlation, with the discriminant-validity warnings."""
    htmt_values: dict[tuple[str, str], float] = {}
    if htmt_table is not None:
        htmt_values = {(r.a, r.b): r.value for r in htmt_table.itertuples(index=False)}
    root_ave = {c: float(fl_table.loc[c, c]) for c in constructs}
    rows, found = [], []
    for i, a in enumerate(constructs):
        for b in constructs[i + 1 :]:
            value = htmt_values.get((a, b), math.nan)
            correlation = float(fl_table.loc[b, a])
            if not math.isnan(value):
                found.append(_htmt_warning(a, b, value, thresholds))
            found.append(_fornell_larcker_warning(a, b, correlation, root_ave))
            # Unchecked only when neither HTMT nor either side's Fornell-Larcker applies.
            checked = not all(math.isnan(v) for v in (value, root_ave[a], root_ave[b]))
            rows.append(
                {"a": a, "b": b, "htmt": value, "correlation": correlation, "checked": checked}
            )
    columns = [*_PAIR_COLUMNS[:-1], "checked"]
    return pd.DataFrame(rows, columns=columns), [w for w in found if w is not None]


def _verdicts(
    subjects: list[str], applicable: list[bool], warnings: list[ModelWarning]
) -> list[Verdict]:
    failed = {w.subject for w in warnings if w.severity != "info"}
    return [
        "fail" if s in failed else ("pass" if ok else "not-applicable")
        for s, ok in zip(subjects, applicable, strict=True)
    ]


def measurement_quality(
    frame: pd.DataFrame,
    blocks: Blocks,
    loadings: pd.DataFrame,
    weights: pd.DataFrame | None,
    scores: pd.DataFrame,
    thresholds: QualityThresholds = QualityThresholds(),  # noqa: B008 - frozen, so shared safely
    *,
    modes: Mapping[str, Mode] | None = None,
    standardized_alpha: bool = True,
) -> MeasurementQuality:
    """Check reliability and validity of a measurement model before any index is trusted.

    Parameters
    ----------
    frame : pandas.DataFrame
        Indicators, one column per item; NaN means "cannot answer".
    blocks : Mapping[str, Sequence[str]]
        Construct name -> its indicator columns in ``frame``.
    loadings : pandas.DataFrame
        Standardized outer loadings, one row per indicator, one column per construct.
    weights : pandas.DataFrame or None
        PLS outer weights in the same layout, for rho_A. None (e.g. for covariance-based
        SEM) leaves ``rho_a`` missing and unchecked.
    scores : pandas.DataFrame
        Construct scores, one column per construct, same rows (index) as ``frame``.
    thresholds : QualityThresholds, optional
        Cut-offs; the usual ones by default.
    modes : Mapping[str, {"A", "B"}], optional
        Measurement mode per construct: "A" reflective (default), "B" formative.
    standardized_alpha : bool, default True
        Report standardized alpha (from correlations, as seminr and SmartPLS do, on the
        same scale as rho_A and rho_C) rather than raw alpha (from covariances).

    Returns
    -------
    MeasurementQuality
        Tables, verdicts and coded warnings: ``low-alpha``, ``low-rho-a``, ``low-rho-c``,
        ``low-ave`` (per construct), ``htmt-above-0.85``, ``htmt-above-0.90``,
        ``fornell-larcker-violated`` (per pair, subject ``"a~~b"``), ``cross-loading``
        (per item), and info notes ``single-item-construct`` and ``formative-construct``.

    See Also
    --------
    models.reliability.cronbach_alpha, models.reliability.rho_a, models.reliability.rho_c,
    models.reliability.ave, models.validity.htmt, models.validity.fornell_larcker,
    models.validity.cross_loadings

    Notes
    -----
    A construct passes when alpha, rho_A and rho_C are at least 0.70 and AVE at least 0.50.
    A pair passes when its HTMT does not exceed 0.85 and the Fornell-Larcker criterion
    holds: sqrt(AVE) of each construct (where defined) exceeds the absolute correlation of
    their scores. An item fails when it correlates more (in absolute value) with another
    construct's score than with its own. Every failure is a warning; a failed HTMT at
    0.90 is reported once, with the 0.90 code. Formative constructs are left out of
    reliability, AVE, HTMT and cross-loading checks; their scores still enter the
    Fornell-Larcker check of the reflective constructs they are paired with.

    References
    ----------
    Cronbach, L. J. (1951). Coefficient alpha and the internal structure of tests.
    Psychometrika, 16(3), 297-334. doi:10.1007/BF02310555

    Dijkstra, T. K., & Henseler, J. (2015). Consistent partial least squares path
    modeling. MIS Quarterly, 39(2), 297-316. doi:10.25300/MISQ/2015/39.2.02

    Fornell, C., & Larcker, D. F. (1981). Evaluating structural equation models with
    unobservable variables and measurement error. Journal of Marketing Research, 18(1),
    39-50. doi:10.2307/3151312

    Henseler, J., Ringle, C. M., & Sarstedt, M. (2015). A new criterion for assessing
    discriminant validity in variance-based structural equation modeling. Journal of the
    Academy of Marketing Science, 43(1), 115-135. doi:10.1007/s11747-014-0403-8
    """
    if not isinstance(thresholds, QualityThresholds):
        raise TypeError("thresholds must be a QualityThresholds, e.g. QualityThresholds(ave=0.5)")
    checked = _check_blocks(blocks)
    construct_modes = _check_modes(modes, checked)
    data = _indicator_frame(frame, checked)
    constructs = list(checked)
    construct_scores = _check_scores(scores, constructs)

    table = _construct_table(data, checked, construct_modes, loadings, weights, standardized_alpha)
    found = _not_applicable_notes(checked, construct_modes)
    for construct, row in table.iterrows():
        if not math.isnan(row["alpha"]):  # computed, so reflective with two or more items
            found += _reliability_warnings(
                str(construct),
                row,
                checked[construct],
                data,
                loadings,
                thresholds,
                standardized_alpha,
            )

    reflective = {c: items for c, items in checked.items() if construct_modes[c] == "A"}
    htmt_table = htmt(data, reflective) if len(reflective) > 1 else None
    fl_table = fornell_larcker(construct_scores, table["ave"])
    pairs, pair_warnings = _pair_table(constructs, htmt_table, fl_table, thresholds)
    found += pair_warnings

    loadings_table = cross_loadings(data, construct_scores)
    found += _cross_loading_warnings(loadings_table, checked, construct_modes)
    formative, vif_warnings = formative_vifs(data, checked, construct_modes)
    found += vif_warnings

    table["verdict"] = _verdicts(constructs, list(table["alpha"].notna()), found)
    pairs["verdict"] = _verdicts(
        [_pair_subject(a, b) for a, b in zip(pairs["a"], pairs["b"], strict=True)],
        list(pairs.pop("checked")),
        found,
    )
    return MeasurementQuality(
        constructs=table.loc[:, list(_CONSTRUCT_COLUMNS)],
        pairs=pairs,
        fornell_larcker=fl_table,
        cross_loadings=loadings_table,
        warnings=tuple(found),
        thresholds=thresholds,
        alpha_variant="standardized" if standardized_alpha else "raw",
        n_obs=len(frame),
        formative=formative,
    )
