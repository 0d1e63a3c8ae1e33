"""Contact evaluations go before bulk campaign invitations when both are due (issue 15,
item 6): a claim takes the programmes' due rows first and fills the batch from the rest,
on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select
from sqlmodel import Session

from survey.db.tables import OutboundSms, Programme
from survey.programmes.decide import decide_contacts
from survey.programmes.manage import create_programme
from survey.questionnaire import load_questionnaire
from survey.questionnaire.publish import publish
from tests.common import SAMPLES
from tests.integration.sms.test_dispatch import (
    MORNING,
    Clock,
    RecordingTransport,
    dispatcher,
    launch,
    world,  # noqa: F401 (a fixture)
)

ZONE = "Asia/Shanghai"
EVALUATIONS = 5


def _programme(engine) -> int:
    with Session(engine) as session:
        questionnaire, _ = load_questionnaire(SAMPLES / "contact_evaluation.yaml")
        version = publish(session, questionnaire)
        create_programme(session, version, "hotline", mode="sms_reply", channels=["hotline"],
                         sample_rate=1.0)  # fmt: skip
    contacts = [
        {"contact_id": f"P-{i}", "phone": f"+86137{i:08d}", "channel": "hotline",
         "ended_at": (MORNING - timedelta(minutes=10)).isoformat(), "agent_id": "A1",
         "team": "T1", "queue": "billing", "attributes": {}}
        for i in range(EVALUATIONS)
    ]  # fmt: skip
    decisions = decide_contacts(engine, "hotline", contacts, source="api", secret="s" * 40,
                                timezone=ZONE, now=MORNING)  # fmt: skip
    assert {d.decision for d in decisions} == {"invited"}
    with Session(engine) as session:
        return session.execute(select(Programme.campaign_id)).scalar_one()


def test_a_programmes_rows_are_claimed_before_older_bulk_invitations(engine, world):  # noqa: F811
    # the bulk campaign's 20 invitations were due 90 minutes before the evaluations
    launch(engine, world, n=20, now=MORNING - timedelta(minutes=90))
    programme_campaign = _programme(engine)
    with Session(engine) as session:
        due = session.execute(select(OutboundSms.campaign_id, OutboundSms.not_before)
                              .where(OutboundSms.status == "pending")).all()  # fmt: skip
    bulk = [at for campaign, at in due if campaign == world["campaign_id"]]
    ours = [at for campaign, at in due if campaign == programme_campaign]
    assert len(bulk) == 20 and len(ours) == EVALUATIONS
    assert max(bulk) < min(ours) <= MORNING  # both due; the bulk ones older

    clock = Clock(MORNING)
    first = dispatcher(engine, RecordingTransport(clock), clock, batch_size=8).claim()
    with Session(engine) as session:
        claimed = dict(session.execute(select(OutboundSms.id, OutboundSms.campaign_id)
                                       .where(OutboundSms.id.in_(first))).all())  # fmt: skip
    assert len(first) == 8
    # every evaluation first, the batch filled with the 3 oldest bulk invitations
    assert sorted(claimed.values()).count(programme_campaign) == EVALUATIONS
    assert list(claimed.values()).count(world["campaign_id"]) == 3
    second = dispatcher(engine, RecordingTransport(clock), clock, worker="w2",
                        batch_size=8).claim()  # fmt: skip
    assert len(second) == 8 and not set(first) & set(second)
    with Session(engine) as session:
        campaigns = set(session.execute(select(OutboundSms.campaign_id)
                                        .where(OutboundSms.id.in_(second))).scalars())  # fmt: skip
    assert campaigns == {world["campaign_id"]}


def test_a_batch_smaller_than_the_evaluations_takes_only_evaluations(engine, world):  # noqa: F811
    launch(engine, world, n=20, now=MORNING - timedelta(minutes=90))
    programme_campaign = _programme(engine)
    clock = Clock(MORNING)
    ids = dispatcher(engine, RecordingTransport(clock), clock, batch_size=3).claim()
    with Session(engine) as session:
        campaigns = set(session.execute(select(OutboundSms.campaign_id)
                                        .where(OutboundSms.id.in_(ids))).scalars())  # fmt: skip
    assert len(ids) == 3 and campaigns == {programme_campaign}


def test_sending_keeps_working_with_a_programme(engine, world):  # noqa: F811
    launch(engine, world, n=6, now=MORNING - timedelta(minutes=90))
    _programme(engine)
    clock = Clock(MORNING)
    transport = RecordingTransport(clock)
    stats = dispatcher(engine, transport, clock, batch_size=4).run(until_idle=True)
    assert stats.sent == 6 + EVALUATIONS
    assert len({to for to, _, _ in transport.sent}) == 6 + EVALUATIONS
