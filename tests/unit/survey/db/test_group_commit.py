"""Group commit: batched jobs, one commit per batch, results only after the commit."""

from __future__ import annotations

import asyncio
import threading
import time
from concurrent.futures import CancelledError

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from survey.db.engine import make_engine
from survey.db.group_commit import GroupCommit


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


# -- jobs submitted from an event loop (SQLite: run on the loop itself) ------------------------


def run_loop(coroutine):
    """``asyncio.run`` in a thread of its own, as a server runs its loop.

    Not in the test's thread: there the browser tests' sync Playwright, a session fixture,
    keeps a loop marked running, and ``asyncio.run`` would refuse to start.
    """
    outcome: list = []

    def run():
        try:
            outcome.append((True, asyncio.run(coroutine)))
        except BaseException as error:  # noqa: BLE001 - re-raised in the test's thread
            outcome.append((False, error))

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(30)
    assert outcome, "the loop did not finish within 30 s"
    ok, value = outcome[0]
    if not ok:
        raise value
    return value


async def submitted_together(writer: GroupCommit, jobs) -> list:
    """Submit ``jobs`` in one turn of the loop and gather each outcome (result or error)."""
    futures = [writer.submit_async(job) for job in jobs]
    return await asyncio.gather(*futures, return_exceptions=True)


def test_jobs_of_one_loop_turn_commit_together_on_the_loop(engine):
    writer = GroupCommit(engine)
    thread_of, loop_thread = [], []

    def where(connection):
        thread_of.append(threading.current_thread())
        return insert("w")(connection)

    async def main():
        loop_thread.append(threading.current_thread())
        return await submitted_together(writer, [insert(str(n)) for n in range(5)] + [where])

    assert run_loop(main()) == ["0", "1", "2", "3", "4", "w"]
    assert writer.commits == 1 and writer.jobs == 6 and writer.handed_over == 0
    assert thread_of == loop_thread  # the loop's own thread, not the writer's
    assert stored(engine) == {"0", "1", "2", "3", "4", "w"}
    writer.close()


def test_a_failing_job_on_the_loop_fails_alone_through_the_thread(engine):
    writer = GroupCommit(engine)

    async def main():
        return await submitted_together(writer, [insert("a"), insert("b"), insert("b")])

    a, b, again = run_loop(main())
    assert (a, b) == ("a", "b")
    assert isinstance(again, IntegrityError)
    # The loop's batch was rolled back and the thread ran it job by job.
    assert writer.handed_over == 1
    assert stored(engine) == {"a", "b"}
    writer.close()


def test_a_database_locked_by_another_writer_hands_the_batch_to_the_thread(engine):
    """The loop never waits on a lock: the thread waits, and every job is still stored."""
    writer = GroupCommit(engine)
    other = engine.raw_connection()
    other.execute("BEGIN IMMEDIATE")  # another process's write transaction, say
    other.execute("INSERT INTO t (k) VALUES ('other')")
    loop_blocked_for = []

    async def main():
        futures = [writer.submit_async(insert(k)) for k in ("x", "y")]
        started = time.monotonic()
        await asyncio.sleep(0)  # the batch runs, finds the lock, hands over
        await asyncio.sleep(0)
        loop_blocked_for.append(time.monotonic() - started)
        threading.Timer(0.3, other.commit).start()
        return await asyncio.gather(*futures)

    assert run_loop(main()) == ["x", "y"]
    other.close()
    assert writer.handed_over == 1
    assert loop_blocked_for[0] < 0.2  # the busy timeout is 10 s: the loop did not wait for it
    assert stored(engine) == {"other", "x", "y"}
    writer.close()


def test_a_job_whose_caller_left_before_its_loop_batch_is_not_run(engine):
    writer = GroupCommit(engine)

    async def main():
        gone = writer.submit_async(insert("gone"))
        gone.cancel()
        return await writer.submit_async(insert("kept"))

    assert run_loop(main()) == "kept"
    assert stored(engine) == {"kept"}
    writer.close()


def test_a_batch_whose_commit_fails_is_handed_to_the_thread_and_only_the_culprit_fails(engine):
    """A deferred foreign key is checked at COMMIT: the loop's commit fails, not a statement."""
    with engine.begin() as connection:
        connection.execute(
            text("CREATE TABLE child (k TEXT REFERENCES t (k) DEFERRABLE INITIALLY DEFERRED)")
        )

    def orphan(connection):
        connection.execute(text("INSERT INTO child (k) VALUES ('nobody')"))
        return "orphan"

    writer = GroupCommit(engine)

    async def main():
        return await submitted_together(writer, [insert("a"), orphan, insert("b")])

    a, failed, b = run_loop(main())
    assert (a, b) == ("a", "b")
    assert isinstance(failed, IntegrityError)
    assert writer.handed_over == 1
    assert stored(engine) == {"a", "b"}
    with engine.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM child")).scalar() == 0
    writer.close()


def test_loops_that_ended_hold_no_connection(engine):
    """One loop after another (a test client makes one per request): no connection leaks."""
    writer = GroupCommit(engine)

    async def save(key: str) -> str:
        return await writer.submit_async(insert(key))

    for n in range(25):  # more than the pool's 5 + 10 overflow
        assert run_loop(save(str(n))) == str(n)
    assert len(writer._loop_connections) == 1
    assert engine.pool.checkedout() == 1
    writer.close()
    assert engine.pool.checkedout() == 0
    assert len(stored(engine)) == 25


@pytest.mark.parametrize(
    "database_url", [pytest.param("postgresql", marks=pytest.mark.postgres)], indirect=True
)
def test_a_deadlock_between_two_writers_is_run_again_and_both_callers_get_their_result(
    database_url,
):
    # Two writers each update one row and then the other's: PostgreSQL aborts one of them
    # (deadlock detected); its batch runs again, whole and once, and its caller never sees it.
    pg = make_engine(database_url)
    try:
        with pg.begin() as connection:
            connection.execute(text("CREATE TABLE d (k INTEGER PRIMARY KEY, v INTEGER)"))
            connection.execute(text("INSERT INTO d VALUES (1, 0), (2, 0)"))
        crossed, tried = threading.Barrier(2, timeout=20), set()

        def crossing(first: int, second: int):
            def job(connection):
                connection.execute(text("UPDATE d SET v = v + 1 WHERE k = :k"), {"k": first})
                if first not in tried:  # only the first attempt waits for the other writer
                    tried.add(first)
                    crossed.wait()
                connection.execute(text("UPDATE d SET v = v + 1 WHERE k = :k"), {"k": second})
                return first

            return job

        writer = GroupCommit(pg, max_batch=1, writers=2)
        futures = [writer.submit(crossing(1, 2)), writer.submit(crossing(2, 1))]
        assert [f.result(30) for f in futures] == [1, 2]
        assert writer.commits == 2
        with pg.connect() as connection:
            rows = dict(connection.execute(text("SELECT k, v FROM d")).all())
        assert rows == {1: 2, 2: 2}  # each job's two updates, committed once
    finally:
        pg.dispose()
