"""Group commit: batched jobs, one commit per batch, results only after the commit."""

from __future__ import annotations

import threading
import time
from concurrent.futures import CancelledError

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from survey.db import make_engine
from survey.group_commit import GroupCommit


@pytest.fixture
def engine(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'g.db'}")
    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE t (k TEXT PRIMARY KEY)"))
    yield engine
    engine.dispose()


def insert(key: str):
    def job(connection):
        connection.execute(text("INSERT INTO t (k) VALUES (:k)"), {"k": key})
        return key

    return job


def stored(engine) -> set[str]:
    with engine.connect() as connection:
        return set(connection.execute(text("SELECT k FROM t")).scalars())


def held_batch(writer: GroupCommit, jobs):
    """Submit ``jobs`` while the writer is busy, so that they form one batch."""
    started, release = threading.Event(), threading.Event()

    def blocker(_connection):
        started.set()
        release.wait(10)

    first = writer.submit(blocker)
    started.wait(10)
    futures = [writer.submit(job) for job in jobs]
    release.set()
    first.result(10)
    return futures


def test_jobs_waiting_together_share_one_commit_and_each_gets_its_result(engine):
    writer = GroupCommit(engine)
    futures = held_batch(writer, [insert(str(n)) for n in range(10)])
    assert [f.result(10) for f in futures] == [str(n) for n in range(10)]
    assert writer.commits == 2 and writer.jobs == 11
    assert stored(engine) == {str(n) for n in range(10)}


def test_a_result_is_given_only_once_its_write_is_committed(engine):
    writer = GroupCommit(engine)
    seen_at_result, checked = [], threading.Event()

    def check(future):
        # Runs as soon as the result is set: another connection must already see the row.
        seen_at_result.append("a" in stored(engine))
        checked.set()

    writer.submit(insert("a")).add_done_callback(check)
    assert checked.wait(10)
    assert seen_at_result == [True]


def test_a_failing_job_fails_alone_and_the_rest_of_its_batch_is_committed(engine):
    writer = GroupCommit(engine)
    # "b" twice: the second breaks the primary key, which rolls the whole batch back.
    futures = held_batch(writer, [insert("a"), insert("b"), insert("b"), insert("c")])
    assert futures[0].result(10) == "a" and futures[1].result(10) == "b"
    with pytest.raises(IntegrityError):
        futures[2].result(10)
    assert futures[3].result(10) == "c"
    assert stored(engine) == {"a", "b", "c"}


def test_a_job_cancelled_before_its_batch_is_not_run(engine):
    writer = GroupCommit(engine)
    started, release = threading.Event(), threading.Event()
    first = writer.submit(lambda _c: (started.set(), release.wait(10)))
    started.wait(10)
    gone = writer.submit(insert("gone"))
    assert gone.cancel()
    kept = writer.submit(insert("kept"))
    release.set()
    first.result(10)
    assert kept.result(10) == "kept"
    with pytest.raises(CancelledError):
        gone.result(0)
    assert stored(engine) == {"kept"}


def test_the_thread_stops_when_idle_and_starts_again_with_the_next_job(engine):
    writer = GroupCommit(engine, idle_seconds=0.05)
    assert writer.run(insert("a")) == "a"
    for _ in range(100):
        if not writer._running:
            break
        time.sleep(0.02)
    assert not writer._running
    assert writer.run(insert("b")) == "b"
    assert stored(engine) == {"a", "b"}
