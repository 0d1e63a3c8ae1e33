"""Importing a sample frame from the operator's CSV/XLSX export, with a report per row.

An operator's export is never clean: numbers typed without a country code, ids pasted
twice, "Y"/"是" for consent. Every row is either stored or reported with its row number,
column, what is wrong and how to fix it; nothing is dropped silently. Row numbers are the
ones a spreadsheet shows: the header is row 1, the first customer row 2.

Phones are normalised to E.164 with ``phonenumbers``: a number without ``+`` is read in a
default region (CN unless told otherwise). The first valid row of an id or a number is
kept; later rows with the same id or number are reported as duplicates. Numbers on the
opt-out list are stored (they are customers of the frame) but flagged: the opt-out list
always wins, and campaigns never invite them.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from xml.etree.ElementTree import ParseError
from zipfile import BadZipFile

import pandas as pd
import phonenumbers
from sqlmodel import Session, select

from survey.db.tables import OptOut, SampleFrame
from survey.errors import InvalidRequest
from survey.frames.sample_frame import FRAME_COLUMNS
from survey.frames.store import store_frame
from survey.questionnaire.bounded import MAX_ROWS, MAX_WORKBOOK_BYTES, RefusedFile, read_excel
from survey.spreadsheets import csv_cell

#: Header spellings accepted per column (compared lower-case, with spaces, dashes and
#: underscores alike); the first is the column's name in Manyi.
COLUMN_ALIASES: dict[str, tuple[str, ...]] = {
    "customer_id": ("customer_id", "id", "customer", "客户编号"),
    "phone": ("phone", "phone_number", "mobile", "msisdn", "手机号码", "手机号"),
    "region": ("region", "district", "地区", "地市"),
    "service_hall": ("service_hall", "hall", "营业厅"),
    "tier": ("tier", "star", "stars", "星级"),
    "tenure_months": ("tenure_months", "tenure", "网龄"),
    "language": ("language", "lang", "语言"),
    "consent": ("consent", "同意"),
    "monthly_spend": ("monthly_spend", "spend", "arpu", "月消费"),
}
#: Columns an import cannot do without; ``monthly_spend`` is optional (stored as 0 when
#: absent: the tier, not the spend, is what campaigns and segments use).
REQUIRED = tuple(c for c in FRAME_COLUMNS if c != "monthly_spend")
LANGUAGES = ("zh", "en")
_TRUE = {"true", "yes", "y", "1", "是", "同意", "t"}
_FALSE = {"false", "no", "n", "0", "否", "不同意", "f"}
_MAX_TEXT = 64  # the width of the id, region and hall columns in the database

REPORT_COLUMNS = ("row", "column", "code", "value", "problem", "fix")
DUPLICATES = ("duplicate-id", "duplicate-phone")
#: A notice, not a problem: the row is stored, and never invited.
OPTED_OUT = "opted-out"


class FrameImportError(InvalidRequest):
    """The file as a whole cannot be imported (unreadable, a required column missing)."""


@dataclass(frozen=True)
class RowProblem:
    """One thing wrong with one row (or a notice about it, for ``opted-out``)."""

    row: int
    column: str
    code: str
    value: str
    problem: str
    fix: str

    def __str__(self) -> str:
        return f"row {self.row}, {self.column}: {self.problem} [{self.code}]; fix: {self.fix}"


@dataclass
class FrameCheck:
    """The outcome of checking a table: the rows to store, and every problem found."""

    frame: pd.DataFrame
    rows_read: int
    problems: list[RowProblem] = field(default_factory=list)

    def _rows(self, wanted) -> set[int]:
        return {p.row for p in self.problems if wanted(p.code)}

    @property
    def invalid_rows(self) -> int:
        return len(self._rows(lambda code: code not in DUPLICATES and code != OPTED_OUT))

    @property
    def duplicate_rows(self) -> int:
        return len(self._rows(lambda code: code in DUPLICATES))

    @property
    def opted_out_rows(self) -> int:
        return len(self._rows(lambda code: code == OPTED_OUT))


def _header_key(name: object) -> str:
    return re.sub(r"[\s_\-]+", "_", str(name).strip().lower())


def canonical_columns(columns: Iterable[object]) -> dict[str, str]:
    """Map the file's headers to Manyi's column names; a required one missing is an error."""
    lookup = {_header_key(alias): name for name, aliases in COLUMN_ALIASES.items()
              for alias in aliases}  # fmt: skip
    found: dict[str, str] = {}
    for column in columns:
        name = lookup.get(_header_key(column))
        if name is not None and name not in found.values():
            found[str(column)] = name
    missing = [c for c in REQUIRED if c not in found.values()]
    if missing:
        accepted = "; ".join(f"{c}: {', '.join(COLUMN_ALIASES[c])}" for c in missing)
        raise FrameImportError(
            f"the file lacks column(s) {', '.join(missing)}; add a header row with these "
            f"names (accepted spellings: {accepted})"
        )
    return found


def read_table(path: str | Path) -> pd.DataFrame:
    """Read a CSV (UTF-8, with or without BOM) or XLSX file as text, cells untouched.

    A workbook is checked first (:func:`survey.questionnaire.bounded.check_workbook`: zip
    bombs, sheets padded to millions of rows); a CSV may hold as many bytes as a workbook
    decompresses to and as many rows as a sheet. Both are refused, naming the limit, before
    any row is checked.
    """
    path = Path(path)
    if not path.is_file():
        raise FrameImportError(f"no file at {path}")
    try:
        if path.suffix.lower() in (".xlsx", ".xlsm"):
            table = read_excel(path, dtype=str, keep_default_na=False)
        elif path.suffix.lower() == ".csv":
            table = _read_csv(path)
        else:
            raise FrameImportError(f"{path.name}: use a .csv or .xlsx file")
    except RefusedFile as error:
        raise FrameImportError(str(error)) from None
    except (UnicodeDecodeError, pd.errors.ParserError, ValueError, BadZipFile, ParseError) as error:
        if isinstance(error, FrameImportError):
            raise
        raise FrameImportError(f"{path.name} cannot be read: {error}; save it as UTF-8 CSV "
                               "or as an .xlsx workbook") from None  # fmt: skip
    if table.empty:
        raise FrameImportError(f"{path.name} has no customer rows under its header")
    return table


def _read_csv(path: Path) -> pd.DataFrame:
    size = path.stat().st_size
    if size > MAX_WORKBOOK_BYTES:
        raise FrameImportError(
            f"{path.name}: the file is larger than {MAX_WORKBOOK_BYTES:,} bytes (it has "
            f"{size:,}); split it into smaller files"
        )
    # The limit of a workbook's sheet, header included. Reading one row past it is enough to
    # refuse: checking millions of rows one by one takes many minutes before saying so.
    customers = MAX_ROWS - 1
    table = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig",
                        nrows=customers + 1)  # fmt: skip
    if len(table) > customers:
        raise FrameImportError(
            f"{path.name}: the file has more than {customers:,} customer rows; split it into "
            "smaller files"
        )
    return table


def normalise_phone(raw: str, default_region: str) -> str | None:
    """E.164 form of ``raw``, or None when it is not a valid number."""
    text = raw.strip()
    if text.startswith("00"):
        text = "+" + text[2:]  # the international prefix as dialled in China and Europe
    try:
        number = phonenumbers.parse(text, None if text.startswith("+") else default_region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def _integer(text: str) -> int | None:
    # Spreadsheets turn 4 into "4.0"; anything with a real fraction is refused.
    if not text:
        return None
    try:
        value = float(text)
    except ValueError:
        return None
    return int(value) if value.is_integer() else None


def _check_row(row: int, cells: dict[str, str], region: str) -> tuple[dict, list[RowProblem]]:
    """The stored values of one row, and what is wrong with its cells."""
    found: list[RowProblem] = []

    def problem(column: str, code: str, what: str, fix: str) -> None:
        found.append(RowProblem(row, column, code, cells.get(column, ""), what, fix))

    for name in REQUIRED:
        if not cells[name]:
            problem(name, "missing-value", "the cell is empty", f"fill in {name}")
    for name in ("customer_id", "region", "service_hall"):
        if len(cells[name]) > _MAX_TEXT:
            problem(name, "too-long", f"longer than {_MAX_TEXT} characters",
                    f"shorten it to {_MAX_TEXT} characters")  # fmt: skip
    phone = normalise_phone(cells["phone"], region) if cells["phone"] else None
    if cells["phone"] and phone is None:
        problem("phone", "invalid-phone",
                f"not a valid phone number (read in region {region} when it has no +)",
                "write it with its country code, e.g. +8613800138000")  # fmt: skip
    tier = _integer(cells["tier"])
    if cells["tier"] and (tier is None or not 1 <= tier <= 5):
        problem("tier", "invalid-tier", "not a tier from 1 to 5",
                "write 1 (one-star) to 5 (five-star)")  # fmt: skip
    tenure = _integer(cells["tenure_months"])
    if cells["tenure_months"] and (tenure is None or tenure < 0):
        problem("tenure_months", "invalid-tenure", "not a whole number of months",
                "write the tenure in whole months, e.g. 26")  # fmt: skip
    # zh-CN, zh_Hans, EN-us: only the language matters for the questionnaire's labels.
    language = cells["language"].lower().replace("_", "-").split("-")[0]
    if cells["language"] and language not in LANGUAGES:
        problem("language", "invalid-language", "not a language Manyi speaks", "write zh or en")
    consent = cells["consent"].lower()
    if cells["consent"] and consent not in _TRUE | _FALSE:
        problem("consent", "invalid-consent", "not yes or no",
                "write true or false (yes/no, 1/0, 是/否 also work)")  # fmt: skip
    spend = _amount(cells["monthly_spend"]) if cells["monthly_spend"] else 0.0
    if spend is None:
        problem("monthly_spend", "invalid-spend", "not an amount",
                "write the monthly spend as a number, e.g. 58.5")  # fmt: skip
    values = {
        "customer_id": cells["customer_id"], "phone": phone, "region": cells["region"],
        "service_hall": cells["service_hall"], "tenure_months": tenure, "monthly_spend": spend,
        "tier": tier, "language": language, "consent": consent in _TRUE,
    }  # fmt: skip
    return values, found


def _amount(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if value >= 0 else None  # NaN fails the comparison too


def check_frame(
    table: pd.DataFrame, *, default_region: str = "CN", opted_out: Iterable[str] = ()
) -> FrameCheck:
    """Check every row of ``table`` (as read by :func:`read_table`).

    Returns the valid, first-seen rows in Manyi's columns (phones in E.164) and one
    :class:`RowProblem` per problem. Opted-out numbers stay in the frame, flagged.
    """
    region = default_region.upper()
    if phonenumbers.country_code_for_region(region) == 0:
        raise FrameImportError(
            f"{default_region!r} is not a region code: use a two-letter code such as CN"
        )
    columns = canonical_columns(table.columns)
    data = table.rename(columns=columns)[list(columns.values())]
    blocked = set(opted_out)
    problems: list[RowProblem] = []
    kept: list[dict] = []
    first_id: dict[str, int] = {}
    first_phone: dict[str, int] = {}
    for index, record in enumerate(data.to_dict("records")):
        row = index + 2  # the header is row 1
        cells = {name: str(record.get(name, "")).strip() for name in COLUMN_ALIASES}
        values, found = _check_row(row, cells, region)
        customer_id, phone = values["customer_id"], values["phone"]
        if found:
            pass  # an invalid row claims neither its id nor its number
        elif customer_id in first_id:
            what = f"the same id as row {first_id[customer_id]}"
            fix = "remove the repeated row, or give the customer their own id"
            found.append(RowProblem(row, "customer_id", "duplicate-id", customer_id, what, fix))
        elif phone in first_phone:
            what = f"the same number as row {first_phone[phone]} ({phone})"
            fix = "keep one row per number: a shared phone gets one invitation"
            found.append(RowProblem(row, "phone", "duplicate-phone", cells["phone"], what, fix))
        else:
            first_id[customer_id], first_phone[phone] = row, row
            kept.append(values)
            if phone in blocked:
                what = f"{phone} is on the opt-out list (stored, flagged)"
                fix = "nothing to do: this customer is never invited"
                found.append(RowProblem(row, "phone", OPTED_OUT, cells["phone"], what, fix))
        problems.extend(found)
    frame = pd.DataFrame(kept, columns=list(FRAME_COLUMNS))
    return FrameCheck(frame=frame, rows_read=len(data), problems=problems)


@dataclass(frozen=True)
class FrameImport:
    """What ``import_frame`` did: the stored frame (None when nothing could be stored)."""

    check: FrameCheck
    stored: SampleFrame | None

    @property
    def rows_stored(self) -> int:
        return 0 if self.stored is None else self.stored.n_customers

    def summary(self) -> dict[str, int]:
        return {
            "rows_read": self.check.rows_read,
            "stored": self.rows_stored,
            "invalid": self.check.invalid_rows,
            "duplicates": self.check.duplicate_rows,
            "opted_out": self.check.opted_out_rows,
        }


def import_frame(
    session: Session, path: str | Path, name: str, *, default_region: str = "CN"
) -> FrameImport:
    """Check the file at ``path`` and store its valid rows as the sample frame ``name``."""
    if session.exec(select(SampleFrame).where(SampleFrame.name == name)).first() is not None:
        raise FrameImportError(f"a sample frame named {name!r} is already stored; choose "
                               "another name")  # fmt: skip
    table = read_table(path)
    opted_out = set(session.exec(select(OptOut.phone_e164)).all())
    check = check_frame(table, default_region=default_region, opted_out=opted_out)
    if check.frame.empty:
        return FrameImport(check, None)
    stored = store_frame(session, check.frame, name, Path(path).name)
    return FrameImport(check, stored)


def write_report(problems: Iterable[RowProblem], path: str | Path) -> None:
    """Write the problems as a CSV (UTF-8 with BOM, so Excel shows Chinese correctly).

    The values quoted come from the frame's file, which someone outside the analysts'
    trust prepared: each is a cell a spreadsheet must not run (:func:`csv_cell`).
    """
    with open(path, "w", newline="", encoding="utf-8-sig") as handle:
        writer = csv.writer(handle)
        writer.writerow(REPORT_COLUMNS)
        for p in problems:
            writer.writerow([p.row, p.column, p.code, csv_cell(p.value), csv_cell(p.problem),
                             p.fix])  # fmt: skip
