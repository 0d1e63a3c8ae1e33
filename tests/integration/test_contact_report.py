"""Agents, teams and queues measured (issue 15, item 5): counts from the tables, rates with
Wilson intervals, shrunken ranks, within the reader's scope; on the command line
(``contacts_report``) and the page ``/dashboard/agents``.

A programme gets contacts through :func:`decide_contacts` (every one invited), the
dispatcher's sending is simulated (the invitations marked sent), and customers reply by SMS
through :func:`receive_sms`, the real reply path. A free-text reply, which that path does
not store yet (item 4), is written as an answer outside the offered codes.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, text, update
from sqlmodel import Session
from typer.testing import CliRunner

from api.settings import Settings
from api.web.app import create_app
from scoring.agents import bottom_flags, rank_shrunken, shrunken_rates, unit_rates
from survey.db.tables import Answer, ContactEvent, Invitation, Response
from survey.programmes.decide import decide_contacts
from survey.programmes.manage import create_programme
from survey.programmes.report import contact_counts
from survey.questionnaire import load_questionnaire
from survey.questionnaire.publish import publish
from survey.sms.inbound import InboundMessage, receive_sms
from survey.staff.accounts import create_staff
from tests.common import SAMPLES
from tests.integration.staff_login import PASSWORD, SECRET, log_in

pytestmark = pytest.mark.usefixtures("cheap_hashing")

ZONE = "Asia/Shanghai"
#: 48 contacts: 8 agents in 2 teams, 2 regions, 2 queues, 2 channels, over 3 local days.
N = 48
NOW = datetime.now(UTC).replace(microsecond=0)


def _contact(i: int) -> dict:
    return {
        "contact_id": f"CC-{i:04d}",
        "phone": f"+86139{i:08d}",
        "channel": "hotline" if i % 6 else "hall",
        "ended_at": (NOW - timedelta(hours=1 + i)).isoformat(),
        "agent_id": f"A{i % 8}",
        "team": f"T{i % 2}",
        "queue": "billing" if i % 3 else "roaming",
        "region": "Hangzhou" if i % 4 < 2 else "Ningbo",
        "service_hall": None,
        "attributes": {},
    }


#: Contact i's reply: "1", "2", "3", free text ("text") or none.
def _reply(i: int) -> str | None:
    return {0: "1", 1: "1", 2: "3", 3: None, 4: "2", 5: "1", 6: None}.get(i % 7) if i != 9 \
        else "text"  # fmt: skip


def build(engine) -> None:
    with Session(engine) as session:
        questionnaire, _ = load_questionnaire(SAMPLES / "contact_evaluation.yaml")
        version = publish(session, questionnaire)
        create_programme(session, version, "hotline", mode="sms_reply",
                         channels=["hotline", "hall"], sample_rate=1.0,
                         reply_window_hours=72)  # fmt: skip
    decisions = decide_contacts(engine, "hotline", [_contact(i) for i in range(N)],
                                source="api", secret=SECRET, timezone=ZONE, now=NOW)  # fmt: skip
    assert {d.decision for d in decisions} == {"invited"}
    with Session(engine) as session:  # the dispatcher sent them
        session.execute(update(Invitation).values(status="invited", sent_at=NOW))
        session.commit()
        for i in range(N):
            reply = _reply(i)
            if reply is None:
                continue
            phone = _contact(i)["phone"]
            if reply == "text":
                receive_sms(session, InboundMessage(f"m{i}", phone, "1"), timezone=ZONE)
                rid = session.execute(
                    select(Response.id)
                    .join(ContactEvent, ContactEvent.invitation_id == Response.invitation_id)
                    .where(ContactEvent.contact_id == _contact(i)["contact_id"])
                ).scalar_one()
                session.add(Answer(response_id=rid, item_name="overall", value="等太久了"))
                session.commit()
            else:
                outcome = receive_sms(session, InboundMessage(f"m{i}", phone, reply),
                                      timezone=ZONE)  # fmt: skip
                assert outcome.handled_as == "answer"


def per_contact(engine, where: str = "1=1") -> pd.DataFrame:
    """One row per contact with its rating (the latest answer among the offered codes, else
    its latest answer: words), read by plain SQL (the reference)."""
    sql = f"""
        SELECT c.agent_id, c.team, c.queue, c.channel, c.region, c.ended_at,
               c.decision = 'invited' AS invited,
               (SELECT a.value FROM answer a JOIN response r ON r.id = a.response_id
                 WHERE r.invitation_id = c.invitation_id
                 ORDER BY a.value IN ('1', '2', '3') DESC, a.id DESC LIMIT 1) AS digit
          FROM contact_event c WHERE {where}"""
    with engine.connect() as connection:
        frame = pd.read_sql(text(sql), connection)
    frame["invited"] = frame["invited"].astype(bool)
    return frame


@pytest.fixture
def built(engine):
    build(engine)
    return engine


def test_counts_per_agent_are_those_of_plain_sql_and_of_unit_rates(built):
    with Session(built) as session:
        counts = contact_counts(session, by="agent", timezone=ZONE).set_index("unit")
    reference = per_contact(built)
    expected = unit_rates(reference, "agent_id", invited="invited")
    assert counts["contacts"].sum() == N
    for column in ("contacts", "invitations", "replies", "satisfied", "dissatisfied"):
        assert counts[column].to_dict() == expected[column].to_dict(), column
    replies = [_reply(i) for i in range(N)]
    assert counts["replies"].sum() == sum(r is not None for r in replies)
    assert counts["free_text"].sum() == replies.count("text") == 1
    assert counts["fair"].sum() == replies.count("2")
    assert set(counts["team"]) == {"T0", "T1"}


def test_counts_by_local_day_week_and_month_add_up(built):
    zone = ZoneInfo(ZONE)
    reference = per_contact(built)
    days = (
        pd.to_datetime(reference["ended_at"], utc=True).dt.tz_convert(zone).dt.strftime("%Y-%m-%d")
    )
    with Session(built) as session:
        daily = contact_counts(session, by="team", period="day", timezone=ZONE)
        weekly = contact_counts(session, by="team", period="week", timezone=ZONE)
        monthly = contact_counts(session, by="queue", period="month", timezone=ZONE)
    expected = reference.assign(day=days).groupby(["team", "day"]).size()
    assert daily.set_index(["unit", "period"])["contacts"].to_dict() == expected.to_dict()
    assert weekly["contacts"].sum() == monthly["contacts"].sum() == N
    assert all("-W" in p for p in weekly["period"])


def test_a_hangzhou_manager_counts_hangzhou_contacts_only(built):
    with Session(built) as session:
        manager = create_staff(session, "hz", "manager", PASSWORD, regions=["Hangzhou"])
        counts = contact_counts(session, by="channel", timezone=ZONE, reader=manager)
    expected = per_contact(built, "region = 'Hangzhou'").groupby("channel").size()
    assert counts.set_index("unit")["contacts"].to_dict() == expected.to_dict()
    assert counts["contacts"].sum() == N // 2


def run_cli(engine, monkeypatch, *args):
    from api.cli import contact_report
    from api.settings import get_settings

    monkeypatch.setenv("MANYI_DATABASE_URL", engine.url.render_as_string(hide_password=False))
    monkeypatch.setenv("MANYI_TIMEZONE", ZONE)
    get_settings.cache_clear()
    app = __import__("typer").Typer()
    app.command()(contact_report.contacts_report)
    result = CliRunner().invoke(app, list(args))
    get_settings.cache_clear()
    return result


def test_the_cli_ranks_agents_with_the_shrinkage_of_scoring_agents(built, monkeypatch):
    result = run_cli(built, monkeypatch, "--by", "agent", "--json")
    assert result.exit_code == 0, result.output
    rows = {r["unit"]: r for r in json.loads(result.output)["units"]}
    reference = per_contact(built)
    rates = unit_rates(reference, "agent_id", invited="invited")
    teams = reference.groupby("agent_id")["team"].max()
    shrunk = shrunken_rates(rates.assign(team=teams), successes="satisfied",
                            trials="replies", group="team")  # fmt: skip
    ranked = rank_shrunken(shrunk)
    flags = bottom_flags(shrunk)
    for agent, row in rows.items():
        assert row["replies"] == rates.loc[agent, "replies"]
        assert row["satisfaction_rate"] == pytest.approx(rates.loc[agent, "satisfaction_rate"])
        assert row["satisfaction_ci_low"] == pytest.approx(rates.loc[agent, "satisfaction_ci_low"])
        assert row["dissatisfaction_ci_high"] == pytest.approx(
            rates.loc[agent, "dissatisfaction_ci_high"]
        )
        assert row["shrunken_rate"] == pytest.approx(shrunk.loc[agent, "posterior_mean"])
        assert row["shrunken_ci_low"] == pytest.approx(shrunk.loc[agent, "ci_low"])
        assert row["rank"] == ranked.loc[agent, "rank"]
        assert [row["rank_low"], row["rank_high"]] == [
            ranked.loc[agent, "rank_low"],
            ranked.loc[agent, "rank_high"],
        ]
        assert row["bottom_raw"] == bool(flags.loc[agent, "bottom_raw"])
        assert row["bottom_shrunken"] == bool(flags.loc[agent, "bottom_shrunken"])
    assert np.isclose(sum(r["response_rate"] * r["invitations"] for r in rows.values()),
                      sum(r["replies"] for r in rows.values()))  # fmt: skip


def test_the_cli_gives_one_row_per_unit_and_period_and_a_table(built, monkeypatch):
    result = run_cli(built, monkeypatch, "--by", "team", "--period", "day", "--json",
                     "--programme", "hotline")  # fmt: skip
    assert result.exit_code == 0, result.output
    units = json.loads(result.output)["units"]
    assert {r["unit"] for r in units} == {"T0", "T1"}
    assert len({(r["unit"], r["period"]) for r in units}) == len(units) >= 4
    assert sum(r["contacts"] for r in units) == N
    table = run_cli(built, monkeypatch, "--by", "queue")
    assert table.exit_code == 0, table.output
    assert "billing" in table.output and "roaming" in table.output
    unknown = run_cli(built, monkeypatch, "--by", "queue", "--programme", "nope")
    assert unknown.exit_code != 0 and "nope" in unknown.output


@pytest.fixture
def client(built, database_url):
    settings = Settings(database_url=database_url, env="test", secret_key=SECRET, timezone=ZONE)
    with Session(built) as session:
        create_staff(session, "boss", "researcher", PASSWORD)
        create_staff(session, "hz", "manager", PASSWORD, regions=["Hangzhou"])
        create_staff(session, "caller", "interviewer", PASSWORD)
    with TestClient(create_app(settings), base_url="https://testserver") as client:
        yield client


def test_the_page_shows_agents_ranked_with_intervals_and_words(client):
    log_in(client, "boss")
    page = client.get("/dashboard/agents?by=agent&programme=hotline")
    assert page.status_code == 200, page.text
    assert "A0" in page.text and "A7" in page.text
    assert "排名区间" in page.text and "trend-plot" in page.text
    assert "replies" in page.text


def test_a_hangzhou_manager_sees_only_hangzhou_contacts_on_the_page(client, built):
    log_in(client, "hz")
    page = client.get("/dashboard/agents?by=channel")
    assert page.status_code == 200, page.text
    hangzhou = per_contact(built, "region = 'Hangzhou'")
    assert f'data-contacts="{len(hangzhou)}"' in page.text
    assert f'data-contacts="{N}"' not in page.text


@pytest.mark.parametrize("by", ["team", "queue", "channel"])
def test_the_page_by_other_units(client, by):
    log_in(client, "boss")
    page = client.get(f"/dashboard/agents?by={by}&period=week")
    assert page.status_code == 200, page.text


def test_an_interviewer_may_not_see_the_page_and_bad_choices_are_refused(client):
    log_in(client, "caller")
    assert client.get("/dashboard/agents").status_code == 403
    client.cookies.clear()
    log_in(client, "boss")
    assert client.get("/dashboard/agents?by=region").status_code == 422
    missing = client.get("/dashboard/agents?programme=nope")
    assert missing.status_code == 404 and "nope" in missing.text
