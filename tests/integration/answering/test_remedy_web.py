"""Closing the loop end to end: a low score on the web form puts the customer first in the
interviewer's queue within a second, and the call's outcome reaches the weekly report."""

from __future__ import annotations

import time
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlmodel import Session, select

from survey.cati.queue import next_case, record_attempt
from survey.db.tables import CallCase, FollowUp, Invitation, Response, Staff
from survey.remedy.report import weekly_report
from survey.remedy.rules import close_follow_up
from tests.integration.answering.web_pages import CONTENT, answer_all

SHANGHAI = ZoneInfo("Asia/Shanghai")


def week_of(moment: datetime):
    """The Monday (Shanghai time) of the week holding ``moment``."""
    day = moment.astimezone(SHANGHAI).date()
    return day - timedelta(days=day.weekday())


def inside_calling_hours(moment: datetime) -> datetime:
    """``moment``, or 10:00 Shanghai time next if it falls outside 09:00-21:00 there."""
    local = moment.astimezone(SHANGHAI)
    if 9 <= local.hour < 21:
        return moment
    day = local.date() + timedelta(days=1 if local.hour >= 21 else 0)
    return datetime(day.year, day.month, day.day, 10, tzinfo=SHANGHAI)


def test_a_low_web_score_is_called_back_first_and_reported(engine, client, world):  # noqa: F811
    with Session(engine) as session:
        agent = Staff(username="wang", display_name="Wang", role="interviewer")
        session.add(agent)
        waiting = session.exec(select(Invitation.customer_id)).all()[-1]
        # An interview case that was due long before: the follow-up must still come first.
        session.add(CallCase(customer_id=waiting, kind="interview", priority=0,
                             campaign_id=world["campaign_id"],
                             next_call_at=datetime(2026, 1, 1, tzinfo=SHANGHAI)))  # fmt: skip
        session.commit()
        agent_id = agent.id

    token = world["zh"][0]
    _, reply = answer_all(client, token, {**CONTENT, "sat_overall": "1"})
    acknowledged = time.monotonic()
    assert "/done" in reply.headers["location"]

    with Session(engine) as session:
        now = inside_calling_hours(datetime.now(SHANGHAI))
        case = next_case(session, agent_id, now)
        served_after = time.monotonic() - acknowledged
        response = session.exec(select(Response).where(Response.status == "completed")).one()
        follow_up = session.exec(select(FollowUp)).one()
    assert served_after < 1.0
    assert case is not None and case.kind == "follow_up" and case.id == follow_up.case_id
    assert case.customer_id == response.customer_id
    assert follow_up.response_id == response.id
    assert "overall_dissatisfied" in follow_up.reasons

    with Session(engine) as session:
        record_attempt(session, case.id, agent_id, "complete", now + timedelta(minutes=5))
        close_follow_up(session, follow_up.id, "resolved", "network", agent_id,
                        now + timedelta(minutes=6))  # fmt: skip
        session.commit()
        opened_week = week_of(follow_up.opened_at)
        closed_week = week_of(now + timedelta(minutes=6))
        later = now + timedelta(days=8)
        opened = weekly_report(session, opened_week, "Asia/Shanghai", now=later)
        report = weekly_report(session, closed_week, "Asia/Shanghai", now=later)
    assert opened.opened == 1
    assert report.closed == 1 and report.closed_within_sla == 1
    assert report.by_outcome == {"resolved": 1} and report.resolution_rate == 1.0
    assert "network" in report.by_root_cause
