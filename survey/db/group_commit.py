"""Group commit: the writes of several concurrent requests made durable by one commit.

Why: SQLite lets one writer in at a time and, with ``synchronous=FULL``, syncs the WAL at
every commit. Request threads that each write and commit queue up on SQLite's busy handler,
which sleeps in growing steps (1, 2, 5, 10 ... ms) rather than waking when the lock is free,
and every one of them pays a sync. Here one thread runs every write waiting for it in one
transaction and commits once: N syncs become one and nobody sleeps on a lock.

Durability is unchanged: a caller gets its result only after the commit that holds its write,
so an answer is still stored before it is acknowledged. No delay is added to gather a batch:
writes submitted while a commit is syncing form the next batch.

A job is a function of a :class:`~sqlalchemy.engine.Connection` that runs statements without
committing, and writes nothing when it returns a "nothing to do" result (so a batch never needs
a partial rollback). If a job raises, the whole batch is rolled back and each of its jobs is run
again in a transaction of its own, so that only the failing job's caller sees the error. A batch
the server aborted for another transaction's sake (a deadlock between two writers, on
PostgreSQL) is run again whole first (:data:`TRANSIENT_SQLSTATES`).

A caller on an event loop uses :meth:`GroupCommit.submit_async`. On SQLite the jobs waiting on
a loop run on that loop itself, as one batch once the requests at hand have been read, and only
the COMMIT (the WAL's sync) goes to a thread, which releases the interpreter lock while the disk
works; the loop reads the next requests meanwhile, and they form the next batch. Why: a write to
the embedded database is microseconds of work in this process, and handing every statement to
a thread cost more than the work. The thread and the loop contend for the one interpreter lock,
and the sqlite3 module releases it around every statement, so each job paid several lock
hand-overs. Measured on the page form (``bench/bench_collection.py``), the loop path stored
40-60% more pages per second with the same CPU.

The loop never waits for another writer: its connection has no busy timeout, and a batch that
finds the database locked, or fails in any way (a job, the commit), is rolled back and handed
whole to the writer thread, which waits for the lock and runs a failing batch job by job.

Other databases (PostgreSQL) always use writer threads, whose results reach a loop with one
wake-up per batch. There a statement is a network round trip, and a batch spends most of its
time waiting for the server, not working: one writer thread running batch after batch stored
some 450 pages a second with 16 clients, in batches of 8 (each client waits for its answer, so
half of them were in the batch being written, half in the next). PostgreSQL lets several
transactions write at once and makes their commits durable together (one WAL flush for the
commits waiting for it), so up to :data:`PARALLEL_WRITERS` threads each take the jobs waiting
when they are free, on a connection of their own: while one waits for the server, another
works. Measured on the same page form, four writers stored 1.5-2x the pages of one with the
same CPU per page. Durability is the same as everywhere: each batch's COMMIT returns (with
``synchronous_commit`` on, the server's default, which Manyi never changes) before its callers
get their results. A writer keeps its connection while it has work and gives it back when it
stops (idle for ``idle_seconds``): it is checked out, and pinged, once rather than per batch.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar

from sqlalchemy.engine import Connection, Engine

__all__ = ["GroupCommit"]

T = TypeVar("T")
Job = Callable[[Connection], Any]

#: Writer threads, each with a batch of its own in a transaction of its own, on a database that
#: lets several transactions write at once (PostgreSQL). See the module's docstring.
PARALLEL_WRITERS = 4

#: Errors of a transaction that say nothing about its jobs (SQLSTATE): PostgreSQL broke a
#: deadlock by aborting it (40P01), or could not serialise it (40001). Parallel writers
#: make deadlocks possible: two batches that update the same rows in different orders (the
#: "sent" and "delivered" reports of the same messages, in two batches) each wait for the
#: other, and the server aborts one after ``deadlock_timeout``. Measured with
#: ``bench/bench_collection.py`` before this: one status report in some 10,000 answered
#: HTTP 500, which the provider does not send again. The batch is run again, whole, up to
#: :data:`TRANSIENT_ATTEMPTS` times in all; then job by job, as after any other error.
TRANSIENT_SQLSTATES = frozenset({"40P01", "40001"})
TRANSIENT_ATTEMPTS = 5


def _transient(error: BaseException) -> bool:
    """Whether ``error`` is the server aborting the transaction for another's sake."""
    cause = getattr(error, "orig", None) or error
    return getattr(cause, "sqlstate", None) in TRANSIENT_SQLSTATES


class _LoopWaiter:
    """An asyncio future of ``loop``, resolved from the writer thread with the rest of a batch."""

    __slots__ = ("future", "loop")

    def __init__(self, loop: asyncio.AbstractEventLoop, future: asyncio.Future | None = None):
        self.loop = loop
        self.future: asyncio.Future = future if future is not None else loop.create_future()

    def set_running_or_notify_cancel(self) -> bool:
        # Read across threads: at worst a job whose caller has just left is still written.
        return not self.future.cancelled()


def _settle(outcomes: list[tuple[Any, bool, Any]]) -> None:
    """On the loop: resolve the futures of a batch (a caller that left is skipped)."""
    for future, ok, value in outcomes:
        if not future.cancelled():
            if ok:
                future.set_result(value)
            else:
                future.set_exception(value)


class GroupCommit:
    """Runs write jobs against ``engine`` on one thread, one transaction per batch.

    The thread starts with the first job and stops after ``idle_seconds`` without work, so an
    instance costs nothing while unused and needs no shutdown.
    """

    def __init__(
        self,
        engine: Engine,
        *,
        max_batch: int = 64,
        idle_seconds: float = 2.0,
        writers: int | None = None,
    ) -> None:
        self.engine = engine
        self.max_batch = max_batch
        self.idle_seconds = idle_seconds
        #: How many writer threads may run batches at once: one on SQLite (one writer at a
        #: time: a second would wait for the first's lock), PARALLEL_WRITERS elsewhere.
        self.writers = writers or (1 if engine.dialect.name == "sqlite" else PARALLEL_WRITERS)
        self._pending: list[tuple[Job, Future | _LoopWaiter]] = []
        self._wakeup = threading.Condition()
        #: Writer threads alive, and how many of them wait for work.
        self._running = 0
        self._idle = 0
        #: Jobs waiting for their loop's next batch, per loop (SQLite only).
        self._on_loops: dict[asyncio.AbstractEventLoop, list[tuple[Job, asyncio.Future]]] = {}
        self._loop_connections: dict[asyncio.AbstractEventLoop, Connection] = {}
        #: Loops whose batch is being committed: the next one waits for it.
        self._committing: set[asyncio.AbstractEventLoop] = set()
        self._committer: ThreadPoolExecutor | None = None
        self.on_loop = engine.dialect.name == "sqlite"
        #: How many commits ran, and how many jobs they held (for tests and benchmarks).
        self.commits = 0
        self.jobs = 0
        #: How many loop batches were handed to the thread (found the database locked, or
        #: failed).
        self.handed_over = 0

    def submit(self, job: Callable[[Connection], T]) -> Future[T]:
        """Queue ``job``; its future is resolved after the commit that makes it durable."""
        future: Future[T] = Future()
        self._enqueue(job, future)
        return future

    def submit_async(self, job: Callable[[Connection], T]) -> asyncio.Future[T]:
        """:meth:`submit` from a coroutine: a future of the running loop, to be awaited.

        On SQLite the job runs on this loop, in a batch with the jobs submitted before the loop
        next gets to it; elsewhere in the writer thread.
        """
        loop = asyncio.get_running_loop()
        if not self.on_loop:
            waiter = _LoopWaiter(loop)
            self._enqueue(job, waiter)
            return waiter.future
        future: asyncio.Future[T] = loop.create_future()
        waiting = self._on_loops.setdefault(loop, [])
        waiting.append((job, future))
        if len(waiting) == 1 and loop not in self._committing:
            # After the callbacks already due: the other requests read in this turn join.
            loop.call_soon(self._run_on_loop, loop)
        return future

    def _run_on_loop(self, loop: asyncio.AbstractEventLoop) -> None:
        """Run the loop's waiting jobs in one transaction, then commit it in the committer."""
        if loop in self._committing:
            return  # the commit's end starts the next batch
        batch = [(j, f) for j, f in self._on_loops.pop(loop, []) if not f.cancelled()]
        if not batch:
            return
        try:
            connection = self._loop_connection(loop)
            transaction = connection.begin()
            results = [job(connection) for job, _ in batch]
        # Anything at all (the database locked by another writer, a failing job, a lost
        # connection): nothing of the batch is committed, and the thread does it carefully.
        except Exception:  # noqa: BLE001
            self._hand_over(loop, batch)
            return
        if self._committer is None:
            self._committer = ThreadPoolExecutor(1, thread_name_prefix="group-commit-sync")
        self._committing.add(loop)
        committed = loop.run_in_executor(self._committer, transaction.commit)
        committed.add_done_callback(lambda done: self._committed(loop, batch, results, done))

    def _committed(self, loop, batch, results, done: asyncio.Future) -> None:
        """On the loop, once the batch's commit returned: results out, next batch in."""
        self._committing.discard(loop)
        if done.exception() is not None:
            self._hand_over(loop, batch)
        else:
            self.commits += 1
            self.jobs += len(batch)
            for (_, future), result in zip(batch, results, strict=True):
                if not future.cancelled():
                    future.set_result(result)
        if self._on_loops.get(loop):
            self._run_on_loop(loop)

    def _hand_over(self, loop: asyncio.AbstractEventLoop, batch) -> None:
        """Roll back what the loop did of ``batch`` and let the writer thread run it."""
        self._drop_loop_connection(loop)
        self.handed_over += 1
        for job, future in batch:
            self._enqueue(job, _LoopWaiter(loop, future))

    def _loop_connection(self, loop: asyncio.AbstractEventLoop) -> Connection:
        """The loop's own connection, which never waits on a lock (busy timeout 0)."""
        connection = self._loop_connections.get(loop)
        if connection is None or connection.closed:
            # A loop that has ended (a test client's, say) gives its connection back first, so
            # that only live loops hold one.
            for ended in [other for other in self._loop_connections if other.is_closed()]:
                self._drop_loop_connection(ended)
            connection = self.engine.connect()
            connection.exec_driver_sql("PRAGMA busy_timeout=0")
            connection.commit()
            self._loop_connections[loop] = connection
        return connection

    def _drop_loop_connection(self, loop: asyncio.AbstractEventLoop) -> None:
        connection = self._loop_connections.pop(loop, None)
        if connection is not None:
            # Invalidated, not back to the pool: its busy timeout is not the engine's, and
            # closing the DBAPI connection rolls back whatever it had begun.
            connection.invalidate()
            connection.close()

    def close(self) -> None:
        """Let go of the loops' connections; idle writer threads stop now and give theirs
        back (a busy one finishes the jobs it has first)."""
        for loop in list(self._loop_connections):
            self._drop_loop_connection(loop)
        with self._wakeup:
            self._wakeup.notify_all()
        if self._committer is not None:
            self._committer.shutdown(wait=True)
            self._committer = None

    def _enqueue(self, job: Job, waiter: Future | _LoopWaiter) -> None:
        with self._wakeup:
            self._pending.append((job, waiter))
            if self._idle:
                self._wakeup.notify()
            elif self._running < self.writers:
                # Every writer is busy with a batch (or none runs yet): one more, while the
                # database takes them. On SQLite the one writer's next batch is this one.
                self._running += 1
                threading.Thread(target=self._loop, name="group-commit", daemon=True).start()

    def run(self, job: Callable[[Connection], T]) -> T:
        """Run ``job`` in the next batch and wait for its commit."""
        return self.submit(job).result()

    def _loop(self) -> None:
        # The writer's own connection while it has work: checked out (and pinged) once, not
        # per batch; given back when the writer stops, or after a batch that failed.
        held: list[Connection] = []
        try:
            while True:
                with self._wakeup:
                    if not self._pending:
                        self._idle += 1
                        self._wakeup.wait(self.idle_seconds)
                        self._idle -= 1
                    if not self._pending:
                        self._running -= 1
                        return
                    batch = self._pending[: self.max_batch]
                    del self._pending[: self.max_batch]
                # A caller that gave up (a cancelled future) gets nothing written.
                batch = [(job, f) for job, f in batch if f.set_running_or_notify_cancel()]
                if batch:
                    self._settle(batch, self._commit(batch, held))
        finally:
            for connection in held:
                connection.close()

    def _commit(
        self, batch: list[tuple[Job, Any]], held: list[Connection], attempt: int = 1
    ) -> list[tuple[bool, Any]]:
        """Run and commit ``batch`` on the writer's connection (``held``: none or one);
        (True, result) or (False, error) per job."""
        try:
            if not held:
                held.append(self.engine.connect())
            connection = held[0]
            with connection.begin():
                results = [job(connection) for job, _ in batch]
        # Any error at all: it is handed to the caller whose job raised it (re-run below), and
        # this thread must survive it, or every later caller would wait forever.
        except Exception as error:  # noqa: BLE001
            # Back to the pool, which rolls back whatever is left and drops a broken
            # connection: the next attempt checks out (and pings) another.
            if held:
                held.pop().close()
            if _transient(error) and attempt < TRANSIENT_ATTEMPTS:
                # Nothing is wrong with the jobs: the server broke a lock cycle between this
                # batch and another writer's (see TRANSIENT_SQLSTATES). The batch again, whole.
                return self._commit(batch, held, attempt + 1)
            if len(batch) == 1:
                return [(False, error)]
            return [outcome for one in batch for outcome in self._commit([one], held)]
        self.commits += 1
        self.jobs += len(batch)
        return [(True, result) for result in results]

    @staticmethod
    def _settle(batch: list[tuple[Job, Any]], outcomes: list[tuple[bool, Any]]) -> None:
        """Hand out the results, only now that they are committed."""
        on_loops: dict[asyncio.AbstractEventLoop, list] = {}
        for (_, waiter), (ok, value) in zip(batch, outcomes, strict=True):
            if isinstance(waiter, _LoopWaiter):
                on_loops.setdefault(waiter.loop, []).append((waiter.future, ok, value))
            elif ok:
                waiter.set_result(value)
            else:
                waiter.set_exception(value)
        for loop, settled in on_loops.items():
            try:
                loop.call_soon_threadsafe(_settle, settled)
            except RuntimeError:
                # The loop is closed: nobody is waiting any more.
                pass
