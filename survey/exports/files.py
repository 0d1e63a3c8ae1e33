"""Writing a :class:`~survey.exports.responses.ResponseExport` as CSV, XLSX, SPSS ``.sav``
or Parquet.

Every format carries the codebook with the data: CSV as a second file (``NAME.codebook.csv``),
XLSX as a second sheet, SPSS as variable labels, value labels and user-missing codes (what
SPSS users expect to find in the file itself), Parquet in the file's key-value metadata.
"""

from __future__ import annotations

import io
import json
import tempfile
import zipfile
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from survey.exports.responses import ResponseExport, is_numeric, missing_codes

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


def write_csv(export: ResponseExport, path: Path) -> list[Path]:
    """``path`` and ``path``'s ``.codebook.csv`` sibling, UTF-8 with a BOM.

    The BOM is what makes Excel on Windows read Chinese labels as UTF-8 rather than GBK.
    """
    codebook_path = path.with_name(path.stem + ".codebook.csv")
    export.data.to_csv(path, index=False, encoding="utf-8-sig")
    export.codebook.to_csv(codebook_path, index=False, encoding="utf-8-sig")
    return [path, codebook_path]


def write_xlsx(export: ResponseExport, path: Path) -> list[Path]:
    with pd.ExcelWriter(path, engine="openpyxl") as workbook:
        # Excel has no time zones (openpyxl refuses aware datetimes): UTC, as the label says.
        _naive_utc(export.data).to_excel(workbook, sheet_name="data", index=False)
        export.codebook.to_excel(workbook, sheet_name="codebook", index=False)
    return [path]


def write_sav(export: ResponseExport, path: Path, language: str | None = None) -> list[Path]:
    """An SPSS file with variable labels, value labels and user-missing codes.

    Labels are in ``language`` (the questionnaire's default): SPSS keeps one label per
    variable. The codes of "cannot answer", "refused" and "don't know" are declared
    user-missing, so SPSS leaves them out of statistics but still shows what was answered.
    """
    import pyreadstat  # a C extension few other commands need: loaded only here

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
    )
    return [path]


def write_parquet(export: ResponseExport, path: Path) -> list[Path]:
    """Parquet with the codebook (JSON records) and the questionnaire version in its metadata."""
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
