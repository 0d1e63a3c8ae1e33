"""The second baseline of ``bench_collection.py``: the bare endpoint plus a durable write.

The issue's durability rule is that an answer is stored before the customer sees it
acknowledged. This is the least any endpoint obeying it does on this stack: the bare endpoint
of ``bare_endpoints.py`` (the same parse, the same 303), plus an INSERT of the posted fields
into SQLite with the settings Manyi runs with (WAL, ``synchronous=FULL``), the 303 sent only
after the commit. Writes are grouped the fastest way measured here, which is also Manyi's
(:mod:`survey.db.group_commit`): the posts read in one turn of the event loop are inserted on the
loop in one transaction, whose COMMIT runs in a thread while the loop reads the next posts.
No link lookup, no validation, no ORM: raw ``sqlite3``.

Bare / floor is what durability costs by itself; floor / Manyi is what Manyi's own work costs
(reading the link, checking the answers against the questionnaire and its skip logic, the
response and invitation rows). ``FLOOR_DATABASE`` names the SQLite file.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.responses import RedirectResponse, Response


class _Floor:
    """Posts waiting for the next batch, and whether a batch is being committed."""

    def __init__(self, path: str) -> None:
        self.connection = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self.connection.execute("PRAGMA journal_mode=WAL")
        self.connection.execute("PRAGMA synchronous=FULL")
        self.connection.execute(
            "CREATE TABLE IF NOT EXISTS answer (id INTEGER PRIMARY KEY, token TEXT NOT NULL, "
            "item TEXT NOT NULL, value TEXT)"
        )
        self.committer = ThreadPoolExecutor(1)
        self.pending: list[tuple[str, list[tuple[str, str]], asyncio.Future]] = []
        self.committing = False

    def submit(self, token: str, fields: list[tuple[str, str]]) -> asyncio.Future:
        loop = asyncio.get_running_loop()
        stored = loop.create_future()
        self.pending.append((token, fields, stored))
        if len(self.pending) == 1 and not self.committing:
            loop.call_soon(self.write, loop)
        return stored

    def write(self, loop: asyncio.AbstractEventLoop) -> None:
        if self.committing or not self.pending:
            return
        batch, self.pending = self.pending, []
        self.connection.execute("BEGIN")
        self.connection.executemany(
            "INSERT INTO answer (token, item, value) VALUES (?, ?, ?)",
            [(token, name, value) for token, fields, _ in batch for name, value in fields],
        )
        self.committing = True
        done = loop.run_in_executor(self.committer, self.connection.execute, "COMMIT")
        done.add_done_callback(lambda _: self.committed(loop, batch))

    def committed(self, loop: asyncio.AbstractEventLoop, batch) -> None:
        self.committing = False
        for _, _, stored in batch:
            stored.set_result(None)
        self.write(loop)


@asynccontextmanager
async def _lifespan(app: FastAPI):
    app.state.floor = _Floor(os.environ["FLOOR_DATABASE"])
    yield


app = FastAPI(lifespan=_lifespan)


@app.post("/s/{token}/p/{number}")
async def page(token: str, number: int, request: Request) -> Response:
    form = await request.form()
    fields = [(name, value) for name, value in form.multi_items() if isinstance(value, str)]
    await request.app.state.floor.submit(token, fields)
    return RedirectResponse(f"/s/{token}/p/{number + 1}", status_code=303)


def stored_posts(path: str) -> int:
    """How many posts the floor stored (the distinct tokens in its table)."""
    with sqlite3.connect(path) as connection:
        return connection.execute("SELECT count(DISTINCT token) FROM answer").fetchone()[0]
