"""The re-survey after a service-remedy call, on SQLite and PostgreSQL.

A customer whose low web score opened a follow-up is called back; once the follow-up is
closed, the customer is invited to the hotline evaluation (a running SMS-reply campaign) and
gets its first question on the simulated phone, once, whatever is repeated.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select, update
from sqlmodel import Session

from survey.campaigns.lifecycle import change_status, create_campaign, invite
from survey.campaigns.resurvey import ResurveyError, send_resurvey
from survey.db.tables import (
    Answer,
    Campaign,
    Customer,
    FollowUp,
    Invitation,
    OptOut,
    OutboundSms,
    Response,
    Staff,
)
from survey.frames.sample_frame import generate_frame
from survey.frames.store import store_frame
from survey.questionnaire.publish import publish
from survey.remedy.report import weekly_report
from survey.remedy.rules import close_follow_up, open_follow_ups
from tests.integration.sms.reply_campaigns import BASE, MORNING, SECRET, ZONE, dispatch, phone_shows
from tests.questionnaires import hotline_questionnaire
from tests.service_process import run_manyi as manyi

CLOSED = MORNING - timedelta(hours=1)  # the remedy call ended at 09:00 in Shanghai


@pytest.fixture
def world(engine, sample_questionnaire):
    """Four customers with a low web score each (so an open follow-up), an agent, the
    running hotline evaluation, and a paused and an SMS-link campaign."""
    with Session(engine) as session:
        csi = publish(session, sample_questionnaire)
        hotline = publish(session, hotline_questionnaire())
        frame = store_frame(session, generate_frame(4, seed=8), "resurvey", "test")
        customers = list(
            session.execute(
                select(Customer).where(Customer.frame_id == frame.id).order_by(Customer.id)
            ).scalars()
        )
        session.execute(update(Customer).values(consent=True, language="zh"))
        agent = Staff(username="li", display_name="Li", role="interviewer")
        session.add(agent)
        session.commit()
        follow_ups = []
        low = {i.name: "3" for i in sample_questionnaire.items if i.type == "rating"}
        for customer in customers:
            response = Response(
                questionnaire_version_id=csi.id,
                customer_id=customer.id,
                channel="web_link",
                status="completed",
                started_at=CLOSED - timedelta(days=1),
                completed_at=CLOSED - timedelta(days=1),
            )
            session.add(response)
            session.flush()
            for name, value in {**low, "sat_overall": "2"}.items():
                session.add(Answer(response_id=response.id, item_name=name, value=value))
            session.flush()
            opened = open_follow_ups(session, response.id, CLOSED - timedelta(days=1))
            follow_ups.append(opened.follow_up_id)
        session.commit()
        message = {"zh": "感谢您接听回访电话。", "en": "Thank you for taking our call."}
        evaluation = create_campaign(
            session, hotline.id, "Hotline evaluation", channels=["sms_reply"], message=message
        )
        change_status(session, evaluation, "launch")
        paused = create_campaign(
            session, hotline.id, "Paused evaluation", channels=["sms_reply"], message=message
        )
        change_status(session, paused, "launch")
        change_status(session, paused, "pause")
        link = create_campaign(session, csi.id, "Web survey", message={"zh": "请评价：{link}"})
        change_status(session, link, "launch")
        return {
            "agent": agent.id,
            "follow_ups": follow_ups,
            "phones": [c.phone_e164 for c in customers],
            "customers": [c.id for c in customers],
            "evaluation": evaluation.id,
            "paused": paused.id,
            "link": link.id,
        }


def close(engine, world, index: int, outcome: str = "resolved") -> int:
    with Session(engine) as session:
        follow_up = world["follow_ups"][index]
        cause = None if outcome == "unreachable" else "network"
        close_follow_up(session, follow_up, outcome, cause, world["agent"], CLOSED)
        session.commit()
        return follow_up


def resurvey(engine, follow_up_id: int, campaign_id: int):
    with Session(engine) as session:
        return send_resurvey(
            session,
            follow_up_id,
            campaign_id,
            secret=SECRET,
            public_base_url=BASE,
            timezone=ZONE,
            now=MORNING,
        )


def count(engine, table, *where) -> int:
    with Session(engine) as session:
        return session.execute(select(func.count()).select_from(table).where(*where)).scalar()


def test_a_resolved_follow_ups_customer_gets_the_hotline_first_question_once(engine, world):
    follow_up_id = close(engine, world, 0)
    monday = (MORNING + timedelta(hours=8)).date()
    with Session(engine) as session:
        report_before = weekly_report(session, monday, ZONE, now=MORNING).to_dict()
    sent = resurvey(engine, follow_up_id, world["evaluation"])
    assert sent.sent_now
    dispatch(engine)
    again = resurvey(engine, follow_up_id, world["evaluation"])
    dispatch(engine)
    assert not again.sent_now and again.invitation_id == sent.invitation_id
    assert phone_shows(engine, world["phones"][0]) == [
        "感谢您接听回访电话。\n" + hotline_first_question()
    ]
    with Session(engine) as session:
        follow_up = session.get(FollowUp, follow_up_id)
        invitation = session.get(Invitation, sent.invitation_id)
        assert follow_up.resurvey_invitation_id == invitation.id
        assert (invitation.campaign_id, invitation.customer_id) == (
            world["evaluation"],
            world["customers"][0],
        )
        assert invitation.channel == "sms_reply" and invitation.status == "invited"
        assert weekly_report(session, monday, ZONE, now=MORNING).to_dict() == report_before
    assert count(engine, OutboundSms, OutboundSms.invitation_id == sent.invitation_id) == 1
    assert phone_shows(engine, world["phones"][1]) == []  # nobody else was asked


def hotline_first_question() -> str:
    from survey.sms.reply_mode import prompt

    questionnaire = hotline_questionnaire()
    return prompt(questionnaire.items[0], questionnaire, "zh")


def test_a_not_resolved_follow_up_is_asked_too(engine, world):
    sent = resurvey(engine, close(engine, world, 1, "not_resolved"), world["evaluation"])
    assert sent.sent_now
    assert count(engine, OutboundSms, OutboundSms.invitation_id == sent.invitation_id) == 1


@pytest.mark.parametrize(
    ("campaign", "message"),
    [
        ("link", "is a sms_link campaign: a re-survey goes to an sms_reply campaign"),
        ("paused", "is paused, not running"),
        (None, "campaign 999 does not exist"),
    ],
)
def test_a_campaign_that_is_not_a_running_reply_campaign_is_refused(
    engine, world, campaign, message
):
    follow_up_id = close(engine, world, 0)
    with pytest.raises(ResurveyError, match=message):
        resurvey(engine, follow_up_id, world[campaign] if campaign else 999)
    assert count(engine, Invitation, Invitation.customer_id == world["customers"][0]) == 0


def test_open_unreachable_unknown_and_opted_out_follow_ups_are_refused_and_nothing_sent(
    engine, world
):
    with pytest.raises(ResurveyError, match="is open: record the call's outcome first"):
        resurvey(engine, world["follow_ups"][0], world["evaluation"])
    unreachable = close(engine, world, 1, "unreachable")
    with pytest.raises(ResurveyError, match="closed as unreachable"):
        resurvey(engine, unreachable, world["evaluation"])
    with pytest.raises(ResurveyError, match="follow-up 999 does not exist"):
        resurvey(engine, 999, world["evaluation"])
    opted_out = close(engine, world, 2)
    with Session(engine) as session:
        session.add(OptOut(phone_e164=world["phones"][2], keyword="TD", source="sms"))
        session.commit()
    with pytest.raises(ResurveyError, match="is on the opt-out list"):
        resurvey(engine, opted_out, world["evaluation"])
    assert count(engine, Invitation, Invitation.campaign_id == world["evaluation"]) == 0
    assert count(engine, OutboundSms) == 0
    with Session(engine) as session:
        assert session.get(FollowUp, opted_out).resurvey_invitation_id is None


def test_a_customer_invited_to_the_campaign_before_is_refused(engine, world):
    follow_up_id = close(engine, world, 3)
    with Session(engine) as session:
        campaign = session.get(Campaign, world["evaluation"])
        invite(
            session,
            campaign,
            [world["customers"][3]],
            secret=SECRET,
            public_base_url=BASE,
            timezone=ZONE,
            now=CLOSED,
        )
        # Invited after an earlier hotline call, days before this follow-up was closed.
        session.execute(
            update(Invitation)
            .where(Invitation.customer_id == world["customers"][3])
            .values(created_at=CLOSED - timedelta(days=3))
        )
        session.commit()
    with pytest.raises(ResurveyError, match="was already invited to campaign"):
        resurvey(engine, follow_up_id, world["evaluation"])


def test_a_call_after_a_crash_finishes_the_invitation_the_crashed_call_made(engine, world):
    follow_up_id = close(engine, world, 0)
    with Session(engine) as session:  # the crashed call got as far as invite()
        campaign = session.get(Campaign, world["evaluation"])
        invite(
            session,
            campaign,
            [world["customers"][0]],
            secret=SECRET,
            public_base_url=BASE,
            timezone=ZONE,
            now=MORNING,
        )
    sent = resurvey(engine, follow_up_id, world["evaluation"])
    assert sent.sent_now
    dispatch(engine)
    assert len(phone_shows(engine, world["phones"][0])) == 1
    assert count(engine, Invitation, Invitation.campaign_id == world["evaluation"]) == 1


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_cli_sends_the_resurvey_once_and_refuses_an_open_follow_up(engine, database_url, world):
    env = {"MANYI_DATABASE_URL": database_url}
    follow_up_id = str(close(engine, world, 0))
    campaign = str(world["evaluation"])
    run = manyi("remedy", "resurvey", follow_up_id, "--campaign", campaign, env=env)
    assert run.returncode == 0, run.stderr
    assert "re-survey queued" in run.stdout
    run = manyi("remedy", "resurvey", follow_up_id, "--campaign", campaign, env=env)
    assert run.returncode == 0 and "sent already" in run.stdout
    run = manyi("remedy", "resurvey", str(world["follow_ups"][1]), "--campaign", campaign, env=env)
    assert run.returncode == 2 and "is open" in run.stderr
    assert count(engine, OutboundSms) == 1
