"""Benchmark: contact events decided per second through ``POST /api/v1/contacts``.

Run ``.venv/bin/python bench/bench_contacts.py [--batches N] [--batch-size 500]
[--database-url URL ...]``. ``sqlite`` (the default) is a fresh SQLite file; a PostgreSQL URL
names the admin database: a fresh database is created beside it and dropped afterwards.

For each database, in one process (the app in-process through Starlette's TestClient, so
the HTTP parsing and the JSON body are counted, not the network): a programme sampling 20%
of contacts, an integration account's key, then N batches of fresh contacts (distinct
numbers, so nothing is frequency-capped by accident) after one warm-up batch. The baseline,
measured in the same run on the same app: the same bodies posted to a route that parses
them with the same pydantic model and decides nothing (``/bench/echo``). Printed:
contacts/s, the baseline's, and their ratio. Then the same batches are posted again
(every contact already decided): the redelivery path. Times are printed, never asserted.

Also printed, per phase and batch: this process's CPU time (client, app and driver) and,
for a PostgreSQL server on this machine, its backends' CPU time (from /proc): the client and
the server share the machine's cores, so a batch costs about their sum, and the split says
where a floor lies. And the share of the phase spent in Python's garbage collector: a full
collection of the ~240,000 objects of the start-up heap took ~0.13 s, falling on whichever
request allocated at the wrong moment; the app now freezes that heap once started
(``api.web.app``), as a server does, so collections walk only what requests made.
"""

from __future__ import annotations

import argparse
import gc
import os
import tempfile
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from fastapi.testclient import TestClient
from sqlmodel import Session

from api.settings import Settings
from api.web.app import create_app
from api.web.routers.contacts import ContactsIn
from survey.db.engine import make_engine, upgrade
from survey.programmes.manage import create_programme
from survey.questionnaire import load_questionnaire
from survey.questionnaire.publish import publish
from survey.staff.accounts import create_api_key, create_staff

SAMPLES = Path(__file__).resolve().parent.parent / "data" / "samples"
SECRET = "bench-secret-" + "s" * 40


def _database(url: str):
    if url == "sqlite":
        path = Path(tempfile.mkdtemp()) / "bench.db"
        return f"sqlite:///{path}", lambda: None, None
    import psycopg

    name = f"manyi_bench_{uuid.uuid4().hex[:10]}"
    admin = psycopg.connect(url, autocommit=True)
    admin.execute(f'CREATE DATABASE "{name}"')

    def drop():
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()

    return url.rsplit("/", 1)[0] + f"/{name}", drop, admin


def _batches(n: int, size: int, offset: int) -> list[dict]:
    ended = (datetime.now(UTC) - timedelta(minutes=2)).isoformat()
    return [
        {"programme": "hotline", "contacts": [
            {"contact_id": f"B{n0 + i}", "phone": f"+86135{n0 + i:08d}",
             "channel": "hotline", "ended_at": ended, "agent_id": f"A{i % 300}",
             "team": f"T{i % 20}", "queue": "billing", "region": "Haidian",
             "attributes": {"topic": "bill"}}
            for i in range(size)]}
        for n0 in (offset + b * size for b in range(n))
    ]  # fmt: skip


class _Collections:
    """Seconds spent in the garbage collector while it is open."""

    def __init__(self) -> None:
        self.seconds, self._started = 0.0, 0.0

    def _note(self, phase: str, _info: dict) -> None:
        if phase == "start":
            self._started = time.perf_counter()
        else:
            self.seconds += time.perf_counter() - self._started

    def __enter__(self) -> _Collections:
        gc.callbacks.append(self._note)
        return self

    def __exit__(self, *_) -> None:
        gc.callbacks.remove(self._note)


def _server_cpu(admin, database: str) -> dict[int, float] | None:
    """CPU seconds of each PostgreSQL backend serving ``database`` (its /proc entries: a
    server on this machine, readable by this user), or None."""
    if admin is None:
        return None
    pids = admin.execute(
        "SELECT pid FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
        (database,),
    ).fetchall()
    seconds = {}
    for (pid,) in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return None
        seconds[pid] = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return seconds


@dataclass
class Phase:
    """One timed phase: contacts a second, and per batch the garbage collector's share of the
    time, this process's CPU (client, app, driver) and PostgreSQL's backends' CPU."""

    rate: float
    gc_share: float
    app_cpu_ms: float
    server_cpu_ms: float | None


def _phase(client, path, bodies, headers, admin=None, database="") -> Phase:
    before = _server_cpu(admin, database)
    with _Collections() as collections:
        start, cpu = time.perf_counter(), time.process_time()
        for body in bodies:
            response = client.post(path, json=body, headers=headers)
            if response.status_code != 200:
                raise SystemExit(f"{path}: {response.status_code} {response.text[:300]}")
        elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
    after = _server_cpu(admin, database)
    server = None
    if before is not None and after is not None:
        server = sum(t - before.get(pid, 0.0) for pid, t in after.items()) * 1000 / len(bodies)
    return Phase(rate=sum(len(b["contacts"]) for b in bodies) / elapsed,
                 gc_share=collections.seconds / elapsed, app_cpu_ms=cpu * 1000 / len(bodies),
                 server_cpu_ms=server)  # fmt: skip


def run(url: str, batches: int, size: int) -> dict[str, Phase]:
    database_url, drop, admin = _database(url)
    try:
        engine = make_engine(database_url)
        upgrade(engine)
        with Session(engine) as session:
            questionnaire, _ = load_questionnaire(SAMPLES / "contact_evaluation.yaml")
            version = publish(session, questionnaire)
            create_programme(session, version, "hotline", mode="sms_reply",
                             channels=["hotline"], sample_rate=0.2)  # fmt: skip
            member = create_staff(session, "cc-system", "integration", "bench-password-1234")
            _, key = create_api_key(session, member, "bench")
        headers = {"Authorization": f"Bearer {key}"}
        app = create_app(Settings(database_url=database_url, env="test", secret_key=SECRET))

        @app.post("/bench/echo")
        def echo(body: ContactsIn) -> dict:
            return {"results": [{"contact_id": c.contact_id, "decision": "sampled_out",
                                 "reason": "baseline"} for c in body.contacts]}  # fmt: skip

        database = database_url.rsplit("/", 1)[1]
        with TestClient(app, base_url="https://testserver") as client:
            warm = _batches(1, size, 10_000_000)
            _phase(client, "/api/v1/contacts", warm, headers)
            _phase(client, "/bench/echo", warm, headers)
            bodies = _batches(batches, size, 0)
            phases = {
                "decided": _phase(client, "/api/v1/contacts", bodies, headers, admin, database),
                "baseline": _phase(client, "/bench/echo", bodies, headers),
                "again": _phase(client, "/api/v1/contacts", bodies, headers, admin, database),
            }
        engine.dispose()
        return phases
    finally:
        drop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, default=20)
    parser.add_argument("--batch-size", type=int, default=500)
    parser.add_argument("--database-url", action="append", default=None)
    args = parser.parse_args()
    for url in args.database_url or ["sqlite"]:
        r = run(url, args.batches, args.batch_size)
        label = "sqlite" if url == "sqlite" else "postgresql"
        decided, baseline, again = r["decided"], r["baseline"], r["again"]
        print(f"{label:>10}: {decided.rate:8,.0f} contacts/s decided in batches of "
              f"{args.batch_size} | baseline (parse only) {baseline.rate:8,.0f}/s | ratio "
              f"{decided.rate / baseline.rate:.2f} | redelivered {again.rate:8,.0f}/s")  # fmt: skip
        for name, phase in (("decided", decided), ("baseline", baseline), ("redelivered", again)):
            server = (f", PostgreSQL {phase.server_cpu_ms:.1f} ms"
                      if phase.server_cpu_ms is not None else "")  # fmt: skip
            print(f"{'':>12}{name}: CPU a batch: this process {phase.app_cpu_ms:.1f} ms{server}; "
                  f"{phase.gc_share:.0%} of the time in the garbage collector")  # fmt: skip


if __name__ == "__main__":
    main()
