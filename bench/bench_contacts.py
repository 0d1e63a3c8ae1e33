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
"""

from __future__ import annotations

import argparse
import tempfile
import time
import uuid
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
        return f"sqlite:///{path}", lambda: None
    import psycopg

    name = f"manyi_bench_{uuid.uuid4().hex[:10]}"
    admin = psycopg.connect(url, autocommit=True)
    admin.execute(f'CREATE DATABASE "{name}"')

    def drop():
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()

    return url.rsplit("/", 1)[0] + f"/{name}", drop


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


def _rate(client, path, bodies, headers) -> float:
    start = time.perf_counter()
    for body in bodies:
        response = client.post(path, json=body, headers=headers)
        if response.status_code != 200:
            raise SystemExit(f"{path}: {response.status_code} {response.text[:300]}")
    return sum(len(b["contacts"]) for b in bodies) / (time.perf_counter() - start)


def run(url: str, batches: int, size: int) -> dict[str, float]:
    database_url, drop = _database(url)
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

        with TestClient(app, base_url="https://testserver") as client:
            warm = _batches(1, size, 10_000_000)
            _rate(client, "/api/v1/contacts", warm, headers)
            _rate(client, "/bench/echo", warm, headers)
            bodies = _batches(batches, size, 0)
            decided = _rate(client, "/api/v1/contacts", bodies, headers)
            baseline = _rate(client, "/bench/echo", bodies, headers)
            again = _rate(client, "/api/v1/contacts", bodies, headers)
        engine.dispose()
        return {"decided": decided, "baseline": baseline, "again": again}
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
        print(f"{label:>10}: {r['decided']:8,.0f} contacts/s decided in batches of "
              f"{args.batch_size} | baseline (parse only) {r['baseline']:8,.0f}/s | ratio "
              f"{r['decided'] / r['baseline']:.2f} | redelivered {r['again']:8,.0f}/s")  # fmt: skip


if __name__ == "__main__":
    main()
