import csv

import pandas as pd
import pytest

from survey.frames.importer import (
    FrameImportError,
    check_frame,
    normalise_phone,
    read_table,
    write_report,
)
from tests.common import SAMPLES

HEADER = "id,phone,region,service hall,tier,tenure,language,consent\n"
GOOD = "C1,+8613800138000,Hangzhou,Hangzhou-01,3,26,zh,true\n"


def table(tmp_path, body: str, header: str = HEADER, name: str = "frame.csv") -> pd.DataFrame:
    path = tmp_path / name
    path.write_text(header + body, encoding="utf-8")
    return read_table(path)


def codes(check) -> list[tuple[int, str, str]]:
    return [(p.row, p.column, p.code) for p in check.problems]


def test_the_sample_frame_imports_whole():
    check = check_frame(read_table(SAMPLES / "frame.csv"))
    assert check.rows_read == len(check.frame) == 20_000 and check.problems == []
    assert check.frame["phone"].str.match(r"^\+1\d{10}$").all()


@pytest.mark.parametrize(
    ("raw", "region", "e164"),
    [("13800138000", "CN", "+8613800138000"), ("138 0013 8000", "CN", "+8613800138000"),
     ("+86 138-0013-8000", "CN", "+8613800138000"), ("008613800138000", "CN", "+8613800138000"),
     ("(201) 555-0123", "US", "+12015550123"), ("+12015550123", "CN", "+12015550123"),
     ("1380013800", "CN", None), ("hello", "CN", None), ("+999123", "CN", None)],
)  # fmt: skip
def test_phones_are_normalised_to_e164_in_the_default_region(raw, region, e164):
    assert normalise_phone(raw, region) == e164


def test_every_bad_row_is_reported_with_row_column_and_fix_and_valid_rows_are_kept(tmp_path):
    body = (
        GOOD  # row 2
        + "C2,138 0013 8001,Ningbo,Ningbo-02,4.0,12,zh-CN,是\n"  # row 3: valid, normalised
        + "C3,12345,Ningbo,Ningbo-02,6,x,fr,maybe\n"  # row 4: five problems
        + "C1,+8613800138009,Ningbo,Ningbo-02,2,5,en,no\n"  # row 5: same id as row 2
        + "C5,+86 138-0013-8000,Ningbo,Ningbo-02,2,5,en,no\n"  # row 6: same number as row 2
        + "C6,+8613800138006,,Ningbo-02,2,5,en,no\n"  # row 7: empty region
        + "C7,+8613800138007,Wenzhou,Wenzhou-01,1,0,EN,0\n"  # row 8: opted out, kept
    )
    check = check_frame(table(tmp_path, body), opted_out={"+8613800138007"})
    assert codes(check) == [
        (4, "phone", "invalid-phone"), (4, "tier", "invalid-tier"),
        (4, "tenure_months", "invalid-tenure"), (4, "language", "invalid-language"),
        (4, "consent", "invalid-consent"), (5, "customer_id", "duplicate-id"),
        (6, "phone", "duplicate-phone"), (7, "region", "missing-value"),
        (8, "phone", "opted-out"),
    ]  # fmt: skip
    assert (check.rows_read, check.invalid_rows, check.duplicate_rows, check.opted_out_rows) == (
        7, 2, 2, 1,
    )  # fmt: skip
    stored = check.frame.set_index("customer_id")
    assert list(stored.index) == ["C1", "C2", "C7"]
    assert stored.loc["C2", "phone"] == "+8613800138001"
    assert (stored.loc["C2", "tier"], stored.loc["C2", "language"]) == (4, "zh")
    assert bool(stored.loc["C2", "consent"]) and not bool(stored.loc["C7", "consent"])
    duplicate = check.problems[6]
    assert "row 2" in duplicate.problem and duplicate.fix
    assert str(check.problems[0]).startswith("row 4, phone: not a valid phone number")


def test_an_invalid_first_row_does_not_make_a_later_valid_row_a_duplicate(tmp_path):
    body = "C1,+8613800138000,Hangzhou,Hangzhou-01,9,26,zh,true\n" + GOOD
    check = check_frame(table(tmp_path, body))
    assert codes(check) == [(2, "tier", "invalid-tier")]
    assert list(check.frame["customer_id"]) == ["C1"]


def test_a_missing_column_names_it_and_the_accepted_spellings(tmp_path):
    header = "id,phone,region,tier,tenure,language,consent\n"
    with pytest.raises(FrameImportError, match="lacks column.*service_hall.*hall"):
        check_frame(table(tmp_path, "C1,+8613800138000,Hangzhou,3,26,zh,true\n", header))


def test_an_unknown_default_region_is_refused(tmp_path):
    with pytest.raises(FrameImportError, match="region code"):
        check_frame(table(tmp_path, GOOD), default_region="XX")


def test_xlsx_cells_typed_as_numbers_are_read_as_text(tmp_path):
    path = tmp_path / "frame.xlsx"
    pd.DataFrame(
        {"customer_id": ["C1"], "phone": [13800138000], "region": ["Hangzhou"],
         "service_hall": ["Hangzhou-01"], "tier": [5], "tenure_months": [30],
         "language": ["zh"], "consent": [True]}
    ).to_excel(path, index=False)  # fmt: skip
    check = check_frame(read_table(path))
    assert check.problems == []
    assert check.frame.loc[0, "phone"] == "+8613800138000" and check.frame.loc[0, "tier"] == 5


def test_unreadable_or_empty_files_are_refused(tmp_path):
    with pytest.raises(FrameImportError, match="no file"):
        read_table(tmp_path / "missing.csv")
    (tmp_path / "frame.txt").write_text(HEADER + GOOD)
    with pytest.raises(FrameImportError, match=r"\.csv or \.xlsx"):
        read_table(tmp_path / "frame.txt")
    with pytest.raises(FrameImportError, match="no customer rows"):
        table(tmp_path, "")


def test_the_report_lists_every_problem_as_csv(tmp_path):
    check = check_frame(table(tmp_path, GOOD + "C1,x,,,,,,\n"))
    write_report(check.problems, tmp_path / "report.csv")
    with open(tmp_path / "report.csv", encoding="utf-8-sig", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == len(check.problems) == 7  # six empty cells and the phone
    assert rows[0].keys() == {"row", "column", "code", "value", "problem", "fix"}
    assert all(row["row"] == "3" and row["fix"] for row in rows)
