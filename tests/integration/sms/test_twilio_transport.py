"""The real TwilioTransport (official twilio client) against the fake Twilio on loopback."""

from __future__ import annotations

import re
import socket
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl

import pytest

from survey.sms.signatures import SIGNATURE_HEADER, sign, verify_twilio_signature
from survey.sms.transport import (
    OutgoingSms,
    PermanentReason,
    PermanentSendError,
    RetryableSendError,
    SentMessageLookup,
    SmsTransport,
    TransportConfigError,
    UncertainSendError,
)
from survey.sms.twilio_transport import TwilioTransport
from tests.fakes.fake_twilio import Failure, FakeTwilio

SENDER = "+15005550006"
SERVICE = "MG" + "ab" * 16
TO = "+8613800138000"
PUBLIC_BASE = "https://manyi.example.cn"
CHINESE_71 = (
    "您好！感谢您致电客服热线。请回复数字评价本次服务：1非常满意，2满意，3一般，4不满意，"
    "5非常不满意。您的意见将帮助我们改进服务。回复TD退订"
)
SID = re.compile(r"^SM[0-9a-f]{32}$")


def message(to: str = TO, body: str = "Hello", callback: str | None = None) -> OutgoingSms:
    return OutgoingSms(to, body, callback, idempotency_key=f"inv-{to}")


@pytest.fixture
def fake() -> Iterator[FakeTwilio]:
    with FakeTwilio() as running:
        yield running


@pytest.fixture
def transport(fake: FakeTwilio) -> TwilioTransport:
    return TwilioTransport(
        fake.account_sid,
        fake.auth_token,
        from_number=SENDER,
        base_url=fake.base_url,
        timeout=2,
    )


class _Receiver(ThreadingHTTPServer):
    """The webhook side: accepts a callback only when its signature checks out (else 403)."""

    daemon_threads = True

    def __init__(self, auth_token: str) -> None:
        self.auth_token = auth_token
        self.received: list[tuple[str, dict[str, str], str | None, bool]] = []
        self.lock = threading.Lock()
        super().__init__(("127.0.0.1", 0), _ReceiverHandler)

    @property
    def local_base(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _ReceiverHandler(BaseHTTPRequestHandler):
    server: _Receiver

    def log_message(self, format: str, *args: object) -> None:
        return

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        params = dict(parse_qsl(self.rfile.read(length).decode("utf-8"), keep_blank_values=True))
        signature = self.headers.get(SIGNATURE_HEADER)
        # The public URL, as the app computes it from MANYI_PUBLIC_BASE_URL + path.
        valid = verify_twilio_signature(
            self.server.auth_token, PUBLIC_BASE + self.path, params, signature
        )
        with self.server.lock:
            self.server.received.append((self.path, params, signature, valid))
        self.send_response(204 if valid else 403)
        self.send_header("Content-Length", "0")
        self.end_headers()


@pytest.fixture
def receiver(fake: FakeTwilio) -> Iterator[_Receiver]:
    server = _Receiver(fake.auth_token)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    fake.route_callbacks(PUBLIC_BASE, server.local_base)
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


# -- sending ------------------------------------------------------------------------------


def test_twilio_transport_satisfies_the_transport_protocol(transport):
    assert isinstance(transport, SmsTransport)


def test_successful_send_returns_sid_status_and_segments(fake, transport):
    assert len(CHINESE_71) == 71
    receipt = transport.send(message(body=CHINESE_71, callback=PUBLIC_BASE + "/sms/status"))

    assert SID.match(receipt.provider_message_id)
    assert receipt.status == "queued"
    assert receipt.segments == 2
    [sent] = fake.messages
    assert sent.sid == receipt.provider_message_id
    assert (sent.to, sent.from_, sent.body) == (TO, SENDER, CHINESE_71)
    assert sent.messaging_service_sid is None
    assert sent.status_callback == PUBLIC_BASE + "/sms/status"


def test_gsm_body_of_one_part(fake, transport):
    assert transport.send(message(body="a" * 160)).segments == 1
    assert transport.send(message(body="a" * 161)).segments == 2


def test_messaging_service_sid_is_sent_instead_of_a_from_number(fake):
    transport = TwilioTransport(
        fake.account_sid,
        fake.auth_token,
        messaging_service_sid=SERVICE,
        from_number=SENDER,
        base_url=fake.base_url,
    )
    receipt = transport.send(message(body=CHINESE_71))

    [sent] = fake.messages
    assert sent.messaging_service_sid == SERVICE
    assert sent.from_ is None
    assert receipt.status == "accepted"
    # Twilio (and the fake) report num_segments "0" through a Messaging Service: the
    # transport counts the segments itself.
    assert receipt.segments == 2


def test_construction_without_a_sender_is_refused():
    with pytest.raises(ValueError, match="messaging_service_sid"):
        TwilioTransport("AC" + "0" * 32, "token")


@pytest.mark.parametrize(
    "base_url",
    ["http://api.example.com", "ftp://127.0.0.1", "127.0.0.1:80", "http://127.0.0.1/?a=1"],
)
def test_unsafe_or_malformed_base_url_is_refused(base_url):
    with pytest.raises(ValueError, match="base_url"):
        TwilioTransport("AC" + "0" * 32, "token", from_number=SENDER, base_url=base_url)


def test_without_base_url_the_client_talks_to_twilio():
    transport = TwilioTransport("AC" + "0" * 32, "token", from_number=SENDER)
    assert transport.base_url == "https://api.twilio.com"
    assert "token" not in repr(transport)


def test_outgoing_sms_requires_an_idempotency_key():
    with pytest.raises(TypeError):
        OutgoingSms(TO, "Hello")  # type: ignore[call-arg]
    with pytest.raises(ValueError):
        OutgoingSms(TO, "Hello", idempotency_key="")


# -- failures -----------------------------------------------------------------------------


def test_opted_out_recipient_is_a_permanent_error_that_marks_the_number(fake, transport):
    fake.fail_number(TO, Failure.opted_out())

    with pytest.raises(PermanentSendError) as raised:
        transport.send(message())

    assert raised.value.code == 21610
    assert raised.value.reason is PermanentReason.OPTED_OUT
    assert raised.value.reason.marks_recipient
    assert fake.sends_to(TO) == 0
    # Other numbers are unaffected.
    transport.send(message(to="+8613900139000"))
    assert fake.sends_to("+8613900139000") == 1


def test_invalid_number_is_a_permanent_error(fake, transport):
    fake.fail_next(Failure.invalid_number())
    with pytest.raises(PermanentSendError) as raised:
        transport.send(message())
    assert raised.value.code == 21211
    assert raised.value.reason is PermanentReason.INVALID_RECIPIENT


def test_number_twilio_itself_finds_invalid(fake, transport):
    with pytest.raises(PermanentSendError) as raised:
        transport.send(message(to="12345"))
    assert raised.value.code == 21211


def test_body_over_twilio_limit_is_rejected_without_blaming_the_number(fake, transport):
    with pytest.raises(PermanentSendError) as raised:
        transport.send(message(body="a" * 1601))
    assert raised.value.code == 21617
    assert raised.value.reason is PermanentReason.REJECTED
    assert not raised.value.reason.marks_recipient


def test_rate_limit_is_retryable_after_the_delay_twilio_asks_for(fake, transport):
    fake.fail_next(Failure.rate_limited(retry_after=2.5))
    with pytest.raises(RetryableSendError) as raised:
        transport.send(message())
    assert raised.value.code == 20429
    assert raised.value.retry_after == 2.5
    assert fake.sends_to(TO) == 0
    # The next call goes through.
    assert SID.match(transport.send(message()).provider_message_id)


def test_retry_after_as_an_http_date_is_read_as_seconds():
    from email.utils import formatdate

    from survey.sms.twilio_transport import _retry_after

    assert 25 <= _retry_after({"Retry-After": formatdate(time.time() + 30, usegmt=True)}) <= 30
    assert _retry_after({"Retry-After": "soon"}) is None
    assert _retry_after({}) is None


@pytest.mark.parametrize("status", [500, 502, 503])
def test_server_error_is_retryable(fake, transport, status):
    fake.fail_next(Failure.server_error(status))
    with pytest.raises(RetryableSendError) as raised:
        transport.send(message())
    assert raised.value.retry_after is None
    assert fake.sends_to(TO) == 0


def test_gateway_timeout_is_uncertain(fake, transport):
    fake.fail_next(Failure.server_error(504))
    with pytest.raises(UncertainSendError):
        transport.send(message())


def test_hang_after_the_request_is_uncertain_within_the_timeout(fake):
    transport = TwilioTransport(
        fake.account_sid, fake.auth_token, from_number=SENDER, base_url=fake.base_url, timeout=0.5
    )
    fake.fail_next(Failure.hang())
    started = time.monotonic()

    with pytest.raises(UncertainSendError, match="may have been accepted"):
        transport.send(message())

    assert time.monotonic() - started < 2.0
    assert fake.sends_to(TO) == 1  # the worst case: it went out, the answer was lost
    # The transport is usable afterwards (the hung connection is not reused).
    assert transport.send(message(to="+8613900139000")).segments == 1


def test_connection_reset_after_the_request_is_uncertain(fake, transport):
    fake.fail_next(Failure.reset())
    with pytest.raises(UncertainSendError):
        transport.send(message())
    assert fake.sends_to(TO) == 1


def test_connection_refused_before_sending_is_retryable():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    # The port is closed now: nothing listens there.
    transport = TwilioTransport(
        "AC" + "0" * 32, "token", from_number=SENDER, base_url=f"http://127.0.0.1:{port}"
    )
    with pytest.raises(RetryableSendError) as raised:
        transport.send(message())
    assert raised.value.code is None


def test_wrong_auth_token_is_a_configuration_error(fake):
    transport = TwilioTransport(
        fake.account_sid, "not-the-token", from_number=SENDER, base_url=fake.base_url
    )
    with pytest.raises(TransportConfigError) as raised:
        transport.send(message())
    assert raised.value.code == 20003
    assert "account or sender" in str(raised.value)
    assert "not-the-token" not in str(raised.value)
    assert fake.messages == []


def test_wrong_account_sid_is_a_configuration_error(fake):
    transport = TwilioTransport(
        "AC" + "f" * 32, fake.auth_token, from_number=SENDER, base_url=fake.base_url
    )
    with pytest.raises(TransportConfigError):
        transport.send(message())


# -- looking up a message after a crash ---------------------------------------------------


def test_find_sent_finds_a_message_twilio_accepted(fake, transport):
    since = datetime.now(UTC)
    receipt = transport.send(message(body="Invitation https://m.example.cn/s/tok1"))
    transport.send(message(to="+8613900139000", body="Invitation https://m.example.cn/s/tok1"))

    found = transport.find_sent(TO, "Invitation https://m.example.cn/s/tok1", since)

    assert isinstance(transport, SentMessageLookup)
    assert found is not None
    assert found.provider_message_id == receipt.provider_message_id
    assert found.segments == 1


def test_find_sent_ignores_other_bodies_and_old_messages(fake, transport):
    transport.send(message(body="Invitation https://m.example.cn/s/tok1"))
    now = datetime.now(UTC)
    assert transport.find_sent(TO, "Invitation https://m.example.cn/s/tok2", now) is None
    later = now + timedelta(hours=1)
    assert transport.find_sent(TO, "Invitation https://m.example.cn/s/tok1", later) is None
    assert transport.find_sent("+8613900139000", "Invitation", now) is None


def test_find_sent_finds_a_message_whose_answer_was_lost(fake):
    transport = TwilioTransport(
        fake.account_sid, fake.auth_token, from_number=SENDER, base_url=fake.base_url, timeout=0.3
    )
    since = datetime.now(UTC)
    fake.fail_next(Failure.hang())
    with pytest.raises(UncertainSendError):
        transport.send(message(body=CHINESE_71))
    found = transport.find_sent(TO, CHINESE_71, since)
    assert found is not None and found.segments == 2


def test_find_sent_returns_none_when_twilio_cannot_be_reached():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    transport = TwilioTransport(
        "AC" + "0" * 32, "token", from_number=SENDER, base_url=f"http://127.0.0.1:{port}"
    )
    assert transport.find_sent(TO, "Hello", datetime.now(UTC)) is None


# -- status callbacks ---------------------------------------------------------------------


def test_status_callbacks_arrive_signed_and_are_verified(fake, transport, receiver):
    receipt = transport.send(message(callback=PUBLIC_BASE + "/sms/status"))

    results = fake.deliver(receipt.provider_message_id, ("queued", "sent", "delivered"))

    assert results == [("queued", 204), ("sent", 204), ("delivered", 204)]
    paths = {path for path, _, _, _ in receiver.received}
    assert paths == {"/sms/status"}
    statuses = [params["MessageStatus"] for _, params, _, _ in receiver.received]
    assert statuses == ["queued", "sent", "delivered"]
    _, params, signature, valid = receiver.received[-1]
    assert valid
    assert params["MessageSid"] == receipt.provider_message_id
    assert params["AccountSid"] == fake.account_sid
    assert (params["To"], params["From"]) == (TO, SENDER)


def test_duplicate_and_out_of_order_callbacks_are_delivered_as_asked(fake, transport, receiver):
    receipt = transport.send(message(callback=PUBLIC_BASE + "/sms/status"))

    results = fake.deliver(
        receipt.provider_message_id,
        ("sent", "undelivered"),
        duplicate=True,
        out_of_order=True,
    )

    assert [status for status, _ in results] == ["undelivered", "undelivered", "sent", "sent"]
    assert all(code == 204 for _, code in results)
    first, second = receiver.received[0][1], receiver.received[1][1]
    assert first == second  # a duplicate is the same callback again
    assert first["ErrorCode"] == "30003"


def test_forged_or_unsigned_callback_is_refused(fake, transport):
    receipt = transport.send(message(callback=PUBLIC_BASE + "/sms/status"))
    url, params, headers = fake.status_callback_request(receipt.provider_message_id, "delivered")
    signature = headers[SIGNATURE_HEADER]

    assert verify_twilio_signature(fake.auth_token, url, params, signature)
    forged = dict(params, MessageStatus="failed")
    assert not verify_twilio_signature(fake.auth_token, url, forged, signature)
    assert not verify_twilio_signature(fake.auth_token, url, params, sign("other", url, params))
    assert not verify_twilio_signature(fake.auth_token, url, params, None)
    assert not verify_twilio_signature(fake.auth_token, url, params, "")
    # Signed for the public URL: the same request at another URL is refused.
    assert not verify_twilio_signature(
        fake.auth_token, "http://127.0.0.1:8000/sms/status", params, signature
    )


def test_forged_callback_posted_to_the_receiver_gets_403(fake, transport, receiver):
    receipt = transport.send(message(callback=PUBLIC_BASE + "/sms/status"))
    fake_with_wrong_token = FakeTwilio(fake.account_sid, "a-guess")
    url, params, headers = fake.status_callback_request(receipt.provider_message_id, "delivered")
    headers[SIGNATURE_HEADER] = sign(fake_with_wrong_token.auth_token, url, params)
    code = fake._post(receipt.provider_message_id, "delivered", url, params, headers)
    assert code == 403


def test_signature_accepts_the_url_with_or_without_the_default_port(fake):
    params = {"MessageSid": "SM" + "0" * 32, "MessageStatus": "sent"}
    signature = sign(fake.auth_token, "https://manyi.example.cn:443/sms/status", params)
    assert verify_twilio_signature(
        fake.auth_token, "https://manyi.example.cn/sms/status", params, signature
    )


def test_inbound_message_webhook_is_signed(fake, receiver):
    code = fake.post_inbound(PUBLIC_BASE + "/sms/inbound", TO, "TD")
    assert code == 204
    [(path, params, _, valid)] = receiver.received
    assert (path, params["From"], params["Body"], valid) == ("/sms/inbound", TO, "TD", True)


def test_automatic_callbacks_follow_every_accepted_message(receiver):
    with FakeTwilio(auto_callbacks=("sent", "delivered")) as fake:
        receiver.auth_token = fake.auth_token
        fake.route_callbacks(PUBLIC_BASE, receiver.local_base)
        transport = TwilioTransport(
            fake.account_sid, fake.auth_token, from_number=SENDER, base_url=fake.base_url
        )
        for index in range(5):
            transport.send(message(to=f"+86138000000{index:02d}", callback=PUBLIC_BASE + "/s"))
        assert fake.wait_for_callbacks(timeout=10)
    assert len(receiver.received) == 10
    assert all(valid for _, _, _, valid in receiver.received)


# -- volume -------------------------------------------------------------------------------


@pytest.mark.slow
def test_ten_thousand_concurrent_sends_are_each_recorded_once(fake):
    # About exactly-once, not timeouts: a generous timeout, so that a loaded CI machine's
    # pause (one send took over 2 s there) is not read as an uncertain send.
    transport = TwilioTransport(fake.account_sid, fake.auth_token, from_number=SENDER,
                                base_url=fake.base_url, timeout=30)  # fmt: skip
    numbers = [f"+86138{index:08d}" for index in range(10_000)]
    with ThreadPoolExecutor(max_workers=8) as pool:
        receipts = list(pool.map(lambda number: transport.send(message(to=number)), numbers))

    assert len({receipt.provider_message_id for receipt in receipts}) == 10_000
    counts = fake.send_counts()
    assert len(counts) == 10_000
    assert set(counts.values()) == {1}
