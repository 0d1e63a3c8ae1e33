"""``POST /api/v1/contacts`` through the HTTP API, on SQLite and PostgreSQL: one decision per
contact, idempotent by contact_id, who may post, and the frequency rules under two
concurrent server processes."""

from __future__ import annotations

import json
import os
import threading
import urllib.request
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlmodel import Session

from api.settings import Settings
from api.web.app import create_app
from survey.db.tables import ContactEvent, Invitation, OutboundSms, Staff
from survey.programmes.manage import change_state, create_programme, find_programme
from survey.questionnaire import load_questionnaire
from survey.questionnaire.publish import publish
from survey.staff.accounts import create_api_key, create_staff
from tests.common import SAMPLES
from tests.integration.staff_login import PASSWORD, SECRET
from tests.service_process import free_port, manyi, running

pytestmark = pytest.mark.usefixtures("cheap_hashing")


def setup(engine, role="integration", **options):
    with Session(engine) as session:
        questionnaire, _ = load_questionnaire(SAMPLES / "contact_evaluation.yaml")
        version = publish(session, questionnaire)
        settings = {"mode": "sms_reply", "channels": ["hotline", "hall"], "sample_rate": 0.3}
        create_programme(session, version, "hotline", **{**settings, **options})
        member = create_staff(session, "cc-system", role, PASSWORD)
        _, key = create_api_key(session, session.get(Staff, member.id), "hotline")
    return {"Authorization": f"Bearer {key}"}


def contacts(start, n, *, phone=None, ended=None):
    ended = ended or datetime.now(UTC) - timedelta(minutes=3)
    return [{"contact_id": f"CC-{i:06d}", "phone": phone or f"+86139{i:08d}",
             "channel": "hotline", "ended_at": ended.isoformat(), "agent_id": f"A{i % 50}",
             "team": f"T{i % 5}", "queue": "billing", "region": "Haidian",
             "service_hall": None, "attributes": {"topic": "bill"}}
            for i in range(start, start + n)]  # fmt: skip


@pytest.fixture
def client(engine, database_url):
    settings = Settings(database_url=database_url, env="test", secret_key=SECRET)
    with TestClient(create_app(settings), base_url="https://testserver") as client:
        yield client


def count(engine, table, *where):
    with Session(engine) as session:
        query = select(func.count()).select_from(table)
        return session.execute(query.where(*where) if where else query).scalar_one()


def test_the_same_1000_contacts_posted_twice_are_decided_once(engine, client):
    headers = setup(engine)
    body = {"programme": "hotline", "contacts": contacts(0, 1000)}
    first = client.post("/api/v1/contacts", json=body, headers=headers)
    assert first.status_code == 200, first.text
    results = first.json()["results"]
    assert [r["contact_id"] for r in results] == [c["contact_id"] for c in body["contacts"]]
    kinds = {r["decision"] for r in results}
    assert kinds == {"invited", "sampled_out"}
    invited = sum(r["decision"] == "invited" for r in results)
    assert 230 < invited < 370  # a rate of 0.3
    assert count(engine, OutboundSms) == invited == count(engine, Invitation)
    second = client.post("/api/v1/contacts", json=body, headers=headers)
    assert second.json() == first.json()
    assert count(engine, OutboundSms) == invited == count(engine, Invitation)
    assert count(engine, ContactEvent) == 1000


def test_invalid_contacts_say_the_field_and_the_fix_and_the_rest_is_decided(engine, client):
    headers = setup(engine, sample_rate=1.0)
    batch = contacts(0, 3)
    batch[1]["ended_at"] = "yesterday"
    batch.append(dict(batch[0]))
    response = client.post("/api/v1/contacts", json={"programme": "hotline", "contacts": batch},
                           headers=headers)  # fmt: skip
    assert [(r["decision"], r["reason"].split(":")[0]) for r in response.json()["results"]] == [
        ("invited", "drawn at the rate 1 of the programme"), ("invalid", "ended_at"),
        ("invited", "drawn at the rate 1 of the programme"),
        ("duplicate", "contact CC-000000 is also number 1 of this batch, and decided there"),
    ]  # fmt: skip


def test_limits_unknown_and_paused_programmes_are_refused_with_words(engine, client):
    headers = setup(engine)
    body = {"programme": "hotline", "contacts": contacts(0, 1001)}
    too_many = client.post("/api/v1/contacts", headers=headers, json=body)
    assert too_many.status_code == 422 and "1000" in too_many.text
    unknown = client.post("/api/v1/contacts", headers=headers,
                          json={"programme": "nope", "contacts": contacts(0, 1)})  # fmt: skip
    assert unknown.status_code == 404
    assert "no programme named 'nope'" in unknown.json()["error"]["message"]
    with Session(engine) as session:
        change_state(session, find_programme(session, "hotline"), "pause")
    paused = client.post("/api/v1/contacts", headers=headers,
                         json={"programme": "hotline", "contacts": contacts(0, 1)})  # fmt: skip
    assert paused.status_code == 409 and "resume" in paused.json()["error"]["message"]


@pytest.mark.parametrize("role", ["admin", "researcher", "manager", "supervisor", "interviewer"])
def test_only_an_integration_account_may_submit(engine, client, role):
    headers = setup(engine, role=role)
    body = {"programme": "hotline", "contacts": contacts(0, 1)}
    assert client.post("/api/v1/contacts", json=body, headers=headers).status_code == 403
    assert client.post("/api/v1/contacts", json=body).status_code == 401
    assert count(engine, ContactEvent) == 0


def test_the_route_is_documented_with_an_example(client):
    spec = client.get("/openapi.json")
    if spec.status_code != 200:
        pytest.skip("the API docs are not public in this configuration")
    document = spec.json()
    operation = document["paths"]["/api/v1/contacts"]["post"]
    body = operation["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    [example] = document["components"]["schemas"][body.rsplit("/", 1)[1]]["examples"]
    assert example["programme"] and example["contacts"][0]["contact_id"]
    assert {"401", "403", "404", "409", "422"} <= set(operation["responses"])


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_two_server_processes_invite_each_customer_once(engine, database_url, tmp_path):
    """Two `manyi serve` processes get events of the same 200 customers at once (different
    contact ids, in opposite orders): exactly one invitation per customer."""
    headers = setup(engine, sample_rate=1.0)
    env = {**os.environ, "MANYI_DATABASE_URL": database_url, "MANYI_SECRET_KEY": SECRET,
           "MANYI_ENV": "test"}  # fmt: skip
    ports = [free_port(), free_port()]
    customers = [f"+86137{i:08d}" for i in range(200)]
    batches = {
        0: [dict(c, phone=p) for c, p in zip(contacts(0, 200), customers, strict=True)],
        1: [dict(c, phone=p) for c, p in zip(contacts(1000, 200), customers[::-1], strict=True)],
    }
    answers: dict[int, list] = {}

    def post(which: int) -> None:
        results = []
        for start in range(0, 200, 50):  # four requests each, interleaved with the other's
            chunk = batches[which][start : start + 50]
            body = json.dumps({"programme": "hotline", "contacts": chunk}).encode()
            request = urllib.request.Request(
                f"http://127.0.0.1:{ports[which]}/api/v1/contacts", data=body, method="POST",
                headers={**headers, "Content-Type": "application/json"})  # fmt: skip
            with urllib.request.urlopen(request, timeout=60) as answer:
                results += json.load(answer)["results"]
        answers[which] = results

    with (
        running(manyi("serve", "--port", str(ports[0])), base_url=f"http://127.0.0.1:{ports[0]}",
                env={**env, "MANYI_PUBLIC_BASE_URL": f"http://127.0.0.1:{ports[0]}"},
                log_path=tmp_path / "one.log"),
        running(manyi("serve", "--port", str(ports[1])), base_url=f"http://127.0.0.1:{ports[1]}",
                env={**env, "MANYI_PUBLIC_BASE_URL": f"http://127.0.0.1:{ports[1]}"},
                log_path=tmp_path / "two.log"),
    ):  # fmt: skip
        threads = [threading.Thread(target=post, args=(w,)) for w in (0, 1)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert len(answers[0]) == len(answers[1]) == 200
    decisions = [r["decision"] for r in answers[0] + answers[1]]
    assert decisions.count("invited") == 200
    assert decisions.count("frequency_capped") == 200
    with Session(engine) as session:
        per_number = session.execute(
            select(OutboundSms.to_phone, func.count()).group_by(OutboundSms.to_phone)
        ).all()
    assert sorted(p for p, _ in per_number) == sorted(customers)
    assert {n for _, n in per_number} == {1}


def test_the_command_line_creates_a_programme_and_imports_a_contact_log(
    engine, database_url, tmp_path, monkeypatch
):
    import typer
    from typer.testing import CliRunner

    from api.cli.programmes import contacts_app, programme_app
    from api.settings import get_settings

    monkeypatch.setenv("MANYI_DATABASE_URL", database_url)
    monkeypatch.setenv("MANYI_SECRET_KEY", SECRET)
    monkeypatch.setenv("MANYI_ENV", "test")
    get_settings.cache_clear()
    cli = typer.Typer()
    cli.add_typer(programme_app, name="programme")
    cli.add_typer(contacts_app, name="contacts")
    runner = CliRunner()
    with Session(engine) as session:
        questionnaire, _ = load_questionnaire(SAMPLES / "contact_evaluation.yaml")
        publish(session, questionnaire)
    created = runner.invoke(cli, ["programme", "create", "--name", "hotline", "--questionnaire",
                                  "contact_eval@2026.1", "--mode", "sms_reply", "--channels",
                                  "hotline,hall", "--sample-rate", "1", "--queue-rate",
                                  "vip=0"])  # fmt: skip
    assert created.exit_code == 0, created.output
    listed = runner.invoke(cli, ["programme", "list"])
    assert "hotline: running, sms_reply, channels hotline,hall, rate 1 (vip=0)" in listed.output
    log = tmp_path / "contacts.csv"
    rows = contacts(0, 3)
    rows[1]["queue"] = "vip"
    rows[2]["phone"] = "not a number"
    columns = ["contact_id", "phone", "channel", "ended_at", "agent_id", "queue", "topic"]
    lines = [",".join(columns)] + [
        ",".join([r["contact_id"], r["phone"], r["channel"], r["ended_at"], r["agent_id"],
                  r["queue"], "bill"]) for r in rows
    ]  # fmt: skip
    log.write_text("\n".join(lines) + "\n", encoding="utf-8")
    report = tmp_path / "report.csv"
    imported = runner.invoke(cli, ["contacts", "import", str(log), "--programme", "hotline",
                                   "--report", str(report)])  # fmt: skip
    assert imported.exit_code == 0, imported.output
    assert "row 4 (CC-000002): invalid: phone:" in imported.output
    assert "3 contacts: 1 invalid, 1 invited, 1 sampled_out" in imported.output
    assert report.read_text(encoding="utf-8").splitlines()[1].startswith("2,CC-000000,invited,")
    again = runner.invoke(cli, ["contacts", "import", str(log), "--programme", "hotline"])
    assert "3 contacts: 1 invalid, 1 invited, 1 sampled_out" in again.output
    assert count(engine, OutboundSms) == 1
    with Session(engine) as session:
        event = session.execute(select(ContactEvent)).scalars().first()
        assert event.source == "file" and event.attributes == {"topic": "bill"}
    paused = runner.invoke(cli, ["programme", "pause", "hotline"])
    assert "programme hotline paused" in paused.output
    get_settings.cache_clear()
