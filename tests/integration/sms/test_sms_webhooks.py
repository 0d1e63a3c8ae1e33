"""The provider's webhooks through the app, against the fake Twilio on loopback.

Replies go out through the real Twilio client to the fake; inbound messages and delivery
reports are the signed requests the fake builds, exactly as Twilio signs them: over the
public URL, with the account's auth token.
"""

from __future__ import annotations

from collections import Counter

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlmodel import Session

from api.settings import Settings
from api.web.app import create_app
from survey.db.tables import Answer, Campaign, InboundSms, OptOut, OutboundSms
from survey.sms.inbound import TEXTS
from survey.sms.reply_mode import queue_reply_invitations
from survey.sms.signatures import SIGNATURE_HEADER, sign
from survey.sms.twilio_transport import TwilioTransport
from tests.fakes.fake_twilio import FakeTwilio
from tests.integration.sms.reply_campaigns import MORNING, ZONE, dispatch, reply_world

PUBLIC = "https://survey.example.org"
INBOUND = f"{PUBLIC}/sms/inbound"
CUSTOMER = "+8613912345678"


@pytest.fixture
def twilio():
    with FakeTwilio() as fake:
        yield fake


def app_client(database_url, settings: Settings) -> TestClient:
    app = create_app(settings)
    return TestClient(app)


@pytest.fixture
def client(engine, database_url, twilio):
    settings = Settings(
        database_url=database_url,
        public_base_url=PUBLIC,
        sms_transport="twilio",
        twilio_account_sid=twilio.account_sid,
        twilio_auth_token=twilio.auth_token,
        twilio_from_number="+15005550006",
        twilio_base_url=twilio.base_url,
    )
    with app_client(database_url, settings) as client:
        yield client


def post(client, url: str, params: dict, headers: dict):
    return client.post(url.removeprefix(PUBLIC), data=params, headers=headers)


def stored(engine) -> tuple[int, int, int]:
    """Inbound messages, opt-outs and outbox rows in the database."""
    with Session(engine) as session:
        return tuple(len(session.execute(select(t)).all()) for t in (InboundSms, OptOut,
                                                                      OutboundSms))  # fmt: skip


def outbox(engine) -> list[OutboundSms]:
    with Session(engine) as session:
        return list(session.execute(select(OutboundSms).order_by(OutboundSms.id)).scalars())


# -- signatures -----------------------------------------------------------------------------


def test_a_signed_td_is_accepted_opts_out_and_is_confirmed_through_twilio(engine, client, twilio):
    answer = post(client, *twilio.inbound_request(INBOUND, CUSTOMER, "TD"))
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/xml")
    assert answer.text == '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'
    with Session(engine) as session:
        assert session.get(OptOut, CUSTOMER) is not None
    [sent] = twilio.messages
    assert (sent.to, sent.body) == (CUSTOMER, TEXTS["opt_out"]["zh"])
    assert sent.status_callback == f"{PUBLIC}/sms/status"
    [row] = outbox(engine)
    assert (row.kind, row.status, row.provider_message_id) == ("opt_out_confirmation", "sent",
                                                               sent.sid)  # fmt: skip


def test_a_forged_or_unsigned_webhook_is_refused_and_nothing_is_stored(engine, client, twilio):
    url, params, headers = twilio.inbound_request(INBOUND, CUSTOMER, "HELP")
    tampered = dict(params, Body="TD")  # signed as HELP, posted as TD
    assert post(client, url, tampered, headers).status_code == 403
    wrong_key = {SIGNATURE_HEADER: sign("not-the-token", url, params)}
    assert post(client, url, params, wrong_key).status_code == 403
    assert post(client, url, params, {}).status_code == 403
    # Signed over the URL the app sees instead of the public one: not what Twilio signs.
    internal = {SIGNATURE_HEADER: sign(twilio.auth_token, "http://testserver/sms/inbound", params)}
    assert post(client, url, params, internal).status_code == 403
    assert stored(engine) == (0, 0, 0)
    assert twilio.messages == []


def test_a_retried_webhook_is_handled_and_answered_once(engine, client, twilio):
    request = twilio.inbound_request(INBOUND, CUSTOMER, "HELP")
    assert [post(client, *request).status_code for _ in range(3)] == [200, 200, 200]
    assert stored(engine) == (1, 0, 1)
    assert twilio.sends_to(CUSTOMER) == 1


def test_a_second_stop_is_not_confirmed_again(engine, client, twilio):
    for body in ("STOP", "退订"):
        assert post(client, *twilio.inbound_request(INBOUND, CUSTOMER, body)).status_code == 200
    assert twilio.sends_to(CUSTOMER) == 1
    with Session(engine) as session:
        handled = list(session.execute(select(InboundSms.handled_as)).scalars())
    assert handled == ["opt_out", "opt_out"]


def test_without_an_auth_token_every_webhook_is_refused(engine, database_url, twilio):
    # The simulator has no token to check signatures with: the webhooks stay closed.
    settings = Settings(database_url=database_url, public_base_url=PUBLIC)
    with app_client(database_url, settings) as client:
        assert post(client, *twilio.inbound_request(INBOUND, CUSTOMER, "TD")).status_code == 403
        status = {"MessageSid": "SM" + "0" * 32, "MessageStatus": "delivered"}
        signed = {SIGNATURE_HEADER: sign(twilio.auth_token, f"{PUBLIC}/sms/status", status)}
        assert client.post("/sms/status", data=status, headers=signed).status_code == 403
    assert stored(engine) == (0, 0, 0)


# -- delivery reports -----------------------------------------------------------------------


@pytest.fixture
def sent_sid(engine, client, twilio) -> str:
    """A message we sent through Twilio: the answer to a customer's HELP."""
    post(client, *twilio.inbound_request(INBOUND, CUSTOMER, "HELP"))
    [row] = outbox(engine)
    assert row.delivery_status == "queued"
    return row.provider_message_id


def report(client, twilio, sid: str, status: str, **kwargs) -> int:
    return post(client, *twilio.status_callback_request(sid, status, **kwargs)).status_code


def delivery(engine):
    [row] = outbox(engine)
    return row.delivery_status, row.delivery_updated_at, row.error_code


def test_duplicate_reports_are_acknowledged_and_change_nothing(engine, client, twilio, sent_sid):
    for status in ("queued", "sent", "delivered"):
        assert [report(client, twilio, sent_sid, status) for _ in range(2)] == [200, 200]
    status, updated_at, _ = delivery(engine)
    assert status == "delivered" and updated_at is not None
    assert report(client, twilio, sent_sid, "delivered") == 200
    assert delivery(engine)[:2] == (status, updated_at)


def test_reports_out_of_order_never_move_a_message_back(engine, client, twilio, sent_sid):
    for status in ("delivered", "sent", "queued", "sent"):
        assert report(client, twilio, sent_sid, status) == 200
        assert delivery(engine)[0] == "delivered"


def test_failed_and_undelivered_are_final_and_keep_the_carriers_code(
    engine, client, twilio, sent_sid
):
    assert report(client, twilio, sent_sid, "sent") == 200
    assert report(client, twilio, sent_sid, "undelivered", error_code=30005) == 200
    for late in ("delivered", "sent", "failed", "queued"):
        assert report(client, twilio, sent_sid, late) == 200
    assert delivery(engine)[0::2] == ("undelivered", "30005")


def test_a_report_for_an_unknown_message_is_acknowledged_and_ignored(engine, client, twilio):
    params = {"MessageSid": "SM" + "f" * 32, "MessageStatus": "delivered",
              "AccountSid": twilio.account_sid}  # fmt: skip
    url = f"{PUBLIC}/sms/status"
    headers = {SIGNATURE_HEADER: sign(twilio.auth_token, url, params)}
    assert post(client, url, params, headers).status_code == 200
    assert stored(engine) == (0, 0, 0)


def test_a_forged_report_is_refused_and_changes_nothing(engine, client, twilio, sent_sid):
    url, params, headers = twilio.status_callback_request(sent_sid, "sent")
    forged = dict(params, MessageStatus="failed")
    assert post(client, url, forged, headers).status_code == 403
    assert post(client, url, forged, {}).status_code == 403
    assert delivery(engine)[0] == "queued"
    assert Counter(r.status for r in outbox(engine)) == {"sent": 1}


def test_a_digit_by_webhook_answers_the_open_evaluation_and_gets_the_next_question(
    engine, client, twilio
):
    world = reply_world(engine)
    with Session(engine) as session:
        queue_reply_invitations(session, session.get(Campaign, world["campaign_id"]),
                                timezone=ZONE, now=MORNING)  # fmt: skip
    transport = TwilioTransport(
        twilio.account_sid, twilio.auth_token, from_number="+15005550006", base_url=twilio.base_url
    )
    dispatch(engine, transport)
    phone = world["phones"][0]
    assert twilio.sends_to(phone) == 1
    assert post(client, *twilio.inbound_request(INBOUND, phone, "2")).status_code == 200
    assert twilio.messages[-1].to == phone
    assert twilio.messages[-1].body == "您的问题解决了吗？\n请回复数字：1 已解决，2 未解决"
    with Session(engine) as session:
        [(item, value)] = session.execute(select(Answer.item_name, Answer.value)).all()
    assert (item, value) == ("overall", "2")
