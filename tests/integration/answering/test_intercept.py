"""Intercept interviews in service halls: staff work (sign-in, the intercept permission, the
account's halls), start page, tagging, the shared page flow."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlmodel import Session

from api.settings import Settings
from api.web.app import create_app
from survey.answering.intercept import check_start, clean_name
from survey.answering.links import invitation_token
from survey.answering.pages import stored_answers
from survey.campaigns.lifecycle import change_status, create_campaign, invite
from survey.db.tables import Customer, Invitation, Response
from survey.frames.sample_frame import generate_frame
from survey.frames.store import store_frame
from survey.questionnaire.publish import publish
from survey.staff.accounts import create_staff
from tests.integration.answering.web_pages import (
    FULL,
    checked,
    csrf,
    form_action,
    post_page,
    questions,
)
from tests.integration.staff_login import PASSWORD, log_in

pytestmark = pytest.mark.usefixtures("cheap_hashing")

SECRET = "respondent-pages-test-secret-0123456789"
OTHER_HALLS = ["Far away hall"]


@pytest.fixture
def world(engine, sample_questionnaire):
    """Campaigns on one frame: with web and intercept, web only, and one not launched."""
    with Session(engine) as session:
        version = publish(session, sample_questionnaire)
        frame = store_frame(session, generate_frame(12, seed=3), "walk-ins", "test")
        # Customers of another frame: their halls are not offered for this campaign.
        other = store_frame(session, generate_frame(3, seed=4), "elsewhere", "test")
        for customer in session.execute(
            select(Customer).where(Customer.frame_id == other.id)
        ).scalars():
            customer.service_hall = OTHER_HALLS[0]
            session.add(customer)
        customers = (
            session.execute(
                select(Customer).where(Customer.frame_id == frame.id).order_by(Customer.id)
            )
            .scalars()
            .all()
        )
        for customer in customers:
            customer.consent, customer.language = True, "zh"
            session.add(customer)
        session.commit()
        halls = sorted({c.service_hall for c in customers})
        both = create_campaign(session, version.id, "Hall week", channels=["web_link", "intercept"])
        invite(
            session,
            both,
            [c.id for c in customers[:2]],
            secret=SECRET,
            public_base_url="https://s.example.org",
            timezone="Asia/Shanghai",
        )
        change_status(session, both, "launch")
        web_only = create_campaign(session, version.id, "Web only", channels=["web_link"])
        change_status(session, web_only, "launch")
        draft = create_campaign(session, version.id, "Not yet", channels=["intercept"])
        create_staff(session, "a017", "interviewer", PASSWORD)
        create_staff(session, "b2", "interviewer", PASSWORD)
        create_staff(session, "east", "interviewer", PASSWORD, service_halls=halls[:1])
        create_staff(session, "boss", "manager", PASSWORD)
        invitation_id = session.execute(
            select(Invitation.id).where(Invitation.campaign_id == both.id).limit(1)
        ).scalar_one()
        return {
            "campaign": both.id,
            "web_only": web_only.id,
            "draft": draft.id,
            "version": version.id,
            "halls": halls,
            "web_token": invitation_token(SECRET, invitation_id),
        }


@pytest.fixture
def app(database_url, world):
    return create_app(Settings(database_url=database_url, secret_key=SECRET))


@pytest.fixture
def anonymous(app):
    with TestClient(app, follow_redirects=False) as client:
        yield client


@pytest.fixture
def sign_in(app, anonymous):
    """Another browser on the started app, signed in as ``username``."""

    def signed_in(username):
        client = TestClient(app, follow_redirects=False)
        assert log_in(client, username).status_code == 303
        return client

    return signed_in


@pytest.fixture
def client(app, anonymous):
    """Interviewer a017, signed in."""
    assert log_in(anonymous, "a017").status_code == 303
    return anonymous


def responses(engine):
    with Session(engine) as session:
        return list(session.execute(select(Response).order_by(Response.id)).scalars())


def start(client, campaign_id, **fields):
    page = client.get(f"/intercept/{campaign_id}")
    assert page.status_code == 200
    data = {"csrf": csrf(page.text), "language": "zh", **fields}
    return client.post(f"/intercept/{campaign_id}", data=data)


def answer_interview(client, first_url, answers):
    """Answer an interview's pages from its first one; returns the pages and the last reply."""
    page = client.get(first_url)
    assert page.status_code == 200, page.text
    seen = []
    while True:
        seen.append(page)
        reply = post_page(client, page.text, answers)
        assert reply.status_code == 303, reply.text
        if "/done" in reply.headers["location"]:
            return seen, reply
        page = client.get(reply.headers["location"])


def test_start_page_offers_the_halls_of_the_campaigns_frame(client, world):
    page = client.get(f"/intercept/{world['campaign']}")
    assert page.status_code == 200
    offered = re.findall(r'<option value="([^"]+)">', page.text)
    assert offered == world["halls"]
    assert OTHER_HALLS[0] not in offered
    assert "<strong>a017</strong>" in page.text and '<label for="hall">' in page.text
    assert 'name="interviewer"' not in page.text
    assert 'name="language" value="zh" checked' in page.text


def test_an_interview_is_tagged_and_completes_through_the_shared_pages(engine, client, world):
    hall = world["halls"][0]
    # A typed interviewer name is ignored: the interview is the signed-in account's.
    reply = start(client, world["campaign"], interviewer="somebody else", hall=hall)
    assert reply.status_code == 303
    first = reply.headers["location"]
    assert re.fullmatch(r"/intercept/r/\d+\.[A-Za-z0-9_-]{22}", first)
    [response] = responses(engine)
    # Stored (committed) before the first page is shown.
    assert (response.channel, response.interviewer, response.service_hall) == (
        "intercept",
        "a017",
        hall,
    )
    assert response.questionnaire_version_id == world["version"]
    assert response.campaign_id == world["campaign"]
    assert response.invitation_id is None and response.customer_id is None
    seen, done = answer_interview(client, first, {**FULL, "img_position": "7"})
    assert len(seen) == 12
    assert f"a017 · {hall}" in seen[0].text
    assert all(form_action(p.text).startswith(first + "/p/") for p in seen)
    thanks = client.get(done.headers["location"])
    assert thanks.status_code == 200
    assert f'href="/intercept/{world["campaign"]}"' in thanks.text
    [response] = responses(engine)
    assert response.status == "completed"
    with Session(engine) as session:
        assert stored_answers(session, response.id) == {**FULL, "img_position": "7"}
    # The interview is over: its pages say so, with no form to resend, and lead to the next.
    over = client.get(first)
    assert over.status_code == 200 and "<form" not in over.text
    assert "已经完成" in over.text and f'href="/intercept/{world["campaign"]}"' in over.text


def test_a_hall_not_in_the_list_can_be_typed(engine, client, world):
    reply = start(client, world["campaign"], hall="新开 营业厅")
    assert reply.status_code == 303
    assert responses(engine)[0].service_hall == "新开 营业厅"


def test_interviewers_are_offered_refused_and_customers_are_not(engine, client, world):
    first = start(client, world["campaign"], hall="H").headers["location"]
    interview = client.get(first)
    assert "拒绝回答" in interview.text and interview.text.count('value="7"') == 3
    # The tablet's interviewer reads the instructions; the keys are the phone desk's only.
    assert 'class="instruction"' in interview.text and "<script" not in interview.text
    web = client.get(f"/s/{world['web_token']}")
    assert web.status_code == 200
    assert "拒绝回答" not in web.text and 'value="7"' not in web.text
    assert 'class="instruction"' not in web.text
    refused = post_page(
        client, web.text, {"img_advertising": "7", "img_position": "4", "img_innovation": "4"}
    )
    assert refused.status_code == 200 and "请从给出的选项中选择" in refused.text
    stored = post_page(
        client, interview.text, {"img_advertising": "7", "img_position": "4", "img_innovation": "4"}
    )
    assert stored.status_code == 303
    [response] = responses(engine)
    with Session(engine) as session:
        assert stored_answers(session, response.id)["img_advertising"] == "7"


def test_a_campaign_without_the_intercept_channel_is_refused_clearly(engine, client, world):
    page = client.get(f"/intercept/{world['web_only']}")
    assert page.status_code == 409
    assert "does not include intercept interviews" in page.text
    assert "此调查活动不包括营业厅拦截访问" in page.text
    form = csrf(client.get(f"/intercept/{world['campaign']}").text)
    post = client.post(f"/intercept/{world['web_only']}", data={"csrf": form, "hall": "H"})
    assert post.status_code == 409
    assert client.get(f"/intercept/{world['draft']}").status_code == 409
    assert "not running" in client.get(f"/intercept/{world['draft']}").text
    assert client.get("/intercept/999999").status_code == 404
    # Ids beyond what a table holds are the same 404, not an overflow.
    assert client.get("/intercept/9223372036854775808").status_code == 404
    assert client.get("/intercept/2147483648").status_code == 404
    assert responses(engine) == []


def test_a_start_without_a_hall_is_shown_again_and_stores_nothing(engine, client, world):
    reply = start(client, world["campaign"], hall=" ")
    assert reply.status_code == 200
    assert 'id="e-hall"' in reply.text
    assert responses(engine) == []


def test_a_start_without_the_csrf_field_is_refused_and_stores_nothing(engine, client, world):
    url = f"/intercept/{world['campaign']}"
    other = client.get(f"/intercept/{world['draft']}")  # no form: a refusal page
    assert 'name="csrf"' not in other.text
    for data in ({"hall": "H"}, {"hall": "H", "csrf": "forged"}):
        reply = client.post(url, data=data)
        assert reply.status_code == 403 and "open the page again" in reply.text
    assert responses(engine) == []


def test_a_tampered_interview_token_opens_nothing(engine, client, world):
    first = start(client, world["campaign"], hall="H").headers["location"]
    response_id, signature = first.rsplit("/", 1)[1].split(".")
    page = client.get(first)
    forged = [
        f"/intercept/r/{int(response_id) + 1}.{signature}",
        f"/intercept/r/{response_id}.{'A' * 22}",
        f"/intercept/r/{response_id}",
    ]
    bodies = {client.get(url).content for url in forged}
    assert bodies == {client.get("/s/AAAAAAAAAAAAAAAAAAAAAA").content}
    # The CSRF field of one interview does not post to another's page.
    second = start(client, world["campaign"], hall="H").headers["location"]
    reply = client.post(f"{second}/p/1", data={"csrf": csrf(page.text), "img_advertising": "1"})
    assert reply.status_code == 403
    with Session(engine) as session:
        assert session.execute(select(func.count()).select_from(Response)).scalar_one() == 2


def test_the_interview_language_chosen_at_the_start_is_used(client, world):
    first = start(client, world["campaign"], interviewer="A1", hall="H", language="en")
    page = client.get(first.headers["location"])
    assert '<html lang="en">' in page.text and ">Next<" in page.text
    assert questions(page.text)[0] == "img_advertising" and checked(page.text) == {}


def test_start_checks_interviewer_and_hall_names():
    assert clean_name("  A\u3000017\t ") == "A 017"
    assert check_start("A017", "东区营业厅") == {}
    assert check_start("", "") == {"interviewer": "required", "hall": "required"}
    assert check_start("x" * 65, "h") == {"interviewer": "too_long"}
    assert check_start("A\u200b17", "h") == {"interviewer": "invalid"}
    assert check_start("A017", "西区", own_halls=["东区"]) == {"hall": "not_yours"}
    assert check_start("A017", "东区", own_halls=["东区"]) == {}


def test_nobody_signed_out_starts_an_interview_or_opens_one(engine, sign_in, anonymous, world):
    url = f"/intercept/{world['campaign']}"
    page = anonymous.get(url)
    assert page.status_code == 303 and page.headers["location"].startswith("/login?next=")
    # A POST without a session, with or without a field from an interviewer's page.
    interviewer = sign_in("a017")
    form = csrf(interviewer.get(url).text)
    for data in ({"hall": "H"}, {"hall": "H", "csrf": form}):
        refused = anonymous.post(url, data=data)
        assert refused.status_code == 303 and "/login" in refused.headers["location"]
    first = start(interviewer, world["campaign"], hall="H").headers["location"]
    page = interviewer.get(first)
    assert anonymous.get(first).status_code == 303
    blind = anonymous.post(f"{first}/p/1", data={"csrf": csrf(page.text), "img_advertising": "1"})
    assert blind.status_code == 303 and "/login" in blind.headers["location"]
    [response] = responses(engine)
    with Session(engine) as session:
        assert stored_answers(session, response.id) == {}


def test_a_manager_may_not_run_intercept_interviews(engine, sign_in, world):
    manager = sign_in("boss")
    refused = manager.get(f"/intercept/{world['campaign']}")
    assert refused.status_code == 403
    # Words for people: the role by its name, no permission code.
    assert "您的角色（经理）不能使用此页面" in refused.text and "manager" in refused.text
    assert "may not intercept" not in refused.text
    assert responses(engine) == []


def test_an_interview_is_only_its_interviewers(engine, sign_in, client, world):
    first = start(client, world["campaign"], hall="H").headers["location"]
    page = client.get(first)
    other = sign_in("b2")
    assert other.get(first).status_code == 404
    # Neither the page's field (another session's) nor the other's own session opens it.
    stolen = other.post(f"{first}/p/1", data={"csrf": csrf(page.text), "img_advertising": "1"})
    assert stolen.status_code == 403
    [response] = responses(engine)
    with Session(engine) as session:
        assert stored_answers(session, response.id) == {}


def test_a_page_field_is_tied_to_the_session_that_was_shown_it(engine, sign_in, client, world):
    first = start(client, world["campaign"], hall="H").headers["location"]
    page = client.get(first)
    again = sign_in("a017")  # the same interviewer, signed in on another tablet
    reply = again.post(f"{first}/p/1", data={"csrf": csrf(page.text), "img_advertising": "1"})
    assert reply.status_code == 403
    fresh = again.get(first)
    assert csrf(fresh.text) != csrf(page.text)
    assert post_page(again, fresh.text, {"img_advertising": "1", "img_position": "4",
                                         "img_innovation": "4"}).status_code == 303  # fmt: skip


def test_an_interviewer_limited_to_halls_picks_among_them(engine, sign_in, world):
    east = sign_in("east")
    page = east.get(f"/intercept/{world['campaign']}")
    assert re.findall(r'<option value="([^"]+)"', page.text) == world["halls"][:1]
    assert 'list="halls"' not in page.text  # nothing to type
    elsewhere = start(east, world["campaign"], hall=world["halls"][-1])
    assert elsewhere.status_code == 200 and 'id="e-hall"' in elsewhere.text
    assert responses(engine) == []
    assert start(east, world["campaign"], hall=world["halls"][0]).status_code == 303
    assert [r.service_hall for r in responses(engine)] == world["halls"][:1]
