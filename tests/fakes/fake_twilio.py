"""A fake of Twilio's Messages REST API: a real HTTP server on 127.0.0.1.

The official ``twilio`` client talks to it exactly as to Twilio (point it there with
``TwilioTransport(..., base_url=fake.base_url)``), so tests exercise the real request
building, authentication and error parsing. It emulates what the transport uses:

* ``POST /2010-04-01/Accounts/{AccountSid}/Messages.json`` with HTTP Basic auth (401 with
  code 20003 otherwise), form fields ``To``, ``From``, ``MessagingServiceSid``, ``Body``,
  ``StatusCallback``; Twilio's own validation for missing fields (21602, 21603, 21604),
  a ``To`` that is not E.164 (21211) and a body over 1,600 characters (21617);
* ``GET`` of the same path (``To``/``From`` filters, newest first, one page), which
  ``TwilioTransport.find_sent`` uses after a crash;
* a 201 answer shaped like Twilio's Message resource: ``sid`` "SM" + 32 hex, ``status``
  ``queued`` (``accepted`` through a Messaging Service without ``From``), ``num_segments``
  from :func:`survey.sms.segments.sms_segments` (``"0"`` through a Messaging Service, as
  Twilio reports before choosing a sender);
* error answers in Twilio's JSON shape (``code``, ``message``, ``more_info``, ``status``).

Failure injection, per number (``fail_number``) or per call (``fail_next``, first served):
:meth:`Failure.opted_out` (21610), :meth:`Failure.invalid_number` (21211),
:meth:`Failure.rate_limited` (429 with ``Retry-After``), :meth:`Failure.server_error`
(500), :meth:`Failure.hang` (the message is taken, the answer never comes: the client times
out) and :meth:`Failure.reset` (taken, then the connection is dropped). A hang or a reset
*records* the message, as the worst case of reality: the SMS went out, the answer was lost.

``delay`` holds every send's answer that many seconds, as a real provider's round trip
does (Twilio takes about 150 ms to accept a message); the message is recorded, with its
``created_at``, when the request arrives, so the send times a test measures are the
dispatcher's, not the delay's. Requests are served on a thread each, so concurrent sends
overlap their delays as they would at Twilio.

Every accepted message is recorded (thread-safe): ``sends_to(number)``, ``send_counts()``.
Status callbacks (queued/sent/delivered/undelivered/failed) are posted on request, signed
with ``X-Twilio-Signature`` over the ``StatusCallback`` URL, with duplicates and out-of-order
delivery on request (``deliver``), or automatically after every accepted message
(``auto_callbacks``). ``status_callback_request`` and ``inbound_request`` build the signed
request without sending it, for tests that drive an app in-process.

Use it as a context manager or through the ``fake_twilio`` fixture (import it into a
conftest).
"""

from __future__ import annotations

import base64
import hmac
import json
import queue
import re
import secrets
import socket
import struct
import sys
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlencode

import pytest

from survey.sms.segments import sms_segments
from survey.sms.signatures import SIGNATURE_HEADER, sign

__all__ = ["FakeMessage", "FakeTwilio", "Failure", "fake_twilio"]

API_VERSION = "2010-04-01"
_MESSAGES_PATH = re.compile(r"^/2010-04-01/Accounts/([^/]+)/Messages\.json$")
_E164 = re.compile(r"^\+[1-9][0-9]{6,14}$")
_MAX_BODY = 1600
# The sender Twilio "picks" from a Messaging Service's pool (a Twilio magic test number).
SERVICE_SENDER = "+15005550006"
STATUSES = ("accepted", "queued", "sending", "sent", "delivered", "undelivered", "failed")


@dataclass(frozen=True)
class Failure:
    """How the fake answers one send instead of accepting it."""

    status: int = 500
    code: int | None = None
    message: str = ""
    retry_after: float | None = None
    mode: str = "answer"
    """``answer`` (an error answer), ``hang`` (no answer ever) or ``reset`` (drop)."""

    @classmethod
    def opted_out(cls) -> Failure:
        return cls(400, 21610, "Attempt to send to unsubscribed recipient")

    @classmethod
    def invalid_number(cls) -> Failure:
        return cls(400, 21211, "The 'To' number is not a valid phone number.")

    @classmethod
    def rate_limited(cls, retry_after: float | None = 1.0) -> Failure:
        return cls(429, 20429, "Too Many Requests", retry_after=retry_after)

    @classmethod
    def server_error(cls, status: int = 500) -> Failure:
        return cls(status, 20500, "Internal Server Error")

    @classmethod
    def hang(cls) -> Failure:
        return cls(0, None, "accepted, never answered", mode="hang")

    @classmethod
    def reset(cls) -> Failure:
        return cls(0, None, "accepted, connection dropped", mode="reset")


@dataclass(frozen=True)
class FakeMessage:
    """A message the fake took (answered 201, or taken before a hang or a reset)."""

    sid: str
    account_sid: str
    to: str
    from_: str | None
    messaging_service_sid: str | None
    body: str
    status_callback: str | None
    num_segments: int
    status: str
    answered: bool
    created_at: float = field(default_factory=time.time)

    @property
    def sender(self) -> str:
        return self.from_ or SERVICE_SENDER


@dataclass
class _NumberRule:
    failure: Failure
    remaining: int | None  # None: for ever


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    request_queue_size = 512

    def __init__(self, address: tuple[str, int], fake: FakeTwilio) -> None:
        self.fake = fake
        self.connections: set[socket.socket] = set()
        self.connections_lock = threading.Lock()
        super().__init__(address, _Handler)

    def process_request(self, request: socket.socket, client_address: tuple[str, int]) -> None:
        with self.connections_lock:
            self.connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: socket.socket) -> None:
        with self.connections_lock:
            self.connections.discard(request)
        super().shutdown_request(request)

    def handle_error(self, request: object, client_address: tuple[str, int]) -> None:
        # A client killed while its messages were in flight (the SIGKILL tests) leaves
        # answers with no one to read them: expected, not worth a traceback each.
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)

    def drop_connections(self) -> None:
        with self.connections_lock:
            connections = list(self.connections)
        for connection in connections:
            try:
                connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as Twilio: one connection per client thread
    # The headers and the body are two writes: with Nagle's algorithm on, the body waits for
    # the client's delayed ACK (40 ms per request on Linux).
    disable_nagle_algorithm = True
    server: _Server

    def log_message(self, format: str, *args: object) -> None:
        return  # silence: 10,000 sends would flood the test output

    def do_GET(self) -> None:
        self._read_body()
        fake = self.server.fake
        path, _, query = self.path.partition("?")
        match = _MESSAGES_PATH.match(path)
        if not match:
            self._error(404, 20404, f"The requested resource {self.path} was not found")
            return
        if not fake._authorised(self.headers.get("Authorization")):
            self._error(401, 20003, "Authenticate", authenticate=True)
            return
        if match.group(1) != fake.account_sid:
            self._error(404, 20404, f"The requested resource {self.path} was not found")
            return
        self._json(200, fake._list_page(path, dict(parse_qsl(query))))

    def do_POST(self) -> None:
        form = dict(parse_qsl(self._read_body(), keep_blank_values=True))
        fake = self.server.fake
        match = _MESSAGES_PATH.match(self.path.split("?", 1)[0])
        if not match:
            self._error(404, 20404, f"The requested resource {self.path} was not found")
            return
        if not fake._authorised(self.headers.get("Authorization")):
            self._error(401, 20003, "Authenticate", authenticate=True)
            return
        if match.group(1) != fake.account_sid:
            self._error(404, 20404, f"The requested resource {self.path} was not found")
            return
        fake._handle_send(self, form)

    def _read_body(self) -> str:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length).decode("utf-8") if length else ""

    def _json(self, status: int, payload: dict, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(payload).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Twilio-Request-Id", "RQ" + secrets.token_hex(16))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def _error(
        self,
        status: int,
        code: int | None,
        message: str,
        *,
        retry_after: float | None = None,
        authenticate: bool = False,
    ) -> None:
        payload: dict = {"code": code, "message": message, "status": status}
        if code is not None:
            payload["more_info"] = f"https://www.twilio.com/docs/errors/{code}"
        headers = {}
        if retry_after is not None:
            headers["Retry-After"] = f"{retry_after:g}"
        if authenticate:
            headers["WWW-Authenticate"] = 'Basic realm="Twilio API"'
        self._json(status, payload, headers)


class FakeTwilio:
    """Twilio's Messages API on ``127.0.0.1`` (see the module docstring).

    Parameters
    ----------
    account_sid, auth_token
        The credentials the fake accepts (random ones when omitted).
    auto_callbacks
        Statuses posted to ``StatusCallback`` after every accepted message, in order, by a
        background thread, e.g. ``("sent", "delivered")``. Empty: only on request.
    callback_timeout
        Seconds the fake waits for a callback receiver to answer.
    delay
        Seconds each send request waits before it is answered (0: at once); may be changed
        while the fake runs.
    """

    def __init__(
        self,
        account_sid: str | None = None,
        auth_token: str | None = None,
        *,
        auto_callbacks: Sequence[str] = (),
        callback_timeout: float = 5.0,
        delay: float = 0.0,
    ) -> None:
        self.account_sid = account_sid or "AC" + secrets.token_hex(16)
        self.auth_token = auth_token or secrets.token_hex(16)
        for status in auto_callbacks:
            _check_status(status)
        self.auto_callbacks = tuple(auto_callbacks)
        self.callback_timeout = callback_timeout
        if delay < 0:
            raise ValueError(f"delay must be zero or more seconds, got {delay!r}")
        self.delay = delay
        self._expected_auth = "Basic " + base64.b64encode(
            f"{self.account_sid}:{self.auth_token}".encode()
        ).decode("ascii")
        self._lock = threading.Lock()
        self._messages: list[FakeMessage] = []
        self._by_sid: dict[str, FakeMessage] = {}
        self._attempts: list[tuple[str, str]] = []
        self._next_failures: list[Failure] = []
        self._number_rules: dict[str, _NumberRule] = {}
        self._routes: list[tuple[str, str]] = []
        self._release = threading.Event()
        self._callbacks: queue.Queue[tuple[str, str] | None] = queue.Queue()
        self._callback_results: list[tuple[str, str, int]] = []
        self._server: _Server | None = None
        self._threads: list[threading.Thread] = []

    # -- lifecycle ------------------------------------------------------------------------

    def start(self) -> FakeTwilio:
        if self._server is not None:
            return self
        self._release.clear()
        self._server = _Server(("127.0.0.1", 0), self)
        serve = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), name="fake-twilio", daemon=True
        )
        serve.start()
        self._threads = [serve]
        if self.auto_callbacks:
            worker = threading.Thread(
                target=self._callback_worker, name="fake-twilio-callbacks", daemon=True
            )
            worker.start()
            self._threads.append(worker)
        return self

    def stop(self) -> None:
        if self._server is None:
            return
        self._release.set()  # let hanging requests end
        if self.auto_callbacks:
            self._callbacks.put(None)
        self._server.shutdown()
        self._server.drop_connections()
        self._server.server_close()
        for thread in self._threads:
            thread.join(timeout=5)
        self._server = None

    def __enter__(self) -> FakeTwilio:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        if self._server is None:
            raise RuntimeError("FakeTwilio is not running: use it as a context manager")
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    # -- failure injection ----------------------------------------------------------------

    def fail_number(self, number: str, failure: Failure, *, times: int | None = None) -> None:
        """Answer every send to ``number`` (or the next ``times`` ones) with ``failure``."""
        with self._lock:
            self._number_rules[number] = _NumberRule(failure, times)

    def fail_next(self, failure: Failure, *, times: int = 1) -> None:
        """Answer the next ``times`` sends, to any number, with ``failure``."""
        with self._lock:
            self._next_failures.extend([failure] * times)

    def clear_failures(self) -> None:
        with self._lock:
            self._next_failures.clear()
            self._number_rules.clear()

    def release_hangs(self) -> None:
        """End requests held by :meth:`Failure.hang` (they close without an answer)."""
        self._release.set()

    # -- records --------------------------------------------------------------------------

    @property
    def messages(self) -> list[FakeMessage]:
        with self._lock:
            return list(self._messages)

    def message(self, sid: str) -> FakeMessage:
        with self._lock:
            return self._by_sid[sid]

    def sends_to(self, number: str) -> int:
        """How many messages to ``number`` were taken (hangs and resets included)."""
        with self._lock:
            return sum(1 for message in self._messages if message.to == number)

    def send_counts(self) -> Counter[str]:
        with self._lock:
            return Counter(message.to for message in self._messages)

    @property
    def attempts(self) -> list[tuple[str, str]]:
        """Every send request that passed authentication: ``(to, outcome)``."""
        with self._lock:
            return list(self._attempts)

    def attempts_to(self, number: str) -> int:
        with self._lock:
            return sum(1 for to, _ in self._attempts if to == number)

    @property
    def callback_results(self) -> list[tuple[str, str, int]]:
        """``(sid, status, HTTP status answered)`` of every callback posted."""
        with self._lock:
            return list(self._callback_results)

    # -- status callbacks and inbound messages --------------------------------------------

    def route_callbacks(self, public_prefix: str, local_prefix: str) -> None:
        """Post callbacks for URLs under ``public_prefix`` to ``local_prefix`` instead.

        Emulates a reverse proxy: the signature is computed over the public URL (as Twilio
        does), the request goes to the local server.
        """
        with self._lock:
            self._routes.append((public_prefix, local_prefix))

    def status_callback_request(
        self,
        sid: str,
        status: str,
        *,
        error_code: int | None = None,
        idempotency_token: str | None = None,
    ) -> tuple[str, dict[str, str], dict[str, str]]:
        """The signed status callback Twilio would post: ``(url, params, headers)``."""
        _check_status(status)
        message = self.message(sid)
        if not message.status_callback:
            raise ValueError(f"message {sid} was sent without a StatusCallback")
        params = {
            "AccountSid": self.account_sid,
            "ApiVersion": API_VERSION,
            "From": message.sender,
            "MessageSid": sid,
            "MessageStatus": status,
            "SmsSid": sid,
            "SmsStatus": status,
            "To": message.to,
        }
        if message.messaging_service_sid:
            params["MessagingServiceSid"] = message.messaging_service_sid
        if status in ("undelivered", "failed"):
            params["ErrorCode"] = str(error_code or 30003)
        elif error_code is not None:
            params["ErrorCode"] = str(error_code)
        if status == "delivered":
            params["RawDlrDoneDate"] = time.strftime("%y%m%d%H%M", time.gmtime())
        headers = self._signed_headers(message.status_callback, params)
        headers["I-Twilio-Idempotency-Token"] = idempotency_token or secrets.token_hex(16)
        return message.status_callback, params, headers

    def post_status(self, sid: str, status: str, *, error_code: int | None = None) -> int:
        """Post one signed status callback; returns the receiver's HTTP status."""
        url, params, headers = self.status_callback_request(sid, status, error_code=error_code)
        return self._post(sid, status, url, params, headers)

    def deliver(
        self,
        sid: str,
        statuses: Sequence[str] = ("queued", "sent", "delivered"),
        *,
        duplicate: bool = False,
        out_of_order: bool = False,
        error_code: int | None = None,
    ) -> list[tuple[str, int]]:
        """Post a message's lifecycle as callbacks: ``[(status, HTTP status), ...]``.

        ``duplicate`` posts each callback twice with the same idempotency token (Twilio's
        retry); ``out_of_order`` posts them last status first.
        """
        ordered = list(reversed(statuses)) if out_of_order else list(statuses)
        results = []
        for status in ordered:
            token = secrets.token_hex(16)
            for _ in range(2 if duplicate else 1):
                url, params, headers = self.status_callback_request(
                    sid, status, error_code=error_code, idempotency_token=token
                )
                results.append((status, self._post(sid, status, url, params, headers)))
        return results

    def inbound_request(
        self, url: str, from_: str, body: str, *, to: str = SERVICE_SENDER
    ) -> tuple[str, dict[str, str], dict[str, str]]:
        """The signed webhook Twilio posts for an SMS from a customer: (url, params, headers)."""
        sid = "SM" + secrets.token_hex(16)
        params = {
            "AccountSid": self.account_sid,
            "ApiVersion": API_VERSION,
            "Body": body,
            "From": from_,
            "MessageSid": sid,
            "NumMedia": "0",
            "NumSegments": str(sms_segments(body).segments),
            "SmsMessageSid": sid,
            "SmsSid": sid,
            "SmsStatus": "received",
            "To": to,
        }
        headers = self._signed_headers(url, params)
        headers["I-Twilio-Idempotency-Token"] = secrets.token_hex(16)
        return url, params, headers

    def post_inbound(self, url: str, from_: str, body: str, *, to: str = SERVICE_SENDER) -> int:
        url, params, headers = self.inbound_request(url, from_, body, to=to)
        return self._post(params["MessageSid"], "received", url, params, headers)

    def wait_for_callbacks(self, timeout: float = 10.0) -> bool:
        """Wait until the automatic callbacks queued so far are posted; False on timeout."""
        deadline = time.monotonic() + timeout
        while self._callbacks.unfinished_tasks:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.01)
        return True

    # -- internals ------------------------------------------------------------------------

    def _authorised(self, header: str | None) -> bool:
        return header is not None and hmac.compare_digest(
            header.encode("utf-8"), self._expected_auth.encode("utf-8")
        )

    def _take_failure(self, to: str) -> Failure | None:
        with self._lock:
            if self._next_failures:
                return self._next_failures.pop(0)
            rule = self._number_rules.get(to)
            if rule is None:
                return None
            if rule.remaining is not None:
                rule.remaining -= 1
                if rule.remaining <= 0:
                    del self._number_rules[to]
            return rule.failure

    def _validation_error(self, form: dict[str, str]) -> Failure | None:
        to, body = form.get("To", ""), form.get("Body", "")
        if not to:
            return Failure(400, 21604, "A 'To' phone number is required.")
        if not form.get("From") and not form.get("MessagingServiceSid"):
            return Failure(400, 21603, "A 'From' phone number is required.")
        if not body:
            return Failure(400, 21602, "Message body is required.")
        if not _E164.match(to):
            return Failure(400, 21211, f"Invalid 'To' Phone Number: {to}")
        if len(body) > _MAX_BODY:
            return Failure(400, 21617, "The message body exceeds the 1600 character limit.")
        return None

    def _record(self, form: dict[str, str], answered: bool) -> FakeMessage:
        service = form.get("MessagingServiceSid") or None
        from_ = form.get("From") or None
        message = FakeMessage(
            sid="SM" + secrets.token_hex(16),
            account_sid=self.account_sid,
            to=form["To"],
            from_=from_,
            messaging_service_sid=service,
            body=form["Body"],
            status_callback=form.get("StatusCallback") or None,
            num_segments=sms_segments(form["Body"]).segments,
            status="accepted" if service and not from_ else "queued",
            answered=answered,
        )
        with self._lock:
            self._messages.append(message)
            self._by_sid[message.sid] = message
        return message

    def _handle_send(self, handler: _Handler, form: dict[str, str]) -> None:
        to = form.get("To", "")
        failure = self._validation_error(form) or self._take_failure(to)
        if failure is None:
            message = self._record(form, answered=True)
            with self._lock:
                self._attempts.append((to, "accepted"))
            if self.delay:
                time.sleep(self.delay)
            handler._json(201, self._resource(message))
            if self.auto_callbacks and message.status_callback:
                self._callbacks.put((message.sid, ""))
            return
        outcome = str(failure.code) if failure.mode == "answer" else failure.mode
        with self._lock:
            self._attempts.append((to, outcome))
        if failure.mode == "answer":
            if self.delay:
                time.sleep(self.delay)
            handler._error(
                failure.status, failure.code, failure.message, retry_after=failure.retry_after
            )
            return
        self._record(form, answered=False)
        handler.close_connection = True
        if failure.mode == "hang":
            self._release.wait(timeout=120)
            return
        # reset: RST instead of FIN, as a crashed load balancer would.
        handler.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        handler.connection.close()

    def _list_page(self, path: str, query: dict[str, str]) -> dict:
        """One page of ``GET Messages.json``: newest first, filtered by ``To``/``From``."""
        page_size = min(int(query.get("PageSize", 50)), 1000)
        with self._lock:
            found = [
                message
                for message in reversed(self._messages)
                if query.get("To", message.to) == message.to
                and query.get("From", message.sender) == message.sender
            ][:page_size]
        return {
            "messages": [self._resource(message) for message in found],
            "end": max(len(found) - 1, 0),
            "first_page_uri": f"{path}?PageSize={page_size}&Page=0",
            "next_page_uri": None,  # one page: enough for the look-ups the transport makes
            "page": 0,
            "page_size": page_size,
            "previous_page_uri": None,
            "start": 0,
            "uri": f"{path}?PageSize={page_size}&Page=0",
        }

    def _resource(self, message: FakeMessage) -> dict:
        now = formatdate(message.created_at, usegmt=True)
        uri = f"/{API_VERSION}/Accounts/{self.account_sid}/Messages/{message.sid}"
        through_service = message.status == "accepted"
        return {
            "account_sid": self.account_sid,
            "api_version": API_VERSION,
            "body": message.body,
            "date_created": now,
            "date_sent": None,
            "date_updated": now,
            "direction": "outbound-api",
            "error_code": None,
            "error_message": None,
            "from": message.from_,
            "messaging_service_sid": message.messaging_service_sid,
            "num_media": "0",
            # Twilio reports 0 segments until a Messaging Service has picked a sender.
            "num_segments": "0" if through_service else str(message.num_segments),
            "price": None,
            "price_unit": "USD",
            "sid": message.sid,
            "status": message.status,
            "subresource_uris": {"media": f"{uri}/Media.json"},
            "to": message.to,
            "uri": f"{uri}.json",
        }

    def _signed_headers(self, url: str, params: dict[str, str]) -> dict[str, str]:
        return {
            SIGNATURE_HEADER: sign(self.auth_token, url, params),
            "Content-Type": "application/x-www-form-urlencoded; charset=utf-8",
            "User-Agent": "TwilioProxy/1.1",
        }

    def _route(self, url: str) -> str:
        with self._lock:
            routes = list(self._routes)
        for public, local in routes:
            if url.startswith(public):
                return local + url[len(public) :]
        return url

    def _post(self, sid: str, status: str, url: str, params: dict, headers: dict) -> int:
        request = urllib.request.Request(
            self._route(url), data=urlencode(params).encode("utf-8"), headers=headers
        )
        try:
            with urllib.request.urlopen(request, timeout=self.callback_timeout) as response:
                code = response.status
        except urllib.error.HTTPError as error:
            code = error.code
        except (urllib.error.URLError, OSError):
            code = 0  # receiver unreachable: Twilio would retry, the test sees 0
        with self._lock:
            self._callback_results.append((sid, status, code))
        return code

    def _callback_worker(self) -> None:
        while True:
            item = self._callbacks.get()
            try:
                if item is None:
                    return
                sid, _ = item
                for status in self.auto_callbacks:
                    self.post_status(sid, status)
            finally:
                self._callbacks.task_done()


def _check_status(status: str) -> None:
    if status not in STATUSES:
        raise ValueError(f"unknown message status {status!r}; one of {', '.join(STATUSES)}")


@pytest.fixture
def fake_twilio() -> Iterator[FakeTwilio]:
    """A running :class:`FakeTwilio`; stopped after the test."""
    with FakeTwilio() as fake:
        yield fake
