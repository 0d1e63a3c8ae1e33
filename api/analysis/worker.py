"""The analysis worker: claims jobs, computes them outside any request, stores the outcome;
and the schedule that keeps the managers' pages current every month and quarter.

``manyi analyses work`` runs :func:`work` in its own process; ``make demo`` runs it as a
child process. Several workers may run against one PostgreSQL (jobs are claimed with
SKIP LOCKED). A worker renews its job's heartbeat while it computes; one that dies mid-job
leaves it to be claimed again once the heartbeat is older than the lease.
"""

from __future__ import annotations

import logging
import os
import socket
import subprocess
import sys
import threading
import time
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime

from sqlalchemy import func
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session, col, select

from api.analysis.request import AnalysisRequest, month_of, quarter_of
from api.analysis.run import MIN_FIT_N, AnalysisFailed, run_analysis
from survey.analyses import jobs as analyses
from survey.db.tables import Analysis, Customer, QuestionnaireVersion, Response
from survey.questionnaire.publish import load_version

log = logging.getLogger("manyi.analyses")

#: What the schedule keeps current: the latest months and quarters with responses, and all
#: data (for the trends), each as a whole and per region (regional managers' matrices).
SCHEDULED_MONTHS = 3
SCHEDULED_QUARTERS = 2
SCHEDULED_SEGMENTS = (None, "region")
SCHEDULED_BOOTSTRAP = 200
#: Each region's own analyses (a regional manager's indexes and trends): all data and the
#: latest quarter, filtered to the region. A service hall's own: all data.
SCHEDULED_REGION_QUARTERS = 1


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{threading.get_ident() % 10_000}"


def work_once(engine: Engine, name: str | None = None) -> Analysis | None:
    """Claim one job and compute it; the job as stored afterwards, or None if none waited."""
    name = name or worker_name()
    with Session(engine) as session:
        job = analyses.claim_next(session, name)
        if job is None:
            return None
        job_id = job.id
        assert job_id is not None
        log.info("analysis %s: computing %s", job_id, analyses.canonical(job.request))
        try:
            with _heartbeat(engine, job_id, name):
                outcome = run_analysis(session, job)
        except AnalysisFailed as error:
            session.rollback()
            analyses.fail(session, job_id, str(error))
        except Exception as error:  # noqa: BLE001 -- a bug or bad data: stored, the worker goes on
            session.rollback()
            log.error("analysis %s failed:\n%s", job_id, traceback.format_exc())
            analyses.fail(session, job_id, f"unexpected error: {type(error).__name__}: {error}")
        else:
            analyses.complete(
                session, job_id, outcome.result.model_dump(mode="json"), outcome.provenance
            )
        return session.get(Analysis, job_id, populate_existing=True)


@contextmanager
def _heartbeat(engine: Engine, job_id: int, name: str) -> Iterator[None]:
    """Renew the job's lease from a thread while the block computes it (however long)."""
    stop = threading.Event()

    def beat() -> None:
        while not stop.wait(analyses.HEARTBEAT.total_seconds()):
            try:
                with Session(engine) as session:
                    analyses.heartbeat(session, job_id, name)
            except SQLAlchemyError as error:  # the next beat tries again
                log.warning("analysis %s: heartbeat failed: %s", job_id, error)

    thread = threading.Thread(target=beat, name=f"analysis-{job_id}-heartbeat", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


def work(
    engine: Engine,
    *,
    once: bool = False,
    poll_seconds: float = 2.0,
    schedule_every_seconds: float | None = None,
    stop: threading.Event | None = None,
) -> int:
    """Compute jobs until ``stop`` is set (or, with ``once``, until none waits).

    With ``schedule_every_seconds``, also submits the scheduled analyses at start and then
    at that interval (identical inputs reuse the stored results, so this is cheap).
    Returns how many jobs were computed.
    """
    stop = stop or threading.Event()
    name = worker_name()
    done = 0
    next_schedule = 0.0
    while not stop.is_set():
        if schedule_every_seconds is not None and time.monotonic() >= next_schedule:
            with Session(engine) as session:
                schedule(session)
            next_schedule = time.monotonic() + schedule_every_seconds
        job = work_once(engine, name)
        if job is not None:
            done += 1
            log.info("analysis %s: %s", job.id, job.status)
            continue
        if once:
            break
        stop.wait(poll_seconds)
    return done


def schedule(session: Session) -> list[tuple[Analysis, bool]]:
    """Submit the scheduled analyses of every questionnaire version with responses and
    constructs to fit.

    Per version: all data and each of the latest :data:`SCHEDULED_MONTHS` months and
    :data:`SCHEDULED_QUARTERS` quarters, each as a whole and per segment of
    :data:`SCHEDULED_SEGMENTS`; each region's own (all data and the latest quarter); and each
    service hall's own (all data) when it has enough responses for a fit. Returns each job
    and whether it is new.
    """
    rows = session.exec(
        select(QuestionnaireVersion, func.max(Response.completed_at))
        .join(Response, Response.questionnaire_version_id == QuestionnaireVersion.id)
        .where(Response.status == "completed")
        .group_by(QuestionnaireVersion.id)
    ).all()
    submitted = []
    for version, last in rows:
        if not load_version(version).construct_items():
            # No construct to fit (a programme's one-question evaluation): its numbers are
            # the agents page's, and a job would only fail.
            continue
        asked: list[dict] = []
        for period in [None, *scheduled_periods(last)]:
            asked += [{"period": period, "segment": segment} for segment in SCHEDULED_SEGMENTS]
        quarters = [p for p in scheduled_periods(last) if "Q" in p][:SCHEDULED_REGION_QUARTERS]
        for region, _ in units_answering(session, version.id, Customer.region):
            asked += [{"period": period, "filters": {"region": [region]}}
                      for period in [None, *quarters]]  # fmt: skip
        for hall, n in units_answering(session, version.id, Customer.service_hall):
            if n >= MIN_FIT_N:
                asked.append({"filters": {"service_hall": [hall]}})
        name = f"{version.form_id}@{version.version}"
        for fields in asked:
            request = AnalysisRequest(version=name, bootstrap=SCHEDULED_BOOTSTRAP, **fields)
            submitted.append(analyses.submit(session, version.id, request.canonical(),
                                             origin="schedule"))  # fmt: skip
    return submitted


def units_answering(session: Session, version_id: int, column) -> list[tuple[str, int]]:
    """The regions (or halls) of the customers who completed the version, with their counts.

    A customer without one (a hotline caller's record has no hall: "") is in no unit: a
    filter on "" names nothing, and the request refuses it."""
    rows = session.exec(
        select(column, func.count(Response.id))
        .join(Response, Response.customer_id == Customer.id)
        .where(Response.questionnaire_version_id == version_id, Response.status == "completed")
        .where(col(column).is_not(None), col(column) != "")
        .group_by(column)
        .order_by(column)
    ).all()
    return [(str(unit), int(n)) for unit, n in rows]


def scheduled_periods(last: datetime | None) -> list[str]:
    """The quarters and months that end with the one of the latest completed response."""
    if last is None:
        return []
    months, quarters = [], []
    year, month = last.year, last.month
    for _ in range(max(SCHEDULED_MONTHS, 3 * SCHEDULED_QUARTERS)):
        moment = datetime(year, month, 1)
        if len(months) < SCHEDULED_MONTHS:
            months.append(month_of(moment))
        if quarter_of(moment) not in quarters and len(quarters) < SCHEDULED_QUARTERS:
            quarters.append(quarter_of(moment))
        year, month = (year, month - 1) if month > 1 else (year - 1, 12)
    return quarters + months


@contextmanager
def worker_process(schedule_every_seconds: float = 3600.0) -> Iterator[subprocess.Popen]:
    """``manyi analyses work`` as a child process while the block runs (``make demo``).

    A process of its own, so that fitting models never holds up the web server's requests;
    it reads the same settings (the environment) as its parent.
    """
    command = [sys.executable, "-m", "api.cli.main", "analyses", "work",
               "--schedule-every", str(schedule_every_seconds)]  # fmt: skip
    child = subprocess.Popen(command)  # noqa: S603 -- our own interpreter and arguments
    try:
        yield child
    finally:
        child.terminate()
        try:
            child.wait(timeout=10)
        except subprocess.TimeoutExpired:
            child.kill()
