"""The one decision per contact event: every kind, idempotence, sampling, the agents'
minimum and the contact-frequency rules across programmes and campaigns, on SQLite and
PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select
from sqlmodel import Session

from survey.campaigns import frequency
from survey.campaigns.lifecycle import create_campaign, invite
from survey.db.tables import (
    ContactEvent,
    ContactGuard,
    Customer,
    Invitation,
    OptOut,
    OutboundSms,
    SampleFrame,
)
from survey.programmes.decide import decide_contacts, sample_point
from survey.programmes.manage import change_state, create_programme, find_programme
from survey.questionnaire import load_questionnaire
from survey.questionnaire.publish import publish
from tests.common import SAMPLES

NOW = datetime(2026, 7, 15, 10, 0, tzinfo=UTC)
SECRET = "test-secret-" + "x" * 32


def make_programme(engine, name="hotline", **options):
    with Session(engine) as session:
        questionnaire, _ = load_questionnaire(SAMPLES / "contact_evaluation.yaml")
        from survey.questionnaire.publish import find_version

        version = find_version(session, questionnaire.form_id, questionnaire.version)
        if version is None:
            version = publish(session, questionnaire)
        settings = {"mode": "sms_reply", "channels": ["hotline", "hall"], "sample_rate": 1.0}
        return create_programme(session, version, name, **{**settings, **options})


def contact(n, phone=None, **fields):
    return {"contact_id": f"c{n}", "phone": phone or f"+86138{n:08d}", "channel": "hotline",
            "ended_at": (NOW - timedelta(minutes=10)).isoformat(), "agent_id": "a1",
            "team": "t1", "queue": "billing", **fields}  # fmt: skip


def decide(engine, contacts, programme="hotline", now=NOW, source="api"):
    return decide_contacts(engine, programme, contacts, source=source, secret=SECRET,
                           timezone="Asia/Shanghai", now=now)  # fmt: skip


def count(engine, table):
    with Session(engine) as session:
        return session.execute(select(func.count()).select_from(table)).scalar_one()


def test_every_kind_of_decision_is_produced_and_explained(engine):
    make_programme(engine)
    with Session(engine) as session:
        session.add(OptOut(phone_e164="+8613800000003", keyword="TD", source="sms"))
        session.commit()
    batch = [
        contact(1, ended_at=(NOW - timedelta(minutes=1)).isoformat()),
        contact(1),  # duplicate
        contact(2, phone="12"),  # invalid phone
        contact(3),  # opted out
        contact(4, ended_at=(NOW - timedelta(hours=30)).isoformat()),  # outside the window
        contact(5, ended_at=(NOW + timedelta(hours=1)).isoformat()),  # in the future
        contact(6, phone="+8613800000001", ended_at=NOW.isoformat()),  # c1 came first: capped
        contact(7, channel="email"),
        contact(8, ended_at="2026-07-15 09:00"),  # no time zone
    ]
    results = decide(engine, batch)
    assert [(r.contact_id, r.decision) for r in results] == [
        ("c1", "invited"), ("c1", "duplicate"), ("c2", "invalid"), ("c3", "opted_out"),
        ("c4", "outside_window"), ("c5", "outside_window"), ("c6", "frequency_capped"),
        ("c7", "invalid"), ("c8", "invalid"),
    ]  # fmt: skip
    assert results[2].reason.startswith("phone: '12' is not a valid number")
    assert "channel" in results[7].reason and "hotline, hall" in results[7].reason
    assert results[8].reason.startswith("ended_at:") and "+08:00" in results[8].reason
    assert "contact c1 of this batch is invited" in results[6].reason
    assert "30 h ago" in results[4].reason and "24 h" in results[4].reason
    assert all(r.reason for r in results)
    # Invalid and duplicate events are not stored; everything else once.
    assert count(engine, ContactEvent) == 5
    with Session(engine) as session:
        (row,) = session.execute(select(OutboundSms)).scalars().all()
        assert row.to_phone == "+8613800000001"
        assert row.not_before == NOW + timedelta(minutes=4)  # 5 minutes after the end
        assert "您对本次服务满意吗" in row.body and "1 满意" in row.body
        event = session.execute(
            select(ContactEvent).where(ContactEvent.contact_id == "c1")
        ).scalar_one()
        invitation = session.get(Invitation, event.invitation_id)
        assert invitation.channel == "sms_reply" and invitation.status == "created"
        customer = session.get(Customer, invitation.customer_id)
        assert customer.external_id == "c1"
        frame = session.get(SampleFrame, customer.frame_id)
        assert frame.name == "programme:hotline"


def test_a_batch_sent_twice_is_decided_once(engine):
    make_programme(engine, sample_rate=0.5)
    batch = [contact(n) for n in range(200)]
    first = decide(engine, batch)
    outbox = count(engine, OutboundSms)
    assert 60 < outbox < 140  # about half drawn
    again = decide(engine, batch, now=NOW + timedelta(minutes=30))
    assert again == first
    assert count(engine, OutboundSms) == outbox
    assert count(engine, Invitation) == outbox
    assert count(engine, ContactEvent) == 200


def test_sampling_is_a_keyed_hash_of_the_contact_against_queue_then_channel_then_default(engine):
    programme = make_programme(engine, sample_rate=0.0, channel_rates={"hall": 1.0},
                               queue_rates={"vip": 1.0})  # fmt: skip
    results = decide(engine, [contact(1, queue="vip"), contact(2, channel="hall"), contact(3)])
    assert [r.decision for r in results] == ["invited", "invited", "sampled_out"]
    assert [r.reason for r in results] == [
        "drawn at the rate 1 of queue vip", "drawn at the rate 1 of channel hall",
        "not drawn at the rate 0 of the programme",
    ]  # fmt: skip
    point = sample_point(programme.sampling_key, "c1")
    assert point == sample_point(programme.sampling_key, "c1") and 0 <= point < 1


def test_an_agent_below_the_monthly_minimum_is_invited_whatever_the_rate(engine):
    make_programme(engine, sample_rate=0.0, min_per_agent=2)
    results = decide(engine, [contact(n, agent_id="slow") for n in range(4)])
    assert [r.decision for r in results] == ["invited", "invited", "sampled_out", "sampled_out"]
    assert "agent slow had 0 of the programme's minimum 2" in results[0].reason
    assert decide(engine, [contact(9, agent_id="slow")])[0].decision == "sampled_out"


def test_a_repeat_caller_is_surveyed_once_across_two_programmes_and_a_campaign(engine):
    make_programme(engine, "hotline")
    make_programme(engine, "halls")
    phone = "+8613900000001"
    assert decide(engine, [contact(1, phone=phone)])[0].decision == "invited"
    later = NOW + timedelta(days=3)
    second = decide(engine, [contact(2, phone=phone, ended_at=later.isoformat())], "halls", later)
    assert second[0].decision == "frequency_capped"
    assert "surveyed on 2026-07-15; at most once in 30 days" in second[0].reason
    # 31 days on, allowed again; a fourth survey in one quarter is not.
    month = NOW + timedelta(days=31)
    third = decide(engine, [contact(3, phone=phone, ended_at=month.isoformat())], "halls", month)
    assert third[0].decision == "invited"
    with Session(engine) as session:
        guard = session.get(ContactGuard, phone)
        assert guard.quarter == "2026Q3" and guard.quarter_count == 2
    # A campaign's invitation of another number counts: the programme then caps it.
    other = "+8613900000002"
    with Session(engine) as session:
        frame = SampleFrame(name="csi", source="test")
        session.add(frame)
        session.flush()
        customer = Customer(frame_id=frame.id, external_id="x", phone_e164=other, region="r",
                            service_hall="h", tenure_months=1, monthly_spend=1.0,
                            tier=1)  # fmt: skip
        session.add(customer)
        session.commit()
        version_id = find_programme(session, "hotline").questionnaire_version_id
        campaign = create_campaign(session, version_id, "csi",
                                   message={"zh": "请评价 {link}"})  # fmt: skip
        invite(session, campaign, [customer.id], secret=SECRET,
               public_base_url="https://x.example", timezone="Asia/Shanghai", now=NOW)  # fmt: skip
    result = decide(engine, [contact(4, phone=other)])
    assert result[0].decision == "frequency_capped"


def test_the_quarter_limit_caps_a_fourth_survey_in_one_quarter(engine):
    make_programme(engine)
    phone = "+8613900000009"
    results = []
    for n, days in enumerate((0, 30, 60, 90, 92)):
        # 1 July + 0/30/60/90 days are all in Q3 (Beijing time); + 92 is 2 October, Q4.
        when = datetime(2026, 7, 1, 2, tzinfo=UTC) + timedelta(days=days)
        results.append(decide(engine, [contact(n, phone=phone, ended_at=when.isoformat())],
                              now=when + timedelta(minutes=10))[0])  # fmt: skip
    assert [r.decision for r in results] == ["invited"] * 3 + ["frequency_capped", "invited"]
    assert results[3].reason == "the number was surveyed 3 times this quarter; at most 3 a quarter"
    assert frequency.quarter_of(datetime(2026, 12, 31, 17, tzinfo=UTC)) == "2027Q1"


def test_a_paused_or_unknown_programme_is_refused_with_words(engine):
    from survey.errors import Conflict, NotFound

    make_programme(engine)
    with Session(engine) as session:
        change_state(session, find_programme(session, "hotline"), "pause")
    with pytest.raises(Conflict, match="paused: resume it"):
        decide(engine, [contact(1)])
    with pytest.raises(NotFound, match="no programme named 'nope'"):
        decide(engine, [contact(1)], programme="nope")
