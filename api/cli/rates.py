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
from typing import Annotated

import typer

from api.cli.support import fail, settings_and_engine

#: Names that moved to :mod:`survey.campaigns.rates` (one computation for the command line
#: and the console's monitor), still found here, and imported only when asked for: the
#: command line imports nothing heavy before a command runs.
_MOVED = ("CAMPAIGN_GROUPS", "RatesInputError", "parse_e", "rates_document")


def __getattr__(name: str):
    if name in _MOVED:
        from survey.campaigns import rates as moved

        return getattr(moved, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


COLUMN = "disposition"
BLANK_GROUP = "(blank)"


def read_cases(path: Path):
    """The file as text cells (codes like "2.10" must not become the number 2.1)."""
    import pandas as pd

    from survey.campaigns.rates import RatesInputError
    from survey.questionnaire.bounded import read_excel

    if not path.is_file():
        raise RatesInputError(f"no file at {path}")
    suffix = path.suffix.lower()
    try:
        if suffix in (".xlsx", ".xlsm"):
            table = read_excel(path, dtype=str, keep_default_na=False)
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
    from survey.campaigns.rates import RatesInputError

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
    survey.aapor.rates.InvalidDispositions
        Listing every row whose disposition is not a valid code.
    """
    from survey.aapor.dispositions import classify
    from survey.aapor.rates import InvalidDispositions
    from survey.campaigns.rates import RatesInputError, parse_e, rates_document

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
    labels = None
    if group_column is not None:
        labels = [value.strip() or BLANK_GROUP for value in table[group_column]]
    document = rates_document(categories, e, e_text, labels, group_column, scope="file")
    if blank.any():
        document["notes"].append(f"{int(blank.sum())} blank row(s) skipped")
    return document


def compute_campaign(
    session,
    campaign_id: int,
    e_text: str = "proportional",
    by: str | None = None,
    *,
    now,
    timezone: str,
) -> dict:
    """The JSON document of ``manyi rates --campaign``: the campaign's cases as of ``now``
    (:func:`survey.campaigns.rates.campaign_rates`, which the console's monitor shows too)."""
    from survey.campaigns.rates import campaign_rates

    return campaign_rates(session, campaign_id, e_text, by, now=now, timezone=timezone)


def render_text(document: dict) -> str:
    """The readable table of a document made by :func:`compute`."""
    from survey.aapor.rates import OutcomeRates

    def block(part: dict) -> str:
        return OutcomeRates(part["counts"], part["e"], part["e_method"], part["rates"],
                            part["notes"]).summary()  # fmt: skip

    sections = ["all cases", block(document)]
    for group in document.get("groups", []):
        sections += ["", f"{document['by']} = {group['group']}", block(group)]
    return "\n".join(sections)


def rates(
    file: Annotated[
        Path | None,
        typer.Argument(
            help="Cases: .csv or .xlsx, one row per case, a 'disposition' column "
            "(or use --campaign).",
            show_default=False,
        ),
    ] = None,
    campaign: Annotated[
        int | None,
        typer.Option(
            "--campaign",
            metavar="ID",
            help="Read the cases of this campaign from the database instead of a file.",
        ),
    ] = None,
    e: Annotated[
        str,
        typer.Option(
            "--e",
            help="Share of unknown-eligibility cases that are eligible, in [0, 1], or "
            "'proportional' (estimated from the cases of known eligibility).",
        ),
    ] = "proportional",
    by: Annotated[
        str | None,
        typer.Option(
            help="Also per value of this column of the file (campaign, channel, ...); with "
            "--campaign: channel, interviewer or month."
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """AAPOR response, cooperation, refusal and contact rates of a file or of a campaign.

    Codes follow the AAPOR Standard Definitions (10th edition): 1.1, 1.2, 2.11, 2.21,
    3.13, 3.21, 4.31 ... With --campaign, each phone case and each SMS/web invitation of
    the campaign gets its final disposition from the database (survey.campaigns.cases).
    A rate with a zero denominator is shown as n/a (null in JSON) with a note. Exits 2 for
    an unreadable file, a missing column, invalid codes (all listed) or an unknown campaign.
    """
    from survey.aapor.rates import InvalidDispositions
    from survey.campaigns.rates import RatesInputError

    if file is not None and campaign is not None:
        raise fail("give a FILE of dispositions or --campaign ID, not both", 2)
    if file is None and campaign is None:
        raise fail("give a FILE of dispositions, or --campaign ID to read a campaign's cases", 2)
    try:
        if campaign is not None:
            document = _campaign_document(campaign, e, by)
        else:
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


def _campaign_document(campaign_id: int, e_text: str, by: str | None) -> dict:
    from sqlalchemy.exc import OperationalError, ProgrammingError
    from sqlmodel import Session

    from survey.campaigns.cases import CampaignNotFound
    from survey.campaigns.rates import RatesInputError
    from survey.db.tables import utcnow

    settings, engine = settings_and_engine()
    try:
        with Session(engine) as session:
            return compute_campaign(session, campaign_id, e_text, by, now=utcnow(),
                                    timezone=settings.timezone)  # fmt: skip
    except CampaignNotFound as error:
        raise RatesInputError(f"{error}: `manyi campaign list` shows the campaigns") from None
    except (OperationalError, ProgrammingError):
        raise RatesInputError(f"the database {engine.url.render_as_string()} has no schema: "
                              "run `manyi db upgrade`") from None  # fmt: skip
    finally:
        engine.dispose()
