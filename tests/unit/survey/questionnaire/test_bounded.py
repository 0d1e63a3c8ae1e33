"""The bounded readers: YAML and XLSX over a limit are refused, named and located.

Row counts are checked against openpyxl itself: a sheet is refused exactly when openpyxl
would yield more rows than the limit, whatever tricks its XML plays (gaps, rows without a
number, prefixes, attributes that look like r).
"""

from __future__ import annotations

import random
import struct
import zipfile

import openpyxl
import pandas as pd
import pytest
import yaml

from survey.questionnaire import QuestionnaireError, bounded, load_questionnaire, read_yaml
from survey.questionnaire.bounded import RefusedFile, check_workbook, load_yaml
from tests.common import SAMPLES
from tests.unit.survey.questionnaire.workbooks import (
    MAIN,
    customer,
    frame_header,
    write_workbook,
)

# -- YAML --------------------------------------------------------------------------------


def alias_bomb(levels: int = 9) -> str:
    lines = ['a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, levels)]
    return "\n".join(lines) + "\n"


def refusal(text: str) -> RefusedFile:
    with pytest.raises(RefusedFile) as error:
        load_yaml(text, "form.yaml")
    return error.value


def test_an_alias_bomb_is_refused_at_the_alias_that_crosses_the_budget():
    error = refusal(alias_bomb())
    assert error.code == "yaml-aliases"
    # a3 stands for 11,111 values: its fourth repetition in a4 passes the 50,000 values.
    assert (error.line, error.column) == (5, 25)
    assert str(error).startswith("form.yaml, line 5, column 25: the alias *a3 expands")


def test_aliases_that_stay_small_read_as_plain_yaml_does():
    text = alias_bomb(levels=3) + "b: {<<: &base {x: 1, y: [1, 2]}, z: *a2}\nc: *base\n"
    document, root = load_yaml(text)
    assert document == yaml.safe_load(text) and root is not None


def test_a_recursive_alias_is_refused():
    assert refusal("x: &a [1, *a]\n").code == "yaml-recursive-alias"


def test_deep_nesting_is_refused_not_a_recursion_error():
    error = refusal("x: " + "[" * 50_000 + "]" * 50_000 + "\n")
    assert error.code == "yaml-too-deep" and error.line == 1
    load_yaml("x: " + "[" * 60 + "]" * 60 + "\n")  # under the limit of 64


def test_too_many_values_without_aliases_are_refused():
    error = refusal("x: [" + ", ".join(["1"] * (bounded.MAX_YAML_VALUES + 1)) + "]\n")
    assert error.code == "yaml-too-large"


def test_text_over_the_size_limit_is_refused_before_parsing():
    assert refusal("x: " + "a" * bounded.MAX_YAML_BYTES).code == "file-too-large"


def test_a_large_file_is_refused_without_being_read_whole(tmp_path):
    path = tmp_path / "form.yaml"
    with open(path, "wb") as handle:
        handle.truncate(10 * bounded.MAX_YAML_BYTES)  # sparse: no disk used
    with pytest.raises(QuestionnaireError) as error:
        load_questionnaire(path)
    problem = error.value.problems[0]
    assert (problem.code, problem.location) == ("file-too-large", "form.yaml")


def test_a_file_that_is_not_utf8_is_a_problem_not_a_traceback(tmp_path):
    path = tmp_path / "form.yaml"
    path.write_bytes("form_id: 满意\n".encode("gb18030"))
    with pytest.raises(QuestionnaireError) as error:
        load_questionnaire(path)
    assert error.value.problems[0].code == "file-not-utf8"


def test_the_sample_questionnaire_is_far_inside_the_limits():
    loader = bounded._BoundedLoader((SAMPLES / "csi_questionnaire.yaml").read_text("utf-8"), "x")
    loader.get_single_node()
    assert loader.values * 20 < bounded.MAX_YAML_VALUES
    assert loader.characters * 100 < bounded.MAX_YAML_CHARACTERS


def test_a_refused_yaml_is_a_located_questionnaire_problem():
    with pytest.raises(QuestionnaireError) as error:
        read_yaml(alias_bomb(), "bomb.yaml")
    problem = error.value.problems[0]
    assert (problem.code, problem.location) == ("yaml-aliases", "line 5, column 25")
    assert str(error.value).startswith("bomb.yaml: 1 problem(s) must be fixed:")


# -- XLSX: the archive --------------------------------------------------------------------


def refused_workbook(path) -> RefusedFile:
    with pytest.raises(RefusedFile) as error:
        check_workbook(path)
    assert error.value.name == path.name and str(error.value).startswith(f"{path.name}: ")
    return error.value


def small_frame(tmp_path, name="frame.xlsx", rows=3):
    return write_workbook(tmp_path / name, [frame_header(), *map(customer, range(2, rows + 2))])


def test_a_workbook_written_by_pandas_passes(tmp_path):
    path = tmp_path / "frame.xlsx"
    pd.DataFrame({"customer_id": [f"C{i}" for i in range(500)], "tier": range(500)}).to_excel(
        path, index=False
    )
    check_workbook(path)
    check_workbook(small_frame(tmp_path))


def test_a_file_that_is_not_a_zip_is_refused(tmp_path):
    path = tmp_path / "frame.xlsx"
    path.write_text("customer_id,phone\n")
    assert refused_workbook(path).code == "xlsx-not-a-workbook"


def test_a_part_that_expands_over_100_times_is_refused(tmp_path):
    path = write_workbook(tmp_path / "bomb.xlsx", [frame_header(), b"<row/>" * 2_000_000],
                          compresslevel=9)  # fmt: skip
    error = refused_workbook(path)
    assert error.code == "xlsx-expansion" and "xl/worksheets/sheet1.xml" in error.problem


def test_a_small_part_may_expand_more(tmp_path):
    check_workbook(write_workbook(tmp_path / "small.xlsx", [frame_header(), b"<row/>" * 50_000]))


def test_a_workbook_over_the_decompressed_limit_is_refused(tmp_path, monkeypatch):
    monkeypatch.setattr(bounded, "MAX_WORKBOOK_BYTES", 4096)
    error = refused_workbook(small_frame(tmp_path, rows=40))
    assert error.code == "xlsx-too-large" and "4,096 bytes" in error.problem


def patch_directory(path, offset: int, fmt: str, value: int) -> None:
    """Overwrite a field of the sheet's entry in the zip's central directory."""
    data = bytearray(path.read_bytes())
    entry = data.rfind(b"PK\x01\x02", 0, data.rfind(b"xl/worksheets/sheet1.xml"))
    struct.pack_into(fmt, data, entry + offset, value)
    path.write_bytes(bytes(data))


def test_parts_claiming_more_compressed_bytes_than_the_file_are_refused(tmp_path):
    # A part claiming a large compressed size would pass the expansion check while its real
    # (small) compressed data expands a thousand times.
    path = small_frame(tmp_path)
    patch_directory(path, 20, "<L", 2**31)
    assert refused_workbook(path).code == "xlsx-overlapping"


def test_an_encrypted_part_is_refused(tmp_path):
    path = small_frame(tmp_path)
    patch_directory(path, 8, "<H", 0x1)
    assert refused_workbook(path).code == "xlsx-encrypted"


def test_a_part_compressed_as_no_spreadsheet_does_is_refused(tmp_path):
    path = small_frame(tmp_path)
    with zipfile.ZipFile(path, "a") as archive:
        archive.writestr("xl/extra.xml", b"<x/>", compress_type=zipfile.ZIP_BZIP2)
    assert refused_workbook(path).code == "xlsx-compression"


def test_binary_parts_are_not_taken_for_xml(tmp_path):
    printer = "HP LaserJet".encode("utf-16-le") + bytes(200)  # a DEVMODE starts so
    path = write_workbook(
        tmp_path / "frame.xlsx",
        [frame_header(), customer(2)],
        extra_parts=[
            ("xl/printerSettings/printerSettings1.bin", printer),
            ("xl/media/image1.png", b"\x89PNG\r\n\x1a\n" + bytes(99)),
        ],
    )
    check_workbook(path)


def test_an_archive_with_too_many_parts_is_refused_from_its_directory(tmp_path, monkeypatch):
    monkeypatch.setattr(bounded, "MAX_WORKBOOK_PARTS", 4)
    assert refused_workbook(small_frame(tmp_path)).code == "xlsx-parts"


# -- XLSX: rows and columns, as openpyxl counts them -------------------------------------


def openpyxl_rows(path) -> int:
    """The rows pandas reads: openpyxl's read-only rows with the declared size ignored."""
    book = openpyxl.load_workbook(path, read_only=True, data_only=True)
    sheet = book.worksheets[0]
    sheet.reset_dimensions()
    rows = sum(1 for _ in sheet.rows)
    book.close()
    return rows


TRICKY_SHEETS = {
    "numbered": [frame_header(), *map(customer, range(2, 12))],
    "a gap": [frame_header(), customer(2), customer(40)],
    "rows without r": [frame_header(), b"<row><c><v>1</v></c></row>" * 7, customer(3)],
    "r not first": [frame_header(), b'<row spans="1:2" r="25"><c><v>1</v></c></row>'],
    "r as a float": [frame_header(), b'<row r="30.0"><c><v>1</v></c></row>'],
    "out of order": [frame_header(), customer(20), customer(5), b"<row/>" * 3],
    "r in another value": [frame_header(), b"""<row x=' r="2"' r="33"/>"""],
    "> in a value": [frame_header(), b'<row x=">" r="44"/>'],
    "a 70 KB tag": [frame_header(), b'<row x="' + b"a" * 70_000 + b'" r="50"/>'],
    "crossing chunks": [frame_header(), *map(customer, range(2, 12_000))],
}


@pytest.mark.parametrize("rows", TRICKY_SHEETS.values(), ids=TRICKY_SHEETS.keys())
def test_rows_are_counted_as_openpyxl_yields_them(tmp_path, monkeypatch, rows):
    path = write_workbook(tmp_path / "sheet.xlsx", rows)
    counted = openpyxl_rows(path)
    monkeypatch.setattr(bounded, "MAX_ROWS", counted)
    check_workbook(path)
    monkeypatch.setattr(bounded, "MAX_ROWS", counted - 1)
    assert refused_workbook(path).code == "xlsx-rows"


def test_a_row_numbered_past_the_limit_is_refused_in_a_tiny_file(tmp_path):
    path = write_workbook(tmp_path / "gap.xlsx", [frame_header(), customer(3_000_000)])
    assert path.stat().st_size < 2000
    error = refused_workbook(path)
    assert error.code == "xlsx-rows" and "1,048,576" in error.problem


def test_prefixed_tags_are_counted_too(tmp_path):
    start = b'<?xml version="1.0" encoding="UTF-8"?>\n<x:worksheet xmlns:x="%s">' % MAIN
    path = write_workbook(tmp_path / "prefixed.xlsx", [b'<x:row r="3000000"/>'],
                          sheet_start=start)  # fmt: skip
    path = _closing_prefixed(path)
    assert openpyxl_rows(path) == 3_000_000
    assert refused_workbook(path).code == "xlsx-rows"


def _closing_prefixed(path):
    # write_workbook closes with unprefixed tags; rewrite the sheet with matching ones.
    with zipfile.ZipFile(path) as archive:
        parts = {name: archive.read(name) for name in archive.namelist()}
    sheet = parts["xl/worksheets/sheet1.xml"]
    sheet = sheet.replace(b"<sheetData>", b"<x:sheetData>")
    sheet = sheet.replace(b"</sheetData></worksheet>", b"</x:sheetData></x:worksheet>")
    parts["xl/worksheets/sheet1.xml"] = sheet
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in parts.items():
            archive.writestr(name, content)
    return path


def test_a_declared_extent_past_excels_maximum_is_refused(tmp_path):
    path = write_workbook(tmp_path / "long.xlsx", [frame_header()], dimension=b"A1:H3000000")
    error = refused_workbook(path)
    assert error.code == "xlsx-rows" and "'A1:H3000000'" in error.problem


@pytest.mark.parametrize("extent", [b"A1:XFD1048576", b"A1:Z1000000"])
def test_a_declared_extent_over_the_cell_limit_is_refused(tmp_path, extent):
    # openpyxl's read-only sheet (the questionnaire reader) fills every row to this width.
    path = write_workbook(tmp_path / "wide.xlsx", [frame_header()], dimension=extent)
    assert refused_workbook(path).code == "xlsx-cells"


def test_one_far_cell_widens_every_row(tmp_path):
    far = b'<row r="2"><c r="XFD2"><v>1</v></c></row>'
    rows = [frame_header(), far, *(b'<row r="%d"/>' % n for n in range(3, 1100))]
    assert refused_workbook(write_workbook(tmp_path / "far.xlsx", rows)).code == "xlsx-cells"


def test_cells_without_r_widen_their_row(tmp_path):
    wide = b"<row>" + b"<c><v>1</v></c>" * (bounded.MAX_COLUMNS + 1) + b"</row>"
    path = write_workbook(tmp_path / "wide.xlsx", [wide])
    assert refused_workbook(path).code == "xlsx-columns"


@pytest.mark.parametrize(
    ("code", "rows", "options"),
    [
        ("xlsx-doctype", [], {"sheet_start": b'<?xml version="1.0"?>\n<!DOCTYPE x [<!ENTITY r '
                              b'"<row/>">]><worksheet xmlns="%s">' % MAIN}),
        ("xlsx-reference", [b'<row r="&#51;000000"/>'], {}),
        ("xlsx-encoding", [], {"sheet_start": ('<?xml version="1.0" encoding="UTF-16"?>\n'
                                               '<worksheet>').encode("utf-16")}),
        ("xlsx-encoding", [], {"sheet_start": b'<?xml version="1.0" encoding="cp037"?>\n'}),
        ("xlsx-tag", [b'<row x="%s" r="3000000"/>' % random.Random(1).randbytes(750_000).hex()
                      .encode()], {}),
    ],
    ids=["a DTD", "a character reference in r", "UTF-16", "EBCDIC", "a 1.5 MB tag"],
)  # fmt: skip
def test_xml_that_could_hide_rows_from_the_count_is_refused(tmp_path, code, rows, options):
    path = write_workbook(tmp_path / "odd.xlsx", [frame_header(), *rows], **options)
    assert refused_workbook(path).code == code


def test_long_text_in_a_cell_is_not_a_long_tag(tmp_path):
    text = "满意" * 60_000  # 360 KB of UTF-8 in one cell
    rows = [frame_header(), b'<row r="2"><c r="A2" t="inlineStr"><is><t>%s</t></is></c></row>'
            % text.encode()]  # fmt: skip
    check_workbook(write_workbook(tmp_path / "long.xlsx", rows))


def test_a_refused_workbook_is_a_questionnaire_problem(tmp_path):
    path = write_workbook(tmp_path / "form.xlsx", [frame_header(), customer(3_000_000)])
    with pytest.raises(QuestionnaireError) as error:
        load_questionnaire(path)
    problem = error.value.problems[0]
    assert (problem.code, problem.location) == ("xlsx-rows", "form.xlsx")


def test_a_zip_that_is_no_workbook_is_a_questionnaire_problem(tmp_path):
    path = tmp_path / "form.xlsx"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("hello.txt", "not a workbook")
    with pytest.raises(QuestionnaireError) as error:
        load_questionnaire(path)
    assert error.value.problems[0].code == "xlsx-unreadable"
