"""Security headers on every answer, the ``Host`` check, and who may read the API docs.

Every HTML page gets a strict Content-Security-Policy: nothing is loaded from anywhere, no
script runs (the pages have none; the API docs' one inline script is allowed by its hash),
forms post only to this site, and no other site may frame the page. ``Referrer-Policy:
no-referrer`` because questionnaire URLs carry their link token. Every other answer (JSON,
CSV, files) gets ``nosniff``, so that a browser never reads a download as a page.

Routes may set these headers themselves (the hot POST appends them pre-encoded); the
middleware adds only what a response lacks, so a route's own policy wins.

``Host``: URLs the service gives out are built from ``MANYI_PUBLIC_BASE_URL``, never from
the request. In production a request naming a host that is neither the public URL's nor in
``MANYI_ALLOWED_HOSTS`` is refused (400) before any route sees it.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import fastapi_offline
from fastapi import Depends, FastAPI, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse, PlainTextResponse
from fastapi.staticfiles import StaticFiles

from api.settings import Settings

#: The Content-Security-Policy of every HTML page. Inline styles are allowed (the pages
#: carry their CSS inline, to load in one round trip on a cheap phone); scripts are not.
PAGE_POLICY = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
#: Headers of every HTML page.
HTML_HEADERS = {
    "Content-Security-Policy": PAGE_POLICY,
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}
#: Headers of every other answer.
OTHER_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}

_HTML_RAW = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in HTML_HEADERS.items()]
_OTHER_RAW = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in OTHER_HEADERS.items()]

Scope = dict[str, Any]
Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


def allowed_hosts(settings: Settings) -> frozenset[str] | None:
    """The host names a request may name, or None where any is accepted (development and
    test, where URLs are still never built from it)."""
    if settings.env != "production":
        return None
    public = settings.public_base_url.host or ""
    return frozenset(host.lower() for host in (public, *settings.allowed_hosts) if host)


def _host_name(scope: Scope) -> str:
    for name, value in scope.get("headers", ()):
        if name == b"host":
            host = value.decode("latin-1").lower()
            # "[::1]:8000" → "[::1]"; "example.org:443" → "example.org"
            return host.rsplit(":", 1)[0] if not host.endswith("]") else host
    return ""


class SecurityHeaders:
    """Pure ASGI middleware: the ``Host`` check, then the headers a response lacks."""

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        hosts = allowed_hosts(settings)
        # Brackets off once here, as _host_name's are per request: "[::1]" names "::1".
        self.hosts = None if hosts is None else frozenset(h.strip("[]") for h in hosts)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if self.hosts is not None and _host_name(scope).strip("[]") not in self.hosts:
            refusal = PlainTextResponse(
                "400 Bad Request: unknown Host (set MANYI_PUBLIC_BASE_URL or MANYI_ALLOWED_HOSTS)",
                status_code=400,
                headers=OTHER_HEADERS,
            )
            await refusal(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = message.setdefault("headers", [])
                present = {name.lower() for name, _ in headers}
                content_type = next((v for k, v in headers if k.lower() == b"content-type"), b"")
                wanted = _HTML_RAW if content_type.startswith(b"text/html") else _OTHER_RAW
                headers.extend(item for item in wanted if item[0] not in present)
            await send(message)

        await self.app(scope, receive, send_with_headers)


# -- the API documentation -----------------------------------------------------------------

_INLINE_SCRIPT = re.compile(rb"<script>(.*?)</script>", re.DOTALL)
STATIC_DOCS = "/static-offline-docs"
#: The docs' scripts and styles, shipped with fastapi-offline: /docs works on an intranet.
DOCS_ASSETS = Path(fastapi_offline.__file__).parent / "static"


def _docs_policy(body: bytes) -> str:
    """The docs pages' policy: their own static files, and their inline script by hash."""
    hashes = " ".join(
        "'sha256-" + base64.b64encode(hashlib.sha256(script).digest()).decode() + "'"
        for script in _INLINE_SCRIPT.findall(body)
    )
    return (
        f"default-src 'none'; script-src 'self' {hashes}; style-src 'self' 'unsafe-inline'; "
        "img-src 'self' data:; connect-src 'self'; worker-src 'self' blob:; "
        "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    )


def _with_policy(page: HTMLResponse) -> HTMLResponse:
    page.headers["Content-Security-Policy"] = _docs_policy(page.body)
    page.headers["Cache-Control"] = "no-store"
    return page


def install_docs(app: FastAPI, settings: Settings, staff_only: Callable[..., Any]) -> None:
    """``/docs``, ``/redoc`` and ``/openapi.json`` as ``settings.docs_access`` says: for
    anybody, for signed-in staff (``staff_only``, a dependency), or not at all.

    The scripts and styles the pages load are served under :data:`STATIC_DOCS`. The app is
    made without FastAPI's own docs routes (``docs_url=None``, ``redoc_url=None``,
    ``openapi_url=None``) so that these are the only ones.
    """
    access = settings.docs_access
    if access == "off":
        return
    dependencies = [Depends(staff_only)] if access == "staff" else []
    title = app.title
    app.mount(STATIC_DOCS, StaticFiles(directory=DOCS_ASSETS), name="docs-assets")

    @app.get("/openapi.json", include_in_schema=False, dependencies=dependencies)
    def openapi() -> JSONResponse:
        return JSONResponse(app.openapi())

    @app.get("/docs", include_in_schema=False, dependencies=dependencies)
    def swagger(request: Request) -> HTMLResponse:
        return _with_policy(
            get_swagger_ui_html(
                openapi_url="/openapi.json",
                title=f"{title} - Swagger UI",
                swagger_js_url=f"{STATIC_DOCS}/swagger-ui-bundle.js",
                swagger_css_url=f"{STATIC_DOCS}/swagger-ui.css",
                swagger_favicon_url=f"{STATIC_DOCS}/favicon.png",
            )
        )

    @app.get("/redoc", include_in_schema=False, dependencies=dependencies)
    def redoc(request: Request) -> HTMLResponse:
        return _with_policy(
            get_redoc_html(
                openapi_url="/openapi.json",
                title=f"{title} - ReDoc",
                redoc_js_url=f"{STATIC_DOCS}/redoc.standalone.js",
                redoc_favicon_url=f"{STATIC_DOCS}/favicon.png",
                with_google_fonts=False,
            )
        )


def install(app: FastAPI, settings: Settings) -> None:
    app.add_middleware(SecurityHeaders, settings=settings)
