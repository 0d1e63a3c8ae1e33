"""A frame file over the readers' limits is refused, naming the file, before a row is checked."""

from __future__ import annotations

import pytest

from survey.frames import importer
from survey.frames.importer import FrameImportError, check_frame, read_table
from survey.questionnaire import bounded
from tests.unit.survey.questionnaire.workbooks import customer, frame_header, write_workbook

HEADER = "customer_id,phone,region,service_hall,tier,tenure_months,language,consent\n"


def test_a_workbook_within_the_limits_imports(tmp_path):
    path = write_workbook(tmp_path / "frame.xlsx", [frame_header(), *map(customer, range(2, 7))])
    check = check_frame(read_table(path))
    assert check.rows_read == 5 and check.problems == []


def test_a_sheet_padded_past_the_row_limit_is_refused_by_name(tmp_path):
    path = write_workbook(tmp_path / "padded.xlsx", [frame_header(), customer(3_000_000)])
    with pytest.raises(FrameImportError, match=r"^padded\.xlsx: a sheet has more than 1,048,576"):
        read_table(path)


def test_a_zip_bomb_is_refused_by_name(tmp_path):
    path = write_workbook(tmp_path / "bomb.xlsx", [frame_header(), b"<row/>" * 2_000_000],
                          compresslevel=9)  # fmt: skip
    with pytest.raises(FrameImportError, match=r"^bomb\.xlsx: the part .* expands"):
        read_table(path)


def test_a_file_named_xlsx_that_is_not_a_workbook_is_refused(tmp_path):
    path = tmp_path / "frame.xlsx"
    path.write_text(HEADER, encoding="utf-8")
    with pytest.raises(FrameImportError, match=r"^frame\.xlsx: this is not an \.xlsx workbook"):
        read_table(path)


def test_a_csv_over_the_row_limit_is_refused(tmp_path, monkeypatch):
    monkeypatch.setattr(importer, "MAX_ROWS", 10)
    path = tmp_path / "frame.csv"
    path.write_text(HEADER + "C1,+8613800138000,Hangzhou,H-01,3,26,zh,true\n" * 9, "utf-8")
    assert len(read_table(path)) == 9  # ten rows with the header, as a spreadsheet counts
    path.write_text(HEADER + "C1,+8613800138000,Hangzhou,H-01,3,26,zh,true\n" * 10, "utf-8")
    with pytest.raises(FrameImportError, match=r"^frame\.csv: the file has more than 9 customer"):
        read_table(path)


def test_a_csv_over_the_size_limit_is_refused_unread(tmp_path, monkeypatch):
    monkeypatch.setattr(importer, "MAX_WORKBOOK_BYTES", 100)
    path = tmp_path / "frame.csv"
    path.write_text(HEADER + "C1,+8613800138000,Hangzhou,H-01,3,26,zh,true\n" * 5, "utf-8")
    with pytest.raises(FrameImportError, match=r"^frame\.csv: the file is larger than"):
        read_table(path)


def test_the_limits_are_those_of_the_bounded_readers():
    assert importer.MAX_ROWS == bounded.MAX_ROWS == 1_048_576
