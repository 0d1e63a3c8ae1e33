"""One answering path: the web form, an intercept interview and a phone interview, given the
same answers through their own pages, store the same answers and open the same follow-up."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlmodel import Session

from api.settings import Settings
from api.web.app import create_app
from survey.answering.links import invitation_token
from survey.campaigns.lifecycle import change_status, create_call_cases, create_campaign, invite
from survey.db.tables import Customer, FollowUp, Invitation, Response
from survey.frames.sample_frame import generate_frame
from survey.frames.store import store_frame
from survey.questionnaire.publish import publish
from survey.staff.accounts import create_staff
from tests.integration.answering.web_pages import FULL, answer_all, answers_of, csrf
from tests.integration.cati.call_pages import Clock, at, post, take_next
from tests.integration.staff_login import PASSWORD, SECRET, log_in

pytestmark = pytest.mark.usefixtures("cheap_hashing")


@pytest.fixture
def three_ways(engine, sample_questionnaire):
    """One running campaign open to all three ways in: a customer invited by SMS link, a
    customer in the outbound-call queue, and the service hall's walk-ins."""
    with Session(engine) as session:
        version = publish(session, sample_questionnaire)
        frame = store_frame(session, generate_frame(2, seed=5), "three-ways", "test")
        web, phone = session.execute(
            select(Customer).where(Customer.frame_id == frame.id).order_by(Customer.id)
        ).scalars()
        for customer in (web, phone):
            customer.consent, customer.language = True, "zh"
            session.add(customer)
        session.commit()
        create_staff(session, "ann", "interviewer", PASSWORD)
        campaign = create_campaign(
            session, version.id, "Three ways", channels=["sms_link", "intercept", "cati"],
            message={"zh": "请评价：{link}", "en": "Rate us: {link}"},
        )
        invite(session, campaign, [web.id], secret=SECRET, public_base_url="https://x.test",
               timezone="Asia/Shanghai")  # fmt: skip
        change_status(session, campaign, "launch")
        create_call_cases(session, campaign, [phone.id], now=at(1, 8))
        invitation = session.execute(select(Invitation.id)).scalar_one()
        return {"campaign_id": campaign.id, "token": invitation_token(SECRET, invitation)}


@pytest.fixture
def browser(database_url, three_ways):
    settings = Settings(database_url=database_url, secret_key=SECRET, env="test")
    app = create_app(settings)
    app.state.clock = Clock(at(1, 10))  # inside the calling hours
    with TestClient(app, base_url="https://testserver", follow_redirects=False) as client:
        yield client


def answer_on_the_web(client, world) -> None:
    _, last = answer_all(client, world["token"], FULL)
    assert "/s/" in last.headers["location"] and "/done?k=" in last.headers["location"]


def answer_in_the_hall(client, world) -> None:
    start = client.get(f"/intercept/{world['campaign_id']}")
    form = {"csrf": csrf(start.text), "hall": "Hall 1", "language": "zh"}
    opened = client.post(f"/intercept/{world['campaign_id']}", data=form)
    assert opened.status_code == 303, opened.text
    _, last = answer_all(client, "", FULL, start=opened.headers["location"])
    assert last.headers["location"].startswith("/intercept/r/")


def answer_by_phone(client, world) -> None:
    case_id = take_next(client)
    case_page = client.get(f"/calls/{case_id}")
    started = post(client, f"/calls/{case_id}/interview", case_page.text)
    assert started.headers["location"] == f"/calls/interview/case-{case_id}"
    _, last = answer_all(client, "", FULL, start=started.headers["location"])
    assert re.match(rf"/calls/interview/case-{case_id}/done", last.headers["location"])


def test_the_same_answers_through_the_three_ways_in_store_the_same_answers_and_follow_up(
    engine, browser, three_ways
):
    answer_on_the_web(browser, three_ways)
    # Interviewer ann, signed in, interviews a walk-in in the hall and a customer by phone.
    assert log_in(browser, "ann", next_="/calls").status_code == 303
    answer_in_the_hall(browser, three_ways)
    answer_by_phone(browser, three_ways)
    with Session(engine) as session:
        responses = session.execute(select(Response).order_by(Response.id)).scalars().all()
        follow_ups = {
            f.response_id: f.reasons for f in session.execute(select(FollowUp)).scalars()
        }
    assert [r.channel for r in responses] == ["sms_link", "intercept", "cati"]
    assert all(r.status == "completed" for r in responses)
    # The same answers, item by item, "cannot answer" and the conditional questions included.
    for response in responses:
        assert answers_of(engine, response.id) == FULL
    # And the same remedy outcome: overall satisfaction 2 and a "very poor" item.
    assert {r.id for r in responses} == set(follow_ups)
    assert {tuple(reasons) for reasons in follow_ups.values()} == {
        ("overall_dissatisfied", "item_very_poor")
    }
