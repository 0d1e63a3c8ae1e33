"""AAPOR rates of a campaign read from SQLite and PostgreSQL: phone cases and SMS invitations.

The campaign below has six phone cases with known attempt histories and six SMS
invitations with known statuses; every expected code, count and rate is worked out by hand
from the rules of survey.cati.outcomes and survey.aapor.web.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from sqlalchemy import select, update
from sqlmodel import Session

from api.cli.rates import RatesInputError, compute_campaign
from survey.campaigns.cases import CampaignNotFound, campaign_dispositions
from survey.campaigns.lifecycle import change_status, create_call_cases, create_campaign, invite
from survey.db.tables import (
    Answer,
    CallAttempt,
    CallCase,
    Customer,
    Invitation,
    OutboundSms,
    Response,
    Staff,
    utcnow,
)
from survey.frames.sample_frame import generate_frame
from survey.frames.store import store_frame
from survey.questionnaire.publish import publish
from tests.service_process import run_manyi as manyi

ZONE = "Asia/Shanghai"
# 2026-03-31 20:00 UTC is already April 1st in Shanghai: the month is the local one.
MARCH = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)
APRIL = datetime(2026, 3, 31, 20, 0, tzinfo=UTC)

#: Phone cases: (attempts as (interviewer, code), final code stored or None while open).
PHONE = [
    ([("a", "3.13"), ("b", "1.1")], "1.1"),  # complete on the second call: I, by b
    ([("a", "3.13"), ("a", "2.11")], "2.11"),  # hard refusal ends the case: R
    ([("b", "2.11"), ("a", "3.13")], None),  # open: refusal over a later no answer: R
    ([("a", "3.12"), ("a", "3.12")], None),  # open, always busy: 3.12 UH
    ([], None),  # never called: 3.11 UH
    ([("a", "4.32")], "4.32"),  # disconnected: NE
]
PHONE_CODES = ["1.1", "2.11", "2.11", "3.12", "3.11", "4.32"]
#: SMS invitations: (invitation status, provider delivery report) -> expected code.
SMS = [
    ("completed", "delivered", "1.1"),  # I
    ("opted_out", None, "2.111"),  # R
    ("invited", "undelivered", "3.30"),  # UO
    ("invited", "delivered", "3.19"),  # UH
    ("opened", "delivered", "2.1121"),  # R
    ("started", "delivered", "2.12"),  # R: one answer is under the 50 % threshold
]


@pytest.fixture
def world(engine, sample_questionnaire):
    with Session(engine) as session:
        version = publish(session, sample_questionnaire)
        frame = store_frame(session, generate_frame(12, seed=3), "rates", "test")
        customers = list(
            session.execute(
                select(Customer.id).where(Customer.frame_id == frame.id).order_by(Customer.id)
            ).scalars()
        )
        session.execute(update(Customer).values(consent=True))
        staff = {name: Staff(username=name, display_name=name, role="interviewer") for name in "ab"}
        session.add_all(staff.values())
        session.commit()
        campaign = create_campaign(
            session,
            version.id,
            "Mixed March",
            channels=["sms_link", "cati"],
            message={"zh": "请评价：{link}"},
        )
        change_status(session, campaign, "launch")
        phone, sms = customers[:6], customers[6:]
        create_call_cases(session, campaign, phone, now=MARCH)
        invite(
            session,
            campaign,
            sms,
            secret="s" * 40,
            public_base_url="https://x.example",
            timezone=ZONE,
            now=MARCH,
        )
        cases = session.execute(
            select(CallCase).where(CallCase.campaign_id == campaign.id).order_by(CallCase.id)
        ).scalars()
        for case, (attempts, final) in zip(cases, PHONE, strict=True):
            for number, (who, code) in enumerate(attempts):
                started = MARCH if number == 0 else APRIL
                session.add(
                    CallAttempt(
                        case_id=case.id,
                        interviewer_id=staff[who].id,
                        started_at=started,
                        outcome="x",
                        disposition=code,
                    )
                )
            if final is not None:
                case.status, case.final_disposition = "final", final
            case.attempts, case.updated_at = len(attempts), APRIL
            session.add(case)
        invitations = session.execute(
            select(Invitation).where(Invitation.campaign_id == campaign.id).order_by(Invitation.id)
        ).scalars()
        for invitation, (status, delivery, _) in zip(invitations, SMS, strict=True):
            invitation.status, invitation.sent_at = status, APRIL
            session.add(invitation)
            session.execute(
                update(OutboundSms)
                .where(OutboundSms.invitation_id == invitation.id)
                .values(status="sent", delivery_status=delivery)
            )
            if status == "started":
                response = Response(
                    questionnaire_version_id=version.id,
                    campaign_id=campaign.id,
                    invitation_id=invitation.id,
                    customer_id=invitation.customer_id,
                    channel="sms_link",
                )
                session.add(response)
                session.flush()
                session.add(Answer(response_id=response.id, item_name="sat_overall", value="4"))
        session.commit()
        return {"campaign_id": campaign.id, "phone": phone, "sms": sms}


def test_each_case_gets_its_code_channel_interviewer_and_local_month(engine, world):
    with Session(engine) as session:
        rows = campaign_dispositions(session, world["campaign_id"], now=utcnow(), timezone=ZONE)
    phone = [r for r in rows if r.channel == "cati"]
    sms = [r for r in rows if r.channel == "sms_link"]
    assert [r.customer_id for r in phone] == world["phone"]
    assert [r.disposition for r in phone] == PHONE_CODES
    assert [r.interviewer for r in phone] == ["b", "a", "a", "a", None, "a"]
    # The first attempt's month; a case never called is dated by its creation.
    assert [r.period for r in phone] == ["2026-03"] * 6
    assert [r.customer_id for r in sms] == world["sms"]
    assert [r.disposition for r in sms] == [code for _, _, code in SMS]
    assert {r.period for r in sms} == {"2026-04"}  # sent 20:00 UTC on March 31st
    assert all(r.interviewer is None for r in sms)


def test_rates_of_the_campaign_per_channel_and_per_interviewer(engine, world):
    # All: I=2, R=5, UH=3, UO=1, NE=1; e = 7/8; U = 4.
    with Session(engine) as session:
        whole = compute_campaign(session, world["campaign_id"], now=utcnow(), timezone=ZONE)
        channels = compute_campaign(
            session, world["campaign_id"], by="channel", now=utcnow(), timezone=ZONE
        )
        people = compute_campaign(
            session, world["campaign_id"], "0.5", by="interviewer", now=utcnow(), timezone=ZONE
        )
    assert whole["counts"] == {
        "I": 2,
        "P": 0,
        "R": 5,
        "NC": 0,
        "O": 0,
        "UH": 3,
        "UR": 0,
        "UO": 1,
        "NE": 1,
    }
    assert whole["e"] == pytest.approx(7 / 8) and whole["e_method"] == "proportional"
    rates = whole["rates"]
    assert rates["RR1"] == pytest.approx(2 / 11)
    assert rates["RR3"] == pytest.approx(2 / (7 + 7 / 8 * 4))
    assert rates["RR5"] == pytest.approx(2 / 7)
    assert rates["REF1"] == pytest.approx(5 / 11) and rates["CON1"] == pytest.approx(7 / 11)
    assert rates["COOP1"] == pytest.approx(2 / 7)

    groups = {g["group"]: g for g in channels["groups"]}
    assert channels["by"] == "channel" and set(groups) == {"cati", "sms_link"}
    assert groups["cati"]["counts"] == {
        **dict.fromkeys(whole["counts"], 0),
        "I": 1,
        "R": 2,
        "UH": 2,
        "NE": 1,
    }
    assert groups["cati"]["rates"]["RR1"] == pytest.approx(1 / 5)
    assert groups["cati"]["rates"]["RR3"] == pytest.approx(1 / (3 + 7 / 8 * 2))
    assert groups["sms_link"]["rates"]["RR1"] == pytest.approx(1 / 6)
    assert groups["sms_link"]["rates"]["REF1"] == pytest.approx(3 / 6)
    assert groups["sms_link"]["e"] == pytest.approx(7 / 8)  # the campaign's e, not its own

    groups = {g["group"]: g for g in people["groups"]}
    assert people["e"] == 0.5 and people["e_method"] == "given"
    assert set(groups) == {"a", "b", "(none)"}
    assert groups["b"]["rates"]["RR1"] == 1.0
    a = groups["a"]  # R=2 (cases 2 and 3), UH=1 (always busy), NE=1 (disconnected)
    assert a["rates"]["RR1"] == 0.0 and a["rates"]["REF1"] == pytest.approx(2 / 3)
    assert a["rates"]["REF2"] == pytest.approx(2 / (2 + 0.5))
    assert a["rates"]["COOP1"] == 0.0
    assert groups["(none)"]["counts"]["UH"] == 2  # never called, and the SMS 3.19


def test_a_started_response_past_the_threshold_is_a_partial(engine, world):
    with Session(engine) as session:
        rows = campaign_dispositions(
            session, world["campaign_id"], now=utcnow(), sufficient_share=0.01
        )
    assert rows[-1].disposition == "1.2"


def test_the_clock_leaves_out_later_calls_and_the_stored_final_code(engine, world):
    # Just before the April calls, the first case had only its no answer, the second too.
    before_april = datetime(2026, 3, 20, tzinfo=UTC)
    with Session(engine) as session:
        rows = campaign_dispositions(session, world["campaign_id"], now=before_april)
    assert [r.disposition for r in rows] == ["3.13", "3.13", "2.11", "3.12", "3.11", "4.32"]


def test_an_unknown_campaign_and_a_bad_breakdown_are_clear_errors(engine, world):
    with Session(engine) as session:
        with pytest.raises(CampaignNotFound, match="campaign 999 does not exist"):
            campaign_dispositions(session, 999, now=utcnow())
        with pytest.raises(RatesInputError, match="channel, interviewer, month"):
            compute_campaign(
                session, world["campaign_id"], by="region", now=utcnow(), timezone=ZONE
            )


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_cli_rates_of_a_campaign(engine, database_url, world, tmp_path):
    env = {"MANYI_DATABASE_URL": database_url}
    run = manyi(
        "rates", "--campaign", str(world["campaign_id"]), "--by", "month", "--json", env=env
    )
    assert run.returncode == 0, run.stderr
    document = json.loads(run.stdout)
    assert document["rates"]["RR1"] == pytest.approx(2 / 11)
    assert [g["group"] for g in document["groups"]] == ["2026-03", "2026-04"]
    run = manyi("rates", "--campaign", "999", env=env)
    assert run.returncode == 2 and "campaign 999 does not exist" in run.stderr
    cases = tmp_path / "cases.csv"
    cases.write_text("disposition\n1.1\n")
    run = manyi("rates", str(cases), "--campaign", str(world["campaign_id"]), env=env)
    assert run.returncode == 2 and "not both" in run.stderr
    run = manyi("rates", env=env)
    assert run.returncode == 2 and "--campaign" in run.stderr
