"""The SMS simulator's phone page: read what a number received, reply, see the answer."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlmodel import Session

from api.settings import Settings
from api.web.app import create_app
from api.web.routers.phone import link_parts
from survey.db.tables import Answer, InboundSms, OptOut, SimulatedSms
from survey.sms import OutgoingSms
from survey.sms.inbound import TEXTS
from survey.sms.simulator_transport import SimulatorTransport
from tests.integration.sms.reply_campaigns import reply_world, start_conversations

STRANGER = "+8613912345678"


def client_for(database_url, **settings) -> TestClient:
    chosen = Settings(database_url=database_url, public_base_url="https://survey.example.org",
                      **settings)  # fmt: skip
    app = create_app(chosen)
    return TestClient(app)


@pytest.fixture
def client(engine, database_url):
    with client_for(database_url) as client:
        yield client


def csrf(page: str) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', page).group(1)


def bubbles(page: str) -> list[tuple[str, str]]:
    """(direction, text) of each message on the page, oldest first, tags stripped."""
    found = re.findall(r'<li class="msg (in|out)"[^>]*>(.*?)<time', page, flags=re.S)
    return [(d, re.sub(r"<[^>]+>", "", text).split(":", 1)[1]) for d, text in found]


def send_reply(client, phone: str, body: str):
    page = client.get(f"/phone/{phone}").text
    return client.post(f"/phone/{phone}", data={"csrf": csrf(page), "body": body},
                       follow_redirects=False)  # fmt: skip


def test_a_reply_typed_on_the_phone_page_is_answered_on_the_same_page(engine, client):
    world = reply_world(engine)
    start_conversations(engine, world)
    phone = world["phones"][0]
    page = client.get(f"/phone/{phone}")
    assert page.status_code == 200
    assert bubbles(page.text) == [
        ("out", "感谢您致电10086。\n您对本次热线服务满意吗？\n请回复数字：1 满意，2 一般，3 不满意")
    ]
    posted = send_reply(client, phone, "2")
    assert posted.status_code == 303
    assert posted.headers["location"] == f"/phone/{phone}#latest"
    shown = bubbles(client.get(posted.headers["location"]).text)
    assert shown[1:] == [("in", "2"), ("out", "您的问题解决了吗？\n请回复数字：1 已解决，2 未解决")]
    with Session(engine) as session:
        assert session.execute(select(Answer.item_name, Answer.value)).one() == ("overall", "2")
        inbound = session.execute(select(InboundSms)).scalar_one()
        simulated = session.execute(
            select(SimulatedSms).where(SimulatedSms.direction == "in")
        ).scalar_one()
    # The simulator's message id is the inbound message's provider id: handled once.
    assert inbound.provider_message_id == simulated.message_id
    assert inbound.handled_as == "answer"


def test_td_on_the_phone_page_opts_out_any_number_and_is_confirmed_once(engine, client):
    for body in ("TD", "TD"):
        assert send_reply(client, STRANGER, body).status_code == 303
    shown = bubbles(client.get(f"/phone/{STRANGER}").text)
    assert shown == [("in", "TD"), ("out", TEXTS["opt_out"]["zh"]), ("in", "TD")]
    with Session(engine) as session:
        assert session.get(OptOut, STRANGER) is not None
    index = client.get("/phone")
    assert f'href="/phone/{STRANGER}"' in index.text


def test_links_in_messages_are_clickable_and_text_is_escaped(engine, client):
    SimulatorTransport(engine).send(OutgoingSms(
        STRANGER, "请评价：https://survey.example.org/s/AbC_12-x。<b>谢谢</b>", idempotency_key="k"
    ))  # fmt: skip
    page = client.get(f"/phone/{STRANGER}").text
    assert '<a href="https://survey.example.org/s/AbC_12-x">' in page
    assert "&lt;b&gt;谢谢&lt;/b&gt;" in page and "<b>谢谢" not in page


def test_the_page_fits_a_phone_and_needs_no_javascript(client):
    page = client.get(f"/phone/{STRANGER}").text
    assert 'name="viewport" content="width=device-width, initial-scale=1"' in page
    assert "<script" not in page
    assert '<form method="post"' in page
    assert len(page.encode()) < 10_000


def test_a_post_without_the_pages_csrf_field_is_refused_and_stores_nothing(engine, client):
    answer = client.post(f"/phone/{STRANGER}", data={"body": "TD"}, follow_redirects=False)
    assert answer.status_code == 403
    forged = client.post(f"/phone/{STRANGER}", data={"body": "TD", "csrf": "x" * 22})
    assert forged.status_code == 403
    with Session(engine) as session:
        assert session.execute(select(SimulatedSms)).first() is None
        assert session.get(OptOut, STRANGER) is None


def test_an_empty_reply_re_renders_the_page_with_an_error(engine, client):
    answer = send_reply(client, STRANGER, "   ")
    assert answer.status_code == 400
    assert "请输入短信内容" in answer.text and 'aria-invalid="true"' in answer.text
    with Session(engine) as session:
        assert session.execute(select(SimulatedSms)).first() is None


def test_a_malformed_number_is_not_a_phone(client):
    assert client.get("/phone/12345").status_code == 404
    assert client.get("/phone/+86abc").status_code == 404


def test_with_a_real_provider_the_phone_pages_do_not_exist(engine, database_url):
    twilio = {"sms_transport": "twilio", "twilio_account_sid": "AC" + "0" * 32,
              "twilio_auth_token": "t" * 32, "twilio_from_number": "+15005550006"}  # fmt: skip
    with client_for(database_url, **twilio) as client:
        assert client.get(f"/phone/{STRANGER}").status_code == 404
        assert client.get("/phone").status_code == 404
        answer = client.post(f"/phone/{STRANGER}", data={"body": "TD", "csrf": "x"})
        assert answer.status_code == 404
    with Session(engine) as session:
        assert session.get(OptOut, STRANGER) is None


def test_links_are_cut_before_closing_punctuation():
    assert link_parts("点击 https://a.example/s/x。谢谢") == [
        ("点击 ", None),
        ("https://a.example/s/x", "https://a.example/s/x"),
        ("。谢谢", None),
    ]
