"""``manyi rates``: AAPOR outcome rates of a file with one row per case.

The file (CSV or XLSX) has a ``disposition`` column of AAPOR final disposition codes; the
command prints RR1-RR6, COOP1-4, REF1-3 and CON1-3 with the counts and e, as a table or as
JSON. ``--by COLUMN`` adds the same block per value of a column (campaign, channel,
interviewer, period). Every group uses the e of the whole file: e is a property of the
sample (how many unknown cases are eligible), not of an interviewer or a channel, and a
small group's own estimate would be noise.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Literal

import typer

from .command_support import fail

COLUMN = "disposition"
BLANK_GROUP = "(blank)"


class RatesInputError(ValueError):
    """An input the command cannot use; the message says what to fix."""


def parse_e(text: str) -> float | Literal["proportional"]:
    """``"proportional"`` or a number in [0, 1] (range checked by the rates themselves)."""
    if text.strip().lower() == "proportional":
        return "proportional"
    try:
        return float(text)
    except ValueError:
        raise RatesInputError(
            f"--e {text!r}: give a proportion in [0, 1] (e.g. --e 0.8) or 'proportional'"
        ) from None


def read_cases(path: Path):
    """The file as text cells (codes like "2.10" must not become the number 2.1)."""
    import pandas as pd

    if not path.is_file():
        raise RatesInputError(f"no file at {path}")
    suffix = path.suffix.lower()
    try:
        if suffix in (".xlsx", ".xlsm"):
            table = pd.read_excel(path, dtype=str, keep_default_na=False)
        elif suffix == ".csv":
            # Blank lines are kept so that row numbers match the file's lines.
            table = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig",
                                skip_blank_lines=False)  # fmt: skip
        else:
            raise RatesInputError(f"{path.name}: use a .csv or .xlsx file")
    except (UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError) as error:
        raise RatesInputError(f"{path.name} cannot be read: {error}; save it as UTF-8 CSV "
                              "or as an .xlsx workbook") from None  # fmt: skip
    except (OSError, ValueError) as error:  # openpyxl: not a zip / not a workbook
        if isinstance(error, RatesInputError):
            raise
        raise RatesInputError(f"{path.name} cannot be read: {error}") from None
    table.columns = [str(c).strip() for c in table.columns]
    return table


def _column(table, name: str, path: Path, option: str) -> str:
    """The header matching ``name`` (case and surrounding spaces ignored)."""
    for column in table.columns:
        if column.lower() == name.lower():
            return column
    raise RatesInputError(f"{path.name} has no {option} column; its columns are: "
                          f"{', '.join(table.columns) or 'none'}")  # fmt: skip


def compute(path: Path, e_text: str = "proportional", by: str | None = None) -> dict:
    """The JSON document of ``manyi rates``: the whole file, plus ``groups`` with ``--by``.

    Raises
    ------
    RatesInputError
        For an unreadable file, a missing column, no rows, or a bad --e.
    survey.rates.InvalidDispositions
        Listing every row whose disposition is not a valid code.
    """
    from survey.dispositions import classify
    from survey.rates import InvalidDispositions, count_dispositions, outcome_rates

    e = parse_e(e_text)
    table = read_cases(path)
    column = _column(table, COLUMN, path, f"'{COLUMN}'")
    group_column = _column(table, by, path, f"--by '{by}'") if by is not None else None
    # Row numbers as a spreadsheet shows them: the header is row 1. A row with every cell
    # blank is no case at all; it is skipped, and the notes say how many were.
    table.index = range(2, len(table) + 2)
    blank = (table.map(lambda v: not str(v).strip())).all(axis=1)
    table = table[~blank]
    if table.empty:
        raise RatesInputError(f"{path.name} has no case rows under its header")
    categories, problems = classify(table[column], rows=table.index)
    if problems:
        raise InvalidDispositions(problems)
    try:
        overall = outcome_rates(count_dispositions(categories), e)
    except ValueError as error:
        raise RatesInputError(f"--e {e_text}: {error}") from None
    document = overall.to_dict()
    if blank.any():
        document["notes"].append(f"{int(blank.sum())} blank row(s) skipped")
    if group_column is None:
        return document
    labels = [value.strip() or BLANK_GROUP for value in table[group_column]]
    groups = []
    for label in sorted(set(labels)):
        counts = count_dispositions(c for c, g in zip(categories, labels, strict=True)
                                    if g == label)  # fmt: skip
        result = outcome_rates(counts, overall.e if overall.e is not None else e)
        entry = {"group": label, **result.to_dict(), "e_method": overall.e_method}
        if overall.e_method == "proportional" and overall.e is not None:
            entry["notes"] = [*entry["notes"], "e estimated from all cases of the file"]
        groups.append(entry)
    document["by"] = group_column
    document["groups"] = groups
    return document


def render_text(document: dict) -> str:
    """The readable table of a document made by :func:`compute`."""
    from survey.rates import OutcomeRates

    def block(part: dict) -> str:
        return OutcomeRates(part["counts"], part["e"], part["e_method"], part["rates"],
                            part["notes"]).summary()  # fmt: skip

    sections = ["all cases", block(document)]
    for group in document.get("groups", []):
        sections += ["", f"{document['by']} = {group['group']}", block(group)]
    return "\n".join(sections)


def rates(
    file: Annotated[
        Path, typer.Argument(help="Cases: .csv or .xlsx, one row per case, a 'disposition' column.")
    ],
    e: Annotated[
        str,
        typer.Option(
            "--e",
            help="Share of unknown-eligibility cases that are eligible, in [0, 1], or "
            "'proportional' (estimated from the cases of known eligibility).",
        ),
    ] = "proportional",
    by: Annotated[
        str | None, typer.Option(help="Also per value of this column (campaign, channel, ...).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """AAPOR response, cooperation, refusal and contact rates of a file of dispositions.

    Codes follow the AAPOR Standard Definitions (10th edition): 1.1, 1.2, 2.11, 2.21,
    3.13, 3.21, 4.31 ... A rate with a zero denominator is shown as n/a (null in JSON) with
    a note. Exits 2 for an unreadable file, a missing column or invalid codes (all listed).
    """
    from survey.rates import InvalidDispositions

    try:
        document = compute(file, e, by)
    except RatesInputError as error:
        raise fail(str(error), 2) from None
    except InvalidDispositions as error:
        if as_json:
            problems = [p.to_dict() for p in error.problems]
            typer.echo(json.dumps({"problems": problems}, ensure_ascii=False, indent=2))
        raise fail(f"{file.name}: {error}", 2) from None
    if as_json:
        typer.echo(json.dumps(document, ensure_ascii=False, indent=2))
    else:
        typer.echo(render_text(document))
