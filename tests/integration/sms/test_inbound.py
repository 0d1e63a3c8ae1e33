"""Inbound SMS on SQLite and PostgreSQL: opt-out, help, and reply-mode conversations.

Messages go through the SMS simulator, so what a customer's phone shows is read back from
its ``simulated_sms`` rows, exactly as the phone page shows it.
"""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlmodel import Session

from survey.db.tables import (
    Campaign,
    DispatcherLease,
    InboundSms,
    Invitation,
    OptOut,
    OutboundSms,
    utcnow,
)
from survey.sms.inbound import TEXTS, InboundMessage, receive_sms
from survey.sms.outbox import send_now
from survey.sms.reply_mode import ReplyModeError, queue_reply_invitations
from survey.sms.simulator_transport import SimulatorTransport
from survey.sms.transport import RetryableSendError
from tests.integration.sms.reply_campaigns import (
    MORNING,
    STRANGER,
    ZONE,
    answers_of,
    dispatch,
    outbox_kinds,
    phone_shows,
    reply,
    reply_world,
    start_conversations,
)


def test_reply_mode_asks_each_question_stores_the_answers_and_completes_once(engine):
    world = reply_world(engine)
    start_conversations(engine, world)
    phone = world["phones"][0]
    assert phone_shows(engine, phone) == [
        "感谢您致电10086。\n您对本次热线服务满意吗？\n请回复数字：1 满意，2 一般，3 不满意"
    ]
    assert reply(engine, phone, "3").handled_as == "answer"
    assert phone_shows(engine, phone)[-1] == "您的问题解决了吗？\n请回复数字：1 已解决，2 未解决"
    assert reply(engine, phone, "１").handled_as == "answer"  # full-width, as phones send it
    assert phone_shows(engine, phone)[-1].endswith("请回复0-10的数字。")
    assert reply(engine, phone, "9分").handled_as == "answer"
    assert phone_shows(engine, phone)[-1] == "感谢您的评价！"
    response, answers = answers_of(engine, phone)
    assert answers == {"overall": "3", "solved": "1", "recommend": "9"}
    assert response.status == "completed" and response.channel == "sms_reply"
    assert response.questionnaire_version_id == world["version_id"]
    assert response.campaign_id == world["campaign_id"]
    # A reply after the last question is kept, not answered, and changes nothing.
    assert reply(engine, phone, "2").handled_as == "ignored"
    assert len(phone_shows(engine, phone)) == 4
    assert answers_of(engine, phone)[1] == answers
    with Session(engine) as session:
        invitation = session.get(Invitation, response.invitation_id)
        handled = session.execute(
            select(InboundSms.handled_as, InboundSms.invitation_id).order_by(InboundSms.id)
        ).all()
    assert invitation.status == "completed"
    assert [h for h, _ in handled] == ["answer", "answer", "answer", "ignored"]
    assert {i for _, i in handled[:3]} == {invitation.id}


def test_skip_logic_leaves_out_a_question_by_sms_as_on_the_web(engine):
    world = reply_world(engine)
    start_conversations(engine, world)
    phone = world["phones"][1]  # English-speaking
    reply(engine, phone, "1")  # satisfied: "was your problem solved?" is not asked
    assert phone_shows(engine, phone)[-1] == (
        "How likely are you to recommend us?\nReply with a number from 0 to 10."
    )
    reply(engine, phone, "10")
    assert phone_shows(engine, phone)[-1] == "Thank you for your feedback!"
    assert answers_of(engine, phone)[1] == {"overall": "1", "recommend": "10"}


def test_an_invalid_reply_gets_one_short_reprompt_and_a_second_one_none(engine):
    world = reply_world(engine)
    start_conversations(engine, world)
    phone = world["phones"][0]
    assert reply(engine, phone, "5").handled_as == "invalid"  # the scale is 1-3
    assert phone_shows(engine, phone)[-1] == "抱歉，没有看懂。请回复1-3中的一个数字。"
    assert reply(engine, phone, "好的").handled_as == "ignored"
    assert reply(engine, phone, "7").handled_as == "ignored"
    assert len(phone_shows(engine, phone)) == 2  # the question and the one re-prompt
    assert reply(engine, phone, "2").handled_as == "answer"
    # The next question has a re-prompt of its own.
    assert reply(engine, phone, "maybe").handled_as == "invalid"
    assert outbox_kinds(engine, phone) == ["invitation", "reprompt", "question", "reprompt"]
    response, answers = answers_of(engine, phone)
    assert answers == {"overall": "2"} and response.status == "in_progress"


def test_a_questionnaire_that_does_not_fit_reply_mode_is_refused_before_anything_is_queued(
    engine, sample_questionnaire
):
    world = reply_world(engine, questionnaire=sample_questionnaire)
    with Session(engine) as session:
        campaign = session.get(Campaign, world["campaign_id"])
        with pytest.raises(ReplyModeError, match="has 3[0-9] items.*'complained' is of type"):
            queue_reply_invitations(session, campaign, timezone=ZONE, now=MORNING)
    assert outbox_kinds(engine, world["phones"][0]) == []


# -- opt-out, opt-in, help ------------------------------------------------------------------


def test_td_from_an_unknown_number_opts_it_out_and_is_confirmed_once(engine):
    first = reply(engine, STRANGER, "TD")
    assert first.handled_as == "opt_out"
    assert phone_shows(engine, STRANGER) == [TEXTS["opt_out"]["zh"]]
    for again in ("退订", "STOP", "unsubscribe"):
        assert reply(engine, STRANGER, again).handled_as == "opt_out"
    assert phone_shows(engine, STRANGER) == [TEXTS["opt_out"]["zh"]]
    with Session(engine) as session:
        opt_out = session.get(OptOut, STRANGER)
    assert (opt_out.keyword, opt_out.source) == ("td", "sms")


def test_after_td_the_dispatcher_skips_the_number_and_answers_are_not_taken(engine):
    world = reply_world(engine)
    with Session(engine) as session:
        queue_reply_invitations(session, session.get(Campaign, world["campaign_id"]),
                                timezone=ZONE, now=MORNING)  # fmt: skip
    leaving = world["phones"][0]
    reply(engine, leaving, " ｔｄ ")
    stats = dispatch(engine)
    assert (stats.sent, stats.skipped) == (2, 1)
    assert phone_shows(engine, leaving) == [TEXTS["opt_out"]["zh"]]  # no question
    for phone in world["phones"][1:]:
        assert len(phone_shows(engine, phone)) == 1
    with Session(engine) as session:
        skipped = session.execute(
            select(OutboundSms.status, OutboundSms.error_code)
            .where(OutboundSms.to_phone == leaving, OutboundSms.kind == "invitation")
        ).one()  # fmt: skip
    assert tuple(skipped) == ("skipped", "opted-out")
    assert reply(engine, leaving, "1").handled_as == "ignored"
    assert len(phone_shows(engine, leaving)) == 1


def test_start_takes_a_number_off_the_list_and_a_later_stop_is_confirmed_again(engine):
    reply(engine, STRANGER, "STOP")
    assert reply(engine, STRANGER, "START").handled_as == "opt_in"
    with Session(engine) as session:
        assert session.get(OptOut, STRANGER) is None
    reply(engine, STRANGER, "START")  # already in: no second confirmation
    reply(engine, STRANGER, "STOP")
    assert phone_shows(engine, STRANGER) == [
        TEXTS["opt_out"]["zh"], TEXTS["opt_in"]["zh"], TEXTS["opt_out"]["zh"]
    ]  # fmt: skip


def test_help_is_answered_every_time_in_the_customers_language(engine):
    world = reply_world(engine)
    english = world["phones"][1]
    assert reply(engine, english, "HELP").handled_as == "help"
    assert reply(engine, STRANGER, "帮助").handled_as == "help"
    reply(engine, STRANGER, "STOP")
    reply(engine, STRANGER, "help")  # opted out: help is still answered
    assert phone_shows(engine, english) == [TEXTS["help"]["en"]]
    assert phone_shows(engine, STRANGER) == [
        TEXTS["help"]["zh"], TEXTS["opt_out"]["zh"], TEXTS["help"]["zh"]
    ]  # fmt: skip


def test_words_about_stopping_are_neither_an_opt_out_nor_reprompted(engine):
    world = reply_world(engine)
    start_conversations(engine, world)
    phone = world["phones"][0]
    assert reply(engine, phone, "别再发了").handled_as == "ignored"
    with Session(engine) as session:
        assert session.get(OptOut, phone) is None
    assert len(phone_shows(engine, phone)) == 1


# -- once, and never lost -------------------------------------------------------------------


def test_the_same_message_id_twice_is_handled_once(engine):
    first = reply(engine, STRANGER, "TD", message_id="SMdup")
    second = reply(engine, STRANGER, "TD", message_id="SMdup")
    assert (first.handled_as, second.handled_as, second.duplicate) == ("opt_out", "duplicate",
                                                                       True)  # fmt: skip
    with Session(engine) as session:
        assert len(list(session.execute(select(InboundSms)).scalars())) == 1
    assert phone_shows(engine, STRANGER) == [TEXTS["opt_out"]["zh"]]


class BusyProvider:
    """Answers 429 once, then stores like the simulator."""

    def __init__(self, engine) -> None:
        self.simulator = SimulatorTransport(engine)
        self.calls = 0

    def send(self, message):
        self.calls += 1
        if self.calls == 1:
            raise RetryableSendError(429, "too many requests", retry_after=0)
        return self.simulator.send(message)


def test_a_reply_the_provider_cannot_take_now_is_left_for_the_dispatcher(engine):
    provider = BusyProvider(engine)
    outcome = reply(engine, STRANGER, "TD", provider)
    with Session(engine) as session:
        row = session.get(OutboundSms, outcome.outbox_ids[0])
    assert (row.status, row.error_code, row.claimed_by) == ("pending", "429", None)
    assert row.not_before > utcnow()  # backoff
    assert phone_shows(engine, STRANGER) == []
    stats = dispatch(engine, provider, clock=lambda: utcnow() + timedelta(minutes=1))
    assert stats.sent == 1
    assert phone_shows(engine, STRANGER) == [TEXTS["opt_out"]["zh"]]


def test_a_reply_already_taken_by_a_dispatcher_is_not_sent_twice(engine):
    with Session(engine) as session:
        outcome = receive_sms(session, InboundMessage("SMx", STRANGER, "HELP"), timezone=ZONE)
    dispatch(engine, clock=utcnow)  # a dispatcher gets there first
    assert send_now(engine, SimulatorTransport(engine), outcome.outbox_ids) == {
        outcome.outbox_ids[0]: "dispatcher"
    }
    assert phone_shows(engine, STRANGER) == [TEXTS["help"]["zh"]]
    with Session(engine) as session:
        kinds = Counter(session.execute(select(OutboundSms.status)).scalars())
        leases = list(session.execute(select(OutboundSms.claimed_by)).scalars())
    assert kinds == {"sent": 1} and leases == ["w1"]


def test_a_reply_interrupted_by_a_crash_is_reconciled_by_a_dispatcher_not_resent(engine):
    with Session(engine) as session:
        outcome = receive_sms(session, InboundMessage("SMy", STRANGER, "HELP"), timezone=ZONE)
        [outbox_id] = outcome.outbox_ids
        # The web process died after marking the reply "sending" under its own lease.
        long_ago = utcnow() - timedelta(hours=1)
        session.add(DispatcherLease(worker_id="reply-dead", seen_at=long_ago))
        row = session.get(OutboundSms, outbox_id)
        row.status, row.claimed_by, row.sending_at = "sending", "reply-dead", long_ago
        session.add(row)
        session.commit()
    dispatch(engine, clock=utcnow)
    with Session(engine) as session:
        row = session.get(OutboundSms, outbox_id)
    # The simulator's log has no such message: reported as uncertain, never sent blindly.
    assert row.status == "uncertain"
    assert phone_shows(engine, STRANGER) == []
