"""Reply-mode campaigns for the SMS tests: a world of invited customers, the dispatcher run
once, a customer's reply, and what their phone shows (shared helpers, no fixtures)."""


from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select
from sqlmodel import Session

from survey.campaigns.lifecycle import change_status, create_campaign, invite
from survey.db.tables import (
    Answer,
    Campaign,
    Customer,
    OutboundSms,
    Response,
    SimulatedSms,
)
from survey.frames.sample_frame import generate_frame
from survey.frames.store import store_frame
from survey.questionnaire.publish import publish
from survey.sms.dispatch import Dispatcher
from survey.sms.inbound import InboundMessage, receive_sms
from survey.sms.outbox import send_now
from survey.sms.reply_mode import queue_reply_invitations
from survey.sms.simulator_transport import SimulatorTransport, new_message_id
from tests.questionnaires import hotline_questionnaire

SECRET = "s" * 40
BASE = "https://survey.example.org"
ZONE = "Asia/Shanghai"
MORNING = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai
STRANGER = "+8613912345678"  # a number in no sample frame


def reply_world(engine, *, n: int = 3, questionnaire=None) -> dict:
    """A running reply-mode campaign (the hotline evaluation) with ``n`` customers invited;
    the first is Chinese-speaking, the second English-speaking. Nothing sent yet."""
    with Session(engine) as session:
        version = publish(session, questionnaire or hotline_questionnaire())
        frame = store_frame(session, generate_frame(n, seed=11), "hotline", "test")
        customers = list(
            session.execute(
                select(Customer).where(Customer.frame_id == frame.id).order_by(Customer.id)
            ).scalars()
        )
        for index, customer in enumerate(customers):
            customer.consent = True
            customer.language = "en" if index == 1 else "zh"
            session.add(customer)
        session.commit()
        campaign = create_campaign(
            session,
            version.id,
            "Hotline evaluation",
            channels=["sms_reply"],
            message={"zh": "感谢您致电10086。", "en": "Thank you for calling 10086."},
        )
        invite(session, campaign, [c.id for c in customers], secret=SECRET,
               public_base_url=BASE, timezone=ZONE, now=MORNING)  # fmt: skip
        change_status(session, campaign, "launch")
        return {
            "campaign_id": campaign.id,
            "phones": [c.phone_e164 for c in customers],
            "version_id": version.id,
        }


def start_conversations(engine, world) -> None:
    """Queue each invitation's first question and dispatch it to the simulator."""
    with Session(engine) as session:
        campaign = session.get(Campaign, world["campaign_id"])
        queue_reply_invitations(session, campaign, timezone=ZONE, now=MORNING)
    dispatch(engine)


def dispatch(engine, transport=None, clock=lambda: MORNING):
    """Run a dispatcher until nothing is due; replies are due now, the campaign at MORNING."""
    dispatcher = Dispatcher(engine=engine, transport=transport or SimulatorTransport(engine),
                            worker_id="w1", secret=SECRET, public_base_url=BASE,
                            clock=clock, sleep=lambda seconds: None)  # fmt: skip
    return dispatcher.run(until_idle=True)


def reply(engine, phone: str, body: str, transport=None, *, message_id: str | None = None):
    """The customer sends ``body``; the replies it causes are sent at once."""
    with Session(engine) as session:
        outcome = receive_sms(
            session, InboundMessage(message_id or new_message_id(), phone, body), timezone=ZONE
        )
    send_now(engine, transport or SimulatorTransport(engine), outcome.outbox_ids)
    return outcome


def phone_shows(engine, phone: str) -> list[str]:
    """The messages the simulated phone received, oldest first."""
    with Session(engine) as session:
        return list(
            session.execute(
                select(SimulatedSms.body)
                .where(SimulatedSms.phone == phone, SimulatedSms.direction == "out")
                .order_by(SimulatedSms.id)
            ).scalars()
        )


def outbox_kinds(engine, phone: str) -> list[str]:
    with Session(engine) as session:
        return list(
            session.execute(
                select(OutboundSms.kind)
                .where(OutboundSms.to_phone == phone)
                .order_by(OutboundSms.id)
            ).scalars()
        )


def answers_of(engine, phone: str) -> tuple[Response, dict[str, str | None]]:
    with Session(engine) as session:
        response = session.execute(
            select(Response)
            .join(Customer, Response.customer_id == Customer.id)
            .where(Customer.phone_e164 == phone)
        ).scalar_one()
        rows = session.execute(
            select(Answer.item_name, Answer.value)
            .where(Answer.response_id == response.id)
            .order_by(Answer.id)
        ).all()
    return response, dict(rows)


# -- reply mode --------------------------------------------------------------------------------
