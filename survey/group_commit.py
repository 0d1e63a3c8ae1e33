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
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any, TypeVar

from sqlalchemy.engine import Connection, Engine

__all__ = ["GroupCommit"]

T = TypeVar("T")
Job = Callable[[Connection], Any]


class GroupCommit:
    """Runs write jobs against ``engine`` on one thread, one transaction per batch.

    The thread starts with the first job and stops after ``idle_seconds`` without work, so an
    instance costs nothing while unused and needs no shutdown.
    """

    def __init__(self, engine: Engine, *, max_batch: int = 64, idle_seconds: float = 2.0) -> None:
        self.engine = engine
        self.max_batch = max_batch
        self.idle_seconds = idle_seconds
        self._pending: list[tuple[Job, Future]] = []
        self._wakeup = threading.Condition()
        self._running = False
        #: How many commits ran, and how many jobs they held (for tests and benchmarks).
        self.commits = 0
        self.jobs = 0

    def submit(self, job: Callable[[Connection], T]) -> Future[T]:
        """Queue ``job``; its future is resolved after the commit that makes it durable."""
        future: Future[T] = Future()
        with self._wakeup:
            self._pending.append((job, future))
            if self._running:
                self._wakeup.notify()
            else:
                self._running = True
                threading.Thread(target=self._loop, name="group-commit", daemon=True).start()
        return future

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
                self._commit(batch)

    def _commit(self, batch: list[tuple[Job, Future]]) -> None:
        try:
            with self.engine.begin() as connection:
                results = [job(connection) for job, _ in batch]
        # Any error at all: it is handed to the caller whose job raised it (re-run below), and
        # this thread must survive it, or every later caller would wait forever.
        except Exception as error:  # noqa: BLE001
            if len(batch) == 1:
                batch[0][1].set_exception(error)
                return
            for one in batch:
                self._commit([one])
            return
        self.commits += 1
        self.jobs += len(batch)
        for (_, future), result in zip(batch, results, strict=True):
            future.set_result(result)
