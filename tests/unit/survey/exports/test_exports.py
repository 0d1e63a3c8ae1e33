"""Export files without a database: codebook, codes, and each writer read back."""

from __future__ import annotations

import io
import json
import zipfile

import pandas as pd
import pyarrow.parquet as pq
import pytest

from survey.exports.files import CODEBOOK_KEY, QUESTIONNAIRE_KEY, export_bytes, write_export
from survey.exports.responses import (
    METADATA,
    ResponseExport,
    codebook,
    is_numeric,
    missing_codes,
    phone_hash,
)

pyreadstat = pytest.importorskip("pyreadstat")


@pytest.fixture
def export(sample_questionnaire) -> ResponseExport:
    """Two responses built by hand: a "cannot answer" (6), a text answer, an unanswered item."""
    q = sample_questionnaire
    rows = []
    for number, (overall, speed, nps, complained) in enumerate(
        [("5", "6", "10", "yes"), ("1", "2", "0", None)], start=1
    ):
        row = {name: None for name in METADATA}
        row.update(response_id=number, form_id=q.form_id, version=q.version, channel="web",
                   language="zh", status="completed", customer_id=f"C{number}",
                   region="Hangzhou", tier=3,
                   started_at=pd.Timestamp("2026-05-01 08:00", tz="UTC"),
                   completed_at=pd.Timestamp("2026-05-01 08:10", tz="UTC"))  # fmt: skip
        row.update({name: None for name in q.item_names})
        row.update(sat_overall=overall, net_data_speed=speed, nps=nps, complained=complained,
                   improve="信号差" if overall == "1" else None)  # fmt: skip
        rows.append(row)
    data = pd.DataFrame(rows, columns=[*METADATA, *q.item_names])
    for item in q.items:
        kind = "Int64" if is_numeric(item) else "string"
        data[item.name] = (pd.to_numeric(data[item.name]) if kind == "Int64" else
                           data[item.name]).astype(kind)  # fmt: skip
    for column in ("response_id", "campaign_id", "tier"):
        data[column] = data[column].astype("Int64")
    for column in ("started_at", "completed_at"):
        data[column] = pd.to_datetime(data[column], utc=True)
    return ResponseExport(data, codebook(q), q, "removed")


def test_ratings_and_nps_are_numeric_codes_and_text_and_yes_no_are_not(sample_questionnaire):
    kinds = {i.name: is_numeric(i) for i in sample_questionnaire.items}
    assert kinds["sat_overall"] and kinds["nps"]
    assert not kinds["complained"] and not kinds["improve"]


def test_the_codebook_lists_every_column_with_labels_value_labels_and_missing_codes(
    sample_questionnaire,
):
    book = codebook(sample_questionnaire, ["phone_hash"]).set_index("variable")
    assert list(book.index) == [*METADATA, "phone_hash", *sample_questionnaire.item_names]
    overall = book.loc["sat_overall"]
    assert overall.label_zh == "总体而言，您对我们的服务满意吗？"
    assert overall.construct == "satisfaction" and overall.type == "rating"
    assert json.loads(overall.value_labels)["6"] == {"zh": "无法回答", "en": "Cannot answer"}
    assert json.loads(overall.missing_codes) == {
        "6": "cannot_answer", "7": "refused", "8": "dont_know"
    }  # fmt: skip
    # On the 0-10 NPS, 6 is a score, not "cannot answer"; an interviewer's codes are 77, 88.
    nps = book.loc["nps"]
    assert json.loads(nps.missing_codes) == {"77": "refused", "88": "dont_know"}
    assert json.loads(nps.value_labels)["77"] == {"zh": "拒绝回答", "en": "Refused"}
    assert (book.form_id == "csi_mobile").all() and (book.version == "2026.1").all()


def test_missing_codes_name_every_kind_a_choice_list_declares(sample_questionnaire):
    item = sample_questionnaire.item("hall_waiting")
    assert missing_codes(item) == {"6": "cannot_answer", "7": "refused", "8": "dont_know"}


def test_the_phone_hash_is_keyed_so_another_key_gives_another_hash():
    phone = "+8613800000001"
    assert phone_hash(b"a", phone) == phone_hash(b"a", phone) != phone_hash(b"b", phone)
    assert phone not in phone_hash(b"a", phone) and len(phone_hash(b"a", phone)) == 64


def test_csv_has_a_bom_and_a_codebook_and_reads_back_by_item_name(export, tmp_path):
    data_path, book_path = write_export(export, "csv", tmp_path / "out.csv")
    assert data_path.read_bytes().startswith(b"\xef\xbb\xbf")
    back = pd.read_csv(data_path, encoding="utf-8-sig", dtype={"complained": str})
    assert back["sat_overall"].tolist() == [5, 1] and back["net_data_speed"].tolist() == [6, 2]
    assert back["improve"].tolist()[1] == "信号差"
    book = pd.read_csv(book_path, encoding="utf-8-sig")
    assert book["variable"].tolist() == list(export.data.columns)


def test_the_csv_download_is_a_zip_of_data_and_codebook(export):
    content, name = export_bytes(export, "csv")
    assert name == "csi_mobile_2026.1.csv.zip"
    with zipfile.ZipFile(io.BytesIO(content)) as archive:
        assert archive.namelist() == ["csi_mobile_2026.1.csv", "csi_mobile_2026.1.codebook.csv"]


def test_xlsx_has_a_data_sheet_and_a_codebook_sheet(export, tmp_path):
    (path,) = write_export(export, "xlsx", tmp_path / "out.xlsx")
    sheets = pd.read_excel(path, sheet_name=None)
    assert list(sheets) == ["data", "codebook"]
    assert sheets["data"]["nps"].tolist() == [10, 0]
    assert sheets["data"]["completed_at"][0] == pd.Timestamp("2026-05-01 08:10")
    assert sheets["codebook"]["variable"].tolist() == list(export.data.columns)


def test_sav_carries_labels_value_labels_and_user_missing_codes(export, tmp_path):
    (path,) = write_export(export, "sav", tmp_path / "out.sav")
    data, meta = pyreadstat.read_sav(str(path), user_missing=True)
    assert data["net_data_speed"].tolist() == [6, 2] and data["complained"][0] == "yes"
    assert meta.column_names_to_labels["sat_overall"] == "总体而言，您对我们的服务满意吗？"
    assert meta.variable_value_labels["sat_overall"][6.0] == "无法回答"
    assert meta.variable_value_labels["complained"] == {
        "yes": "是", "no": "否", "77": "拒绝回答", "88": "不知道"
    }  # fmt: skip
    assert meta.missing_ranges["net_data_speed"] == [
        {"lo": code, "hi": code} for code in (6.0, 7.0, 8.0)
    ]
    assert meta.missing_ranges["nps"] == [{"lo": 77.0, "hi": 77.0}, {"lo": 88.0, "hi": 88.0}]
    # Read as SPSS reads it by default, the user-missing code is missing.
    plain, _ = pyreadstat.read_sav(str(path))
    assert pd.isna(plain["net_data_speed"][0]) and plain["nps"].tolist() == [10, 0]


def test_parquet_keeps_types_and_carries_the_codebook_in_its_metadata(export, tmp_path):
    (path,) = write_export(export, "parquet", tmp_path / "out.parquet")
    table = pq.read_table(path)
    metadata = table.schema.metadata
    book = pd.DataFrame(json.loads(metadata[CODEBOOK_KEY]))
    assert book["variable"].tolist() == list(export.data.columns)
    assert json.loads(metadata[QUESTIONNAIRE_KEY])["version"] == "2026.1"
    back = table.to_pandas()
    assert back["sat_overall"].tolist() == [5, 1] and str(back["sat_overall"].dtype) == "Int64"


def test_an_unknown_format_is_refused(export, tmp_path):
    with pytest.raises(ValueError, match="unknown export format 'dta'"):
        write_export(export, "dta", tmp_path / "out.dta")
