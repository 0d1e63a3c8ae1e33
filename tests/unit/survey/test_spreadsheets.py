"""Text cells of exports without a database: formulas neutralised, refused characters replaced."""

from __future__ import annotations

import csv
import io

import openpyxl
import pandas as pd
import pytest
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

from survey.exports.files import _document_lines, write_export
from survey.exports.responses import METADATA, ResponseExport, codebook
from survey.spreadsheets import (
    REFUSED,
    clean_text,
    record_cleaning,
    spreadsheet_text,
    starts_formula,
)
from tests.questionnaires import hotline_questionnaire

pyreadstat = pytest.importorskip("pyreadstat")

#: OWASP's list, the full-width forms a Chinese IME types, a small form, and whitespace before.
FORMULAS = ["=1+1", "+1", "-2+3", "@SUM(A1)", "\tx", "\rx", "＝1+1", "＋1", "－1", "＠A1",
            "﹦1", " =1", "\u3000=1", "\n=1"]  # fmt: skip
TEXT = ["信号差", "a=1", "1-2", "'=already quoted", "", " ", "—1", "email@example.org"]


@pytest.mark.parametrize("text", FORMULAS)
def test_a_cell_starting_like_a_formula_gets_a_leading_quote_once(text):
    assert starts_formula(text)
    assert spreadsheet_text(text) == "'" + text
    assert spreadsheet_text(spreadsheet_text(text)) == "'" + text


@pytest.mark.parametrize("text", TEXT)
def test_other_text_is_left_as_typed(text):
    assert spreadsheet_text(text) == text


def test_xlsx_replaces_every_character_openpyxl_refuses_and_the_non_characters():
    refused = {chr(c) for c in range(0x10000) if REFUSED["xlsx"].search(chr(c))}
    openpyxl_refuses = {chr(c) for c in range(0x10000) if ILLEGAL_CHARACTERS_RE.search(chr(c))}
    assert openpyxl_refuses <= refused
    assert {"\ufffe", "\uffff", "\ud800"} <= refused
    assert not refused & {"\t", "\n", "\r", " ", "信", "😀"}
    assert REFUSED["sav"].search("\x00") and not REFUSED["sav"].search("\x01\x0b")
    assert not REFUSED["parquet"].search("\x00\x01\x0b")


def test_numbers_and_times_are_never_touched_only_text_cells():
    data = pd.DataFrame({
        "code": pd.array([-1, 2, None], dtype="Int64"),
        "at": pd.to_datetime(["2026-05-01", None, "2026-05-02"], utc=True),
        "text": pd.array(["-1", "=x\x00", None], dtype="string"),
        "names": ["@a", None, "b\x01"],
    })  # fmt: skip
    cleaned = clean_text(data, "xlsx")
    pd.testing.assert_series_equal(cleaned.data["code"], data["code"])
    pd.testing.assert_series_equal(cleaned.data["at"], data["at"])
    assert cleaned.data["text"].tolist()[:2] == ["'-1", "'=x\ufffd"]
    assert cleaned.data["text"].dtype == data["text"].dtype
    assert cleaned.data["names"].tolist()[0] == "'@a" and cleaned.data["names"][2] == "b\ufffd"
    assert cleaned.prefixed == {"text": 2, "names": 1}
    assert cleaned.replaced == {"text": 1, "names": 1}
    # Not a spreadsheet: SPSS keeps formulas as typed and only loses the NUL.
    sav = clean_text(data, "sav")
    assert sav.data["text"].tolist()[:2] == ["-1", "=x\ufffd"] and sav.prefixed == {"text": 0}


def test_the_codebook_counts_per_column_and_says_what_was_done(sample_questionnaire):
    book = codebook(sample_questionnaire)
    assert (book.cells_prefixed == 0).all() and (book.cleaning_en == "").all()
    data = pd.DataFrame({"improve": ["=1", "+2", "a\x00b\x01"], "interviewer": ["x", "y", "z"]})
    noted = record_cleaning(book, clean_text(data, "csv"), "csv").set_index("variable")
    assert noted.at["improve", "cells_prefixed"] == 2
    assert noted.at["improve", "characters_replaced"] == 2
    assert noted.at["improve", "cleaning_en"].startswith("2 cells starting like a formula")
    zh = noted.at["improve", "cleaning_zh"]
    assert "'" in zh and "U+FFFD" in zh
    assert noted.at["interviewer", "cells_prefixed"] == 0
    assert noted.at["interviewer", "cleaning_en"] == ""


def test_a_negative_numeric_code_stays_a_number_in_csv_and_xlsx(tmp_path):
    negative = [{"name": "-1", "score": 0, "label": {"zh": "不适用", "en": "Not applicable"}},
                {"name": "1", "score": 1, "label": {"zh": "已解决", "en": "Solved"}}]  # fmt: skip
    q = hotline_questionnaire(choice_lists={"sat3": negative, "solved": negative})
    row = {name: None for name in METADATA}
    row.update(response_id=1, form_id=q.form_id, version=q.version, overall=-1, solved=1,
               recommend=-1, interviewer="-1")  # fmt: skip
    data = pd.DataFrame([row], columns=[*METADATA, *q.item_names])
    for column in ("response_id", "campaign_id", "tier", *q.item_names):
        data[column] = data[column].astype("Int64")
    export = ResponseExport(data, codebook(q), q, "removed")
    data_path, _ = write_export(export, "csv", tmp_path / "out.csv")
    (cells,) = csv.DictReader(io.StringIO(data_path.read_text("utf-8-sig"), newline=""))
    assert cells["overall"] == "-1" and cells["interviewer"] == "'-1"
    raw = data_path.read_text("utf-8-sig").splitlines()[1]
    assert ",-1," in raw and '"\'-1"' in raw  # numbers bare, text quoted
    (path,) = write_export(export, "xlsx", tmp_path / "out.xlsx")
    sheet = openpyxl.load_workbook(path)["data"]
    header = [cell.value for cell in sheet[1]]
    cells = dict(zip(header, sheet[2], strict=True))
    assert cells["overall"].data_type == "n" and cells["overall"].value == -1
    assert cells["interviewer"].data_type == "s" and cells["interviewer"].value == "'-1"


def test_spss_document_lines_fit_80_bytes_in_chinese_and_english():
    long = "complaint_topic: " + "3 个SPSS无法保存的字符（如控制字符）已替换为 U+FFFD。" * 4
    lines = _document_lines(long)
    assert all(len(line.encode()) <= 80 for line in lines) and len(lines) > 1
    assert "".join(lines).replace(" ", "") == long.replace(" ", "")
    english = "improve: " + "1 character that SPSS cannot hold replaced with U+FFFD (\ufffd). " * 3
    assert all(len(line.encode()) <= 80 for line in _document_lines(english))
