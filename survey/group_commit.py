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
again in a transaction of its own, so that only the failing job's caller sees the error.

A caller on an event loop uses :meth:`GroupCommit.submit_async`: the results of one batch are
handed to the loop with one wake-up, not one per job (each wake-up of the loop from this thread
costs a GIL hand-over, which on a busy 2-core machine costs more than a job).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any, TypeVar

from sqlalchemy.engine import Connection, Engine

__all__ = ["GroupCommit"]

T = TypeVar("T")
Job = Callable[[Connection], Any]


class _LoopWaiter:
    """An asyncio future of ``loop``, resolved from the writer thread with the rest of a batch."""

    __slots__ = ("future", "loop")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.future: asyncio.Future = loop.create_future()

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

    def __init__(self, engine: Engine, *, max_batch: int = 64, idle_seconds: float = 2.0) -> None:
        self.engine = engine
        self.max_batch = max_batch
        self.idle_seconds = idle_seconds
        self._pending: list[tuple[Job, Future | _LoopWaiter]] = []
        self._wakeup = threading.Condition()
        self._running = False
        #: How many commits ran, and how many jobs they held (for tests and benchmarks).
        self.commits = 0
        self.jobs = 0

    def submit(self, job: Callable[[Connection], T]) -> Future[T]:
        """Queue ``job``; its future is resolved after the commit that makes it durable."""
        future: Future[T] = Future()
        self._enqueue(job, future)
        return future

    def submit_async(self, job: Callable[[Connection], T]) -> asyncio.Future[T]:
        """:meth:`submit` from a coroutine: a future of the running loop, to be awaited."""
        waiter = _LoopWaiter(asyncio.get_running_loop())
        self._enqueue(job, waiter)
        return waiter.future

    def _enqueue(self, job: Job, waiter: Future | _LoopWaiter) -> None:
        with self._wakeup:
            self._pending.append((job, waiter))
            if self._running:
                self._wakeup.notify()
            else:
                self._running = True
                threading.Thread(target=self._loop, name="group-commit", daemon=True).start()

    def run(self, job: Callable[[Connection], T]) -> T:
        """Run ``job`` in the next batch and wait for its commit."""
        return self.submit(job).result()

    def _loop(self) -> None:
        while True:
            with self._wakeup:
                if not self._pending:
                    self._wakeup.wait(self.idle_seconds)
                if not self._pending:
                    self._running = False
                    return
                batch = self._pending[: self.max_batch]
                del self._pending[: self.max_batch]
            # A caller that gave up (a cancelled future) gets nothing written.
            batch = [(job, f) for job, f in batch if f.set_running_or_notify_cancel()]
            if batch:
                self._settle(batch, self._commit(batch))

    def _commit(self, batch: list[tuple[Job, Any]]) -> list[tuple[bool, Any]]:
        """Run and commit ``batch``; (True, result) or (False, error) per job."""
        try:
            with self.engine.begin() as connection:
                results = [job(connection) for job, _ in batch]
        # Any error at all: it is handed to the caller whose job raised it (re-run below), and
        # this thread must survive it, or every later caller would wait forever.
        except Exception as error:  # noqa: BLE001
            if len(batch) == 1:
                return [(False, error)]
            return [outcome for one in batch for outcome in self._commit([one])]
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
