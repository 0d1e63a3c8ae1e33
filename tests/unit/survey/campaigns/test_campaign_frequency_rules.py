"""The contact-frequency rules cap a campaign's invitations too, when their messages are
queued: a customer a programme surveyed within the rules' span is not sent the campaign's
invitation, which is kept as ``frequency_capped`` and leaves the sample (no disposition).
A re-survey after a service remedy is counted, never refused. SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlmodel import Session

from survey.campaigns.cases import campaign_dispositions
from survey.campaigns.launch import launch
from survey.campaigns.lifecycle import create_campaign, invite
from survey.campaigns.monitor import fieldwork
from survey.db.tables import ContactGuard, Customer, Invitation, OutboundSms, SampleFrame
from survey.programmes.decide import decide_contacts
from survey.programmes.manage import create_programme
from survey.questionnaire import load_questionnaire
from survey.questionnaire.publish import publish
from tests.common import SAMPLES

NOW = datetime(2026, 7, 15, 2, 0, tzinfo=UTC)  # 10:00 in Beijing: outside quiet hours
SECRET = "test-secret-" + "x" * 32
ZONE = "Asia/Shanghai"
SURVEYED = "+8613900000001"  # evaluated after a hotline call
FRESH = "+8613900000002"  # never surveyed


def _setup(engine) -> tuple[int, dict[str, int]]:
    """A running hotline programme that has surveyed SURVEYED at NOW, and a frame holding
    both numbers: (the questionnaire version's id, customer id by number)."""
    with Session(engine) as session:
        questionnaire, _ = load_questionnaire(SAMPLES / "contact_evaluation.yaml")
        version = publish(session, questionnaire)
        create_programme(session, version, "hotline", mode="sms_reply", channels=["hotline"],
                         sample_rate=1.0)  # fmt: skip
        frame = SampleFrame(name="csi", source="test")
        session.add(frame)
        session.flush()
        ids = {}
        for n, phone in enumerate((SURVEYED, FRESH)):
            customer = Customer(frame_id=frame.id, external_id=f"x{n}", phone_e164=phone,
                                region="r", service_hall="h", tenure_months=1,
                                monthly_spend=1.0, tier=1, consent=True)  # fmt: skip
            session.add(customer)
            session.flush()
            ids[phone] = customer.id
        session.commit()
        version_id = version.id
    event = {"contact_id": "c1", "phone": SURVEYED, "channel": "hotline",
             "ended_at": (NOW - timedelta(minutes=10)).isoformat(), "agent_id": "a1",
             "team": "t1", "queue": "billing"}  # fmt: skip
    decided = decide_contacts(engine, "hotline", [event], source="api", secret=SECRET,
                              timezone=ZONE, now=NOW)  # fmt: skip
    assert decided[0].decision == "invited"
    return version_id, ids


def _campaign(session, version_id, name, **options):
    return create_campaign(session, version_id, name, message={"zh": "请评价 {link}"},
                           quiet_start="23:00", quiet_end="07:00", **options)  # fmt: skip


def test_a_customer_a_programme_surveyed_is_not_sent_a_campaign_launched_days_later(engine):
    version_id, ids = _setup(engine)
    launched_at = NOW + timedelta(days=3)
    with Session(engine) as session:
        campaign = _campaign(session, version_id, "csi")
        invite(session, campaign, list(ids.values()), secret=SECRET, public_base_url="https://x.example",
               timezone=ZONE, now=NOW, queue=False)  # fmt: skip
        counts = launch(session, campaign, timezone=ZONE, now=launched_at)
        campaign_id = campaign.id
    assert counts["queued"] == 1 and counts["frequency_capped"] == 1
    with Session(engine) as session:
        status = dict(
            session.execute(
                select(Customer.phone_e164, Invitation.status)
                .join(Invitation, Invitation.customer_id == Customer.id)
                .where(Invitation.campaign_id == campaign_id)
            ).all()
        )
        assert status == {SURVEYED: "frequency_capped", FRESH: "created"}
        outbox = session.execute(
            select(OutboundSms.to_phone).where(OutboundSms.campaign_id == campaign_id)
        ).scalars().all()  # fmt: skip
        assert outbox == [FRESH]
        # The fresh number is now taken for the rules' span; the capped one's block still
        # runs from the programme's invitation.
        fresh, surveyed = session.get(ContactGuard, FRESH), session.get(ContactGuard, SURVEYED)
        assert fresh.quarter_count == 1 and surveyed.quarter_count == 1
        assert surveyed.last_invited_at.replace(tzinfo=UTC) == NOW - timedelta(minutes=10)
        # Removed from the sample: no disposition, nowhere in the rates' denominators.
        # (As of the wall clock: the invitations were created by it.)
        counted_at = datetime.now(UTC)
        cases = campaign_dispositions(session, campaign_id, now=counted_at, timezone=ZONE)
        assert [case.customer_id for case in cases] == [ids[FRESH]]
        work = fieldwork(session, campaign_id, now=counted_at, timezone=ZONE)
        assert work.frequency_capped == 1 and work.stage("drawn").count == 2
        assert sum(work.rates["counts"].values()) == 1  # the fresh number's case alone


def test_a_campaign_after_the_rules_span_is_sent_and_invite_caps_a_running_campaign(engine):
    version_id, ids = _setup(engine)
    with Session(engine) as session:
        # Inviting into a running campaign (queue=True) applies the rules at once.
        running = _campaign(session, version_id, "now")
        counts = invite(session, running, [ids[SURVEYED]], secret=SECRET,
                        public_base_url="https://x.example", timezone=ZONE,
                        now=NOW + timedelta(days=1))  # fmt: skip
        assert counts["frequency_capped"] == 1 and counts["invited"] == 0
        # 31 days on, the same number may be surveyed again.
        later = _campaign(session, version_id, "later")
        counts = invite(session, later, [ids[SURVEYED]], secret=SECRET,
                        public_base_url="https://x.example", timezone=ZONE,
                        now=NOW + timedelta(days=31))  # fmt: skip
        assert counts["invited"] == 1 and counts["frequency_capped"] == 0
        assert session.get(ContactGuard, SURVEYED).quarter_count == 2


def test_a_re_survey_after_a_remedy_is_counted_never_refused(engine):
    version_id, ids = _setup(engine)
    with Session(engine) as session:
        campaign = _campaign(session, version_id, "resurvey", channels=["sms_reply"])
        counts = invite(session, campaign, [ids[SURVEYED]], secret=SECRET,
                        public_base_url="https://x.example", timezone=ZONE,
                        now=NOW + timedelta(days=2), exempt_from_frequency_rules=True)  # fmt: skip
        assert counts["invited"] == 1 and counts["frequency_capped"] == 0
        guard = session.get(ContactGuard, SURVEYED)
        assert guard.quarter_count == 2
        assert guard.blocked_until.replace(tzinfo=UTC) == NOW + timedelta(days=32)


def test_going_below_0014_is_refused_while_an_invitation_is_frequency_capped(engine):
    import pytest

    from survey.db.engine import current_revision, downgrade

    version_id, ids = _setup(engine)
    with Session(engine) as session:
        campaign = _campaign(session, version_id, "csi")
        invite(session, campaign, [ids[SURVEYED]], secret=SECRET,
               public_base_url="https://x.example", timezone=ZONE, now=NOW)  # fmt: skip
    with pytest.raises(RuntimeError, match="1 invitation\\(s\\) are frequency_capped"):
        downgrade(engine, "0013")
    # Refused before 0014 changed anything: the database is not below it, the invitation kept.
    assert current_revision(engine) >= "0014"
    with Session(engine) as session:
        statuses = session.execute(select(Invitation.status)).scalars().all()
        assert statuses.count("frequency_capped") == 1
