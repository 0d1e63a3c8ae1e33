"""Writing a :class:`~survey.exports.responses.ResponseExport` as CSV, XLSX, SPSS ``.sav``
or Parquet.

Every format carries the codebook with the data: CSV as a second file (``NAME.codebook.csv``),
XLSX as a second sheet, SPSS as variable labels, value labels and user-missing codes (what
SPSS users expect to find in the file itself), Parquet in the file's key-value metadata.

Each writer first makes the text what its format can hold and, for CSV and XLSX, what a
spreadsheet shows as text (:mod:`survey.spreadsheets`); the codebook counts what that
changed per column, and SPSS, which has no codebook table, says it in the file's documents.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import tempfile
import textwrap
import zipfile
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from survey.exports.responses import ResponseExport, is_numeric, missing_codes
from survey.spreadsheets import (
    SPREADSHEETS,
    clean_text,
    record_cleaning,
    spreadsheet_codebook,
)

FORMATS = ("csv", "xlsx", "sav", "parquet")
MEDIA_TYPES = {
    "csv": "application/zip",  # the data and the codebook: two files, one download
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "sav": "application/x-spss-sav",
    "parquet": "application/vnd.apache.parquet",
}
#: Parquet metadata keys.
CODEBOOK_KEY = b"manyi.codebook"
QUESTIONNAIRE_KEY = b"manyi.questionnaire"
#: The bytes of one line of an SPSS file's documents.
SPSS_DOCUMENT_LINE = 80


def as_written(export: ResponseExport, fmt: str) -> ResponseExport:
    """``export`` as ``fmt`` holds it (:mod:`survey.spreadsheets`), its codebook counting
    what changed. Each writer calls it once, on the export it was given."""
    cleaned = clean_text(export.data, fmt)
    book = record_cleaning(export.codebook, cleaned, fmt)
    if fmt in SPREADSHEETS:
        book = spreadsheet_codebook(book, fmt)
    return dataclasses.replace(export, data=cleaned.data, codebook=book)


def write_csv(export: ResponseExport, path: Path) -> list[Path]:
    """``path`` and ``path``'s ``.codebook.csv`` sibling, UTF-8 with a BOM.

    The BOM is what makes Excel on Windows read Chinese labels as UTF-8 rather than GBK.
    Every text cell is quoted (OWASP's advice): a spreadsheet splitting on another separator
    (a semicolon locale, a tab) cannot cut a new cell, starting with ``=``, out of an answer.
    """
    export = as_written(export, "csv")
    codebook_path = path.with_name(path.stem + ".codebook.csv")
    quoted = {"index": False, "encoding": "utf-8-sig", "quoting": csv.QUOTE_NONNUMERIC}
    export.data.to_csv(path, **quoted)
    export.codebook.to_csv(codebook_path, **quoted)
    return [path, codebook_path]


def write_xlsx(export: ResponseExport, path: Path) -> list[Path]:
    export = as_written(export, "xlsx")
    with pd.ExcelWriter(path, engine="openpyxl") as workbook:
        # Excel has no time zones (openpyxl refuses aware datetimes): UTC, as the label says.
        _naive_utc(export.data).to_excel(workbook, sheet_name="data", index=False)
        export.codebook.to_excel(workbook, sheet_name="codebook", index=False)
        for sheet in workbook.sheets.values():
            _text_as_text(sheet)
    return [path]


def _text_as_text(sheet) -> None:
    # openpyxl stores any str starting with "=" as a formula. The ' prefix already keeps
    # answers from starting so; a string type holds even for a start the prefix rule misses.
    for row in sheet.iter_rows():
        for cell in row:
            if isinstance(cell.value, str):
                cell.data_type = "s"


def write_sav(export: ResponseExport, path: Path, language: str | None = None) -> list[Path]:
    """An SPSS file with variable labels, value labels and user-missing codes.

    Labels are in ``language`` (the questionnaire's default): SPSS keeps one label per
    variable. The codes of "cannot answer", "refused" and "don't know" are declared
    user-missing, so SPSS leaves them out of statistics but still shows what was answered.
    Characters replaced (a NUL would end an SPSS string) are listed in the file's documents
    (``DISPLAY DOCUMENTS``), in ``language``.
    """
    import pyreadstat  # a C extension few other commands need: loaded only here

    export = as_written(export, "sav")
    questionnaire = export.questionnaire
    language = language or questionnaire.default_language
    book = export.codebook.set_index("variable")
    labels = {
        name: str(book.at[name, f"label_{language}"] or book.at[name, "label_en"])
        for name in export.data.columns
    }
    value_labels: dict[str, dict] = {}
    user_missing: dict[str, list] = {}
    for item in questionnaire.items:
        codes = json.loads(book.at[item.name, "value_labels"])
        numeric = is_numeric(item)
        if codes:
            value_labels[item.name] = {
                (float(code) if numeric else code): text.get(language) or text.get("en", code)
                for code, text in codes.items()
            }
        missing = missing_codes(item)
        if missing and numeric:
            user_missing[item.name] = sorted(float(code) for code in missing)
    data = _naive_utc(export.data)
    for column in data.columns:
        if isinstance(data[column].dtype, pd.Int64Dtype):
            data[column] = data[column].astype("float64")  # SPSS numbers are doubles
        elif isinstance(data[column].dtype, pd.StringDtype) or data[column].dtype == object:
            data[column] = data[column].astype(object).where(data[column].notna(), None)
    pyreadstat.write_sav(
        data,
        str(path),
        column_labels=labels,
        variable_value_labels=value_labels,
        missing_ranges=user_missing,
        file_label=f"{questionnaire.form_id} {questionnaire.version}",
        note=_documents(export.codebook, language) or None,
    )
    return [path]


def _documents(book: pd.DataFrame, language: str) -> list[str]:
    """The codebook's cleaning notes as lines of an SPSS file's documents."""
    notes = book[f"cleaning_{language}"] if f"cleaning_{language}" in book else book.cleaning_en
    lines: list[str] = []
    for variable, note in zip(book["variable"], notes, strict=True):
        if note:
            lines.extend(_document_lines(f"{variable}: {note}"))
    return lines


def _document_lines(text: str) -> list[str]:
    # SPSS refuses a document line over 80 bytes, and a Chinese character takes 3 of them.
    lines = []
    for line in textwrap.wrap(text, width=SPSS_DOCUMENT_LINE):
        while len(line.encode()) > SPSS_DOCUMENT_LINE:
            cut = 0
            while len(line[: cut + 1].encode()) <= SPSS_DOCUMENT_LINE:
                cut += 1
            lines.append(line[:cut])
            line = line[cut:]
        lines.append(line)
    return lines


def write_parquet(export: ResponseExport, path: Path) -> list[Path]:
    """Parquet with the codebook (JSON records) and the questionnaire version in its metadata."""
    export = as_written(export, "parquet")
    table = pa.Table.from_pandas(export.data, preserve_index=False)
    questionnaire = export.questionnaire
    metadata = {
        **(table.schema.metadata or {}),
        CODEBOOK_KEY: export.codebook.to_json(orient="records", force_ascii=False).encode(),
        QUESTIONNAIRE_KEY: json.dumps(
            {
                "form_id": questionnaire.form_id,
                "version": questionnaire.version,
                "content_hash": questionnaire.content_hash,
                "phone": export.phone,
            }
        ).encode(),
    }
    pq.write_table(table.replace_schema_metadata(metadata), path)
    return [path]


WRITERS = {"csv": write_csv, "xlsx": write_xlsx, "sav": write_sav, "parquet": write_parquet}


def write_export(export: ResponseExport, fmt: str, path: Path) -> list[Path]:
    """Write ``export`` in ``fmt`` to ``path``; returns every file written."""
    if fmt not in WRITERS:
        raise ValueError(f"unknown export format {fmt!r}: use {', '.join(FORMATS)}")
    return WRITERS[fmt](export, path)


def export_bytes(export: ResponseExport, fmt: str) -> tuple[bytes, str]:
    """The download of ``export`` in ``fmt`` and its file name (CSV: a ZIP of both files)."""
    with tempfile.TemporaryDirectory(prefix="manyi-export-") as folder:
        path = Path(folder) / f"{export.name}.{fmt}"
        written = write_export(export, fmt, path)
        if fmt != "csv":
            return path.read_bytes(), path.name
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            for file in written:
                archive.write(file, file.name)
        return buffer.getvalue(), f"{export.name}.csv.zip"


def _naive_utc(data: pd.DataFrame) -> pd.DataFrame:
    data = data.copy()
    for column in data.columns:
        if isinstance(data[column].dtype, pd.DatetimeTZDtype):
            data[column] = data[column].dt.tz_convert("UTC").dt.tz_localize(None)
    return data
