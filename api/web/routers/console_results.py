"""The console's results pages: ``/console/exports`` and ``/console/analyses``.

- ``GET /console/exports`` (``export_responses``): each published questionnaire version, and
  each of its campaigns, with the completed responses the reader's export will hold and one
  link per format to ``GET /api/v1/exports/responses`` (which checks, cuts and audits).
- ``GET /console/analyses`` (``view_analyses``): the jobs a reader may see, newest first, and,
  for those with ``run_analyses``, the "compute now" form; ``POST`` submits it through
  :func:`api.analysis.submission.submit_analysis`, the path of ``POST /api/v1/analyses``
  (identical inputs reuse their job).
- ``GET /console/analyses/{id}``: a job's state, how long it has been running, its summary
  once done, the reason in words once failed; ``POST .../rerun`` computes it again although
  its inputs are unchanged (:func:`survey.analyses.jobs.rerun`).

Jobs are computed by the worker (``manyi analyses work``; ``manyi demo`` starts one), never
inside a request. A regional manager sees only jobs whose filters name their own regions,
and their parts of the results (:mod:`api.analysis.scope`).
"""

from __future__ import annotations

from collections import defaultdict
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from pydantic import ValidationError
from sqlalchemy import func
from sqlmodel import Session, col, select

from api.analysis.dashboard import indexes_by_construct
from api.analysis.request import AnalysisRequest
from api.analysis.result import UnreadableResult, read_result
from api.analysis.scope import job_visible, scoped_error, scoped_result
from api.analysis.submission import submit_analysis
from api.permissions import Permission, allowed
from api.web.auth import CsrfChecked, ViewerScope, client_ip, require_permission
from api.web.console_pages import console_page
from api.web.deps import MAX_ID, Now, RowId, SessionDep
from survey.analyses import jobs
from survey.db.states import AnalysisStatus
from survey.db.tables import Analysis, Campaign, Customer, QuestionnaireVersion, Staff
from survey.db.tables import Response as SurveyResponse
from survey.errors import NotFound
from survey.staff import audit
from survey.staff.accounts import scope_clause, sees_everywhere
from survey.staff.scope import scope_of

router = APIRouter(prefix="/console", tags=["console"], include_in_schema=False)

Exporter = Annotated[Staff, Depends(require_permission(Permission.EXPORT_RESPONSES))]
Runner = Annotated[Staff, Depends(require_permission(Permission.RUN_ANALYSES))]
FormText = Annotated[str, Form(max_length=100)]

#: The export API's formats, as the page names them: (format, zh, en).
FORMATS = (("csv", "CSV", "CSV (ZIP)"), ("xlsx", "Excel", "Excel"), ("sav", "SPSS", "SPSS .sav"),
           ("parquet", "Parquet", "Parquet"))  # fmt: skip
#: A job's state in words.
STATES = {
    AnalysisStatus.QUEUED: ("排队中", "queued"),
    AnalysisStatus.RUNNING: ("计算中", "running"),
    AnalysisStatus.DONE: ("已完成", "done"),
    AnalysisStatus.FAILED: ("失败", "failed"),
}
ORIGINS = {"request": ("请求", "asked for"), "schedule": ("定时", "scheduled"),
           jobs.RERUN: ("重新计算", "re-run")}  # fmt: skip
SEGMENTS = {"": ("不分组", "none"), "region": ("地区", "region"),
            "service_hall": ("营业厅", "service hall"), "tier": ("客户星级", "customer tier"),
            "channel": ("渠道", "channel")}  # fmt: skip
ENGINES = {
    "pls": ("PLS", "PLS"),
    "plsc": ("一致性 PLS", "consistent PLS"),
    "sem": ("SEM（协方差）", "covariance-based SEM"),
}
DONE = {
    "queued": ("已提交，等待计算。", "Submitted: waiting for the worker."),
    "reused": ("相同的输入已提交过：这是已有的任务。",
               "Identical inputs were submitted before: this is that job."),
    "rerun": ("已提交重新计算。", "Submitted to be computed again."),
}  # fmt: skip
#: Jobs per page of the list.
PAGE_SIZE = 50


# -- exports -------------------------------------------------------------------------------


def _export_counts(session: Session, staff: Staff) -> dict[tuple[int, int | None], int]:
    """Completed responses per (version, campaign) that the reader's export would hold.

    Counted with the export's own rule (survey.exports.responses: the customer's region and
    hall against the reader's scope), so that a number and its file agree.
    """
    rows = session.exec(
        select(SurveyResponse.questionnaire_version_id, SurveyResponse.campaign_id,
               func.count(col(SurveyResponse.id)))
        .join(Customer, col(SurveyResponse.customer_id) == Customer.id, isouter=True)
        .where(SurveyResponse.status == "completed",
               scope_clause(staff, Customer.region, Customer.service_hall))
        .group_by(SurveyResponse.questionnaire_version_id, SurveyResponse.campaign_id)
    ).all()  # fmt: skip
    return {(version, campaign): n for version, campaign, n in rows}


@router.get("/exports", response_class=HTMLResponse)
def exports(request: Request, session: SessionDep, staff: Exporter):
    """Every published version and its campaigns, each with its count and download links."""
    counts = _export_counts(session, staff)
    versions = session.exec(
        select(QuestionnaireVersion).order_by(col(QuestionnaireVersion.published_at).desc(),
                                              col(QuestionnaireVersion.id).desc())
    ).all()  # fmt: skip
    campaigns: dict[int, list[Campaign]] = defaultdict(list)
    for campaign in session.exec(select(Campaign).order_by(col(Campaign.id))):
        campaigns[campaign.questionnaire_version_id].append(campaign)
    # A campaign's name may name a unit ("Shaoxing spring survey"): a limited reader is shown
    # only the campaigns holding responses of their own scope.
    limited = not sees_everywhere(staff)
    rows = []
    for version in versions:
        total = sum(n for (v, _), n in counts.items() if v == version.id)
        shown = [(c, counts.get((version.id, c.id), 0)) for c in campaigns[version.id]]
        rows.append({
            "version": version, "name": f"{version.form_id}@{version.version}", "n": total,
            "campaigns": [(c, n) for c, n in shown if n or not limited],
        })  # fmt: skip
    return console_page(
        request, staff, "console/exports.html", current="/console/exports", rows=rows,
        formats=FORMATS, phones=allowed(staff.role, Permission.VIEW_PHONE_NUMBERS),
        limited=bool(staff.regions or staff.service_halls),
        scope=", ".join(staff.regions + staff.service_halls),
    )  # fmt: skip


# -- analyses ------------------------------------------------------------------------------


def _running_for(job: Analysis, now) -> str | None:
    """How long a job has waited or been computing, in words (None once finished)."""
    if job.finished_at is not None:
        return None
    since = job.started_at or job.created_at
    seconds = max(0, int((now - since).total_seconds()))
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    if hours:
        return f"{hours} h {minutes} min"
    return f"{minutes} min {seconds} s" if minutes else f"{seconds} s"


def _took(job: Analysis) -> str | None:
    if job.started_at is None or job.finished_at is None:
        return None
    seconds = int((job.finished_at - job.started_at).total_seconds())
    return f"{seconds // 60} min {seconds % 60} s" if seconds >= 60 else f"{seconds} s"


def _form_defaults() -> dict[str, Any]:
    """The form's starting values: the API's defaults (AnalysisRequest)."""
    fields = AnalysisRequest.model_fields
    return {"version": "", "period": "", "segment": "", "engine": fields["engine"].default,
            "bootstrap": fields["bootstrap"].default, "seed": fields["seed"].default}  # fmt: skip


def _versions(session: Session) -> list[str]:
    found = session.exec(
        select(QuestionnaireVersion.form_id, QuestionnaireVersion.version)
        .order_by(col(QuestionnaireVersion.published_at).desc())
    ).all()  # fmt: skip
    return [f"{form_id}@{number}" for form_id, number in found]


def _list_page(request, session, scope, now, status_code=200, *, start=0, error=None,
               form=None):  # fmt: skip
    keep = None if scope.everywhere else (lambda job: job_visible(scope, job))
    rows, total = jobs.listing(session, limit=PAGE_SIZE, offset=start, keep=keep)
    return console_page(
        request, scope.staff, "console/analyses.html", status_code, current="/console/analyses",
        rows=[_row(job, scope, now) for job in rows], total=total, start=start,
        page_size=PAGE_SIZE, can_run=allowed(scope.staff.role, Permission.RUN_ANALYSES),
        versions=_versions(session), form=form or _form_defaults(), error=error,
        states=STATES, segments=SEGMENTS, engines=ENGINES,
        waiting=any(job.status in (jobs.QUEUED, jobs.RUNNING) for job in rows),
    )  # fmt: skip


def _row(job: Analysis, scope, now) -> dict[str, Any]:
    request = job.request or {}
    return {
        "job": job, "version": request.get("version", ""), "period": request.get("period"),
        "segment": SEGMENTS.get(request.get("segment") or "", (request.get("segment"),) * 2),
        "engine": request.get("engine", ""), "state": STATES.get(job.status, (job.status,) * 2),
        "origin": ORIGINS.get(job.origin, (job.origin, job.origin)),
        "error": scoped_error(scope, request, job.error), "running": _running_for(job, now),
        "matrix": _matrix_link(request),
    }  # fmt: skip


def _matrix_link(request: dict[str, Any]) -> str:
    """The dashboard's matrix of a finished job: its version and period."""
    link = f"/dashboard/priorities?version={request.get('version', '')}"
    if request.get("period"):
        link += f"&period={request['period']}"
    if request.get("segment"):
        link += f"&by={request['segment']}"
    return link


Start = Annotated[int, Query(ge=0, le=MAX_ID)]


@router.get("/analyses", response_class=HTMLResponse)
def analyses_list(request: Request, session: SessionDep, scope: ViewerScope, now: Now,
                  start: Start = 0):  # fmt: skip
    """Analysis jobs, newest first; the "compute now" form for those who may start one."""
    return _list_page(request, session, scope, now, start=start)


def _words(error: ValidationError) -> str:
    """Pydantic's problems as one sentence per field, without its internal codes."""
    problems = []
    for e in error.errors():
        where = ".".join(str(p) for p in e["loc"]) or "request"
        problems.append(f"{where}: {e['msg'].removeprefix('Value error, ')}")
    return "; ".join(problems)


@router.post("/analyses", response_class=HTMLResponse)
def compute_now(request: Request, session: SessionDep, staff: Runner, now: Now, _: CsrfChecked,
                version: FormText, period: FormText = "", segment: FormText = "",
                engine: FormText = "pls", bootstrap: FormText = "200",
                seed: FormText = "1"):  # fmt: skip
    """Submit an analysis as ``POST /api/v1/analyses`` does; identical inputs reuse their job.

    "all" (or nothing) as the period means all data. Numbers arrive as text and are read
    here, so that "abc" is told as a wrong number rather than refused as a malformed form.
    """
    form = {"version": version, "period": period, "segment": segment, "engine": engine,
            "bootstrap": bootstrap, "seed": seed}  # fmt: skip
    scope = scope_of(session, staff)
    chosen_period = period.strip()
    body: dict[str, Any] = {
        "version": version.strip(),
        "period": None if chosen_period.lower() in ("", "all") else chosen_period,
        "segment": segment or None, "engine": engine,
    }  # fmt: skip
    try:
        for name, text in (("bootstrap", bootstrap), ("seed", seed)):
            if not text.strip().isdigit():
                raise ValueError(f"{name}: {text!r} is not a whole number (0 or more)")
            body[name] = int(text)
        job, created = submit_analysis(session, AnalysisRequest(**body), requested_by=staff.id)
    except ValidationError as invalid:
        return _list_page(request, session, scope, now, 422, error=_words(invalid), form=form)
    except (ValueError, NotFound) as invalid:
        return _list_page(request, session, scope, now, 422, error=str(invalid), form=form)
    audit.audit(session, staff, audit.ANALYSIS_REQUESTED, f"analysis:{job.id}",
                {"via": "console", "request": job.request, "reused": not created},
                client_ip(request))  # fmt: skip
    return RedirectResponse(f"/console/analyses/{job.id}?m={'queued' if created else 'reused'}",
                            status_code=303)  # fmt: skip


def _visible_job(session: Session, scope, job_id: int) -> Analysis:
    job = session.get(Analysis, job_id)
    # Another region's job is answered as no job: a 403 would say that it exists.
    if job is None or not job_visible(scope, job.request):
        raise HTTPException(404, f"no analysis {job_id}")
    return job


@router.get("/analyses/{analysis_id}", response_class=HTMLResponse)
def analysis(request: Request, analysis_id: RowId, session: SessionDep, scope: ViewerScope,
             now: Now, m: Annotated[str, Query(max_length=20)] = ""):  # fmt: skip
    """One job: its request, state and times; its summary once done, its reason once failed."""
    job = _visible_job(session, scope, analysis_id)
    summary, unreadable = None, None
    try:
        result = scoped_result(scope, job.request, read_result(session, job))
    except UnreadableResult as problem:
        result, unreadable = None, str(problem)
    if result is not None:
        indexes = indexes_by_construct(result)
        summary = {
            "n": result.n, "withheld": result.withheld,
            "indexes": [(result.label(name), row) for name, row in indexes.items()],
        }  # fmt: skip
    requester = session.get(Staff, job.requested_by) if job.requested_by else None
    return console_page(
        request, scope.staff, "console/analysis.html", current="/console/analyses",
        row=_row(job, scope, now), job=job, summary=summary, unreadable=unreadable,
        requester=requester, took=_took(job), message=DONE.get(m),
        can_run=allowed(scope.staff.role, Permission.RUN_ANALYSES),
        request_fields=sorted((job.request or {}).items()),
    )  # fmt: skip


@router.post("/analyses/{analysis_id}/rerun", response_class=HTMLResponse)
def rerun(request: Request, analysis_id: RowId, session: SessionDep, staff: Runner,
          _: CsrfChecked):  # fmt: skip
    """Compute a job again with the same request, though nothing changed (a new job)."""
    job = _visible_job(session, scope_of(session, staff), analysis_id)
    if job.status in (jobs.QUEUED, jobs.RUNNING):
        # Not an error of the form: the page is simply older than the job's state.
        return RedirectResponse(f"/console/analyses/{job.id}", status_code=303)
    new = jobs.rerun(session, job, requested_by=staff.id)
    audit.audit(session, staff, audit.ANALYSIS_RERUN, f"analysis:{new.id}",
                {"via": "console", "of": job.id}, client_ip(request))  # fmt: skip
    return RedirectResponse(f"/console/analyses/{new.id}?m=rerun", status_code=303)
