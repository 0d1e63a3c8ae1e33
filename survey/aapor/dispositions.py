"""AAPOR final disposition codes and the outcome categories the rates are built from.

A final disposition code (AAPOR Standard Definitions) is a number whose first digit says
the case's eligibility and whose first decimal its kind of outcome; further digits only
refine it ("2.111", "2.1121", "3.13"). So a code belongs to its category by prefix:

=========  ====  ===============================================================
prefix     cat.  meaning
=========  ====  ===============================================================
1.1        I     complete interview (1.1x: any refinement)
1.2        P     partial interview
2.1        R     refusal and break-off (2.11 refusal, 2.12 break-off)
2.2        NC    non-contact
2.3, 2.9   O     other eligible non-interview (death, illness, language, other)
3.1        UH    unknown if household / occupied unit; for lists of named persons:
                 nothing known about the respondent or address (3.11 no invitation
                 sent, 3.19 nothing ever returned)
3.2        UR    unknown if the unit contains an eligible respondent (3.20, 3.21
                 no screener completed)
3.3 - 3.9  UO    unknown eligibility, other (3.3x returned undelivered, 3.4x
                 forwarding information, 3.90 other)
4, 4.x     NE    not eligible (4.10 screened out, 4.70 no eligible respondent,
                 4.80 quota filled, 4.90 other ...)
=========  ====  ===============================================================

Sources and assumptions
-----------------------
- The code families and the categories I, P, R, NC, O, UH, UO, NE are those of the AAPOR
  Standard Definitions (9th edition 2016; 10th edition 2023,
  https://aapor.org/wp-content/uploads/2024/03/Standards-Definitions-10th-edition.pdf).
- UR is the 10th edition's aggregate symbol for code 3.20 (unknown whether the sampled unit
  is eligible / whether the housing unit contains an eligible respondent), which the 9th
  edition counted in UO. The 10th edition's PDF is not in our reference library; this
  follows the outcomerate R package 1.1.0, which was updated to the 10th edition
  (https://cran.r-project.org/web/packages/outcomerate/news/news.html and its manual:
  "UH (3.10), UR (3.20), UO (3.90), O (2.30, 2.90), NE (4.0)").
- Assumption: every other 3.x family (3.3x, 3.4x of the mail and internet tables, 3.90)
  is UO, as it was in the 9th edition.
- Bare "1", "2" and "3" (and 1.0, 2.0, 3.0) are refused: the rates need to know complete
  from partial, refusal from non-contact, and (for the record) which unknown. A bare "4"
  (or 4.0) is accepted: every not-eligible case counts the same.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from survey.errors import InvalidRequest

__all__ = [
    "CATEGORIES",
    "CATEGORY_NAMES",
    "VALID_CODES_HINT",
    "CodeProblem",
    "DispositionError",
    "category_of",
    "classify",
]

#: The outcome categories, in the order the Standard Definitions list them.
CATEGORIES = ("I", "P", "R", "NC", "O", "UH", "UR", "UO", "NE")

CATEGORY_NAMES = {
    "I": "complete interview",
    "P": "partial interview",
    "R": "refusal and break-off",
    "NC": "non-contact",
    "O": "other eligible non-interview",
    "UH": "unknown if household/unit (nothing known about the respondent)",
    "UR": "unknown if eligible respondent",
    "UO": "unknown eligibility, other",
    "NE": "not eligible",
}

#: (first digit, first decimal) -> category; decimal None means "the bare digit".
_BY_PREFIX = {
    ("1", "1"): "I",
    ("1", "2"): "P",
    ("2", "1"): "R",
    ("2", "2"): "NC",
    ("2", "3"): "O",
    ("2", "9"): "O",
    ("3", "1"): "UH",
    ("3", "2"): "UR",
    **{("3", str(d)): "UO" for d in range(3, 10)},
    **{("4", str(d)): "NE" for d in range(1, 10)},
    ("4", None): "NE",
}

VALID_CODES_HINT = (
    "valid codes: 1.1 (I), 1.2 (P), 2.1x (R), 2.2x (NC), 2.3x or 2.9x (O), 3.1x (UH), "
    "3.2x (UR), 3.3x-3.9x (UO), 4 or 4.x (NE), with any further digits (e.g. 2.111, 3.13)"
)

# A family digit 1-4, optionally a dot and more digits. Spreadsheets turn "4" into "4.0":
# all-zero decimals are read below as the bare family digit.
_CODE = re.compile(r"^([1-4])(?:\.(\d+))?$")


class DispositionError(InvalidRequest):
    """A value that is not an AAPOR final disposition code; the message says which are."""


@dataclass(frozen=True)
class CodeProblem:
    """One row whose disposition could not be used: where, what was there, and why."""

    row: int
    value: str
    problem: str

    def __str__(self) -> str:
        return f"row {self.row}: {self.value!r}: {self.problem}"

    def to_dict(self) -> dict[str, object]:
        return {"row": self.row, "value": self.value, "problem": self.problem}


def category_of(code: object) -> str:
    """The outcome category (I, P, R, NC, O, UH, UR, UO or NE) of an AAPOR code.

    Raises
    ------
    DispositionError
        When ``code`` is empty, not of the form ``D`` or ``D.DDD``, or names no category
        (e.g. "2.5", "1.3", or a bare "2" that could be a refusal or a non-contact).

    Examples
    --------
    >>> category_of("2.111"), category_of("3.13"), category_of("4.31"), category_of(3.21)
    ('R', 'UH', 'NE', 'UR')
    """
    text = "" if code is None else str(code).strip()
    if not text:
        raise DispositionError("empty disposition")
    match = _CODE.match(text)
    if match is None:
        raise DispositionError("not an AAPOR disposition code (digits like 2.11)")
    digit, decimals = match.groups()
    first = decimals[0] if decimals else None
    if first == "0" and set(decimals) == {"0"}:
        first = None  # "4.0", "2.00": the family heading itself
    category = _BY_PREFIX.get((digit, first))
    if category is None:
        if first is None:
            raise DispositionError(f"{digit} alone is too coarse: give the subcategory ({digit}.x)")
        raise DispositionError(f"{digit}.{first}x is not an AAPOR disposition family")
    return category


def classify(
    values: Iterable[object], rows: Iterable[int] | None = None
) -> tuple[list[str | None], list[CodeProblem]]:
    """Each value's category (None where invalid) and the problems, one per invalid row.

    ``rows`` numbers the values for the report (e.g. spreadsheet rows, 2 for the first row
    under a header); by default they are numbered from 1.
    """
    categories: list[str | None] = []
    problems: list[CodeProblem] = []
    values = list(values)
    numbers = range(1, len(values) + 1) if rows is None else list(rows)
    if len(numbers) != len(values):
        raise ValueError("rows must number every value")
    for row, value in zip(numbers, values, strict=True):
        try:
            categories.append(category_of(value))
        except DispositionError as error:
            categories.append(None)
            shown = "" if value is None else str(value)
            problems.append(CodeProblem(row, shown, str(error)))
    return categories, problems
