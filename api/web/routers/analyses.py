"""Analyses as jobs: ``POST /api/v1/analyses``, ``GET /api/v1/analyses[/{id}]``.

A POST stores a job and answers at once (202, or 200 with the stored outcome when identical
inputs were already computed); the worker (``manyi analyses work``) computes it outside any
request. Starting one needs ``run_analyses``; reading needs ``view_analyses``, and a
regional manager reads only their own regions' parts (api.analysis.scope): no job whose
filters name another region or hall, listed or read, and no failure's reason that counts
other regions' responses.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, HTTPException, Path, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from api.analysis.request import AnalysisRequest
from api.analysis.result import AnalysisResult, read_result
from api.analysis.scope import job_visible, scoped_error, scoped_provenance, scoped_result
from api.analysis.submission import submit_analysis
from api.permissions import Permission
from api.web.auth import ViewerScope, require_permission
from api.web.deps import MAX_ID, SessionDep, public_url
from api.web.errors import error_responses
from api.web.pagination import Page, PageDep
from api.web.strict_query import KnownQueryOnly
from survey.analyses import jobs as analyses
from survey.db.states import AnalysisStatus
from survey.db.tables import Analysis, Staff
from survey.errors import NotFound
from survey.staff.scope import Scope, scope_of

router = APIRouter(prefix="/api/v1/analyses", tags=["analyses"], dependencies=[KnownQueryOnly])

Runner = Annotated[Staff, Depends(require_permission(Permission.RUN_ANALYSES))]
Status = Annotated[str | None, Query(description="Only jobs in this state", examples=["done"],
                                     pattern="^(queued|running|done|failed)$")]  # fmt: skip


_JOB_EXAMPLE = {
    "id": 12,
    "status": "queued",
    "reused": False,
    "request": {"version": "csi_mobile@2026.1", "period": "2026-Q3", "segment": "region",
                "engine": "pls", "target": "satisfaction", "bootstrap": 200,
                "permutations": 1000, "seed": 1, "min_n": 100,
                "filters": {"region": [], "service_hall": [], "tier": [], "channel": []}},
    "origin": "request",
    "created_at": "2026-11-23T08:00:00Z",
    "started_at": None,
    "finished_at": None,
    "error": None,
    "url": "http://127.0.0.1:8000/api/v1/analyses/12",
}  # fmt: skip


class AnalysisJob(BaseModel):
    """An analysis job and its state (``queued``, ``running``, ``done`` or ``failed``)."""

    model_config = {"json_schema_extra": {"examples": [_JOB_EXAMPLE]}}

    id: int
    status: str = Field(description="queued, running, done or failed")
    reused: bool = Field(False, description="True when identical inputs were already submitted")
    request: dict[str, Any] = Field(description="The request as stored (defaults filled in)")
    origin: str = Field(
        description="request (a person or a key), schedule, or rerun (asked to compute "
        "identical inputs again)"
    )
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    error: str | None = Field(description="Why a failed job failed")
    url: str = Field(description="Where to read the job and, once done, its result")


class AnalysisJobResult(AnalysisJob):
    """A job with its result and provenance (both null until it is done)."""

    result: AnalysisResult | None = Field(
        description="Indexes, priority matrices per dimension and segment, rankings, trends, "
        "the model and its warnings; a regional manager's view has scope 'limited', without "
        "the totals"
    )
    provenance: dict[str, Any] | None = Field(
        description="Engine, estimator, library versions, questionnaire version, period, "
        "filters, n, data fingerprint, seed, worker, time taken, warnings"
    )


def _job(request: Request, job: Analysis, scope: Scope, reused: bool = False) -> dict[str, Any]:
    """The job as ``scope``'s reader may see it."""
    error = scoped_error(scope, job.request, job.error)
    return {
        "id": job.id, "status": job.status, "reused": reused, "request": job.request,
        "origin": job.origin, "created_at": job.created_at, "started_at": job.started_at,
        "finished_at": job.finished_at, "error": error,
        "url": public_url(request, request.url_for("read_analysis", analysis_id=job.id)),
    }  # fmt: skip


@router.post(
    "",
    status_code=202,
    response_model=AnalysisJob,
    summary="Start an analysis (or find the stored one for identical inputs)",
    responses={
        200: {
            "model": AnalysisJob,
            "description": "Identical inputs were already computed "
            "(or failed): the stored job, nothing new is started",
        },
        **error_responses(
            400,
            401,
            403,
            404,
            422,
            _404="No such published questionnaire version, or no such construct (target) in it",
        ),
    },  # fmt: skip
)
def start_analysis(
    request: Request,
    session: SessionDep,
    staff: Runner,
    body: Annotated[AnalysisRequest, Body()],
):
    """Queue the analysis for the worker and answer at once with the job.

    Identical inputs (the same canonical request over the same responses) give the same
    job: a finished one is answered with 200 and reused; a queued or running one with 202.
    """
    try:
        job, created = submit_analysis(session, body, requested_by=staff.id)
    except NotFound as error:
        raise HTTPException(404, str(error)) from None
    finished = job.status in (AnalysisStatus.DONE, AnalysisStatus.FAILED)
    status = 200 if finished and not created else 202
    # Identical inputs answer with the stored job, a failure's reason included: told as the
    # starter's scope allows, should a limited role ever start analyses.
    scope = scope_of(session, staff)
    content = AnalysisJob(**_job(request, job, scope, reused=not created)).model_dump(mode="json")
    return JSONResponse(content, status_code=status, headers={"Location": content["url"]})


@router.get("", response_model=Page[AnalysisJob], summary="List analysis jobs, newest first",
            responses=error_responses(401, 403, 422))  # fmt: skip
def list_analyses(request: Request, session: SessionDep, scope: ViewerScope, page: PageDep,
                  status: Status = None):  # fmt: skip
    """Jobs without their results (read one job for its result); a regional manager's list
    holds the jobs whose filters name only their regions and halls (or none)."""
    keep = None if scope.everywhere else (lambda job: job_visible(scope, job))
    rows, total = analyses.listing(session, status=status, limit=page.limit, offset=page.offset,
                                   keep=keep)  # fmt: skip
    return page.page([_job(request, row, scope) for row in rows], total)


@router.get(
    "/{analysis_id}",
    response_model=AnalysisJobResult,
    summary="Read an analysis job and, once done, its result",
    responses=error_responses(
        401, 403, 404, 422, _404="No such analysis (or one of regions outside yours)"
    ),
)
def read_analysis(
    request: Request,
    session: SessionDep,
    scope: ViewerScope,
    analysis_id: Annotated[int, Path(ge=1, le=MAX_ID, examples=[12])],
):
    """The job; its ``result`` as the caller may see it (a regional manager: their units)."""
    job = session.get(Analysis, analysis_id)
    # Another region's job is answered as no job: a 403 would say that it exists.
    if job is None or not job_visible(scope, job.request):
        raise HTTPException(404, f"no analysis {analysis_id}")
    return {
        **_job(request, job, scope),
        "result": scoped_result(scope, job.request, read_result(session, job)),
        "provenance": scoped_provenance(scope, job.request, job.provenance),
    }
