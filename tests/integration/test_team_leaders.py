"""Team leaders (issue 15, item 5: "a team leader sees their team"), on SQLite and PostgreSQL.

A hotline of three teams of four agents each; the team leader of ``T-North`` must see their
teams' contacts only (agents, teams, queues, channels and the trend counted over them, as
plain SQL counts them), their agents ranked among the whole programme's (the same rank as a
researcher sees), and no other team's agent id on any route, by session or by API key. They
land on the agents page and are refused every other staff page. Accounts: a team leader has
one known team at least, no other role has teams (command line, console, library), and
migration 0013 gives the accounts already there no team.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, text, update
from sqlmodel import Session
from typer.testing import CliRunner

from api.analysis.agents import RANK_COLUMNS, measure, measure_among
from api.settings import Settings
from api.web.app import create_app
from survey.db.engine import current_revision, downgrade, head_revision, upgrade
from survey.db.tables import ContactEvent, Invitation, Staff
from survey.programmes.decide import decide_contacts
from survey.programmes.manage import create_programme
from survey.programmes.report import UNITS, contact_counts
from survey.questionnaire import load_questionnaire
from survey.questionnaire.publish import publish
from survey.sms.inbound import InboundMessage, receive_sms
from survey.staff.accounts import (
    StaffError,
    change_role,
    check_places,
    create_api_key,
    create_staff,
    find_staff,
    scope_clause,
    sees_everywhere,
)
from tests.common import SAMPLES
from tests.integration.staff_login import PASSWORD, SECRET, field, log_in
from tests.integration.test_contact_report import per_contact
from tests.security.test_scope import get_routes, read_body, urls_of

pytestmark = pytest.mark.usefixtures("cheap_hashing")

ZONE = "Asia/Shanghai"
NOW = datetime.now(UTC).replace(microsecond=0)
#: Team name -> the word in its agents' ids (ids no page could show by chance).
TEAMS = {"T-North": "north", "T-South": "south", "T-East": "east"}
#: 72 contacts: 3 teams of 4 agents, 6 contacts each, 2 queues, 2 channels, 2 regions.
N = 72
MINE = "T-North"


def _contact(i: int) -> dict:
    team = list(TEAMS)[i % 3]
    return {
        "contact_id": f"TL-{i:04d}",
        "phone": f"+86138{i:08d}",
        "channel": "hotline" if i % 6 else "hall",
        "ended_at": (NOW - timedelta(minutes=30 + 40 * i)).isoformat(),
        "agent_id": f"zq-{TEAMS[team]}-{(i // 3) % 4:02d}",
        "team": team,
        "queue": "billing" if i % 5 else "roaming",
        "region": "Hangzhou" if i % 4 < 2 else "Ningbo",
        "service_hall": None,
        "attributes": {},
    }


def _reply(i: int) -> str | None:
    """Contact i's reply: agents differ (their index shifts the cycle), some say nothing."""
    return ("1", "1", "3", None, "2", "1", None, "3")[(i + 3 * ((i // 3) % 4)) % 8]


def agents_of(team: str) -> set[str]:
    return {_contact(i)["agent_id"] for i in range(N) if _contact(i)["team"] == team}


OTHERS = sorted(agents_of("T-South") | agents_of("T-East"))


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
            if (reply := _reply(i)) is not None:
                message = InboundMessage(f"m{i}", _contact(i)["phone"], reply)
                assert receive_sms(session, message, timezone=ZONE).handled_as == "answer"


@pytest.fixture
def built(engine):
    build(engine)
    with Session(engine) as session:
        create_staff(session, "lead", "team_leader", PASSWORD, teams=[MINE])
        create_staff(session, "boss", "researcher", PASSWORD)
        create_staff(session, "hz", "manager", PASSWORD, regions=["Hangzhou"])
    return engine


def leader(engine) -> Staff:
    with Session(engine) as session:
        return find_staff(session, "lead")


@pytest.fixture
def client(built, database_url):
    settings = Settings(database_url=database_url, env="test", secret_key=SECRET, timezone=ZONE)
    with TestClient(create_app(settings), base_url="https://testserver") as client:
        yield client


def unit_rows(page: str) -> dict[str, dict]:
    """The rows of the page's units table: contacts, and rank "k / N" where ranked."""
    body = page.split('<table id="units">', 1)[1].split("</table>", 1)[0].split("<tbody>", 1)[1]
    rows = {}
    for row in re.findall(r"<tr>(.*?)</tr>", body, re.S):
        unit = re.match(r"\s*<td>([^<]*)</td>", row).group(1)
        contacts = re.search(r'<td class="n">(\d+)</td>', row).group(1)
        rank = re.search(r'<td class="n">(\d+) <span class="muted">/ (\d+)</span>', row)
        rows[unit] = {"contacts": int(contacts),
                      "rank": (int(rank[1]), int(rank[2])) if rank else None}  # fmt: skip
    return rows


# -- what a team leader counts ------------------------------------------------------------


@pytest.mark.parametrize("by", list(UNITS))
def test_a_team_leader_counts_exactly_their_teams_contacts_by_every_unit(built, by):
    with Session(built) as session:
        counts = contact_counts(session, by=by, timezone=ZONE, reader=leader(built))
    reference = per_contact(built, f"team = '{MINE}'")
    column = {"agent": "agent_id"}.get(by, by)
    grouped = reference.groupby(column)
    counted = counts.set_index("unit")
    assert counted["contacts"].to_dict() == grouped.size().to_dict()
    assert counted["replies"].to_dict() == grouped["digit"].count().to_dict()
    satisfied = reference.assign(s=reference["digit"] == "1").groupby(column)["s"].sum()
    assert counted["satisfied"].to_dict() == satisfied.to_dict()
    assert counts["contacts"].sum() == len(reference) == N // 3
    if by == "agent":
        assert set(counted.index) == agents_of(MINE) and set(counts["team"]) == {MINE}


def test_a_team_leader_without_a_team_sees_nothing_rather_than_everything(built):
    # A row edited by hand: the library refuses such an account, the scope still holds.
    with Session(built) as session:
        session.execute(update(Staff).where(Staff.username == "lead").values(teams=[]))
        session.commit()
        orphan = find_staff(session, "lead")
        assert not sees_everywhere(orphan)
        assert contact_counts(session, by="team", timezone=ZONE, reader=orphan).empty
        assert session.execute(
            select(ContactEvent.id).where(scope_clause(orphan, ContactEvent.region,
                                                       ContactEvent.service_hall))
        ).all() == []  # fmt: skip


def test_a_team_leaders_agents_have_the_shrinkage_and_rank_of_the_whole_programme(built):
    with Session(built) as session:
        mine = contact_counts(session, by="agent", timezone=ZONE, reader=leader(built))
        everyone = contact_counts(session, by="agent", timezone=ZONE)
        by_week = [contact_counts(session, by="agent", period="week", timezone=ZONE, **reader)
                   for reader in ({"reader": leader(built)}, {})]  # fmt: skip
    shown = measure_among(mine, everyone).set_index("unit")
    whole = measure(everyone, "agent").set_index("unit")
    assert set(shown.index) == agents_of(MINE)
    assert whole["ranked"].iloc[0] == 3 * 4 and (shown["ranked"] == 12).all()
    for column in RANK_COLUMNS:
        pd.testing.assert_series_equal(shown[column], whole.loc[shown.index, column],
                                       check_dtype=False, obj=column)  # fmt: skip
    # Ranked among themselves, they would be "k of 4", on a prior fitted on one team.
    assert measure(mine, "agent")["ranked"].iloc[0] == 4
    weekly = measure_among(*by_week)
    assert len(weekly) == len(by_week[0]) and set(weekly["unit"]) == agents_of(MINE)
    whole_weekly = measure(by_week[1], "agent").set_index(["unit", "period"])
    for _, row in weekly.iterrows():
        assert row["ranked"] == whole_weekly.loc[(row["unit"], row["period"]), "ranked"]


# -- the page -----------------------------------------------------------------------------


def test_a_team_leader_lands_on_the_agents_page_with_only_their_agents_ranked_as_for_all(
    client, built
):
    landed = log_in(client, "lead")
    assert landed.headers["location"] == "/dashboard/agents"
    page = client.get("/dashboard/agents?by=agent&programme=hotline")
    assert page.status_code == 200, page.text
    rows = unit_rows(page.text)
    assert set(rows) == agents_of(MINE)
    reference = per_contact(built, f"team = '{MINE}'")
    assert f'data-contacts="{len(reference)}"' in page.text
    assert {u: r["contacts"] for u, r in rows.items()} == \
        reference.groupby("agent_id").size().to_dict()  # fmt: skip
    assert 'id="whole-programme"' in page.text and "your teams' agents" in page.text
    # The rank plot draws their 4 agents on the programme's axis, 1 to 12.
    assert "best) · 12</text>" in page.text and page.text.count('<g class="row unit">') == 4
    assert "Your scope" in page.text and MINE in page.text
    client.cookies.clear()
    log_in(client, "boss")
    everyone = unit_rows(client.get("/dashboard/agents?by=agent&programme=hotline").text)
    assert len(everyone) == 12
    assert {u: everyone[u]["rank"] for u in rows} == {u: r["rank"] for u, r in rows.items()}
    assert all(r["rank"][1] == 12 for r in rows.values())


@pytest.mark.parametrize("by", ["team", "queue", "channel"])
def test_a_team_leaders_teams_queues_and_channels_are_counted_over_their_contacts(
    client, built, by
):
    log_in(client, "lead")
    page = client.get(f"/dashboard/agents?by={by}")
    assert page.status_code == 200, page.text
    reference = per_contact(built, f"team = '{MINE}'")
    expected = reference.groupby(by).size().to_dict()
    assert {u: r["contacts"] for u, r in unit_rows(page.text).items()} == expected
    trend = page.text.split('id="trend-day"', 1)[1].split("</table>", 1)[0]
    days = [int(n) for n in re.findall(r'<tr><td>[^<]+</td><td class="n">(\d+)</td>', trend)]
    assert sum(days) == len(reference)


def test_a_team_leader_is_refused_every_other_page_and_the_nav_offers_none(client, built):
    log_in(client, "lead")
    page = client.get("/dashboard/agents")
    nav = page.text.split("<nav", 1)[1].split("</nav>", 1)[0]
    assert re.findall(r'href="([^"]+)"', nav) == ["/dashboard/agents", "/me"]
    for path in ("/dashboard", "/dashboard/priorities", "/dashboard/items",
                 "/dashboard/rankings", "/dashboard/report", "/dashboard/follow-ups",
                 "/console", "/console/staff", "/console/exports", "/calls", "/supervision",
                 "/supervision/productivity.csv", "/api/v1/analyses"):  # fmt: skip
        assert client.get(path, follow_redirects=False).status_code == 403, path
    me = client.get("/me").text
    assert 'href="/dashboard/agents"' in me and 'href="/dashboard"' not in me
    assert "team: T-North" in me


def test_no_route_shows_a_team_leader_another_teams_agent_or_team(client, built):
    forbidden = [*OTHERS, "T-South", "T-East"]
    with Session(built) as session:
        _, key = create_api_key(session, find_staff(session, "lead"), "probe")
    pages = [f"/dashboard/agents?by={by}&period={period}&programme={programme}"
             for by in UNITS for period in ("", "day", "week", "month")
             for programme in ("", "hotline")]  # fmt: skip
    # Seen where they are shown: the search finds them, so their absence means scope.
    log_in(client, "boss")
    shown = "".join(client.get(url).text for url in pages)
    assert all(name in shown for name in forbidden)
    client.cookies.clear()
    log_in(client, "lead")
    found, opened = [], 0
    urls = pages + [url for route in get_routes(client.app) for url in urls_of(route, {})]
    for url in urls:
        for way, headers in (("session", {}), ("key", {"Authorization": f"Bearer {key}"})):
            answer = client.get(url, headers=headers, follow_redirects=False)
            body, _ = read_body(answer)
            opened += answer.status_code == 200
            found += [f"{way} {url} ({answer.status_code}): {name}"
                      for name in forbidden if name in body]  # fmt: skip
    assert not found, "another team reached a team leader:\n" + "\n".join(found)
    assert opened >= len(pages) and len(urls) > 50


# -- accounts -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("role", "limits", "words"),
    [
        ("team_leader", {}, "name at least one team"),
        ("manager", {"teams": [MINE]}, "only team leaders are limited to teams"),
        ("interviewer", {"teams": [MINE]}, "only team leaders are limited to teams"),
        ("team_leader", {"teams": [MINE], "regions": ["Hangzhou"]}, "only managers"),
    ],
    ids=["leader-without-team", "manager-with-team", "interviewer-with-team",
         "leader-with-region"],
)  # fmt: skip
def test_only_a_team_leader_has_teams_and_always_one(engine, role, limits, words):
    with Session(engine) as session, pytest.raises(StaffError, match=words) as refused:
        create_staff(session, "li.na", role, PASSWORD, **limits)
    assert refused.value.field == ("regions" if "regions" in limits else "teams")
    with Session(engine) as session:
        assert find_staff(session, "li.na") is None


def test_a_team_must_be_one_that_contact_events_name(built):
    with Session(built) as session:
        check_places(session, (), (), [MINE, "T-East"])
        with pytest.raises(StaffError, match=r"unknown team 'T-Nroth'.*known: T-East, "
                                             r"T-North, T-South") as refused:  # fmt: skip
            check_places(session, (), (), ["T-Nroth"])
        assert refused.value.field == "teams"
        member = find_staff(session, "hz")
        change_role(session, member, "team_leader", teams=["T-South", "T-East"])
        assert (member.role, member.teams, member.regions) == (
            "team_leader", ["T-East", "T-South"], [])  # fmt: skip


def test_no_team_is_known_before_any_contact_event(engine):
    with Session(engine) as session, pytest.raises(StaffError, match="submit the contact"):
        check_places(session, (), (), [MINE])


def run_staff(monkeypatch, database_url, *args):
    from api.cli.staff import staff_app
    from api.settings import get_settings

    monkeypatch.setenv("MANYI_DATABASE_URL", database_url)
    monkeypatch.setenv("MANYI_STAFF_PASSWORD", PASSWORD)
    get_settings.cache_clear()
    try:
        return CliRunner().invoke(staff_app, list(args))
    finally:
        get_settings.cache_clear()


def test_the_command_line_adds_a_team_leader_with_known_teams_only(
    built, database_url, monkeypatch
):
    for args, words in (
        (["--role", "team_leader"], "name at least one team"),
        (["--role", "manager", "--team", MINE], "only team leaders are limited to teams"),
        (["--role", "team_leader", "--team", "T-Nroth"], "unknown team 'T-Nroth'"),
    ):
        refused = run_staff(monkeypatch, database_url, "add", "zhao", *args)
        assert refused.exit_code == 1 and words in refused.output, refused.output
    assert "known: T-East, T-North, T-South" in refused.output
    added = run_staff(monkeypatch, database_url, "add", "zhao", "--role", "team_leader",
                      "--team", MINE, "--team", "T-East")  # fmt: skip
    assert added.exit_code == 0, added.output
    assert "added zhao (team_leader, T-East, T-North)" in added.output
    listing = run_staff(monkeypatch, database_url, "list").output
    assert "zhao\tteam_leader\tT-East, T-North" in listing
    with Session(built) as session:
        assert find_staff(session, "zhao").teams == ["T-East", "T-North"]


def _post(client, path, data, page):
    csrf = field(client.get(page).text, "csrf")
    return client.post(path, data={"csrf": csrf, **data}, follow_redirects=False)


def test_the_console_gives_and_changes_a_team_leaders_teams_with_errors_beside_the_field(
    client, built
):
    with Session(built) as session:
        create_staff(session, "root", "admin", PASSWORD)
    log_in(client, "root")
    password = "plum tractor violet 42"  # noqa: S105 (a test's)
    new = {"username": "qian", "display_name": "钱", "role": "team_leader", "teams": "",
           "password": password, "password_again": password}  # fmt: skip
    for change, words in (
        ({}, "name at least one team"),
        ({"role": "manager", "teams": MINE}, "only team leaders are limited to teams"),
        ({"teams": "T-Nroth"}, "unknown team &#39;T-Nroth&#39;"),
    ):
        refused = _post(client, "/console/staff", {**new, **change}, "/console/staff")
        assert refused.status_code == 422
        beside = re.search(r'<input id="teams"[^>]*>\s*<br><span class="err" id="teams-error">'
                           r"([^<]*)</span>", refused.text)  # fmt: skip
        assert beside is not None and words in beside.group(1), refused.text[-3000:]
        assert 'aria-invalid="true"' in refused.text
    assert "Known teams" in refused.text and "T-South" in refused.text
    added = _post(client, "/console/staff", {**new, "teams": f"{MINE}，T-East"}, "/console/staff")
    assert added.status_code == 303, added.text
    with Session(built) as session:
        member = find_staff(session, "qian")
        assert (member.role, member.teams) == ("team_leader", ["T-East", MINE])
    page = f"/console/staff/{member.id}"
    shown = client.get(page).text
    assert f'id="teams" name="teams" maxlength="5000" value="T-East, {MINE}"' in shown
    refused = _post(client, f"{page}/role", {"role": "team_leader", "teams": ""}, page)
    assert refused.status_code == 422 and 'id="teams-error"' in refused.text
    changed = _post(client, f"{page}/role", {"role": "team_leader", "teams": "T-South"}, page)
    assert changed.status_code == 303
    moved = _post(client, f"{page}/role", {"role": "manager", "regions": "Hangzhou",
                                           "teams": "T-South"}, page)  # fmt: skip
    assert moved.status_code == 422 and "only team leaders" in moved.text
    with Session(built) as session:
        assert find_staff(session, "qian").teams == ["T-South"]


# -- migration 0013 -----------------------------------------------------------------------


def _teams_of(engine, username: str):
    with engine.connect() as connection:
        value = connection.execute(
            text("SELECT teams FROM staff WHERE username = :u"), {"u": username}
        ).scalar_one()
    return json.loads(value) if isinstance(value, str) else value


def test_migration_0013_gives_existing_accounts_no_team_and_goes_down_again(engine):
    downgrade(engine, "0012")
    with engine.begin() as connection:
        connection.execute(
            text("INSERT INTO staff (username, display_name, role, regions, service_halls, "
                 "active, created_at) VALUES ('wang', 'Wang', 'manager', '[\"Hangzhou\"]', "
                 "'[]', TRUE, '2026-12-01 08:00:00+00:00')")
        )  # fmt: skip
    upgrade(engine)
    assert current_revision(engine) == head_revision()
    assert _teams_of(engine, "wang") == []
    with Session(engine) as session:
        create_staff(session, "lead", "team_leader", PASSWORD, teams=[MINE])
    assert _teams_of(engine, "lead") == [MINE]
    downgrade(engine, "0012")
    with engine.connect() as connection:
        assert connection.execute(text("SELECT COUNT(*) FROM staff")).scalar_one() == 2
    upgrade(engine)
    assert _teams_of(engine, "lead") == [] and _teams_of(engine, "wang") == []
