"""Response exports against SQLite and PostgreSQL: the download, its files, who gets what."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import zipfile

import pandas as pd
import pyarrow.parquet as pq
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update
from sqlmodel import Session, select

from api.settings import Settings
from api.web.app import create_app
from survey.answering.bulk_import import import_responses
from survey.answering.pages import stored_answers
from survey.db.tables import AuditLog, Campaign, Customer, Response, Staff
from survey.frames.sample_frame import read_frame
from survey.frames.store import store_frame
from survey.questionnaire.publish import publish
from tests.common import SAMPLES
from tests.integration.staff_keys import staff_with_keys

pyreadstat = pytest.importorskip("pyreadstat")

SECRET = "a-test-secret-that-is-long-enough-for-the-test-env"
VERSION = "csi_mobile@2026.1"
FORMATS = ("csv", "xlsx", "sav", "parquet")


@pytest.fixture
def world(engine, sample_questionnaire):
    """40 sample responses in two regions (or more), 10 of them in a campaign; staff with keys."""
    responses = pd.read_csv(SAMPLES / "responses.csv", dtype=str).head(40)
    frame = read_frame(SAMPLES / "frame.csv")
    frame = frame[frame.customer_id.isin(responses.customer_id)]
    with Session(engine) as session:
        version = publish(session, sample_questionnaire)
        frame_id = store_frame(session, frame, "exports", "test").id
        import_responses(session, version, responses, frame_id)
        campaign = Campaign(name="May", questionnaire_version_id=version.id)
        session.add(campaign)
        session.flush()
        first_ten = select(Response.id).order_by(Response.id).limit(10).scalar_subquery()
        session.exec(
            update(Response).where(Response.id.in_(first_ten)).values(campaign_id=campaign.id)
        )
        region = responses.region.value_counts().index[0]
        keys = staff_with_keys(session, region, "export test")
        phones = select(Customer.phone_e164).where(Customer.frame_id == frame_id)
        phones = list(session.exec(phones))
        return {"campaign": campaign.id, "region": region, "keys": keys, "phones": phones,
                "n": len(responses)}  # fmt: skip


@pytest.fixture
def client(engine, database_url):
    settings = Settings(database_url=database_url, public_base_url="https://manyi.example.org",
                        env="test", secret_key=SECRET)  # fmt: skip
    with TestClient(create_app(settings)) as client:
        yield client


def download(client, world, who, **params):
    headers = {"Authorization": f"Bearer {world['keys'][who]}"}
    return client.get("/api/v1/exports/responses", params={"version": VERSION, **params},
                      headers=headers)  # fmt: skip


def parquet_of(client, world, who, **params) -> pd.DataFrame:
    content = download(client, world, who, format="parquet", **params).content
    return pd.read_parquet(io.BytesIO(content))


def read_back(content: bytes, fmt: str, tmp_path) -> pd.DataFrame:
    """The data of a download, read as an analyst would."""
    if fmt == "csv":
        with zipfile.ZipFile(io.BytesIO(content)) as archive:
            return pd.read_csv(archive.open("csi_mobile_2026.1.csv"), encoding="utf-8-sig")
    if fmt == "xlsx":
        return pd.read_excel(io.BytesIO(content), sheet_name="data")
    if fmt == "parquet":
        return pq.read_table(io.BytesIO(content)).to_pandas()
    path = tmp_path / "export.sav"
    path.write_bytes(content)
    return pyreadstat.read_sav(str(path), user_missing=True)[0]


def as_code(value) -> str | None:
    """A cell as a stored code: 4.0 read back from a file is the code "4"."""
    if value is None or (not isinstance(value, str) and pd.isna(value)) or value == "":
        return None
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def unpacked(content: bytes, fmt: str) -> bytes:
    """Every byte of a download, its ZIP members (CSV, XLSX) decompressed."""
    if fmt not in ("csv", "xlsx"):
        return content
    with zipfile.ZipFile(io.BytesIO(content)) as archive:
        return b"".join(archive.read(name) for name in archive.namelist())


@pytest.mark.parametrize("fmt", FORMATS)
def test_each_format_round_trips_the_stored_answers_by_item_name(
    engine, world, client, sample_questionnaire, fmt, tmp_path
):
    response = download(client, world, "researcher", format=fmt)
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    data = read_back(response.content, fmt, tmp_path)
    assert len(data) == world["n"]
    assert set(sample_questionnaire.item_names) <= set(data.columns)
    assert (data["form_id"] == "csi_mobile").all()
    assert (data["version"].astype(str) == "2026.1").all()
    with Session(engine) as session:
        for row in data.to_dict("records"):
            stored = stored_answers(session, int(row["response_id"]))
            got = {name: as_code(row[name]) for name in sample_questionnaire.item_names}
            assert got == {name: stored.get(name) for name in sample_questionnaire.item_names}


def test_the_sav_file_has_variable_labels_value_labels_and_user_missing_codes(
    world, client, tmp_path
):
    path = tmp_path / "export.sav"
    path.write_bytes(download(client, world, "researcher", format="sav").content)
    data, meta = pyreadstat.read_sav(str(path), user_missing=True)
    assert meta.column_names_to_labels["loy_recommend"] == "您会向亲友推荐我们吗？"
    assert meta.variable_value_labels["loy_recommend"] == {
        1.0: "肯定不会", 2.0: "可能不会", 3.0: "不确定", 4.0: "可能会", 5.0: "肯定会",
        6.0: "无法回答", 7.0: "拒绝回答", 8.0: "不知道",
    }  # fmt: skip
    # "Cannot answer", and the interviewer's "refused" and "don't know": user-missing.
    assert meta.missing_ranges["hall_waiting"] == [{"lo": c, "hi": c} for c in (6.0, 7.0, 8.0)]
    # The sample has "cannot answer" answers: kept as 6 with user_missing, missing without.
    assert (data["hall_waiting"] == 6).any()
    plain, _ = pyreadstat.read_sav(str(path))
    assert plain["hall_waiting"].isna().sum() == (data["hall_waiting"] == 6).sum()


def test_the_parquet_file_carries_the_codebook(world, client, sample_questionnaire):
    content = download(client, world, "researcher", format="parquet").content
    metadata = pq.read_schema(io.BytesIO(content)).metadata
    book = pd.DataFrame(json.loads(metadata[b"manyi.codebook"]))
    row = book.set_index("variable").loc["sat_overall"]
    assert json.loads(row.missing_codes) == {"6": "cannot_answer", "7": "refused", "8": "dont_know"}
    assert row.version == "2026.1"
    assert json.loads(metadata[b"manyi.questionnaire"])["form_id"] == "csi_mobile"


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_managers_export_has_no_phone_number_anywhere(world, client, fmt, tmp_path):
    response = download(client, world, "manager", format=fmt)
    assert response.status_code == 200
    data = read_back(response.content, fmt, tmp_path)
    assert "phone_e164" not in data.columns and "phone_hash" in data.columns
    everything = unpacked(response.content, fmt)
    text = data.astype(str).to_csv()
    assert len(world["phones"]) == world["n"]  # a test over no numbers would prove nothing
    for phone in world["phones"]:
        # The E.164 form and the last ten digits (the national number) alike.
        for digits in (phone, phone[-10:]):
            assert digits.encode() not in everything and digits not in text


def test_a_regional_manager_gets_only_their_regions_responses(world, client):
    everyone = parquet_of(client, world, "manager")
    theirs = parquet_of(client, world, "regional")
    assert set(theirs["region"]) == {world["region"]}
    assert len(theirs) == (everyone["region"] == world["region"]).sum() < len(everyone)


def test_the_campaign_filter_keeps_only_that_campaigns_responses(world, client):
    data = parquet_of(client, world, "researcher", campaign=world["campaign"])
    assert len(data) == 10 and (data["campaign_id"] == world["campaign"]).all()


def test_an_interviewer_is_refused_and_nothing_is_exported(engine, world, client):
    response = download(client, world, "interviewer", format="csv")
    assert response.status_code == 403
    assert "export_responses" in response.json()["error"]["message"]
    assert download_audits(engine) == []


def test_without_a_key_the_api_answers_401(world, client):
    response = client.get("/api/v1/exports/responses", params={"version": VERSION})
    assert response.status_code == 401


def download_audits(engine) -> list[AuditLog]:
    with Session(engine) as session:
        return list(session.exec(select(AuditLog).where(AuditLog.action == "export")))


def test_every_export_is_audited_with_its_format_and_row_count(engine, world, client):
    download(client, world, "regional", format="sav")
    (row,) = download_audits(engine)
    with Session(engine) as session:
        regional = session.exec(select(Staff).where(Staff.username == "regional")).one()
    assert row.staff_id == regional.id and row.target == "responses:csi_mobile@2026.1"
    assert row.detail["format"] == "sav" and row.detail["phone"] == "hashed"
    assert 0 < row.detail["rows"] < world["n"]


def test_an_unknown_version_or_campaign_is_a_clear_404_and_a_malformed_one_422(world, client):
    unknown = download(client, world, "researcher", version="csi_mobile@1999.9")
    assert unknown.status_code == 404
    message = "no published questionnaire version csi_mobile@1999.9"
    assert unknown.json()["error"] == {"status": 404, "code": "not_found", "message": message,
                                       "details": []}  # fmt: skip
    assert download(client, world, "researcher", campaign=9999).status_code == 404
    malformed = download(client, world, "researcher", version="csi_mobile")
    assert malformed.status_code == 422 and "FORM@VERSION" in malformed.json()["error"]["message"]
    assert download(client, world, "researcher", format="dta").status_code == 422


def test_the_command_exports_with_phone_numbers_only_when_asked_and_audits_it(
    engine, database_url, world, tmp_path
):
    env = {**os.environ, "MANYI_DATABASE_URL": database_url}
    out = tmp_path / "responses.parquet"
    command = [sys.executable, "-m", "api.cli.main", "export", "responses", VERSION,
               "--out", str(out)]
    plain = subprocess.run(command, capture_output=True, text=True, env=env, timeout=120,
                           check=False)  # fmt: skip
    assert plain.returncode == 0, plain.stderr
    assert "phone_e164" not in pd.read_parquet(out).columns
    with_phone = subprocess.run([*command, "--with-phone"], capture_output=True, text=True,
                                env=env, timeout=120, check=False)  # fmt: skip
    assert with_phone.returncode == 0, with_phone.stderr
    assert set(pd.read_parquet(out)["phone_e164"]) <= set(world["phones"])
    with Session(engine) as session:
        actions = [(a.action, a.detail.get("phone")) for a in session.exec(select(AuditLog))]
    assert actions == [("export", "hashed"), ("personal_data_access", None), ("export", "included")]
    unknown = subprocess.run([*command[:5], "nope@1", "--out", str(out)], capture_output=True,
                             text=True, env=env, timeout=120, check=False)  # fmt: skip
    assert unknown.returncode == 1 and "no published questionnaire version nope@1" in unknown.stderr
