"""An event decided by another transaction while a batch is being decided keeps that
transaction's decision: the batch answers it, invites nobody for it and takes no frequency
guard for its number (PostgreSQL: the batch's claim waits for the other transaction, then
finds the row; SQLite: the batch waits for the write lock, then reads the decision)."""

from __future__ import annotations

import threading
import time
from datetime import timedelta

from sqlalchemy import func, select, text
from sqlmodel import Session

from survey.db.tables import ContactEvent, ContactGuard, Invitation, Programme
from tests.unit.survey.programmes.test_decide import NOW, contact, decide, make_programme


def _blocked(engine, connection) -> bool:
    """Whether a backend of this database other than ``connection`` waits for a lock."""
    if engine.dialect.name != "postgresql":
        return True  # SQLite: the batch waits on the write lock (busy timeout) from its start
    waiting = connection.execute(
        text("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
             "AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()")
    ).scalar_one()  # fmt: skip
    return waiting > 0


def test_an_event_decided_meanwhile_elsewhere_keeps_that_decision(engine):
    make_programme(engine, sample_rate=1.0)
    with Session(engine) as session:
        programme_id = session.execute(select(Programme.id)).scalar_one()
    other = engine.connect()
    watcher = engine.connect() if engine.dialect.name == "postgresql" else None
    try:
        other.execute(
            ContactEvent.__table__.insert().values(
                contact_id="c1", programme_id=programme_id, phone_e164="+8613800000001",
                channel="hotline", ended_at=NOW - timedelta(minutes=10), attributes={},
                source="queue", received_at=NOW, decision="sampled_out",
                reason="decided by the other transaction",
            )
        )  # fmt: skip
        answers = []
        batch = threading.Thread(target=lambda: answers.extend(
            decide(engine, [contact(1), contact(2)])))  # fmt: skip
        batch.start()
        deadline = time.monotonic() + 10
        time.sleep(0.3)
        while watcher is not None and not _blocked(engine, watcher):
            assert time.monotonic() < deadline, "the batch never waited for the other transaction"
            time.sleep(0.05)
        other.commit()
        batch.join(timeout=30)
        assert not batch.is_alive()
    finally:
        other.close()
        if watcher is not None:
            watcher.close()
    assert [(a.contact_id, a.decision, a.reason) for a in answers] == [
        ("c1", "sampled_out", "decided by the other transaction"),
        ("c2", "invited", "drawn at the rate 1 of the programme"),
    ]
    with Session(engine) as session:
        assert session.execute(select(func.count()).select_from(Invitation)).scalar_one() == 1
        guarded = session.execute(select(ContactGuard.phone_e164)).scalars().all()
        assert guarded == ["+8613800000002"]
        event = session.get(ContactEvent, 1)
        assert (event.contact_id, event.decision, event.source) == ("c1", "sampled_out", "queue")
