"""Incentives of a programme on SQLite and PostgreSQL: loyalty credits (once per response, the
monthly cap), the lottery (reproducible from its seed and stored entrants, drawn once,
audited), the loyalty export (marks, never repeats, formula-safe) and `manyi incentives`."""

from __future__ import annotations

import csv
import threading
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from sqlalchemy import func, select, update
from sqlmodel import Session
from typer.testing import CliRunner

from api.cli.incentives import incentives_app
from survey.db.tables import (
    Answer,
    AuditLog,
    Customer,
    LotteryDraw,
    LoyaltyCredit,
    Programme,
    ProgrammeIncentive,
    Response,
)
from survey.errors import Conflict, NotFound
from survey.programmes.incentives import (
    LOTTERY_DRAWN,
    IncentiveError,
    credit,
    draw,
    entrants_sha256,
    export_credits,
    pick_winners,
    set_rule,
)
from survey.programmes.manage import create_programme, find_programme
from survey.questionnaire import load_questionnaire
from survey.questionnaire.publish import publish
from tests.common import SAMPLES

ZONE = "Asia/Shanghai"
RULE_FROM = datetime(2026, 10, 1, tzinfo=UTC)
AFTER_DECEMBER = datetime(2027, 1, 5, tzinfo=UTC)


def make_programme(engine, name="hotline") -> int:
    with Session(engine) as session:
        questionnaire, _ = load_questionnaire(SAMPLES / "contact_evaluation.yaml")
        version = publish(session, questionnaire)
        programme = create_programme(session, version, name, mode="sms_reply",
                                     channels=["hotline"], sample_rate=1.0)  # fmt: skip
        return programme.id


def respond(engine, programme_id, phone, completed_at, answers=("1",), status="completed"):
    """A customer of the programme's frame and one response with ``answers`` (item values in
    turn: overall, comment); returns the response's id."""
    with Session(engine) as session:
        programme = session.get(Programme, programme_id)
        customer = session.execute(
            select(Customer).where(
                Customer.frame_id == programme.frame_id, Customer.phone_e164 == phone
            )  # fmt: skip
        ).scalar_one_or_none()
        if customer is None:
            customer = Customer(frame_id=programme.frame_id, external_id=phone, phone_e164=phone,
                                region="Haidian", service_hall="-", tenure_months=12,
                                monthly_spend=88.0, tier=3)  # fmt: skip
            session.add(customer)
            session.flush()
        response = Response(
            questionnaire_version_id=programme.questionnaire_version_id,
            campaign_id=programme.campaign_id,
            customer_id=customer.id,
            channel="sms_reply",
            status=status,
            started_at=completed_at,
            completed_at=completed_at if status == "completed" else None,
        )
        session.add(response)
        session.flush()
        for item, value in zip(("overall", "comment"), answers, strict=False):
            session.add(Answer(response_id=response.id, item_name=item, value=value,
                               answered_at=completed_at))  # fmt: skip
        session.commit()
        return response.id


def rule(engine, programme_id, **options):
    with Session(engine) as session:
        programme = session.get(Programme, programme_id)
        return set_rule(session, programme, now=RULE_FROM, **options)


def run(engine, programme_id, what, *args, **kwargs):
    with Session(engine) as session:
        return what(session, session.get(Programme, programme_id), *args, **kwargs)


def credits(engine):
    with Session(engine) as session:
        return {c.response_id: c for c in session.execute(select(LoyaltyCredit)).scalars()}


def nov(day, hour=10):
    return datetime(2026, 11, day, hour, tzinfo=UTC)


def test_each_completed_response_is_credited_once_for_its_answered_questions(engine):
    pid = make_programme(engine)
    rule(engine, pid, per_question=10, per_survey=50)
    both = respond(engine, pid, "+8613900000001", nov(2), answers=("1", "等太久了"))
    # Answers are append-only: the comment's latest answer is empty, so one item counts.
    cleared = respond(engine, pid, "+8613900000002", nov(3), answers=("2", "x"))
    with Session(engine) as session:
        session.add(Answer(response_id=cleared, item_name="comment", value=" "))
        session.commit()
    respond(engine, pid, "+8613900000003", nov(4), status="in_progress")
    respond(engine, pid, "+8613900000004", RULE_FROM - timedelta(days=1))  # before the rule

    first = run(engine, pid, credit, timezone=ZONE)
    assert (first.credited, first.points, first.capped) == (2, 70 + 60, 0)
    got = credits(engine)
    assert {rid: c.points for rid, c in got.items()} == {both: 70, cleared: 60}
    assert got[both].phone_e164 == "+8613900000001" and got[both].period == "2026-11"
    assert got[both].reason == "2 answered × 10 + completed survey 50"

    again = run(engine, pid, credit, timezone=ZONE)
    assert (again.credited, again.points) == (0, 0)
    assert len(credits(engine)) == 2
    later = respond(engine, pid, "+8613900000001", nov(20))
    assert run(engine, pid, credit, timezone=ZONE).credited == 1
    assert set(credits(engine)) == {both, cleared, later}


def test_the_monthly_cap_holds_per_customer_and_month_across_runs(engine):
    pid = make_programme(engine)
    rule(engine, pid, per_survey=60, monthly_cap=100)
    a1 = respond(engine, pid, "+8613900000001", nov(1))
    a2 = respond(engine, pid, "+8613900000001", nov(2))
    b1 = respond(engine, pid, "+8613900000002", nov(2))
    # 2026-11-30 20:00 UTC is December 1st in Shanghai: the next month's cap.
    a_dec = respond(engine, pid, "+8613900000001", datetime(2026, 11, 30, 20, tzinfo=UTC))
    run_ = run(engine, pid, credit, timezone=ZONE)
    assert (run_.credited, run_.points, run_.capped) == (4, 60 + 40 + 60 + 60, 1)
    a3 = respond(engine, pid, "+8613900000001", nov(3))
    assert run(engine, pid, credit, timezone=ZONE).capped == 1
    got = credits(engine)
    assert {rid: (c.points, c.period) for rid, c in got.items()} == {
        a1: (60, "2026-11"), a2: (40, "2026-11"), b1: (60, "2026-11"),
        a_dec: (60, "2026-12"), a3: (0, "2026-11"),
    }  # fmt: skip
    assert "after the monthly cap of 100" in got[a3].reason


def test_no_rule_no_credit_and_a_rule_that_gives_nothing_is_refused(engine):
    pid = make_programme(engine)
    with pytest.raises(NotFound, match="incentives set"):
        run(engine, pid, credit, timezone=ZONE)
    with pytest.raises(IncentiveError, match="gives nothing"):
        rule(engine, pid)
    with pytest.raises(IncentiveError, match="cap"):
        rule(engine, pid, per_survey=1, monthly_cap=0)


def lottery_month(engine, pid, customers=30):
    """December 2026 (Shanghai): ``customers`` completers, every third twice; one outside."""
    rule(engine, pid, per_survey=10, lottery=True)
    for i in range(customers):
        respond(engine, pid, f"+86139{i:08d}", datetime(2026, 12, 1 + i % 28, 3, tzinfo=UTC))
        if i % 3 == 0:
            respond(engine, pid, f"+86139{i:08d}", datetime(2026, 12, 29, tzinfo=UTC))
    respond(engine, pid, "+8618800000000", datetime(2026, 11, 30, 15, tzinfo=UTC))  # Nov, local
    respond(engine, pid, "+8618800000001", datetime(2026, 12, 12, tzinfo=UTC), status="in_progress")


def test_the_draw_is_reproducible_from_its_seed_and_stored_entrants(engine):
    pid = make_programme(engine)
    lottery_month(engine, pid)
    row = run(engine, pid, draw, "2026-12", 5, 7, timezone=ZONE, now=AFTER_DECEMBER)
    entrants = sorted(f"+86139{i:08d}" for i in range(30))
    assert row.entrants == entrants and row.entrants_count == 30  # each customer once
    assert row.entrants_sha256 == entrants_sha256(entrants)
    # The documented algorithm, by hand: default_rng(seed).choice without replacement.
    expected = [entrants[i] for i in np.random.default_rng(7).choice(30, 5, replace=False)]
    assert row.winners == expected == pick_winners(list(reversed(entrants)), 5, 7)
    assert len(set(row.winners)) == 5
    assert pick_winners(entrants, 5, 8) != expected
    with Session(engine) as session:
        stored = session.execute(select(LotteryDraw)).scalar_one()
        assert pick_winners(stored.entrants, 5, stored.seed) == stored.winners


def test_a_month_is_drawn_once_audited_and_only_when_over(engine):
    pid = make_programme(engine)
    lottery_month(engine, pid, customers=3)
    with pytest.raises(IncentiveError, match="not over"):
        run(
            engine,
            pid,
            draw,
            "2026-12",
            1,
            7,
            timezone=ZONE,
            now=datetime(2026, 12, 31, 15, tzinfo=UTC),
        )
    with pytest.raises(IncentiveError, match="YYYY-MM"):
        run(engine, pid, draw, "2026-13", 1, 7, timezone=ZONE, now=AFTER_DECEMBER)
    with pytest.raises(IncentiveError, match="nobody completed"):
        run(engine, pid, draw, "2026-10", 1, 7, timezone=ZONE, now=AFTER_DECEMBER)
    row = run(engine, pid, draw, "2026-12", 10, 7, timezone=ZONE, now=AFTER_DECEMBER)
    assert sorted(row.winners) == row.entrants  # fewer entrants than winners: all win
    with pytest.raises(Conflict, match="drawn once"):
        run(engine, pid, draw, "2026-12", 1, 99, timezone=ZONE, now=AFTER_DECEMBER)
    with Session(engine) as session:
        assert session.execute(select(func.count()).select_from(LotteryDraw)).scalar_one() == 1
        logged = session.execute(
            select(AuditLog).where(AuditLog.action == LOTTERY_DRAWN)
        ).scalar_one()
    assert logged.target == "programme:hotline"
    assert logged.detail["seed"] == 7 and logged.detail["period"] == "2026-12"
    assert (logged.detail["entrants"], logged.detail["winners"]) == (3, 3)
    assert logged.detail["entrants_sha256"] == row.entrants_sha256


def test_no_lottery_no_draw(engine):
    pid = make_programme(engine)
    rule(engine, pid, per_survey=10)
    respond(engine, pid, "+8613900000001", nov(2))
    with pytest.raises(IncentiveError, match="no lottery"):
        run(engine, pid, draw, "2026-11", 1, 7, timezone=ZONE, now=AFTER_DECEMBER)


def read(path):
    with path.open(encoding="utf-8", newline="") as file:
        return list(csv.DictReader(file))


def test_the_export_marks_what_it_writes_never_repeats_and_is_formula_safe(engine, tmp_path):
    pid = make_programme(engine)
    rule(engine, pid, per_survey=60, monthly_cap=60)
    first = respond(engine, pid, "+8613900000001", nov(1))
    respond(engine, pid, "+8613900000001", nov(2))  # 0 points: the cap; never exported
    hostile = respond(engine, pid, "+=HYPERLINK(1)", nov(3))  # a frame's number, unchecked
    run(engine, pid, credit, timezone=ZONE)

    # A file that cannot be written marks nothing.
    with pytest.raises(OSError):
        run(engine, pid, export_credits, tmp_path / "missing" / "x.csv")
    assert all(c.exported_at is None for c in credits(engine).values())

    batch = run(engine, pid, export_credits, tmp_path / "one.csv")
    assert (batch.credits, batch.points) == (2, 120)
    rows = read(tmp_path / "one.csv")
    assert [(r["msisdn"], r["points"], r["batch"]) for r in rows] == [
        ("8613900000001", "60", str(batch.id)),
        ("'=HYPERLINK(1)", "60", str(batch.id)),
    ]
    assert rows[0]["credit_id"] == str(credits(engine)[first].id)
    assert not list(tmp_path.glob(".*partial"))
    got = credits(engine)
    assert got[first].export_id == batch.id and got[hostile].exported_at is not None
    with Session(engine) as session:
        exports = session.execute(
            select(AuditLog).where(AuditLog.action == "export")
        ).scalars().all()  # fmt: skip
    assert [e.detail["credits"] for e in exports] == [2]

    assert run(engine, pid, export_credits, tmp_path / "two.csv") is None
    assert not (tmp_path / "two.csv").exists()
    respond(engine, pid, "+8613900000002", nov(4))
    run(engine, pid, credit, timezone=ZONE)
    second = run(engine, pid, export_credits, tmp_path / "two.csv")
    assert [r["msisdn"] for r in read(tmp_path / "two.csv")] == ["8613900000002"]

    again = run(engine, pid, export_credits, tmp_path / "again.csv", again=batch.id)
    assert again.id == batch.id and read(tmp_path / "again.csv") == rows
    assert second.id != batch.id
    with pytest.raises(NotFound, match="no export batch"):
        run(engine, pid, export_credits, tmp_path / "x.csv", again=second.id + 1)


def cli(engine, monkeypatch, *args):
    from api.settings import get_settings

    monkeypatch.setenv("MANYI_DATABASE_URL", engine.url.render_as_string(hide_password=False))
    monkeypatch.setenv("MANYI_TIMEZONE", ZONE)
    get_settings.cache_clear()
    try:
        return CliRunner().invoke(incentives_app, list(args))
    finally:
        get_settings.cache_clear()


def test_the_cli_sets_credits_draws_and_exports(engine, monkeypatch, tmp_path):
    pid = make_programme(engine)
    result = cli(engine, monkeypatch, "set", "--programme", "hotline", "--per-question", "5",
                 "--per-survey", "20", "--monthly-cap", "500", "--lottery")  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "5 points per answered question, 20 per completed survey" in result.output
    with Session(engine) as session:  # the rule as if set before the responses
        session.execute(update(ProgrammeIncentive).values(effective_from=RULE_FROM))
        session.commit()
    for i in range(4):
        respond(engine, pid, f"+8613900000{i:03d}", nov(2 + i), answers=("1", "好"))
    result = cli(engine, monkeypatch, "credit", "--programme", "hotline")
    assert result.exit_code == 0, result.output
    assert "4 responses credited, 120 points" in result.output
    assert "0 responses credited" in cli(engine, monkeypatch, "credit", "--programme",
                                         "hotline").output  # fmt: skip
    draw_args = ("draw", "--programme", "hotline", "--period", "2026-11", "--winners", "2",
                 "--seed", "7")  # fmt: skip
    result = cli(engine, monkeypatch, *draw_args)
    assert result.exit_code == 0, result.output
    assert "2 winners among 4 entrants (seed 7" in result.output
    entrants = sorted(f"+8613900000{i:03d}" for i in range(4))
    assert [line.split(". ")[1] for line in result.output.splitlines()[1:]] == pick_winners(
        entrants, 2, 7
    )
    twice = cli(engine, monkeypatch, *draw_args)
    assert twice.exit_code == 1 and "drawn once" in twice.output
    out = tmp_path / "loyalty.csv"
    result = cli(engine, monkeypatch, "export", "--programme", "hotline", "--out", str(out))
    assert result.exit_code == 0, result.output
    assert "4 credits, 120 points" in result.output and len(read(out)) == 4
    result = cli(engine, monkeypatch, "export", "--programme", "hotline", "--out", str(out))
    assert "no credits to export" in result.output and len(read(out)) == 4
    unknown = cli(engine, monkeypatch, "credit", "--programme", "nope")
    assert unknown.exit_code == 1 and "no programme named 'nope'" in unknown.output
    with Session(engine) as session:
        assert find_programme(session, "hotline").id == pid


def at_once(engine, pid, what, *args, **kwargs):
    """``what`` in two threads at once, each with its own session: their results or errors."""
    barrier = threading.Barrier(2)
    outcomes = [None, None]

    def one(i):
        with Session(engine) as session:
            programme = session.get(Programme, pid)
            barrier.wait()
            try:
                outcomes[i] = what(session, programme, *args, **kwargs)
            except Exception as error:  # noqa: BLE001 (the outcome is what is compared)
                outcomes[i] = error

    threads = [threading.Thread(target=one, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return outcomes


def test_two_runs_at_once_credit_each_response_once_and_draw_once(engine):
    pid = make_programme(engine)
    rule(engine, pid, per_survey=60, monthly_cap=100, lottery=True)
    for i in range(40):
        respond(engine, pid, f"+86139{i % 10:08d}", nov(1 + i % 28))
    runs = at_once(engine, pid, credit, timezone=ZONE)
    assert sorted(r.credited for r in runs) == [0, 40], runs
    got = credits(engine)
    assert len(got) == 40 and sum(c.points for c in got.values()) == 10 * 100  # the cap held
    draws = at_once(engine, pid, draw, "2026-11", 3, 7, timezone=ZONE, now=AFTER_DECEMBER)
    assert sorted(type(d).__name__ for d in draws) == ["Conflict", "LotteryDraw"], draws
