"""What ``manyi demo`` gives a newcomer besides the sample data: a phone campaign with a case
to call at any hour, a hotline programme whose simulated week fills the agents page, and, in
development only, one account per role with a printed password.

On SQLite only: the queue itself is tested on both databases (tests/integration/cati/); here
the demo's data is under test, and the sample frame takes seconds to load.
"""

from __future__ import annotations

import shutil
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func
from sqlmodel import Session, select

from api.cli.demo import (
    DEMO_ACCOUNTS,
    DEMO_CALL_CASES,
    DEMO_PASSWORD,
    PHONE_CAMPAIGN_NAME,
    PROGRAMME_NAME,
    PROGRAMME_WEEK,
    create_demo_accounts,
    prepare_demo,
    prepare_phone_demo,
    prepare_programme_demo,
)
from api.settings import Settings
from api.web.app import create_app
from survey.cati.queue import next_case, record_attempt
from survey.cati.waiting import why_nothing_due
from survey.db.engine import make_engine
from survey.db.tables import (
    Answer,
    AuditLog,
    CallCase,
    Campaign,
    ContactEvent,
    Customer,
    FollowUp,
    InboundSms,
    Invitation,
    OutboundSms,
    Programme,
    Response,
    SimulatedSms,
    Staff,
)
from survey.programmes.report import contact_counts
from survey.staff.accounts import authenticate, create_staff, find_staff
from tests.integration.staff_login import PASSWORD, log_in
from tests.service_process import run_manyi

SHANGHAI = ZoneInfo("Asia/Shanghai")
PRODUCTION = {
    "env": "production",
    "secret_key": "pV3nq8Zt0rXy7LmB2cKd9sWf4hJg6aTe1uQo5iRv",
    "allow_simulator_in_production": True,
}


def settings(**values) -> Settings:
    """Settings from these values alone (no .env file, MANYI_ENV of the test run aside)."""
    return Settings(_env_file=None, **{"env": "development", **values})


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    """A database with the sample data and the SMS campaign, as ``manyi demo`` loads them."""
    path = tmp_path_factory.mktemp("demo") / "template.db"
    engine = make_engine(f"sqlite:///{path}")
    prepare_demo(engine, secret="k" * 40)
    engine.dispose()
    return path


@pytest.fixture
def demo_engine(template, tmp_path):
    path = tmp_path / "demo.db"
    shutil.copyfile(template, path)
    engine = make_engine(f"sqlite:///{path}")
    yield engine
    engine.dispose()


def local(hour: int, minute: int = 30, second: int = 0) -> datetime:
    return datetime(2026, 5, 6, hour, minute, second, tzinfo=SHANGHAI).astimezone(UTC)


# -- the phone campaign ----------------------------------------------------------------------


@pytest.mark.parametrize("hour", [0, 3, 8, 12, 21, 23])
def test_the_demo_interviewer_is_served_a_phone_case_at_any_hour(demo_engine, cheap_hashing, hour):
    now = local(hour)
    calls = prepare_phone_demo(demo_engine, now=now)
    assert (calls.campaign, calls.status, calls.due) == (PHONE_CAMPAIGN_NAME, "running", 10)
    assert calls.hours == "00:00-23:59 Asia/Shanghai"
    create_demo_accounts(demo_engine, settings())
    with Session(demo_engine) as session:
        interviewer = find_staff(session, "interviewer")
        assert why_nothing_due(session, interviewer.id, now).reasons == ()
        case = next_case(session, interviewer.id, now)
        assert case is not None and case.kind == "interview"
        assert session.get(Campaign, case.campaign_id).name == PHONE_CAMPAIGN_NAME


def test_in_the_last_minute_of_the_day_the_queue_says_a_case_is_due_at_midnight(demo_engine):
    # Calling hours cannot cross midnight: 23:59-00:00 is the one closed minute.
    now = local(23, 59, 30)
    prepare_phone_demo(demo_engine, now=now - timedelta(hours=1))
    with Session(demo_engine) as session:
        interviewer = create_staff(session, "ann", "interviewer", "a long demo password 1")
        waiting = why_nothing_due(session, interviewer.id, now)
        assert waiting.reasons == ("outside_hours",)
        assert waiting.next_due == datetime(2026, 5, 7, 0, 0, tzinfo=SHANGHAI)
        assert next_case(session, interviewer.id, now) is None


def test_the_phone_campaign_is_made_once_and_topped_up_with_fresh_customers(demo_engine):
    now = local(10)
    prepare_phone_demo(demo_engine, now=now)
    with Session(demo_engine) as session:
        interviewer = create_staff(session, "ann", "interviewer", "a long demo password 1")
        called = next_case(session, interviewer.id, now)
        record_attempt(session, called.id, interviewer.id, "no_answer", now)
    # The call waits for its retry (3 hours): the next start adds one fresh customer.
    again = prepare_phone_demo(demo_engine, now=now + timedelta(minutes=5))
    assert again.due == DEMO_CALL_CASES
    with Session(demo_engine) as session:
        campaigns = session.exec(select(Campaign).where(Campaign.name == PHONE_CAMPAIGN_NAME))
        assert len(campaigns.all()) == 1
        cases = session.exec(select(CallCase)).all()
        assert len(cases) == DEMO_CALL_CASES + 1
        assert len({c.customer_id for c in cases}) == len(cases)
        kept = session.get(CallCase, called.id)
        assert (kept.status, kept.attempts) == ("open", 1)
        invited = set(session.exec(select(Invitation.customer_id)).all())
        assert invited and not invited & {c.customer_id for c in cases}


def test_a_paused_phone_campaign_is_left_paused_and_not_topped_up(demo_engine):
    prepare_phone_demo(demo_engine, now=local(10))
    with Session(demo_engine) as session:
        campaign = session.exec(select(Campaign).where(Campaign.name == PHONE_CAMPAIGN_NAME)).one()
        campaign.status = "paused"
        session.add(campaign)
        session.commit()
    calls = prepare_phone_demo(demo_engine, now=local(11))
    assert calls.status == "paused"
    with Session(demo_engine) as session:
        assert len(session.exec(select(CallCase)).all()) == DEMO_CALL_CASES


# -- the demo accounts -----------------------------------------------------------------------


def test_in_development_every_role_gets_an_account_that_signs_in_with_the_demo_password(
    demo_engine, cheap_hashing
):
    accounts = create_demo_accounts(demo_engine, settings())
    # No contact names a team yet (the programme's week is not loaded): no team leader.
    expected = [(u, p) for u, p in DEMO_ACCOUNTS if u != "team_leader"]
    assert [(a.username, a.page, a.state) for a in accounts] == [
        (username, page, "created") for username, page in expected
    ]
    with Session(demo_engine) as session:
        for account in accounts:
            staff = authenticate(session, account.username, DEMO_PASSWORD)
            assert staff is not None and staff.role == account.username == account.role
        audited = session.exec(select(AuditLog).where(AuditLog.action == "staff_added")).all()
        assert sorted(row.target for row in audited) == sorted(a.username for a in accounts)
        assert all(row.detail["via"] == "manyi demo" for row in audited)
    again = create_demo_accounts(demo_engine, settings())
    assert [a.state for a in again] == ["kept"] * len(expected)


def test_an_existing_account_of_a_demo_name_is_never_changed(demo_engine, cheap_hashing):
    with Session(demo_engine) as session:
        own = create_staff(session, "admin", "admin", "someone's own passphrase")
        before = own.password_hash
    accounts = {a.username: a for a in create_demo_accounts(demo_engine, settings())}
    assert accounts["admin"].state == "its own password"
    assert not accounts["admin"].demo_password
    with Session(demo_engine) as session:
        assert find_staff(session, "admin").password_hash == before
        assert authenticate(session, "admin", DEMO_PASSWORD) is None


@pytest.mark.parametrize("values", [PRODUCTION, {**PRODUCTION, "env": "test"}])
def test_outside_development_no_demo_account_is_created(demo_engine, values):
    assert create_demo_accounts(demo_engine, settings(**values)) == ()
    with Session(demo_engine) as session:
        assert session.exec(select(Staff)).all() == []


def test_the_demo_in_production_creates_no_account_and_says_how_to_add_staff(tmp_path):
    env = {
        "MANYI_DATABASE_URL": f"sqlite:///{tmp_path / 'prod.db'}",
        "MANYI_ENV": "production",
        "MANYI_SECRET_KEY": PRODUCTION["secret_key"],
        "MANYI_ALLOW_SIMULATOR_IN_PRODUCTION": "true",
    }
    run = run_manyi("demo", "--no-serve", env=env)
    assert run.returncode == 0, run.stderr
    assert DEMO_PASSWORD not in run.stdout + run.stderr
    assert "No demo accounts with MANYI_ENV=production" in run.stdout
    assert "second terminal" in run.stdout and ".venv/bin/manyi staff add" in run.stdout
    engine = make_engine(env["MANYI_DATABASE_URL"])
    try:
        with Session(engine) as session:
            assert session.exec(select(Staff)).all() == []
    finally:
        engine.dispose()


def test_the_demo_in_development_prints_the_sign_in_table_and_the_phone_cases(tmp_path):
    env = {"MANYI_DATABASE_URL": f"sqlite:///{tmp_path / 'dev.db'}", "MANYI_ENV": "development",
           "MANYI_PUBLIC_BASE_URL": "http://127.0.0.1:8765"}  # fmt: skip
    run = run_manyi("demo", "--no-serve", "--port", "8765", env=env)
    assert run.returncode == 0, run.stderr
    assert f"password {DEMO_PASSWORD}" in run.stdout
    assert "sample frame 'sample'" in run.stdout
    for username, page in DEMO_ACCOUNTS:
        assert f"http://127.0.0.1:8765{page}" in run.stdout
        assert any(line.split()[:2] == [username, username] for line in run.stdout.splitlines())
    assert f"10 case(s) due in '{PHONE_CAMPAIGN_NAME}'" in run.stdout
    assert f"hotline programme '{PROGRAMME_NAME}'" in run.stdout
    assert "http://127.0.0.1:8765/dashboard/agents" in run.stdout


# -- the hotline programme -------------------------------------------------------------------

SECRET = "k" * 40
NOW = datetime.now(UTC).replace(microsecond=0)


@pytest.fixture(scope="module")
def programme_template(template, tmp_path_factory):
    """The demo's database with its hotline programme's week (made once: ~8 s)."""
    path = tmp_path_factory.mktemp("programme") / "programme.db"
    shutil.copyfile(template, path)
    engine = make_engine(f"sqlite:///{path}")
    made = prepare_programme_demo(engine, secret=SECRET, now=NOW)
    engine.dispose()
    return path, made


@pytest.fixture
def programme_engine(programme_template, tmp_path):
    path = tmp_path / "programme.db"
    shutil.copyfile(programme_template[0], path)
    engine = make_engine(f"sqlite:///{path}")
    yield engine
    engine.dispose()


TABLES = (ContactEvent, Customer, Invitation, OutboundSms, SimulatedSms, InboundSms, Response,
          Answer, FollowUp, Programme, Campaign)  # fmt: skip


def row_counts(engine) -> dict[str, int]:
    with Session(engine) as session:
        return {
            table.__tablename__: session.exec(select(func.count()).select_from(table)).one()
            for table in TABLES
        }


def test_the_week_is_decided_sent_and_answered_through_the_real_paths(
    programme_template, programme_engine
):
    made = programme_template[1]
    assert made.created and made.programme == PROGRAMME_NAME
    assert made.contacts == PROGRAMME_WEEK["n"] and made.agents == PROGRAMME_WEEK["agents"]
    assert 0 < made.replies < made.sent <= made.invited < made.contacts
    with Session(programme_engine) as session:
        programme = session.exec(select(Programme).where(Programme.name == PROGRAMME_NAME)).one()
        assert (programme.state, programme.mode) == ("running", "sms_reply")
        assert set(programme.channels) == {"hotline", "hall", "online"}
        decisions = dict(
            session.exec(
                select(ContactEvent.decision, func.count()).group_by(ContactEvent.decision)
            ).all()
        )
        # Every contact decided as it ended: none refused as too old, none invalid.
        assert set(decisions) <= {"invited", "sampled_out", "frequency_capped"}
        assert decisions["invited"] == made.invited and decisions["frequency_capped"] > 0
        ended = session.exec(select(func.max(ContactEvent.ended_at))).one()
        assert ended.replace(tzinfo=UTC) > NOW - timedelta(hours=1)
        # Sent by the dispatcher through the simulator: a message on each number's phone page.
        sent = session.exec(
            select(OutboundSms.to_phone).where(
                OutboundSms.kind == "invitation", OutboundSms.status == "sent",
                OutboundSms.campaign_id == programme.campaign_id,
            )
        ).all()  # fmt: skip
        assert len(sent) == made.sent
        outgoing = session.exec(
            select(SimulatedSms.phone).where(
                SimulatedSms.direction == "out",
                SimulatedSms.phone.in_(select(ContactEvent.phone_e164)),
            )
        ).all()
        assert set(outgoing) == set(sent) and len(set(sent)) == len(sent)
        # Nothing of the programme is left to send: the replies' answers went out at once.
        statuses = session.exec(
            select(OutboundSms.status).where(OutboundSms.campaign_id == programme.campaign_id)
        ).all()
        assert set(statuses) == {"sent"} and len(statuses) == len(outgoing) > len(sent)
        # The replies came in as the phone page sends them, handled by receive_sms.
        handled = session.exec(select(InboundSms.handled_as)).all()
        assert 0.9 * len(handled) <= made.replies <= len(handled)
        assert handled.count("answer") >= 0.9 * len(handled)
        # None of the week's numbers is a customer of the sample frame.
        frame_phones = select(Customer.phone_e164).where(Customer.frame_id != programme.frame_id)
        assert not session.exec(
            select(ContactEvent.phone_e164).where(ContactEvent.phone_e164.in_(frame_phones))
        ).all()
        # A "3" opens the service-remedy follow-up.
        assert session.exec(select(func.count()).select_from(FollowUp)).one() > 0


def test_the_agents_of_the_demo_week_have_replies_rates_and_ranks(
    programme_template, programme_engine, cheap_hashing
):
    with Session(programme_engine) as session:
        counts = contact_counts(session, by="agent", timezone="Asia/Shanghai")
        create_staff(session, "boss", "manager", PASSWORD)
    assert len(counts) == PROGRAMME_WEEK["agents"]
    assert counts["replies"].sum() == programme_template[1].replies
    assert counts["team"].nunique() == PROGRAMME_WEEK["teams"]
    assert (counts["replies"] > 0).sum() >= 0.8 * len(counts)
    assert counts["satisfied"].sum() > 0 and counts["dissatisfied"].sum() > 0
    url = programme_engine.url.render_as_string(hide_password=False)
    config = Settings(_env_file=None, database_url=url, env="test", secret_key=SECRET + "-test",
                      timezone="Asia/Shanghai")  # fmt: skip
    with TestClient(create_app(config), base_url="https://testserver") as client:
        log_in(client, "boss")
        page = client.get(f"/dashboard/agents?by=agent&programme={PROGRAMME_NAME}")
    assert page.status_code == 200, page.text
    assert "A0001" in page.text and "排名区间" in page.text


def test_the_demo_team_leader_leads_the_first_team_of_the_week_and_sees_its_agents(
    programme_engine, cheap_hashing
):
    accounts = {a.username: a for a in create_demo_accounts(programme_engine, settings())}
    assert accounts["team_leader"].page == "/dashboard/agents"
    with Session(programme_engine) as session:
        leader = authenticate(session, "team_leader", DEMO_PASSWORD)
        assert leader.role == "team_leader" and leader.teams == ["T01"]
        counts = contact_counts(session, by="agent", timezone="Asia/Shanghai", reader=leader)
    assert len(counts) > 0 and set(counts["team"]) == {"T01"}


def test_the_analysis_schedule_of_the_demo_fits_the_csi_only_and_does_not_stop(programme_engine):
    # The week's replies are a one-question evaluation by customers without a hall: the
    # schedule once asked for a hall named "" and stopped the demo's analysis worker.
    from api.analysis.worker import schedule

    with Session(programme_engine) as session:
        forms = {job.request["version"].split("@")[0] for job, _ in schedule(session)}
    assert forms == {"csi_mobile"}


def test_the_programme_is_made_once(programme_template, programme_engine):
    before = row_counts(programme_engine)
    again = prepare_programme_demo(programme_engine, secret=SECRET,
                                   now=NOW + timedelta(hours=2))  # fmt: skip
    assert row_counts(programme_engine) == before
    made = programme_template[1]
    assert not again.created
    assert (again.contacts, again.invited, again.sent, again.replies, again.agents) == (
        made.contacts, made.invited, made.sent, made.replies, made.agents)  # fmt: skip
