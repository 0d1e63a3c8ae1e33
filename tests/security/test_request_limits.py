"""What a request may send: sizes, times and NUL bytes (api.web.limits).

Most tests talk to a real ``manyi serve`` (uvicorn) over raw sockets, as an attacker would:
bodies that announce or bring too much, heads and bodies that never finish. Its temporary
directory and memory are watched, and its timeouts are shortened through
``MANYI_HEADER_TIMEOUT_SECONDS`` and ``MANYI_BODY_TIMEOUT_SECONDS``. The NUL bytes and
over-long addresses run in the process on SQLite and PostgreSQL, where PostgreSQL's text
types refuse a NUL and its ``varchar(20)`` refuses a WhatsApp address.
"""

from __future__ import annotations

import asyncio
import os
import re
import select
import socket
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select as select_rows
from sqlmodel import Session
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from api.settings import Settings
from api.web import limits
from api.web.app import create_app
from api.web.limits import (
    FORM_MAX_BYTES,
    HEADER_MAX_BYTES,
    JSON_MAX_BYTES,
    WEBHOOK_MAX_BYTES,
    limit_of,
)
from survey.answering.links import invitation_token
from survey.campaigns.lifecycle import change_status, create_campaign, invite
from survey.db.tables import Answer, Customer, InboundSms, Invitation, OptOut
from survey.frames.sample_frame import generate_frame
from survey.frames.store import store_frame
from survey.questionnaire.publish import publish
from survey.sms.signatures import SIGNATURE_HEADER, sign
from tests.fakes.fake_twilio import FakeTwilio
from tests.integration.answering.web_pages import FULL, answer_all, csrf, form_action
from tests.integration.staff_login import field
from tests.service_process import free_port, manyi, running

#: The server's timeouts in these tests (seconds), and how much later than them a refusal
#: may come on a loaded two-core machine.
HEADER_TIMEOUT = 2.0
BODY_TIMEOUT = 2.0
SLACK = 8.0
#: How much a refused request may add to the server's peak memory.
MEMORY_SLACK = 40 * 1024 * 1024
MB = 1024 * 1024

SECRET = "request-limits-test-secret-0123456789abcdef"
PUBLIC = "https://survey.example.org"


# -- a real server -------------------------------------------------------------------------


@dataclass(frozen=True)
class Server:
    port: int
    pid: int
    spool: Path
    log: Path

    def peak_memory(self) -> int:
        """The process's peak resident memory in bytes (VmHWM)."""
        status = Path(f"/proc/{self.pid}/status").read_text()
        return int(re.search(r"VmHWM:\s+(\d+) kB", status).group(1)) * 1024

    def spooled_files(self) -> list[str]:
        """Files the process holds open in its temporary directory, deleted ones included
        (Python's temporary files are unlinked at once, invisible in a listing)."""
        held = []
        for fd in Path(f"/proc/{self.pid}/fd").iterdir():
            try:
                target = os.readlink(fd)
            except OSError:
                continue
            if target.startswith(str(self.spool)):
                held.append(target)
        return held + [str(p) for p in self.spool.iterdir()]


def _pid_of(command: list[str]) -> int:
    wanted = "\0".join(command).encode()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "cmdline").read_bytes().rstrip(b"\0") == wanted:
                    return int(entry.name)
            except OSError:
                continue
    raise LookupError(f"no process runs {command}")


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    root = tmp_path_factory.mktemp("limits")
    spool = root / "tmp"
    spool.mkdir()
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {**os.environ, "MANYI_DATABASE_URL": f"sqlite:///{root / 'manyi.db'}",
           "MANYI_PUBLIC_BASE_URL": base, "MANYI_SECRET_KEY": SECRET, "TMPDIR": str(spool),
           "MANYI_HEADER_TIMEOUT_SECONDS": str(HEADER_TIMEOUT),
           "MANYI_BODY_TIMEOUT_SECONDS": str(BODY_TIMEOUT)}  # fmt: skip
    command = manyi("serve", "--port", str(port))
    log = root / "server.log"
    with running(command, base_url=base, env=env, log_path=log):
        yield Server(port, _pid_of(command), spool, log)


def connect(server: Server) -> socket.socket:
    return socket.create_connection(("127.0.0.1", server.port), timeout=BODY_TIMEOUT + SLACK)


def head(method: str, path: str, headers: dict[str, str]) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1", *(f"{k}: {v}" for k, v in
                                                              headers.items())]  # fmt: skip
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def status_of(sock: socket.socket, timeout: float) -> int | None:
    """The status of the answer read from ``sock``; None if it closed without one."""
    sock.settimeout(timeout)
    data = b""
    try:
        while b"\r\n" not in data:
            chunk = sock.recv(4096)
            if not chunk:
                break
            data += chunk
    except ConnectionResetError:
        pass
    match = re.match(rb"HTTP/1\.1 (\d{3}) ", data)
    return int(match.group(1)) if match else None


def pour(sock: socket.socket, total: int, chunk: int = MB) -> threading.Thread:
    """Send ``total`` bytes of a form's value in the background, until the server hangs up."""

    def send() -> None:
        block = b"a" * chunk
        try:
            for _ in range(total // chunk):
                sock.sendall(block)
        except OSError:
            pass

    thread = threading.Thread(target=send, daemon=True)
    thread.start()
    return thread


def test_a_300_mb_multipart_upload_to_an_unknown_page_is_refused_before_a_byte_is_spooled(
    server,
):
    before = server.peak_memory()
    with connect(server) as sock:
        headers = {"Content-Type": "multipart/form-data; boundary=b",
                   "Content-Length": str(300 * MB)}  # fmt: skip
        part = b'--b\r\nContent-Disposition: form-data; name="f"; filename="x"\r\n\r\n'
        sock.sendall(head("POST", "/s/unknown/p/1", headers) + part)
        sender = pour(sock, 8 * MB)
        started = time.monotonic()
        assert status_of(sock, BODY_TIMEOUT + SLACK) == 413
        assert time.monotonic() - started < SLACK
        # Starlette's parser would have spooled the file to disk past its first megabyte.
        sender.join(timeout=SLACK)
        assert server.spooled_files() == []
    assert server.peak_memory() - before < MEMORY_SLACK


def test_a_chunked_multipart_body_is_refused_without_a_length_to_judge_by(server):
    with connect(server) as sock:
        headers = {"Content-Type": "multipart/form-data; boundary=b",
                   "Transfer-Encoding": "chunked"}  # fmt: skip
        part = b'--b\r\nContent-Disposition: form-data; name="f"; filename="x"\r\n\r\n'
        sock.sendall(head("POST", "/s/unknown/p/1", headers))
        sock.sendall(b"%x\r\n%s\r\n" % (len(part), part))
        block = b"a" * MB
        try:
            for _ in range(3):
                sock.sendall(b"%x\r\n%s\r\n" % (len(block), block))
        except OSError:
            pass
        assert status_of(sock, BODY_TIMEOUT + SLACK) == 415
        assert server.spooled_files() == []


def test_a_chunked_form_is_refused_once_it_passes_the_form_limit(server):
    with connect(server) as sock:
        headers = {"Content-Type": "application/x-www-form-urlencoded",
                   "Transfer-Encoding": "chunked"}  # fmt: skip
        sock.sendall(head("POST", "/s/unknown/p/1", headers))
        body = b"csrf=x&a=" + b"a" * (FORM_MAX_BYTES + 4096)
        try:
            sock.sendall(b"%x\r\n%s\r\n" % (len(body), body))
        except OSError:
            pass
        # The body is never finished: only the count can answer it (the clock would say 408).
        assert status_of(sock, BODY_TIMEOUT + SLACK) == 413


def test_a_100_mb_form_to_logout_is_refused_without_being_held_in_memory(server):
    before = server.peak_memory()
    with connect(server) as sock:
        headers = {"Content-Type": "application/x-www-form-urlencoded",
                   "Content-Length": str(100 * MB)}  # fmt: skip
        sock.sendall(head("POST", "/logout", headers) + b"csrf=x&a=")
        sender = pour(sock, 100 * MB)
        started = time.monotonic()
        assert status_of(sock, BODY_TIMEOUT + SLACK) == 413
        assert time.monotonic() - started < SLACK
        sender.join(timeout=SLACK)
    assert server.peak_memory() - before < MEMORY_SLACK


def test_a_json_body_over_the_api_limit_is_refused_with_the_api_error_body(server):
    with connect(server) as sock:
        headers = {"Content-Type": "application/json", "Content-Length": str(JSON_MAX_BYTES + 1)}
        sock.sendall(head("POST", "/api/v1/analyses", headers))
        sock.settimeout(SLACK)
        answer = b""
        while chunk := sock.recv(4096):
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 413 ")
    assert b'"code":"payload_too_large"' in answer


def test_a_request_announcing_1_gb_is_answered_at_once(server):
    with connect(server) as sock:
        headers = {"Content-Type": "application/x-www-form-urlencoded",
                   "Content-Length": str(1024 * MB)}  # fmt: skip
        sock.sendall(head("POST", "/login", headers) + b"username=a")
        started = time.monotonic()
        assert status_of(sock, SLACK) == 413
        assert time.monotonic() - started < BODY_TIMEOUT


@pytest.mark.parametrize("path", ["/logout", "/login", "/s/unknown/p/1", "/sms/status"])
def test_a_body_that_stops_short_of_its_length_is_answered_408_at_the_timeout(server, path):
    with connect(server) as sock:
        headers = {"Content-Type": "application/x-www-form-urlencoded",
                   "Content-Length": str(limit_of(path).max_bytes - 1)}  # fmt: skip
        sock.sendall(head("POST", path, headers) + b"csrf=x")
        started = time.monotonic()
        assert status_of(sock, BODY_TIMEOUT + SLACK) == 408
        assert BODY_TIMEOUT / 2 < time.monotonic() - started < BODY_TIMEOUT + SLACK
        # and the connection is closed after the answer
        sock.settimeout(SLACK)
        while sock.recv(4096):
            pass


def closed_while_dribbling(sock: socket.socket, text: bytes, interval: float) -> float | None:
    """Send ``text`` a byte at a time; the seconds until the server hung up, or None."""
    started = time.monotonic()
    for byte in text:
        try:
            sock.send(bytes([byte]))
        except OSError:
            return time.monotonic() - started
        readable, _, _ = select.select([sock], [], [], interval)
        if readable:
            try:
                data = sock.recv(4096)
            except ConnectionResetError:
                return time.monotonic() - started
            if not data or data.startswith(b"HTTP/1.1 408 "):
                return time.monotonic() - started
    return None


SLOW_HEAD = head("POST", "/logout", {"Content-Type": "application/x-www-form-urlencoded",
                                     "X-Padding": "p" * 200})  # fmt: skip


def test_a_head_dribbled_a_byte_at_a_time_is_cut_off(server):
    with connect(server) as sock:
        # 4 bytes a second: the head would take a minute.
        seconds = closed_while_dribbling(sock, SLOW_HEAD, 0.25)
    assert seconds is not None and seconds < HEADER_TIMEOUT + SLACK


def test_a_second_head_dribbled_on_a_kept_alive_connection_is_cut_off(server):
    with connect(server) as sock:
        sock.sendall(head("GET", "/health", {}))
        answer = b""
        while b'"schema_head"' not in answer:
            answer += sock.recv(4096)
        assert answer.startswith(b"HTTP/1.1 200 ")
        seconds = closed_while_dribbling(sock, SLOW_HEAD, 0.25)
    assert seconds is not None and seconds < HEADER_TIMEOUT + SLACK


def test_a_connection_that_sends_nothing_is_closed(server):
    with connect(server) as sock:
        sock.settimeout(HEADER_TIMEOUT + SLACK)
        assert sock.recv(4096) == b""


def test_headers_past_the_limit_are_refused_431(server):
    with connect(server) as sock:
        line = b"X-Padding: " + b"p" * 1000 + b"\r\n"
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        try:
            for _ in range(4 * HEADER_MAX_BYTES // len(line)):
                sock.sendall(line)
        except OSError:
            pass
        assert status_of(sock, SLACK) == 431


def test_a_60000_byte_header_in_one_write_is_refused_431(server):
    # The write that completes the head is counted too, not only the ones before it.
    with connect(server) as sock:
        sock.sendall(head("GET", "/health", {"X-Padding": "p" * 60_000}))
        assert status_of(sock, SLACK) == 431


def test_a_60000_byte_header_with_a_request_after_it_in_one_write_starts_neither(server):
    with connect(server) as sock:
        sock.sendall(head("GET", "/health", {"X-Padding": "p" * 60_000})
                     + head("GET", "/health", {}))  # fmt: skip
        sock.settimeout(SLACK)
        answer = b""
        while chunk := sock.recv(4096):
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 431 ")
    assert answer.count(b"HTTP/1.1 ") == 1


def test_a_page_sized_form_of_100_kb_is_not_refused_by_the_server(server):
    # Four text items of 2,000 Chinese characters, percent-encoded, with room: about 100 KB.
    body = b"csrf=x&" + b"&".join(b"q%d=" % i + b"%E8%AF%9D" * 3_000 for i in range(4))
    assert 100_000 < len(body) < FORM_MAX_BYTES
    with connect(server) as sock:
        headers = {"Content-Type": "application/x-www-form-urlencoded",
                   "Content-Length": str(len(body)), "Connection": "close"}  # fmt: skip
        sock.sendall(head("POST", "/s/unknown/p/1", headers) + body)
        status = status_of(sock, SLACK)
    assert status is not None and status not in (408, 413, 422)


def test_a_forwarded_for_header_from_a_loopback_peer_is_not_believed_by_the_server(server):
    with connect(server) as sock:
        sock.sendall(head("GET", "/health", {"X-Forwarded-For": "203.0.113.77",
                                             "Connection": "close"}))  # fmt: skip
        sock.settimeout(SLACK)
        while sock.recv(4096):
            pass
    deadline = time.monotonic() + SLACK
    while '"GET /health' not in server.log.read_text() and time.monotonic() < deadline:
        time.sleep(0.1)
    log = server.log.read_text()
    assert "127.0.0.1" in log and "203.0.113.77" not in log


# -- in the process, on SQLite and PostgreSQL ---------------------------------------------------


@pytest.fixture
def client(tmp_path):
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'manyi.db'}", secret_key=SECRET)
    with TestClient(create_app(settings), follow_redirects=False) as client:
        yield client


# -- the middleware alone, around a small application --------------------------------------------


async def _echo(request: Request) -> PlainTextResponse:
    return PlainTextResponse(str(len(await request.body())))


async def _late(request: Request) -> PlainTextResponse:
    # Answers without reading its body, after the body's deadline.
    await asyncio.sleep(limits._Watchdog.TICK_SECONDS * 2)
    return PlainTextResponse("late")


@pytest.fixture
def guarded(monkeypatch):
    monkeypatch.setattr(limits, "BODY_TIMEOUT_SECONDS", 0.1)
    app = Starlette(routes=[Route("/echo", _echo, methods=["POST"]),
                            Route("/late", _late, methods=["POST"])])  # fmt: skip
    limits.install(app)
    with TestClient(app) as client:
        yield client


def test_the_form_limit_holds_a_grouped_page_of_four_long_chinese_answers():
    assert FORM_MAX_BYTES >= 4 * 2_000 * 9 * 3
    assert limit_of("/s/x/p/1").max_bytes == FORM_MAX_BYTES
    assert limit_of("/sms/inbound").max_bytes == WEBHOOK_MAX_BYTES < FORM_MAX_BYTES


def test_a_page_sized_form_of_100_kb_is_read_whole(guarded):
    body = b"csrf=x&" + b"&".join(b"q%d=" % i + b"%E8%AF%9D" * 3_000 for i in range(4))
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    answer = guarded.post("/echo", content=body, headers=headers)
    assert answer.status_code == 200 and answer.text == str(len(body))


@pytest.mark.parametrize("headers", [{}, {"Content-Length": "0"}])
def test_a_request_without_a_body_is_not_timed_out_by_a_slow_answer(guarded, headers):
    answer = guarded.post("/late", headers=headers)
    assert (answer.status_code, answer.text) == (200, "late")


def test_an_unread_body_is_not_timed_out_once_the_answer_has_started(monkeypatch):
    monkeypatch.setattr(limits, "BODY_TIMEOUT_SECONDS", 0.1)

    async def app(scope, receive, send):
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await asyncio.sleep(limits._Watchdog.TICK_SECONDS * 2)
        await send({"type": "http.response.body", "body": b"done"})

    # Without a lifespan (the bare application has none).
    answer = TestClient(limits.RequestLimits(app)).post("/", content=b"abc")
    assert (answer.status_code, answer.text) == (200, "done")


@pytest.mark.parametrize(
    "content_type, body",
    [
        ("application/json", b'{"a": "50%00 off"}'),
        ("application/x-www-form-urlencoded", b"a=\\u0000&b=%5Cu0000"),
        ("text/plain", b"50%00 off \\u0000"),
    ],
)
def test_an_escape_that_is_text_in_its_body_type_is_accepted(guarded, content_type, body):
    answer = guarded.post("/echo", content=body, headers={"Content-Type": content_type})
    assert (answer.status_code, answer.text) == (200, str(len(body)))


@pytest.mark.parametrize(
    "content_type, body",
    [
        ("application/json", b'{"a": "x\\u0000"}'),
        ("application/json; charset=utf-8", b'{"a": "x\\u0000"}'),
        ("application/x-www-form-urlencoded", b"a=x%00"),
        ("application/x-www-form-urlencoded; charset=UTF-8", b"a=x%00"),
        ("text/plain", b"a\x00"),
    ],
)
def test_a_nul_in_its_body_type_is_refused_422(guarded, content_type, body):
    answer = guarded.post("/echo", content=body, headers={"Content-Type": content_type})
    assert answer.status_code == 422


def test_a_nul_escape_split_across_chunks_is_refused(guarded):
    def stream():
        yield b"a=x%0"
        yield b"0"

    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    assert guarded.post("/echo", content=stream(), headers=headers).status_code == 422


def test_an_upload_is_refused_415(client):
    assert client.post("/logout", files={"f": ("x.csv", b"a,b\n")}).status_code == 415


def test_only_the_two_upload_routes_take_a_file_and_each_within_its_own_limit(client):
    from api.web.limits import UPLOADS

    # Beside an upload route, a file is refused as everywhere else.
    for path in ("/console/frames/imports/1", "/console/questionnaires", "/console/frame"):
        assert client.post(path, files={"f": ("x.csv", b"a,b\n")}).status_code == 415, path
    for path, limit in UPLOADS.items():
        # Past the route's limit: refused before the route (which would ask for sign-in).
        big = {"file": ("x.csv", b"a" * (limit.max_bytes + 1))}
        assert client.post(path, files=big).status_code == 413, path
        # Within it, the route answers (here: sign in first, a redirect).
        small = client.post(path, files={"file": ("x.csv", b"a,b\n")}, follow_redirects=False)
        assert small.status_code == 303 and "/login" in small.headers["location"], path


# The hot path's own reader, a form dependency, FastAPI's form parameters, a webhook.
@pytest.mark.parametrize("path", ["/s/unknown/p/1", "/logout", "/login", "/sms/status"])
def test_a_chunked_form_past_the_limit_is_refused_413_however_the_route_reads_it(client, path):
    def stream():
        yield b"csrf=x&a="
        for _ in range(FORM_MAX_BYTES // 4096 + 2):
            yield b"a" * 4096

    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    assert client.post(path, content=stream(), headers=headers).status_code == 413


def test_a_nul_in_a_query_or_a_json_body_is_refused_422(client):
    assert client.get("/login?next=%00").status_code == 422
    api = client.post("/api/v1/analyses", content=b'{"version": "2026.1\\u0000"}',
                      headers={"Content-Type": "application/json"})  # fmt: skip
    assert api.status_code == 422
    assert api.json()["error"]["code"] == "validation_error"


@pytest.mark.parametrize(
    "fields", [{"username": "wang\x00"}, {"password": "secret\x00"}, {"next": "/\x00"}]
)
def test_a_nul_in_a_login_field_is_refused_without_an_error(engine, database_url, fields):
    settings = Settings(database_url=database_url, secret_key=SECRET)
    with TestClient(create_app(settings), follow_redirects=False) as client:
        page = client.get("/login")
        form = {"username": "wang", "password": "secret", "csrf": field(page.text, "csrf"),
                "next": "/", **fields}  # fmt: skip
        answer = client.post("/login", data=form)
        assert answer.status_code == 422
        # The same form without it is an ordinary wrong password.
        form.update(username="wang", password="secret", next="/")
        assert client.post("/login", data=form).status_code == 401


@pytest.fixture
def link(engine, sample_questionnaire) -> str:
    """The token of one invitation of a running web campaign."""
    with Session(engine) as session:
        version = publish(session, sample_questionnaire)
        store_frame(session, generate_frame(1, seed=5), "limits", "test")
        customer = session.execute(select_rows(Customer)).scalar_one()
        customer.consent = True
        session.add(customer)
        session.commit()
        campaign = create_campaign(
            session, version.id, "Limits", message={"zh": "请评价：{link}", "en": "Rate us: {link}"}
        )
        invite(session, campaign, [customer.id], secret=SECRET, public_base_url=PUBLIC,
               timezone="Asia/Shanghai")  # fmt: skip
        change_status(session, campaign, "launch")
        invitation_id = session.execute(select_rows(Invitation.id)).scalar_one()
    return invitation_token(SECRET, invitation_id)


def test_a_nul_in_a_free_text_answer_is_refused_and_nothing_is_stored(engine, database_url, link):
    settings = Settings(database_url=database_url, secret_key=SECRET)
    with TestClient(create_app(settings), follow_redirects=False) as client:
        seen, reply = answer_all(client, link, FULL, stop_after=6)
        page = client.get(reply.headers["location"])
        assert 'name="complaint_topic"' in page.text
        data = {"csrf": csrf(page.text), "complaint_topic": "话费\x00多扣了"}
        assert client.post(form_action(page.text), data=data).status_code == 422
        with Session(engine) as session:
            names = set(session.execute(select_rows(Answer.item_name)).scalars())
        assert "complaint_topic" not in names and len(seen) == 6
        data["complaint_topic"] = "话费多扣了"
        assert client.post(form_action(page.text), data=data).status_code == 303


@pytest.fixture
def twilio():
    with FakeTwilio() as fake:
        yield fake


@pytest.fixture
def webhooks(engine, database_url, twilio):
    settings = Settings(database_url=database_url, public_base_url=PUBLIC, secret_key=SECRET,
                        sms_transport="twilio", twilio_account_sid=twilio.account_sid,
                        twilio_auth_token=twilio.auth_token, twilio_from_number="+15005550006",
                        twilio_base_url=twilio.base_url)  # fmt: skip
    with TestClient(create_app(settings)) as client:

        def post(path: str, params: dict[str, str]):
            signature = sign(twilio.auth_token, PUBLIC + path, params)
            return client.post(path, data=params, headers={SIGNATURE_HEADER: signature})

        yield post


def inbound(sender: str, body: str, *, to: str = "+15005550006", sid: str = "SM" + "1" * 32):
    return {"MessageSid": sid, "SmsSid": sid, "From": sender, "To": to, "Body": body,
            "NumMedia": "0"}  # fmt: skip


def stored_messages(engine) -> list[tuple[str, str | None, str, str]]:
    with Session(engine) as session:
        rows = session.execute(
            select_rows(
                InboundSms.from_phone,
                InboundSms.to_phone,
                InboundSms.body,
                InboundSms.provider_message_id,
            )  # fmt: skip
        ).all()
    return [tuple(row) for row in rows]


def test_nuls_in_a_signed_inbound_message_are_dropped_and_the_message_handled(
    engine, webhooks, twilio
):
    params = inbound("+8613912345678\x00", "T\x00D", sid="SM" + "2" * 32 + "\x00")
    assert webhooks("/sms/inbound", params).status_code == 200
    assert stored_messages(engine) == [("+8613912345678", "+15005550006", "TD", "SM" + "2" * 32)]
    with Session(engine) as session:
        assert session.get(OptOut, "+8613912345678") is not None
    assert twilio.sends_to("+8613912345678") == 1


@pytest.mark.parametrize("sid, status", [("SM\x00" + "3" * 32, "failed"),
                                         ("SM" + "3" * 32, "deliv\x00ered")])  # fmt: skip
def test_nuls_in_a_signed_delivery_report_are_dropped(webhooks, sid, status):
    params = {"MessageSid": sid, "MessageStatus": status, "ErrorCode": "30\x0003"}
    assert webhooks("/sms/status", params).status_code == 200


def test_a_whatsapp_sender_is_its_phone_number(engine, webhooks, twilio):
    params = inbound("whatsapp:+8613800138000", "STOP", to="whatsapp:+15005550006")
    assert webhooks("/sms/inbound", params).status_code == 200
    assert stored_messages(engine) == [("+8613800138000", "+15005550006", "STOP",
                                        "SM" + "1" * 32)]  # fmt: skip
    with Session(engine) as session:
        assert session.get(OptOut, "+8613800138000") is not None


@pytest.mark.parametrize(
    "sender", ["messenger:" + "4" * 30, "+86" + "1" * 30, "MYBANK", "whatsapp:+86 138 0013 8000"]
)
def test_a_sender_that_is_no_phone_number_is_acknowledged_and_dropped(engine, webhooks, sender):
    assert webhooks("/sms/inbound", inbound(sender, "STOP")).status_code == 200
    assert stored_messages(engine) == []
    with Session(engine) as session:
        assert session.execute(select_rows(OptOut)).all() == []
