"""Limits on what a request may send: the size of its head and body, how long they may take,
and NUL bytes, which no field of ours holds (PostgreSQL's text types cannot store them).

Two places enforce them, because two places see the bytes:

- :class:`GuardedHttpToolsProtocol`, the HTTP protocol ``manyi serve`` gives uvicorn (by
  name, see ``api.cli.main``): a request's head (request line and headers) must arrive within
  :data:`HEADER_TIMEOUT_SECONDS` of the connection opening or the previous response ending,
  and hold at most :data:`HEADER_MAX_BYTES`, counted as the parser reports the request line
  and each header, so the limit holds however the head is split across writes. uvicorn's
  httptools protocol has neither: a connection that dribbles a header byte a second is
  kept for ever, and headers grow without bound.
- :class:`RequestLimits`, an ASGI middleware (:func:`install`), for bodies. Each path has a
  :class:`BodyLimit` (:data:`LIMITS`): a body whose ``Content-Length`` is over it is refused
  (413) before a byte of it is read; one sent chunked, or longer than it said, is counted as
  it arrives and refused as soon as it passes the limit. Nothing is buffered here, so a
  refused body never reaches memory or a temporary file. A body must arrive within
  :data:`BODY_TIMEOUT_SECONDS` of its head (408). ``multipart/form-data`` is refused (415)
  except on the console's two upload routes (:data:`UPLOADS`, by exact path): Starlette's
  multipart parser spools large parts to disk, so only a route that takes a file, within its
  own limit, may receive one. An upload's bytes are not searched for NUL (a workbook is
  binary): its route reads the file with the bounded readers and checks its fields. NUL
  bytes, raw or escaped (``%00`` in a urlencoded form, ``\\u0000`` in JSON), in a path,
  query string or body are refused (422), before a route could hand them to the database;
  the SMS provider's webhooks take them and drop them after checking the signature (they
  are signed, and a refused message would be lost). An escape is looked for only in the
  body type that decodes it: ``%00`` in JSON is text ("50%00 off"), and so is a
  backslash-u0000 in a form. A request without a body, or with ``Content-Length: 0``, has
  none to wait for, and a body's deadline ends when the answer starts: an application that
  answers without reading its body is not timed out.

Every refusal closes the connection (``Connection: close``): the rest of a refused body is
never read. The two timeouts can be shortened for tests with ``MANYI_HEADER_TIMEOUT_SECONDS``
and ``MANYI_BODY_TIMEOUT_SECONDS``, read once at import.
"""

from __future__ import annotations

import asyncio
import json
import os
from dataclasses import dataclass

from starlette.applications import Starlette
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

from api.web.errors import error_body

__all__ = [
    "BODY_TIMEOUT_SECONDS",
    "FORM_MAX_BYTES",
    "HEADER_MAX_BYTES",
    "HEADER_TIMEOUT_SECONDS",
    "JSON_MAX_BYTES",
    "LIMITS",
    "UPLOADS",
    "WEBHOOK_MAX_BYTES",
    "BodyLimit",
    "GuardedHttpToolsProtocol",
    "RequestLimits",
    "install",
]


def _seconds(name: str, default: float) -> float:
    value = os.environ.get(name)
    if value is None:
        return default
    seconds = float(value)
    if not seconds > 0:
        raise ValueError(f"{name} must be a positive number of seconds, not {value!r}")
    return seconds


#: A form's body. A grouped page may hold four text items at TEXT_MAX (2,000 characters),
#: all Chinese, percent-encoded at 9 bytes a character: 4 x 2,000 x 9 = 72 KB. 256 KiB
#: keeps room for bigger pages and the other fields; less would refuse (413) a finished
#: page, and the respondent's answers with it.
FORM_MAX_BYTES = 256 * 1024
#: A webhook's body: the SMS provider's posts are a few fields and one message (at most
#: 1,600 characters, about 15 KB percent-encoded), so they keep a smaller limit.
WEBHOOK_MAX_BYTES = 64 * 1024
#: A JSON body of the API (an analysis request is under 2 KB).
JSON_MAX_BYTES = 1024 * 1024
#: A request's head: request line and headers (h11's own default; ours are under 2 KB).
HEADER_MAX_BYTES = 16 * 1024
#: From a connection's opening, or its previous response's end, to the end of the next head.
HEADER_TIMEOUT_SECONDS = _seconds("MANYI_HEADER_TIMEOUT_SECONDS", 20.0)
#: From a request's head to the end of its body: a 72 KB page in that time is 2.4 KB/s.
BODY_TIMEOUT_SECONDS = _seconds("MANYI_BODY_TIMEOUT_SECONDS", 30.0)


@dataclass(frozen=True, slots=True)
class BodyLimit:
    """What the routes under a path accept as a body."""

    max_bytes: int
    #: NUL bytes refused (422) before the route sees them; False where a route drops them.
    refuse_nul: bool = True
    #: Whether a ``multipart/form-data`` body (a file upload) is accepted.
    multipart: bool = False


#: Limits by path prefix, the first match applies; every other path takes a form's.
LIMITS: tuple[tuple[str, BodyLimit], ...] = (
    ("/api/", BodyLimit(JSON_MAX_BYTES)),
    ("/sms/", BodyLimit(WEBHOOK_MAX_BYTES, refuse_nul=False)),
)
_FORM = BodyLimit(FORM_MAX_BYTES)
_MiB = 1024 * 1024
#: The routes that take a file, by exact path: a questionnaire (YAML or XLSX, read within
#: survey.questionnaire.bounded's 2 MiB) and a sample frame (CSV or XLSX, 20 MiB). Each
#: route checks its file's own size and says so in words; these limits add a form's room
#: for the other fields and the multipart framing.
UPLOADS: dict[str, BodyLimit] = {
    "/console/questionnaires/drafts": BodyLimit(2 * _MiB + FORM_MAX_BYTES, multipart=True),
    "/console/frames": BodyLimit(20 * _MiB + FORM_MAX_BYTES, multipart=True),
}

#: The escapes of a NUL by how a body is decoded (none in other bodies, where they are text).
_FORM_NUL = (b"\x00", b"%00")
_JSON_NUL = (b"\x00", b"\\u0000")
_RAW_NUL = (b"\x00",)
#: Longest escape of a NUL searched for, less one: the bytes kept across a chunk boundary.
_NUL_TAIL = len(b"\\u0000") - 1

MESSAGES = {
    # 422, not 400: the JSON API documents 422 for input it cannot take, and a NUL is that.
    422: "the request holds a NUL character",
    408: "the request's body did not arrive in time",
    413: "the request's body is too large",
    415: "multipart bodies are not accepted",
    431: "the request's headers are too large",
}


def limit_of(path: str) -> BodyLimit:
    upload = UPLOADS.get(path)
    if upload is not None:
        return upload
    for prefix, limit in LIMITS:
        if path.startswith(prefix):
            return limit
    return _FORM


def nul_escapes(content_type: bytes | None) -> tuple[bytes, ...]:
    """What stands for a NUL in a body of ``content_type`` (the header's value, or None)."""
    if content_type is None:
        # FastAPI reads a body without a content type as JSON.
        return _JSON_NUL
    media = content_type.split(b";", 1)[0].strip().lower()
    if media == b"application/x-www-form-urlencoded":
        return _FORM_NUL
    if media == b"application/json" or media.endswith(b"+json"):
        return _JSON_NUL
    return _RAW_NUL


def _has_nul(data: bytes, escapes: tuple[bytes, ...]) -> bool:
    return any(escape in data for escape in escapes)


class Refused(Exception):
    """Raised to the application from ``receive`` when its body is refused; the middleware
    answers with :attr:`status` instead of whatever the application makes of it."""

    def __init__(self, status: int) -> None:
        super().__init__(MESSAGES[status])
        self.status = status


async def refuse(scope: Scope, send: Send, status: int) -> None:
    """Answer ``status`` and close: the JSON API's error body under ``/api/``, else text."""
    message = MESSAGES[status]
    if scope["path"].startswith("/api/"):
        body = json.dumps(error_body(status, message), separators=(",", ":")).encode()
        content_type = b"application/json"
    else:
        body = f"{status} {message}\n".encode()
        content_type = b"text/plain; charset=utf-8"
    headers = [
        (b"content-type", content_type),
        (b"content-length", str(len(body)).encode()),
        (b"connection", b"close"),
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class _Body:
    """One request's ``receive`` and ``send``, counting its body."""

    __slots__ = ("_receive", "_send", "scope", "limit", "escapes", "deadline", "received",
                 "tail", "done", "refused", "started", "answered")  # fmt: skip

    def __init__(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        limit: BodyLimit,
        escapes: tuple[bytes, ...],
        deadline: float,
    ) -> None:
        self._receive, self._send, self.scope, self.limit = receive, send, scope, limit
        self.escapes = escapes
        self.deadline = deadline
        self.received = 0
        self.tail = b""
        self.done = False
        self.refused: int | None = None
        #: Whether the application, or the refusal, has begun the answer.
        self.started = self.answered = False

    async def receive(self) -> Message:
        if self.refused is not None:
            raise Refused(self.refused)
        message = await self._receive()
        if self.done:
            # Past the body, receive only waits for a disconnect.
            return message
        if self.refused is not None:
            # Refused by the watchdog while waiting: this is the disconnect its answer made.
            raise Refused(self.refused)
        if message["type"] != "http.request":
            self.done = True
            return message
        body = message.get("body", b"")
        if body:
            self.received += len(body)
            if self.received > self.limit.max_bytes:
                self.refused = 413
                raise Refused(413)
            if self.limit.refuse_nul:
                window = self.tail + body if self.tail else body
                if _has_nul(window, self.escapes):
                    self.refused = 422
                    raise Refused(422)
                self.tail = window[-_NUL_TAIL:]
        if not message.get("more_body", False):
            self.done = True
        return message

    async def send(self, message: Message) -> None:
        if self.refused is not None and not self.started:
            # The application answering its failure to read a refused body (FastAPI turns
            # any error while reading a form into a 400): the refusal is the answer.
            return
        if message["type"] == "http.response.start":
            self.started = True
        await self._send(message)

    async def answer_refusal(self) -> None:
        if self.refused is None or self.started or self.answered:
            return
        self.answered = True
        await refuse(self.scope, self._send, self.refused)


class _Watchdog:
    """Answers 408 to the bodies of one event loop that are late, checked every second.

    One timer for every request in flight instead of one per request (``asyncio.timeout``
    costs the hot route 1 %): a late body's request is blocked in ``receive``, so its
    answer is sent from here, which closes the connection and wakes the request with a
    disconnect.
    """

    TICK_SECONDS = 1.0

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.bodies: set[_Body] = set()
        self.timer: asyncio.TimerHandle | None = None
        self.answers: set[asyncio.Task] = set()

    def watch(self, body: _Body) -> None:
        self.bodies.add(body)
        if self.timer is None:
            self.timer = self.loop.call_later(self.TICK_SECONDS, self._tick)

    def _tick(self) -> None:
        now = self.loop.time()
        for body in list(self.bodies):
            if body.done or body.started:
                # Read, or answered without it: no deadline left to keep.
                self.bodies.discard(body)
                continue
            if body.deadline > now:
                continue
            self.bodies.discard(body)
            body.refused = 408
            task = self.loop.create_task(body.answer_refusal())
            # The loop keeps only a weak reference to a task.
            self.answers.add(task)
            task.add_done_callback(self.answers.discard)
        self.timer = self.loop.call_later(self.TICK_SECONDS, self._tick) if self.bodies else None


class RequestLimits:
    """The ASGI middleware of the body limits (see the module docstring)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.watchdog: _Watchdog | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        query = scope["query_string"]
        if "\x00" in scope["path"] or b"%00" in query or b"\x00" in query:
            await refuse(scope, send, 422)
            return
        length = content_type = None
        has_body = multipart = False
        for name, value in scope["headers"]:
            if name == b"content-length":
                length, has_body = value, True
            elif name == b"transfer-encoding":
                has_body = True
            elif name == b"content-type":
                content_type = value
                multipart = value[:10].lower() == b"multipart/"
        if length == b"0" or not has_body:
            # HTTP/1.1 without Content-Length or Transfer-Encoding, or with a length of 0:
            # no body to guard, nor to wait for (a deadline would time out the answer).
            await self.app(scope, receive, send)
            return
        limit = limit_of(scope["path"])
        if length is not None and (not length.isdigit() or int(length) > limit.max_bytes):
            # uvicorn's parser refuses a malformed length before this; a huge one is ours.
            await refuse(scope, send, 413)
            return
        if multipart and not limit.multipart:
            await refuse(scope, send, 415)
            return
        loop = asyncio.get_running_loop()
        watchdog = self.watchdog
        if watchdog is None or watchdog.loop is not loop:
            watchdog = self.watchdog = _Watchdog(loop)
        if multipart:
            escapes: tuple[bytes, ...] = ()  # a file's bytes are its own (see the docstring)
        else:
            escapes = nul_escapes(content_type) if limit.refuse_nul else _RAW_NUL
        deadline = loop.time() + BODY_TIMEOUT_SECONDS
        body = _Body(scope, receive, send, limit, escapes, deadline)
        watchdog.watch(body)
        try:
            await self.app(scope, body.receive, body.send)
        except Exception:
            # Refused, or what the application made of it (a wrapped or later error): the
            # refusal is the answer. Anything else is the application's own failure.
            if body.refused is None:
                raise
        finally:
            watchdog.bodies.discard(body)
        await body.answer_refusal()


def install(app: Starlette) -> None:
    """Guard ``app``'s request bodies (outermost of the application's own middleware)."""
    app.add_middleware(RequestLimits)


# -- the server's side: a request's head ------------------------------------------------------


class GuardedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with a deadline and a size limit on each request's head.

    The head is awaited from the connection's opening, and from the end of each response
    (where uvicorn arms its keep-alive timeout, which any byte received cancels); it ends
    when the parser has the headers. A client still short of them at the deadline, or past
    :data:`HEADER_MAX_BYTES`, is answered 408 or 431 and disconnected.

    The size is counted twice, and either count over the limit refuses the head: the bytes
    the parser reports (``on_url``, ``on_header``), checked before the head's last header
    reaches ``on_headers_complete``, whatever else the write that completes it holds; and
    every byte of the writes that leave the head unfinished, since httptools holds a header
    in its own buffer until the next one begins and would otherwise grow without a count.
    """

    _head_timer: asyncio.TimerHandle | None = None
    #: Bytes of the writes received while the head is unfinished.
    _head_bytes = 0
    #: Bytes of the request line and headers the parser has reported for this request.
    _head_parsed = 0
    #: Set once a head is refused: the connection is closing, and nothing of what the
    #: parser still reads from the refused write may start a request.
    _head_refused = False

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._await_head()

    def connection_lost(self, exc: Exception | None) -> None:
        self._head_received()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._head_refused:
            return
        awaiting = self._head_timer is not None
        super().data_received(data)
        if awaiting and self._head_timer is not None:
            # Still no complete head after these bytes: all of them belong to it.
            self._head_bytes += len(data)
            if self._head_bytes > HEADER_MAX_BYTES:
                self._refuse_head(431)

    def send_400_response(self, msg: str) -> None:
        # The parser's complaint about the rest of a refused write: the refusal was the answer.
        if not self._head_refused:
            super().send_400_response(msg)

    def on_message_begin(self) -> None:
        self._head_parsed = 0
        super().on_message_begin()

    def on_url(self, url: bytes) -> None:
        # The parser may report the URL in pieces; the method and version are a few bytes.
        self._count_parsed(len(url))
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        # ": " and CRLF around them.
        self._count_parsed(len(name) + len(value) + 4)
        if not self._head_refused:
            super().on_header(name, value)

    def on_headers_complete(self) -> None:
        if self._head_refused:
            return
        self._head_received()
        super().on_headers_complete()

    def on_body(self, body: bytes) -> None:
        if not self._head_refused:
            super().on_body(body)

    def on_message_complete(self) -> None:
        if not self._head_refused:
            super().on_message_complete()

    def _count_parsed(self, size: int) -> None:
        self._head_parsed += size
        if self._head_parsed > HEADER_MAX_BYTES and not self._head_refused:
            self._refuse_head(431)

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if self.timeout_keep_alive_task is not None:
            # uvicorn now waits for another request on this connection.
            self._await_head()

    def _await_head(self) -> None:
        self._head_received()
        self._head_timer = self.loop.call_later(HEADER_TIMEOUT_SECONDS, self._head_too_slow)

    def _head_received(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None
        self._head_bytes = 0

    def _head_too_slow(self) -> None:
        self._head_timer = None
        if self._head_bytes:
            self._refuse_head(408)
        elif not self.transport.is_closing():
            self.transport.close()

    def _refuse_head(self, status: int) -> None:
        self._head_received()
        self._head_refused = True
        if self.transport.is_closing():
            return
        self.logger.warning("request head refused (%d): %s", status, MESSAGES[status])
        body = MESSAGES[status].encode()
        self.transport.write(
            STATUS_LINE[status]
            + b"content-type: text/plain; charset=utf-8\r\nconnection: close\r\n"
            + b"content-length: %d\r\n\r\n" % len(body)
            + body
        )
        self.transport.close()
