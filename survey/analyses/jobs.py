"""Analysis jobs in the database: submit, claim, complete, fail, find.

Heavy statistics never run inside a request: a request stores a job here, a worker process
(``manyi analyses work``) claims it, computes, and stores the result with its provenance.
This module only keeps the jobs; what an analysis computes lives with the statistics.

A job's ``key`` is the SHA-256 of its canonical request (sorted JSON) and of a fingerprint
of the data it reads (the completed responses of its questionnaire version and their latest
answer). Identical inputs therefore find the same row and reuse its result, while a new
response makes a new job: a stored result is never served for data it did not see. The key
is unique in the database, so two concurrent submissions of the same inputs make one job.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, or_, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import defer
from sqlmodel import Session, col, select

from survey.db.states import AnalysisStatus
from survey.db.tables import Analysis, Answer, Response, utcnow

QUEUED, RUNNING, DONE, FAILED = (
    AnalysisStatus.QUEUED,
    AnalysisStatus.RUNNING,
    AnalysisStatus.DONE,
    AnalysisStatus.FAILED,
)
#: A running job whose worker has not renewed its heartbeat for this long is taken as lost
#: (the worker renews it every :data:`HEARTBEAT`, however long the analysis takes).
LEASE = timedelta(minutes=5)
HEARTBEAT = timedelta(seconds=30)
#: A job lost this many times is failed rather than tried again.
MAX_ATTEMPTS = 3


def canonical(request: Mapping[str, Any]) -> str:
    """The request as one canonical JSON text (sorted keys, no spaces, ASCII escapes: any
    string, even a lone surrogate, hashes)."""
    return json.dumps(request, sort_keys=True, separators=(",", ":"))


def data_fingerprint(session: Session, version_id: int) -> str:
    """What the analyses of one questionnaire version read, summarised for their key.

    The number of completed responses, the last completion, the highest response id and
    the highest answer id among them: a new or changed completed response changes it.
    """
    completed = (Response.questionnaire_version_id == version_id) & (Response.status == "completed")
    count, last, top = session.exec(
        select(func.count(Response.id), func.max(Response.completed_at), func.max(Response.id))
        .where(completed)
    ).one()  # fmt: skip
    answer = session.exec(
        select(func.max(Answer.id))
        .join(Response, Answer.response_id == Response.id)
        .where(completed)
    ).one()
    last_text = last.isoformat() if isinstance(last, datetime) else str(last)
    return f"{count}:{last_text}:{top}:{answer}"


def job_key(request: Mapping[str, Any], fingerprint: str) -> str:
    return hashlib.sha256(f"{canonical(request)}\n{fingerprint}".encode()).hexdigest()


def filters_hash(filters: Mapping[str, Any] | None) -> str:
    """What the ``filters_hash`` column holds: the SHA-256 of the request's canonical filters
    (pages look an analysis up by it; the filters themselves can be long lists)."""
    return hashlib.sha256(canonical(filters or {}).encode()).hexdigest()


def submit(
    session: Session,
    version_id: int,
    request: Mapping[str, Any],
    *,
    requested_by: int | None = None,
    origin: str = "request",
) -> tuple[Analysis, bool]:
    """The job for these inputs, and whether this call created it.

    An existing job with the same key (queued, running, done or failed) is returned as it
    is: identical inputs reuse the stored result, or the stored failure.
    """
    fingerprint = data_fingerprint(session, version_id)
    key = job_key(request, fingerprint)
    existing = session.exec(select(Analysis).where(Analysis.key == key)).first()
    if existing is not None:
        return existing, False
    job = Analysis(
        key=key, questionnaire_version_id=version_id, request=dict(request),
        period=request.get("period"), segment=request.get("segment"),
        filters_hash=filters_hash(request.get("filters")),
        data_fingerprint=fingerprint, requested_by=requested_by, origin=origin,
    )  # fmt: skip
    session.add(job)
    try:
        session.commit()
    except IntegrityError:  # the same inputs submitted at the same moment elsewhere
        session.rollback()
        return session.exec(select(Analysis).where(Analysis.key == key)).one(), False
    session.refresh(job)
    return job, True


#: What a forced re-run's job is marked with (``origin``), besides "request" and "schedule".
RERUN = "rerun"


def rerun(session: Session, job: Analysis, *, requested_by: int | None = None) -> Analysis:
    """A new job with ``job``'s request, computed again even when the data are unchanged.

    :func:`submit` would hand back the stored job for identical inputs, so a re-run's key
    also holds a counter: ``job_key(request, fingerprint + "\\nrerun N")``, N the first number
    not taken. The request itself is unchanged (the worker and the pages read it as any
    other); the job's ``origin`` says it was a re-run. Two clicks at the same moment hit the
    key's uniqueness and make one job.
    """
    request = dict(job.request)
    fingerprint = data_fingerprint(session, job.questionnaire_version_id)
    taken = 1
    while True:
        key = job_key(request, f"{fingerprint}\nrerun {taken}")
        if session.exec(select(Analysis.id).where(Analysis.key == key)).first() is None:
            break
        taken += 1
    new = Analysis(
        key=key, questionnaire_version_id=job.questionnaire_version_id, request=request,
        period=request.get("period"), segment=request.get("segment"),
        filters_hash=filters_hash(request.get("filters")),
        data_fingerprint=fingerprint, requested_by=requested_by, origin=RERUN,
    )  # fmt: skip
    session.add(new)
    try:
        session.commit()
    except IntegrityError:  # the same re-run asked for at the same moment elsewhere
        session.rollback()
        return session.exec(select(Analysis).where(Analysis.key == key)).one()
    session.refresh(new)
    return new


def claim_next(session: Session, worker: str, now: datetime | None = None) -> Analysis | None:
    """Take the oldest queued job (or one whose worker was lost) for ``worker``.

    On PostgreSQL concurrent workers skip each other's rows (``FOR UPDATE SKIP LOCKED``);
    on SQLite the conditional UPDATE is the claim (one writer at a time). A job already lost
    :data:`MAX_ATTEMPTS` times is failed instead of being tried again.
    """
    now = now or utcnow()
    claimable = or_(
        Analysis.status == QUEUED,
        (Analysis.status == RUNNING) & (col(Analysis.heartbeat_at) < now - LEASE),
    )
    while True:
        candidate = select(Analysis.id).where(claimable).order_by(Analysis.id).limit(1)
        if session.get_bind().dialect.name == "postgresql":
            candidate = candidate.with_for_update(skip_locked=True)
        job_id = session.exec(candidate).first()
        if job_id is None:
            session.commit()
            return None
        job = session.get(Analysis, job_id, populate_existing=True)
        assert job is not None
        if job.attempts >= MAX_ATTEMPTS:
            _finish(session, job_id, FAILED, now, error=(
                f"the worker was lost {job.attempts} times while computing this analysis "
                "(out of memory or killed?); submit it again after checking the workers' logs"
            ))  # fmt: skip
            continue
        claimed = session.execute(
            update(Analysis)
            .where(Analysis.id == job_id, claimable)
            .values(
                status=RUNNING,
                started_at=now,
                heartbeat_at=now,
                worker=worker[:100],
                attempts=Analysis.attempts + 1,
            )  # fmt: skip
        ).rowcount
        session.commit()
        if claimed:
            return session.get(Analysis, job_id, populate_existing=True)


def heartbeat(session: Session, job_id: int, worker: str, now: datetime | None = None) -> bool:
    """Renew a running job's lease; False when it is no longer this worker's."""
    renewed = session.execute(
        update(Analysis)
        .where(Analysis.id == job_id, Analysis.status == RUNNING, Analysis.worker == worker[:100])
        .values(heartbeat_at=now or utcnow())
    ).rowcount
    session.commit()
    return bool(renewed)


def complete(
    session: Session, job_id: int, result: dict[str, Any], provenance: dict[str, Any]
) -> None:
    _finish(session, job_id, DONE, utcnow(), result=result, provenance=provenance)


def fail(
    session: Session, job_id: int, reason: str, provenance: dict[str, Any] | None = None
) -> None:
    _finish(session, job_id, FAILED, utcnow(), error=reason, provenance=provenance)


def _finish(session: Session, job_id: int, status: str, now: datetime, **values: Any) -> None:
    session.execute(
        update(Analysis)
        .where(Analysis.id == job_id)
        .values(status=status, finished_at=now, **values)
    )
    session.commit()


def listing(
    session: Session,
    *,
    status: str | None = None,
    limit: int = 50,
    offset: int = 0,
    keep: Callable[[dict[str, Any]], bool] | None = None,
) -> tuple[list[Analysis], int]:
    """Jobs, newest first (their results not loaded), and how many there are in all.

    ``keep`` (a test of a job's request) leaves out the jobs a reader may not see, before
    counting and paging: a page and its total never count a job the reader was not given.
    """
    where = [Analysis.status == status] if status is not None else []
    newest = col(Analysis.id).desc()
    if keep is None:
        query = select(Analysis).where(*where)
        total = session.exec(select(func.count()).select_from(query.subquery())).one()
        page = query.order_by(newest).offset(offset).limit(limit)
        rows = session.exec(page.options(defer(Analysis.result))).all()
        return list(rows), int(total)
    # Filters are JSON, which the two databases query differently: the requests (small; the
    # results are not read) are tested here.
    requests = session.exec(select(Analysis.id, Analysis.request).where(*where).order_by(newest))
    kept = [job_id for job_id, request in requests if keep(request or {})]
    wanted = kept[offset : offset + limit]
    found = {
        job.id: job
        for job in session.exec(
            select(Analysis).where(col(Analysis.id).in_(wanted)).options(defer(Analysis.result))
        )
    }
    return [found[job_id] for job_id in wanted if job_id in found], len(kept)


def latest_done(
    session: Session,
    version_id: int,
    *,
    period: str | None,
    segment: str | None,
    filters: Mapping[str, Any] | None,
) -> Analysis | None:
    """The newest finished analysis of a version for this period, segment and filters.

    One indexed query (``ix_analysis_lookup``); the result is deferred: it is loaded when
    read (:func:`result_of`).
    """
    query = (
        select(Analysis)
        .where(
            Analysis.questionnaire_version_id == version_id,
            Analysis.status == DONE,
            _is(Analysis.period, period),
            _is(Analysis.segment, segment),
            Analysis.filters_hash == filters_hash(filters),
        )
        .order_by(col(Analysis.id).desc())
        .limit(1)
        .options(defer(Analysis.result))
    )
    return session.exec(query).first()


def _is(column, value):
    # All data and no segment are NULL, and "= NULL" is never true.
    return column == value if value is not None else col(column).is_(None)


def result_of(session: Session, job_id: int) -> dict[str, Any] | None:
    """A job's stored result as JSON data (see ``api.analysis.result`` for its type)."""
    return session.exec(select(Analysis.result).where(Analysis.id == job_id)).one()
