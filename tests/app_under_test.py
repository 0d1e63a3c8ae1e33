"""The app as tests walk and fuzz it: every route it has, and an ASGI stand-in for an app
that a fixture builds later (shared by the Schemathesis tests and the route-by-route ones)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from typing import Any


def routes(app) -> Iterator[Any]:
    """Every route of the app, those of included routers too (FastAPI keeps them nested)."""
    for route in app.routes:
        if hasattr(route, "effective_route_contexts"):
            yield from route.effective_route_contexts()
        else:
            yield route


class AppUnderTest:
    """An ASGI app that forwards to the app a fixture builds.

    A schema is read at collection time, so that pytest lists one test per operation; the
    app itself needs the database that only a fixture makes. Schemathesis sends every
    request, including its own second ones (the same request without the key, ...), here.
    """

    def __init__(self) -> None:
        self.app: Callable[..., Awaitable[None]] | None = None

    async def __call__(self, scope, receive, send) -> None:
        assert self.app is not None, "the fixture builds the app"
        await self.app(scope, receive, send)
