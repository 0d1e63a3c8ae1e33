"""Replies joined to the contact (issue 15, item 4): a programme's SMS reply belongs to the
contact's agent, team, queue and channel; "3" opens the service-remedy follow-up with a
priority call case; a reply's words are kept (with the rating or alone, or sent after it)
and both follow-up pages show the contact and the words. The CSI reply campaigns' re-prompt
for text is unchanged (tests/integration/sms keep it).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update
from sqlmodel import Session

from api.settings import Settings
from api.web.app import create_app
from survey.db.tables import (
    Answer,
    CallCase,
    ContactEvent,
    FollowUp,
    InboundSms,
    Invitation,
    OutboundSms,
    Response,
)
from survey.programmes.contact import contact_of_response, customer_words
from survey.programmes.decide import decide_contacts
from survey.programmes.manage import create_programme
from survey.questionnaire import load_questionnaire
from survey.questionnaire.publish import publish
from survey.sms.inbound import InboundMessage, receive_sms
from survey.sms.reply_mode import split_words
from survey.staff.accounts import create_staff
from tests.common import SAMPLES
from tests.integration.staff_login import PASSWORD, SECRET, log_in

pytestmark = pytest.mark.usefixtures("cheap_hashing")

ZONE = "Asia/Shanghai"
NOW = datetime.now(UTC).replace(microsecond=0)
ENDED = NOW - timedelta(minutes=30)


def _contact(i: int, **attributes) -> dict:
    return {
        "contact_id": f"CR-{i:04d}", "phone": f"+86138{i:08d}", "channel": "hotline",
        "ended_at": ENDED.isoformat(), "agent_id": f"A{i}", "team": "T7", "queue": "billing",
        "region": "Hangzhou", "service_hall": None, "attributes": attributes,
    }  # fmt: skip


def _programme(engine, n: int = 4) -> None:
    with Session(engine) as session:
        questionnaire, _ = load_questionnaire(SAMPLES / "contact_evaluation.yaml")
        version = publish(session, questionnaire)
        create_programme(session, version, "hotline", mode="sms_reply", channels=["hotline"],
                         sample_rate=1.0, reply_window_hours=72)  # fmt: skip
    contacts = [_contact(0, topic="套餐变更", summary="客户要求改套餐，等待转接", crm_id="X1")]
    contacts += [_contact(i) for i in range(1, n)]
    decisions = decide_contacts(engine, "hotline", contacts, source="api", secret=SECRET,
                                timezone=ZONE, now=NOW)  # fmt: skip
    assert {d.decision for d in decisions} == {"invited"}
    with Session(engine) as session:  # the dispatcher sent them
        session.execute(update(Invitation).values(status="invited", sent_at=NOW))
        session.commit()


def _sms(engine, i: int, body: str, key: str):
    with Session(engine) as session:
        return receive_sms(session, InboundMessage(key, _contact(i)["phone"], body),
                           timezone=ZONE)  # fmt: skip


def _response_of(session, i: int) -> Response | None:
    return session.execute(
        select(Response).join(ContactEvent, ContactEvent.invitation_id == Response.invitation_id)
        .where(ContactEvent.contact_id == _contact(i)["contact_id"])
    ).scalar_one_or_none()  # fmt: skip


def test_split_words_takes_a_leading_offered_number_and_keeps_the_words():
    codes = ["1", "2", "3"]
    assert split_words("3 等了太久，没解决", codes) == ("3", "等了太久，没解决")
    assert split_words("３，没解决", codes) == ("3", "没解决")
    assert split_words("【3】太慢了", codes) == ("3", "太慢了")
    assert split_words("等了太久", codes) == (None, "等了太久")
    assert split_words("5 太差", codes) == (None, "5 太差")  # 5 is no answer: all words
    assert split_words("1 2", codes) == (None, None)  # a mistyped number, no words


def test_a_dissatisfied_reply_with_words_opens_a_follow_up_joined_to_the_contact(engine):
    _programme(engine)
    outcome = _sms(engine, 0, "3 等了太久，没解决", "m1")
    assert outcome.handled_as == "answer"
    with Session(engine) as session:
        response = _response_of(session, 0)
        assert response.status == "completed"
        answers = session.execute(select(Answer.item_name, Answer.value)
                                  .where(Answer.response_id == response.id)).all()  # fmt: skip
        assert sorted(answers) == [("comment", "等了太久，没解决"), ("overall", "3")]
        contact = contact_of_response(session, response.id)
        assert (contact.agent_id, contact.team, contact.queue, contact.channel) == (
            "A0", "T7", "billing", "hotline")  # fmt: skip
        assert [key for key, _, _ in contact.about] == ["topic", "summary"]  # not crm_id
        follow_up = session.execute(
            select(FollowUp).where(FollowUp.response_id == response.id)
        ).scalar_one()
        assert follow_up.reasons == ["contact_dissatisfied"]
        case = session.get(CallCase, follow_up.case_id)
        assert (case.kind, case.status, case.priority) == ("follow_up", "open", 100)
    # words sent after the rating are added, not dropped and not replacing the first
    assert _sms(engine, 0, "还有，转了三次人工", "m2").handled_as == "comment"
    with Session(engine) as session:
        words = [text for _, text in customer_words(session, _response_of(session, 0).id)]
        assert words == ["等了太久，没解决", "还有，转了三次人工"]
        assert session.execute(select(InboundSms.invitation_id).where(
            InboundSms.provider_message_id == "m2")).scalar_one() is not None  # fmt: skip


def test_satisfied_and_fair_replies_open_no_follow_up(engine):
    _programme(engine)
    assert _sms(engine, 1, "1", "a").handled_as == "answer"
    assert _sms(engine, 2, "2 还行吧", "b").handled_as == "answer"
    with Session(engine) as session:
        assert session.execute(select(FollowUp)).first() is None
        assert _response_of(session, 1).status == _response_of(session, 2).status == "completed"
        assert customer_words(session, _response_of(session, 2).id)[0][1] == "还行吧"


def test_words_alone_are_kept_and_the_number_asked_for_once(engine):
    _programme(engine)
    outcome = _sms(engine, 3, "等了半个小时没人接", "w1")
    assert outcome.handled_as == "comment"
    with Session(engine) as session:
        response = _response_of(session, 3)
        assert response.status == "in_progress"
        assert [t for _, t in customer_words(session, response.id)] == ["等了半个小时没人接"]
        reprompts = session.execute(select(OutboundSms.body).where(
            OutboundSms.kind == "reprompt")).scalars().all()  # fmt: skip
        assert len(reprompts) == 1 and "留言已收到" in reprompts[0]
    assert _sms(engine, 3, "还是没人处理", "w2").handled_as == "comment"  # kept, no 2nd reprompt
    assert _sms(engine, 3, "3", "w3").handled_as == "answer"
    with Session(engine) as session:
        response = _response_of(session, 3)
        assert response.status == "completed"
        assert len(customer_words(session, response.id)) == 2
        assert session.execute(select(FollowUp).where(
            FollowUp.response_id == response.id)).scalar_one()  # fmt: skip
        assert session.execute(select(OutboundSms).where(
            OutboundSms.kind == "reprompt")).all().__len__() == 1  # fmt: skip


def test_both_follow_up_pages_show_the_contact_and_the_words(engine, database_url):
    _programme(engine)
    _sms(engine, 0, "3 等了太久，没解决", "p1")
    with Session(engine) as session:
        create_staff(session, "boss", "researcher", PASSWORD)
        caller = create_staff(session, "caller", "interviewer", PASSWORD)
        follow_up = session.execute(select(FollowUp)).scalar_one()
        follow_up_id, case_id = follow_up.id, follow_up.case_id
        # the case handed to the caller, as /calls/next does in calling hours
        session.execute(update(CallCase).where(CallCase.id == case_id).values(
            held_by=caller.id, held_until=datetime.now(UTC) + timedelta(hours=1)))  # fmt: skip
        session.commit()
    local = ENDED.astimezone(ZoneInfo(ZONE)).strftime("%Y-%m-%d %H:%M")
    settings = Settings(database_url=database_url, env="test", secret_key=SECRET, timezone=ZONE)
    with TestClient(create_app(settings), base_url="https://testserver") as client:
        log_in(client, "boss")
        page = client.get(f"/dashboard/follow-ups/{follow_up_id}")
        assert page.status_code == 200, page.text
        for shown in (local, "客服热线", "A0", "T7", "billing", "套餐变更", "客户要求改套餐",
                      "等了太久，没解决", "服务评价“不满意”"):  # fmt: skip
            assert shown in page.text, shown
        assert "X1" not in page.text  # crm_id is not an about key
        client.cookies.clear()
        log_in(client, "caller")
        page = client.get(f"/calls/{case_id}")
        assert page.status_code == 200, page.text
        for shown in (local, "客服热线", "A0", "T7", "billing", "套餐变更", "等了太久，没解决"):
            assert shown in page.text, shown
