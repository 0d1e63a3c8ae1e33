"""AAPOR outcome rates: response, cooperation, refusal and contact rates.

Counts of final dispositions (see :mod:`survey.aapor.dispositions`) go in; the rates of the AAPOR
Standard Definitions come out, with e (the share of unknown-eligibility cases taken to be
eligible) and how it was obtained. A rate whose denominator is zero is None, with a note
saying why, so a campaign with no refusals or no known-eligible case is reported, not a
crash.

Formulas (10th edition; U = UH + UR + UO, the unknown-eligibility cases)::

    RR1 = I / ((I+P) + (R+NC+O) + U)         RR2 = (I+P) / ((I+P) + (R+NC+O) + U)
    RR3 = I / ((I+P) + (R+NC+O) + e U)       RR4 = (I+P) / ((I+P) + (R+NC+O) + e U)
    RR5 = I / ((I+P) + (R+NC+O))             RR6 = (I+P) / ((I+P) + (R+NC+O))
    COOP1 = I / ((I+P) + R + O)              COOP2 = (I+P) / ((I+P) + R + O)
    COOP3 = I / ((I+P) + R)                  COOP4 = (I+P) / ((I+P) + R)
    REF1 = R / ((I+P) + (R+NC+O) + U)        REF2 = R / ((I+P) + (R+NC+O) + e U)
    REF3 = R / ((I+P) + (R+NC+O))
    CON1 = ((I+P) + R + O) / ((I+P) + (R+NC+O) + U)
    CON2 = ((I+P) + R + O) / ((I+P) + (R+NC+O) + e U)
    CON3 = ((I+P) + R + O) / ((I+P) + (R+NC+O))

The 9th edition has the same formulas with U = UH + UO; the 10th edition splits code 3.20
out of UO as UR, which leaves every rate unchanged for a single e.

e is either given, or estimated by proportional allocation (the "CASRO" method, the default
of AAPOR's Excel Outcome Rate Calculator): the eligible share among the cases whose
eligibility is known, ``e = (I+P+R+NC+O) / (I+P+R+NC+O + NE)``.

Validated against the worked example of the outcomerate R package (rOpenSci), which
reproduces to the three decimals it prints (tests/unit/survey/aapor/test_rates.py).

References
----------
The American Association for Public Opinion Research (2023). Standard Definitions: Final
Dispositions of Case Codes and Outcome Rates for Surveys, 10th edition.
https://aapor.org/wp-content/uploads/2024/03/Standards-Definitions-10th-edition.pdf

Pilliard Hellwig, R. outcomerate: AAPOR Survey Outcome Rates (R package, 1.1.0).
https://github.com/ropensci/outcomerate
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Literal

from survey.aapor.dispositions import (
    CATEGORIES,
    VALID_CODES_HINT,
    CodeProblem,
    DispositionError,
    classify,
)

__all__ = [
    "RATE_NAMES",
    "InvalidDispositions",
    "OutcomeRates",
    "count_dispositions",
    "eligibility_rate",
    "outcome_rates",
    "outcome_rates_from_codes",
]

RATE_NAMES = (
    "RR1", "RR2", "RR3", "RR4", "RR5", "RR6",
    "COOP1", "COOP2", "COOP3", "COOP4",
    "REF1", "REF2", "REF3",
    "CON1", "CON2", "CON3",
)  # fmt: skip

EMethod = Literal["proportional", "given"]


class InvalidDispositions(DispositionError):
    """Some rows hold no valid code: every one is listed, none is silently dropped."""

    def __init__(self, problems: list[CodeProblem]) -> None:
        self.problems = problems
        shown = "\n".join(f"  {p}" for p in problems[:50])
        more = f"\n  ... and {len(problems) - 50} more" if len(problems) > 50 else ""
        super().__init__(f"{len(problems)} row(s) without a valid AAPOR disposition:\n"
                         f"{shown}{more}\n{VALID_CODES_HINT}")  # fmt: skip


@dataclass(frozen=True)
class OutcomeRates:
    """The rates of one set of cases, with the counts and the e they were computed from.

    ``rates`` maps every name of :data:`RATE_NAMES` to a proportion in [0, 1], or None when
    its denominator is zero; ``notes`` says why for each None (and how e was obtained when
    it could not be).
    """

    counts: dict[str, int]
    e: float | None
    e_method: EMethod
    rates: dict[str, float | None]
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, object]:
        """The JSON shape of ``manyi rates --json``."""
        return {
            "rates": dict(self.rates),
            "counts": dict(self.counts),
            "e": self.e,
            "e_method": self.e_method,
            "notes": list(self.notes),
        }

    def summary(self) -> str:
        """A readable table: counts, e, then each rate as a percentage."""
        counts = "  ".join(f"{k}={v}" for k, v in self.counts.items())
        e = "undefined" if self.e is None else f"{self.e:.4f}"
        lines = [f"cases: {sum(self.counts.values())}   {counts}",
                 f"e = {e} ({self.e_method})", ""]  # fmt: skip
        for family in ("RR", "COOP", "REF", "CON"):
            names = [n for n in RATE_NAMES if n.rstrip("0123456789") == family]
            lines.append("  ".join(f"{n:>5} {_percent(self.rates[n]):>7}" for n in names))
        lines += [f"note: {note}" for note in self.notes]
        return "\n".join(lines)


def _percent(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.1f}%"


def count_dispositions(categories: Iterable[str]) -> dict[str, int]:
    """Counts per category, every category present (zero when absent), in AAPOR order."""
    counts = dict.fromkeys(CATEGORIES, 0)
    for category in categories:
        counts[category] += 1
    return counts


def eligibility_rate(counts: Mapping[str, float]) -> float | None:
    """e by proportional allocation: the eligible share among cases of known eligibility.

    ``e = (I + P + R + NC + O) / (I + P + R + NC + O + NE)``; None when no case has a known
    eligibility (the share is then undefined, not 0 or 1).
    """
    eligible = sum(counts.get(k, 0) for k in ("I", "P", "R", "NC", "O"))
    known = eligible + counts.get("NE", 0)
    return eligible / known if known > 0 else None


def _checked_e(e: float) -> float:
    if isinstance(e, bool) or not isinstance(e, int | float) or math.isnan(e):
        raise ValueError(f"e must be a number in [0, 1], got {e!r}")
    if not 0.0 <= e <= 1.0:
        raise ValueError(f"e must be in [0, 1] (a proportion of the unknown cases), got {e}")
    return float(e)


def outcome_rates(
    counts: Mapping[str, int], e: float | Literal["proportional"] = "proportional"
) -> OutcomeRates:
    """All AAPOR outcome rates from disposition counts.

    Parameters
    ----------
    counts
        Cases per category (I, P, R, NC, O, UH, UR, UO, NE); missing categories count 0.
    e
        The share of unknown-eligibility cases taken to be eligible, in [0, 1], or
        ``"proportional"`` to estimate it from the cases of known eligibility.

    Returns
    -------
    OutcomeRates
        Rates (None where the denominator is zero, with a note), counts, e and e_method.

    Raises
    ------
    ValueError
        For an unknown category, a negative count, or e outside [0, 1].
    """
    unknown = set(counts) - set(CATEGORIES)
    if unknown:
        raise ValueError(f"unknown categories {sorted(unknown)}: use {', '.join(CATEGORIES)}")
    full = {k: int(counts.get(k, 0)) for k in CATEGORIES}
    negative = [k for k, v in full.items() if v < 0]
    if negative:
        raise ValueError(f"negative counts for {negative}")
    notes: list[str] = []
    if e == "proportional":
        method: EMethod = "proportional"
        e_value = eligibility_rate(full)
        if e_value is None:
            notes.append("e is undefined: no case of known eligibility (no I, P, R, NC, O or "
                         "NE) to allocate the unknown cases by; give e")  # fmt: skip
    elif isinstance(e, str):
        raise ValueError(f"e must be a number in [0, 1] or 'proportional', got {e!r}")
    else:
        method, e_value = "given", _checked_e(e)
    rates, rate_notes = _rates(full, e_value)
    return OutcomeRates(full, e_value, method, rates, notes + rate_notes)


def _rates(c: dict[str, int], e: float | None) -> tuple[dict[str, float | None], list[str]]:
    interviews = c["I"] + c["P"]
    known = interviews + c["R"] + c["NC"] + c["O"]  # (I+P) + (R+NC+O): known eligible
    unknown = c["UH"] + c["UR"] + c["UO"]
    contacted = interviews + c["R"] + c["O"]
    # With no unknown cases e·U is 0 whatever e is, so an undefined e does not matter.
    estimated = known if unknown == 0 else None if e is None else known + e * unknown
    denominators = {
        "all": (known + unknown, "(I+P)+(R+NC+O)+(UH+UR+UO)"),
        "estimated": (estimated, "(I+P)+(R+NC+O)+e(UH+UR+UO)"),
        "known": (known, "(I+P)+(R+NC+O)"),
        "contacted": (contacted, "(I+P)+R+O"),
        "cooperating": (interviews + c["R"], "(I+P)+R"),
    }
    formulas = {
        "RR1": (c["I"], "all"), "RR2": (interviews, "all"),
        "RR3": (c["I"], "estimated"), "RR4": (interviews, "estimated"),
        "RR5": (c["I"], "known"), "RR6": (interviews, "known"),
        "COOP1": (c["I"], "contacted"), "COOP2": (interviews, "contacted"),
        "COOP3": (c["I"], "cooperating"), "COOP4": (interviews, "cooperating"),
        "REF1": (c["R"], "all"), "REF2": (c["R"], "estimated"), "REF3": (c["R"], "known"),
        "CON1": (contacted, "all"), "CON2": (contacted, "estimated"),
        "CON3": (contacted, "known"),
    }  # fmt: skip
    rates: dict[str, float | None] = {}
    undefined: dict[str, list[str]] = {}
    for name in RATE_NAMES:
        numerator, which = formulas[name]
        denominator, _ = denominators[which]
        if denominator is None or denominator == 0:
            rates[name] = None
            undefined.setdefault(which, []).append(name)
        else:
            rates[name] = numerator / denominator
    notes = []
    for which, names in undefined.items():
        value, text = denominators[which]
        reason = "e is undefined" if value is None else f"{text} is 0"
        notes.append(f"{', '.join(names)} undefined: {reason}")
    return rates, notes


def outcome_rates_from_codes(
    codes: Iterable[object],
    e: float | Literal["proportional"] = "proportional",
    rows: Iterable[int] | None = None,
) -> OutcomeRates:
    """The rates of a list of AAPOR codes, one per case ("1.1", "2.111", "3.13", ...).

    Raises
    ------
    InvalidDispositions
        Listing every value that is not a valid code (row, value, problem), so nothing is
        silently dropped; ``rows`` numbers the values (default: from 1).
    """
    categories, problems = classify(codes, rows)
    if problems:
        raise InvalidDispositions(problems)
    return outcome_rates(count_dispositions(c for c in categories if c is not None), e)
