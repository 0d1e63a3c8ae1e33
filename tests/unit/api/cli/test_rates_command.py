"""``manyi rates``: the published worked example end to end, JSON shape, clear failures.

The worked example is the outcomerate R package's README (rOpenSci,
https://github.com/ropensci/outcomerate): I=4, P=2, R=1, NC=1, O=1, UH=1, UO=1, NE=1 with
proportional e = 0.9 gives RR1 0.364 ... CON3 0.889, printed to three decimals
(tolerance 5e-4); see tests/unit/survey/aapor/test_rates.py for the full table.
"""

from __future__ import annotations

import json

import openpyxl
import pytest
from typer.testing import CliRunner

from api.cli.main import app

runner = CliRunner()

RATES = ("RR1", "RR2", "RR3", "RR4", "RR5", "RR6", "COOP1", "COOP2", "COOP3", "COOP4",
         "REF1", "REF2", "REF3", "CON1", "CON2", "CON3")  # fmt: skip
COUNTS = ("I", "P", "R", "NC", "O", "UH", "UR", "UO", "NE")
PUBLISHED = {"RR1": 0.364, "RR3": 0.370, "RR5": 0.444, "COOP1": 0.500, "COOP4": 0.857,
             "REF2": 0.093, "CON1": 0.727, "CON2": 0.741}  # fmt: skip
#: (code, channel) per case: the published counts with CATI-style refinements.
CASES = [("1.1", "sms"), ("1.1", "web"), ("1.11", "sms"), ("1.1", "web"), ("1.2", "sms"),
         ("1.21", "web"), ("2.111", "sms"), ("2.21", "web"), ("2.33", "sms"),
         ("3.13", "web"), ("3.90", "sms"), ("4.31", "web")]  # fmt: skip


def write_csv(tmp_path, rows, header="case,disposition,channel"):
    path = tmp_path / "cases.csv"
    lines = [header] + [f"{i},{code},{channel}" for i, (code, channel) in enumerate(rows, 1)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def invoke(*args):
    return runner.invoke(app, ["rates", *map(str, args)])


def test_json_reproduces_the_published_example_in_the_issue_shape(tmp_path) -> None:
    result = invoke(write_csv(tmp_path, CASES), "--json")
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert {"rates", "counts", "e", "e_method"} <= set(out)
    assert tuple(out["rates"]) == RATES
    assert tuple(out["counts"]) == COUNTS
    assert out["counts"] == {"I": 4, "P": 2, "R": 1, "NC": 1, "O": 1, "UH": 1, "UR": 0,
                             "UO": 1, "NE": 1}  # fmt: skip
    assert out["e"] == pytest.approx(0.9) and out["e_method"] == "proportional"
    for name, published in PUBLISHED.items():
        assert out["rates"][name] == pytest.approx(published, abs=5e-4), name


def test_given_e_is_used_and_recorded(tmp_path) -> None:
    out = json.loads(invoke(write_csv(tmp_path, CASES), "--e", "0.5", "--json").stdout)
    assert (out["e"], out["e_method"]) == (0.5, "given")
    assert out["rates"]["RR3"] == pytest.approx(4 / 10)


def test_text_output_is_a_table_of_percentages(tmp_path) -> None:
    result = invoke(write_csv(tmp_path, CASES))
    assert result.exit_code == 0, result.output
    assert "e = 0.9000 (proportional)" in result.stdout
    assert "RR1   36.4%" in result.stdout and "CON2   74.1%" in result.stdout


def test_zero_denominators_are_null_with_notes_not_a_crash(tmp_path) -> None:
    rows = [("3.13", "sms"), ("3.21", "sms"), ("3.90", "web")]
    result = invoke(write_csv(tmp_path, rows), "--json")
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert out["e"] is None and out["rates"]["RR5"] is None and out["rates"]["RR1"] == 0.0
    assert out["counts"]["UR"] == 1
    assert any("e is undefined" in note for note in out["notes"])
    text = invoke(write_csv(tmp_path, rows)).stdout
    assert "n/a" in text and "note:" in text


def test_by_column_gives_each_group_with_the_files_e(tmp_path) -> None:
    out = json.loads(invoke(write_csv(tmp_path, CASES), "--by", "channel", "--json").stdout)
    assert out["by"] == "channel"
    groups = {g["group"]: g for g in out["groups"]}
    assert set(groups) == {"sms", "web"}
    assert sum(g["counts"]["I"] for g in groups.values()) == 4
    assert all(g["e"] == pytest.approx(0.9) for g in groups.values())
    sms = groups["sms"]["counts"]  # I, I, P, R, O, UO
    assert sms["I"] == 2 and sms["UO"] == 1
    assert groups["sms"]["rates"]["RR1"] == pytest.approx(2 / 6)


def test_xlsx_with_numeric_cells_and_a_blank_row(tmp_path) -> None:
    path = tmp_path / "cases.xlsx"
    book = openpyxl.Workbook()
    sheet = book.active
    for row in (["Disposition"], [1.1], [], [2.11], [4], ["3.20"]):
        sheet.append(row)
    book.save(path)
    result = invoke(path, "--json")
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert out["counts"] == {**dict.fromkeys(COUNTS, 0), "I": 1, "R": 1, "NE": 1, "UR": 1}
    assert "1 blank row(s) skipped" in out["notes"]


def test_bad_codes_exit_2_listing_each_row(tmp_path) -> None:
    rows = [("1.1", "sms"), ("2.5", "sms"), ("", "web"), ("1.3", "web")]
    result = invoke(write_csv(tmp_path, rows))
    assert result.exit_code == 2
    assert "3 row(s) without a valid AAPOR disposition" in result.stderr
    # Spreadsheet rows: the header is row 1.
    assert "row 3: '2.5'" in result.stderr and "row 4: ''" in result.stderr
    assert "row 5: '1.3'" in result.stderr and "valid codes:" in result.stderr
    as_json = invoke(write_csv(tmp_path, rows), "--json")
    assert as_json.exit_code == 2
    assert [p["row"] for p in json.loads(as_json.stdout)["problems"]] == [3, 4, 5]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--e", "1.5"], "e must be in [0, 1]"),
        (["--e", "-0.2"], "e must be in [0, 1]"),
        (["--e", "most"], "give a proportion"),
        (["--by", "interviewer"], "no --by 'interviewer' column"),
    ],
)
def test_bad_options_exit_2_saying_why(tmp_path, args, message) -> None:
    result = invoke(write_csv(tmp_path, CASES), *args)
    assert result.exit_code == 2
    assert message in result.stderr


def test_unreadable_or_unsuitable_files_exit_2(tmp_path) -> None:
    assert "no file at" in invoke(tmp_path / "none.csv").stderr
    no_column = write_csv(tmp_path, CASES, header="case,outcome,channel")
    result = invoke(no_column)
    assert result.exit_code == 2 and "no 'disposition' column" in result.stderr
    fake = tmp_path / "cases.xlsx"
    fake.write_bytes(b"not a workbook")
    assert invoke(fake).exit_code == 2
    header_only = tmp_path / "header.csv"
    header_only.write_text("disposition\n", encoding="utf-8")
    result = invoke(header_only)
    assert result.exit_code == 2 and "no case rows" in result.stderr
    other = tmp_path / "cases.txt"
    other.write_text("disposition\n1.1\n", encoding="utf-8")
    assert "use a .csv or .xlsx" in invoke(other).stderr
