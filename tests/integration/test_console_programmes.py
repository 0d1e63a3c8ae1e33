"""The console's programmes section (/console/programmes), used as a browser uses it, on SQLite
and PostgreSQL: creating with the checks of ``manyi programme create``, pausing and resuming
as :mod:`survey.programmes.manage` sees it, today's decisions, and a programme's incentives
giving what ``manyi incentives`` gives on the same data; who may, CSRF, the audit log.
"""

from __future__ import annotations

import re
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from markupsafe import escape
from sqlalchemy import func, select, update
from sqlmodel import Session
from typer.testing import CliRunner

from api import permissions
from api.cli.incentives import incentives_app
from api.cli.programmes import programme_app
from api.settings import Settings
from api.web.app import create_app
from survey.db.tables import (
    AuditLog,
    Campaign,
    ContactEvent,
    LotteryDraw,
    LoyaltyCredit,
    Programme,
    ProgrammeIncentive,
)
from survey.frames.phones import mask_phone
from survey.programmes.incentives import LOTTERY_DRAWN, pick_winners
from survey.programmes.manage import create_programme, find_programme
from survey.questionnaire import load_questionnaire
from survey.questionnaire.publish import find_reference, publish
from survey.staff.accounts import Role, create_staff
from tests.common import SAMPLES
from tests.integration.staff_login import PASSWORD, SECRET, field, log_in
from tests.integration.test_incentives import respond

pytestmark = pytest.mark.usefixtures("cheap_hashing")

BASE = "https://manyi.example.org"
ZONE = "Asia/Shanghai"
#: The console's clock: 12:00 in Shanghai on 6 January 2027, December 2026 over.
NOW = datetime(2027, 1, 6, 4, tzinfo=UTC)
RULE_FROM = datetime(2026, 10, 1, tzinfo=UTC)
CONTACT_FORM = "contact_eval@2026.1"
CSI_FORM = "csi_mobile@2026.1"


@pytest.fixture
def world(engine, sample_questionnaire):
    """Both sample questionnaires published, and four staff."""
    with Session(engine) as session:
        publish(session, sample_questionnaire)
        publish(session, load_questionnaire(SAMPLES / "contact_evaluation.yaml")[0])
        for username, role in (("rita", "researcher"), ("ada", "admin"), ("max", "manager"),
                               ("ivy", "interviewer")):  # fmt: skip
            create_staff(session, username, role, PASSWORD)


@pytest.fixture
def open_client(engine, database_url, world):
    clients = []

    def open_as(username: str) -> TestClient:
        settings = Settings(database_url=database_url, public_base_url=BASE, env="test",
                            secret_key=SECRET, timezone=ZONE)  # fmt: skip
        app = create_app(settings)
        app.state.clock = lambda: NOW
        client = TestClient(app, base_url="https://testserver", follow_redirects=False)
        client.__enter__()
        clients.append(client)
        assert log_in(client, username).status_code == 303
        return client

    yield open_as
    for client in clients:
        client.__exit__(None, None, None)


@pytest.fixture
def rita(open_client):
    return open_client("rita")


def run_cli(engine, monkeypatch, app, *args):
    """``manyi programme|incentives ...`` on the test's database, in the console's time zone."""
    from api.settings import get_settings

    monkeypatch.setenv("MANYI_DATABASE_URL", engine.url.render_as_string(hide_password=False))
    monkeypatch.setenv("MANYI_TIMEZONE", ZONE)
    get_settings.cache_clear()
    try:
        return CliRunner().invoke(app, list(args))
    finally:
        get_settings.cache_clear()


def csrf_of(client, path="/console/programmes/new"):
    return field(client.get(path).text, "csrf")


def audit_rows(engine, action):
    with Session(engine) as session:
        return session.execute(
            select(AuditLog).where(AuditLog.action == action).order_by(AuditLog.id)
        ).scalars().all()  # fmt: skip


def make_programme(engine, name="hotline", **options) -> int:
    with Session(engine) as session:
        version = find_reference(session, CONTACT_FORM)
        settings = {"mode": "sms_reply", "channels": ["hotline", "hall"], "sample_rate": 0.5}
        return create_programme(session, version, name, **{**settings, **options}).id


# -- creating --------------------------------------------------------------------------------

GOOD = {
    "name": "hotline", "questionnaire": CONTACT_FORM, "mode": "sms_reply",
    "channels": "hotline,hall,online", "sample_rate": "0.2", "channel_rates": "hall=0.5",
    "queue_rates": "billing=0.8\ncomplaints=1", "min_per_agent": "20", "delay_minutes": "10",
    "reply_window_hours": "12", "quiet": "22:00-08:30", "rate_per_second": "50",
}  # fmt: skip
CLI_GOOD = ["create", "--name", "hotline", "--questionnaire", CONTACT_FORM, "--mode",
            "sms_reply", "--channels", "hotline,hall,online", "--sample-rate", "0.2"]  # fmt: skip


def create(client, **changes):
    return client.post("/console/programmes", data={"csrf": csrf_of(client), **GOOD, **changes})


def error_of(page: str, key: str) -> str:
    match = re.search(rf'<span class="err" id="{key}-error">(.*?)</span>', page, re.S)
    assert match, f"no error beside {key}"
    return match.group(1)


def test_a_form_with_mistakes_says_each_beside_its_field_keeps_it_and_then_creates(engine, rita):
    mistakes = {
        "name": "hot line", "questionnaire": "", "channels": "Hotline", "sample_rate": "lots",
        "queue_rates": "billing", "min_per_agent": "-1", "reply_window_hours": "0",
        "quiet": "9pm-8am", "rate_per_second": "nan",
    }  # fmt: skip
    reply = create(rita, channel_rates="", **mistakes)
    assert reply.status_code == 422
    page = reply.text
    for key in mistakes:
        assert error_of(page, key), key
    assert "fix the 9 field(s)" in page
    assert 'value="hot line"' in page and 'value="Hotline"' in page and 'value="lots"' in page
    assert ">billing</textarea>" in page and 'value="9pm-8am"' in page
    assert "lower-case words" in error_of(page, "channels")
    assert "write QUEUE=RATE" in error_of(page, "queue_rates")
    with Session(engine) as session:
        assert session.execute(select(func.count()).select_from(Programme)).scalar_one() == 0

    reply = create(rita)
    assert reply.status_code == 303, reply.text
    programme_id = int(reply.headers["location"].split("/")[-1].split("?")[0])
    assert reply.headers["location"] == f"/console/programmes/{programme_id}?m=created"
    with Session(engine) as session:
        made = find_programme(session, "hotline")
        campaign = session.get(Campaign, made.campaign_id)
    assert made.id == programme_id and made.state == "running" and campaign.status == "running"
    assert (made.mode, made.channels, made.default_rate) == (
        "sms_reply", ["hotline", "hall", "online"], 0.2)  # fmt: skip
    assert made.channel_rates == {"hall": 0.5}
    assert made.queue_rates == {"billing": 0.8, "complaints": 1.0}
    assert (made.min_per_agent, made.delay_minutes, made.reply_window_hours) == (20, 10, 12)
    assert (made.quiet_start, made.quiet_end, made.rate_per_second) == ("22:00", "08:30", 50.0)
    page = rita.get(reply.headers["location"]).text
    assert "Programme created and running" in page and 'data-state="running"' in page
    [row] = audit_rows(engine, "programme_created")
    assert row.target == "programme:hotline" and row.detail["campaign_id"] == made.campaign_id

    again = create(rita)
    assert again.status_code == 422
    assert "a programme named &#39;hotline&#39; exists" in error_of(again.text, "name")


CASES = [  # (the form's change, the command line's options instead, the field)
    ({"name": "hot line"}, ["--name", "hot line"], "name"),
    ({"channels": "Hotline"}, ["--channels", "Hotline"], "channels"),
    ({"sample_rate": "1.5"}, ["--sample-rate", "1.5"], "sample_rate"),
    ({"queue_rates": "billing=2"}, ["--queue-rate", "billing=2"], "queue_rates"),
    ({"channels": "hotline", "channel_rates": "hall=0.5"},
     ["--channels", "hotline", "--channel-rate", "hall=0.5"], "channel_rates"),
    ({"reply_window_hours": "0"}, ["--reply-window-hours", "0"], "reply_window_hours"),
    ({"delay_minutes": "-5"}, ["--delay-minutes", "-5"], "delay_minutes"),
    ({"quiet": "21:00-8"}, ["--quiet", "21:00-8"], "quiet"),
    ({"rate_per_second": "0"}, ["--rate", "0"], "rate_per_second"),
    ({"questionnaire": CSI_FORM}, ["--questionnaire", CSI_FORM], "questionnaire"),
    ({"mode": "sms"}, ["--mode", "sms"], "mode"),
]  # fmt: skip


@pytest.mark.parametrize(("change", "options", "key"), CASES, ids=[c[2] for c in CASES])
def test_each_refusal_beside_its_field_is_the_command_lines(
    engine, rita, monkeypatch, change, options, key
):
    reply = create(rita, **change)
    assert reply.status_code == 422
    beside = error_of(reply.text, key)
    cli = run_cli(engine, monkeypatch, programme_app, *CLI_GOOD, *options)
    assert cli.exit_code == 1, cli.output
    words = cli.output.strip().removeprefix("error: ")
    assert str(escape(words)) == beside


# -- pause and resume ------------------------------------------------------------------------


def act(client, programme_id, action, **data):
    token = csrf_of(client)  # the session's: the same on every form
    return client.post(f"/console/programmes/{programme_id}/{action}", data={"csrf": token, **data})


def test_pause_and_resume_are_the_programmes_audited_and_a_wrong_state_is_refused(engine, rita):
    programme_id = make_programme(engine)
    for action, state in (("pause", "paused"), ("resume", "running")):
        reply = act(rita, programme_id, action)
        assert reply.status_code == 303, reply.text
        assert reply.headers["location"] == f"/console/programmes/{programme_id}?m={action}"
        with Session(engine) as session:
            programme = find_programme(session, "hotline")
            assert programme.state == state
            assert session.get(Campaign, programme.campaign_id).status == state
        assert f'data-state="{state}"' in rita.get(reply.headers["location"]).text
    refused = act(rita, programme_id, "resume")
    assert refused.status_code == 409
    assert "programme hotline is running: cannot resume it" in refused.text
    assert [r.detail["to"] for r in audit_rows(engine, "programme_paused")] == ["paused"]
    assert [r.detail["to"] for r in audit_rows(engine, "programme_resumed")] == ["running"]
    assert act(rita, programme_id, "explode").status_code == 404
    assert act(rita, 999, "pause").status_code == 404
    assert rita.get("/console/programmes/999").status_code == 404
    # A credit run's message is read from its own audit row, never from another row.
    pause_row = audit_rows(engine, "programme_paused")[0].id
    page = rita.get(f"/console/programmes/{programme_id}?m=credited&run={pause_row}")
    assert page.status_code == 200 and "credit-run" not in page.text
    assert rita.get(f"/console/programmes/{programme_id}?run=0").status_code == 422


# -- the list --------------------------------------------------------------------------------


def store_events(engine, programme_id, decisions, ended):
    """Contact events of a programme with the decisions given, ended at ``ended``."""
    with Session(engine) as session:
        first = session.execute(select(func.count()).select_from(ContactEvent)).scalar_one()
        for n, decision in enumerate(decisions, first):
            session.add(ContactEvent(contact_id=f"CC-{n:05d}", programme_id=programme_id,
                                     phone_e164=f"+86139{n:08d}", channel="hotline",
                                     ended_at=ended, agent_id=f"A{n % 4}", team="T1",
                                     queue="billing", source="api", decision=decision,
                                     reason="as the test says", received_at=NOW))  # fmt: skip
        session.commit()


def test_the_list_shows_each_programme_and_todays_contacts_by_decision(engine, rita):
    hotline = make_programme(engine, "hotline", channel_rates={"hall": 0.25})
    halls = make_programme(engine, "halls", mode="sms_link", channels=["hall"], sample_rate=1.0)
    today = ["invited"] * 7 + ["sampled_out"] * 20 + ["frequency_capped"] * 3 + ["opted_out"]
    store_events(engine, hotline, today[:20], NOW - timedelta(minutes=3))
    # 00:30 today and 23:30 the day before, local: the local day counts, not UTC's.
    store_events(engine, hotline, today[20:], datetime(2027, 1, 5, 16, 30, tzinfo=UTC))
    store_events(engine, hotline, ["invited"] * 4 + ["outside_window"] * 2,
                 datetime(2027, 1, 5, 15, 30, tzinfo=UTC))  # fmt: skip
    store_events(engine, halls, ["invited"] * 2, NOW - timedelta(days=1))
    expected = Counter(today)

    page = rita.get("/console/programmes")
    assert page.status_code == 200
    today_table = page.text.split('id="today"')[1]
    row = re.search(r'<tr data-programme="hotline">(.*?)</tr>', today_table, re.S).group(1)
    shown = dict(re.findall(r'data-decision="(\w+)">(\d+)<', row))
    assert {k: int(v) for k, v in shown.items() if k != "total" and int(v)} == dict(expected)
    assert int(shown["total"]) == sum(expected.values())
    assert '/dashboard/agents?programme=hotline"' in row
    row = re.search(r'<tr data-programme="halls">(.*?)</tr>', today_table, re.S).group(1)
    assert re.findall(r'data-decision="total">(\d+)<', row) == ["0"]
    settings = re.search(r'<tr data-programme="hotline">(.*?)</tr>',
                         page.text.split('id="today"')[0], re.S).group(1)  # fmt: skip
    for words in (CONTACT_FORM, "hotline, hall", "channel</span> hall 0.25", "5 min", "24 h",
                  "21:00–08:00", 'data-state="running"',
                  f'href="/console/programmes/{hotline}"'):  # fmt: skip
        assert words in settings, words


def test_the_section_is_on_the_console_of_those_who_operate(open_client):
    assert 'href="/console/programmes"' in open_client("rita").get("/console").text
    assert 'href="/console/programmes"' in open_client("ada").get("/console").text


# -- incentives ------------------------------------------------------------------------------

CUSTOMERS = [f"+86139{i:08d}" for i in range(12)]


def november(engine, programme_id):
    """The same month of answers for a programme: 12 customers, a few twice, one cleared."""
    for n, phone in enumerate(CUSTOMERS):
        answers = ("1", "很好") if n % 2 else ("3",)
        respond(engine, programme_id, phone, datetime(2026, 11, 1 + n, 3, tzinfo=UTC), answers)
        if n % 4 == 0:
            respond(engine, programme_id, phone, datetime(2026, 11, 20 + n // 4, tzinfo=UTC))


def rule_from_october(engine):
    """The rules as if set before the month's answers (a rule pays from when it is set)."""
    with Session(engine) as session:
        session.execute(update(ProgrammeIncentive).values(effective_from=RULE_FROM))
        session.commit()


def test_the_consoles_rule_credits_and_draw_equal_the_command_lines_on_the_same_data(
    engine, rita, monkeypatch
):
    web, cli = make_programme(engine, "web"), make_programme(engine, "cli")
    reply = act(rita, web, "incentives", per_question="5", per_survey="20", monthly_cap="40",
                lottery="on")  # fmt: skip
    assert reply.status_code == 303, reply.text
    assert reply.headers["location"] == f"/console/programmes/{web}?m=rule#incentives"
    result = run_cli(engine, monkeypatch, incentives_app, "set", "--programme", "cli",
                     "--per-question", "5", "--per-survey", "20", "--monthly-cap", "40",
                     "--lottery")  # fmt: skip
    assert result.exit_code == 0, result.output
    with Session(engine) as session:
        rules = {r.programme_id: r for r in session.execute(select(ProgrammeIncentive)).scalars()}
    fields = ("points_per_question", "points_per_survey", "monthly_cap", "lottery")
    assert [getattr(rules[web], f) for f in fields] == [getattr(rules[cli], f) for f in fields]
    assert [getattr(rules[web], f) for f in fields] == [5, 20, 40, True]
    [setting] = [r for r in audit_rows(engine, "incentive_set") if r.target == "programme:web"]
    assert setting.staff_id is not None and setting.detail["after"]["monthly_cap"] == 40

    rule_from_october(engine)
    november(engine, web)
    november(engine, cli)
    reply = act(rita, web, "credit")
    assert reply.status_code == 303, reply.text
    result = run_cli(engine, monkeypatch, incentives_app, "credit", "--programme", "cli")
    assert result.exit_code == 0, result.output
    page = rita.get(reply.headers["location"]).text
    credited = re.search(r'data-credited="(\d+)" data-points="(\d+)"', page).groups()
    assert f"{credited[0]} responses credited, {credited[1]} points" in result.output
    with Session(engine) as session:
        given = {pid: sorted((c.phone_e164, c.period, c.points, c.reason)
                             for c in session.execute(select(LoyaltyCredit).where(
                                 LoyaltyCredit.programme_id == pid)).scalars())
                 for pid in (web, cli)}  # fmt: skip
    assert given[web] == given[cli] and len(given[web]) == 15
    totals = re.search(r'<tr data-period="2026-11">(.*?)</tr>', page, re.S).group(1)
    counted = dict(re.findall(r'data-count="(\w+)">(\d+)<', totals))
    assert int(counted["responses"]) == 15
    assert int(counted["points"]) == sum(g[2] for g in given[web]) == int(counted["waiting"])
    again = act(rita, web, "credit")
    assert 'data-credited="0"' in rita.get(again.headers["location"]).text
    assert [r.detail["credited"] for r in audit_rows(engine, "loyalty_credited")] == [15, 0]

    reply = act(rita, web, "draw", period="2026-11", winners="4", seed="2027")
    assert reply.status_code == 303, reply.text
    assert reply.headers["location"] == f"/console/programmes/{web}?m=drawn#draw-2026-11"
    result = run_cli(engine, monkeypatch, incentives_app, "draw", "--programme", "cli",
                     "--period", "2026-11", "--winners", "4", "--seed", "2027")  # fmt: skip
    assert result.exit_code == 0, result.output
    cli_winners = [line.split(". ")[1] for line in result.output.splitlines()[1:]]
    assert cli_winners == pick_winners(CUSTOMERS, 4, 2027)
    page = rita.get(reply.headers["location"]).text
    drawn = page.split('id="draw-2026-11"')[1]
    with Session(engine) as session:
        draws = {d.programme_id: d for d in session.execute(select(LotteryDraw)).scalars()}
    assert draws[web].entrants == draws[cli].entrants == sorted(CUSTOMERS)
    assert draws[web].entrants_sha256 == draws[cli].entrants_sha256
    assert f'data-sha256="{draws[cli].entrants_sha256}"' in drawn
    assert 'data-seed="2027"' in drawn and 'data-entrants="12"' in drawn
    assert re.findall(r"<li data-winner>(.*?)</li>", drawn) == [mask_phone(w) for w in cli_winners]
    assert not any(phone in page for phone in CUSTOMERS)  # masked: no whole number on the page
    [logged] = [r for r in audit_rows(engine, LOTTERY_DRAWN) if r.target == "programme:web"]
    assert logged.staff_id is not None and logged.detail["seed"] == 2027


def test_a_month_is_drawn_once_and_a_second_draw_says_when_it_was(engine, rita):
    programme_id = make_programme(engine)
    act(rita, programme_id, "incentives", per_survey="10", lottery="on")
    rule_from_october(engine)
    november(engine, programme_id)
    assert act(rita, programme_id, "draw", period="2026-11", winners="3",
               seed="7").status_code == 303  # fmt: skip
    twice = act(rita, programme_id, "draw", period="2026-11", winners="3", seed="8")
    assert twice.status_code == 409
    assert "Not drawn</span>: the lottery of hotline for 2026-11 was drawn at" in twice.text
    assert "(seed 7, 12 entrants): a month is drawn once" in twice.text
    assert 'value="8"' in twice.text  # what was typed is kept
    not_over = act(rita, programme_id, "draw", period="2027-01", winners="3", seed="7")
    assert not_over.status_code == 422 and "2027-01 is not over" in not_over.text
    typo = act(rita, programme_id, "draw", period="2026-11", winners="0", seed="x")
    assert typo.status_code == 422
    assert "out of range" in error_of(typo.text, "winners")
    assert "is not a whole number" in error_of(typo.text, "seed")
    with Session(engine) as session:
        assert session.execute(select(func.count()).select_from(LotteryDraw)).scalar_one() == 1
    assert len(audit_rows(engine, LOTTERY_DRAWN)) == 1


def test_a_rule_that_cannot_be_is_refused_beside_its_field_in_the_forms_words(engine, rita):
    programme_id = make_programme(engine)
    nothing = act(rita, programme_id, "incentives", per_question="0", per_survey="0")
    assert nothing.status_code == 422
    assert ('give &#34;points per answered question&#34; or &#34;points per completed survey&#34;'
            in nothing.text)  # fmt: skip
    capped = act(rita, programme_id, "incentives", per_survey="-3", monthly_cap="0")
    assert capped.status_code == 422
    assert "out of range" in error_of(capped.text, "per_survey")
    assert "out of range" in error_of(capped.text, "monthly_cap")
    assert 'value="-3"' in capped.text
    with Session(engine) as session:
        assert session.get(ProgrammeIncentive, programme_id) is None


def test_the_export_is_the_command_lines_for_the_console_holds_no_number(engine, rita):
    programme_id = make_programme(engine)
    page = rita.get(f"/console/programmes/{programme_id}").text
    command = re.search(r'<pre class="command" id="export-command">(.*?)</pre>', page).group(1)
    assert re.sub(r"<[^>]+>", "", command) == (
        "manyi incentives export --programme hotline --out loyalty-hotline.csv"
    )
    links = re.findall(r'href="([^"]*)"', page)
    assert not [link for link in links if "/console/programmes/" in link], links
    assert not any(permissions.allowed(role, permissions.Permission.VIEW_PHONE_NUMBERS)
                   and permissions.allowed(role, permissions.Permission.OPERATE)
                   for role in Role)  # fmt: skip


def test_a_role_that_may_see_numbers_sees_the_winners_whole_and_the_look_is_audited(
    engine, rita, monkeypatch
):
    programme_id = make_programme(engine)
    act(rita, programme_id, "incentives", per_survey="10", lottery="on")
    rule_from_october(engine)
    november(engine, programme_id)
    act(rita, programme_id, "draw", period="2026-11", winners="2", seed="5")
    matrix = dict(permissions.MATRIX)
    matrix[Role.RESEARCHER] = matrix[Role.RESEARCHER] | {permissions.Permission.VIEW_PHONE_NUMBERS}
    monkeypatch.setattr(permissions, "MATRIX", matrix)
    page = rita.get(f"/console/programmes/{programme_id}").text
    shown = re.findall(r"<li data-winner>(.*?)</li>", page)
    assert shown == pick_winners(CUSTOMERS, 2, 5)
    [look] = audit_rows(engine, "personal_data_access")
    assert look.target == "programme:hotline:winners" and look.detail["periods"] == ["2026-11"]


# -- who may ---------------------------------------------------------------------------------

ROUTES = [
    ("get", "/console/programmes"), ("get", "/console/programmes/new"),
    ("post", "/console/programmes"), ("get", "/console/programmes/1"),
    ("post", "/console/programmes/1/pause"), ("post", "/console/programmes/1/resume"),
    ("post", "/console/programmes/1/incentives"), ("post", "/console/programmes/1/credit"),
    ("post", "/console/programmes/1/draw"),
]  # fmt: skip


@pytest.mark.parametrize("username", ["max", "ivy"])
def test_roles_without_operate_are_refused_on_every_route(engine, open_client, username):
    make_programme(engine)
    client = open_client(username)
    token = field(client.get("/me").text, "csrf")
    for method, path in ROUTES:
        reply = client.get(path) if method == "get" else client.post(path, data={"csrf": token})
        assert reply.status_code == 403, (username, method, path, reply.status_code)
    assert 'href="/console/programmes"' not in client.get("/me").text


def test_a_post_without_its_csrf_field_is_refused_and_changes_nothing(engine, rita):
    programme_id = make_programme(engine)
    assert rita.post("/console/programmes", data={**GOOD, "name": "other"}).status_code == 403
    base = f"/console/programmes/{programme_id}"
    assert rita.post(f"{base}/pause", data={}).status_code == 403
    assert rita.post(f"{base}/incentives", data={"per_survey": "5"}).status_code == 403
    assert rita.post(f"{base}/credit", data={"csrf": "forged"}).status_code == 403
    with Session(engine) as session:
        assert [p.name for p in session.execute(select(Programme)).scalars()] == ["hotline"]
        assert find_programme(session, "hotline").state == "running"
        assert session.get(ProgrammeIncentive, programme_id) is None
