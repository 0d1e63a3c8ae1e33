"""``manyi analyses work|schedule|submit|list``: the analysis worker and its queue.

``work`` is the process that computes jobs (run one or more beside ``manyi serve``; with
``--schedule-every`` it also keeps the monthly and quarterly analyses current). ``schedule``
submits those once (for cron). ``submit`` queues one analysis from the command line.
"""

from __future__ import annotations

import json
import logging
from typing import Annotated

import typer

from api.cli.support import ensure_current_schema, fail, settings_and_engine

analyses_app = typer.Typer(help="Analyses as jobs: the worker and its queue.", no_args_is_help=True)


@analyses_app.command("work")
def work_command(
    once: Annotated[bool, typer.Option("--once", help="Stop when no job waits.")] = False,
    poll: Annotated[float, typer.Option(help="Seconds between looks at an empty queue.")] = 2.0,
    schedule_every: Annotated[
        float | None,
        typer.Option(help="Also submit the scheduled analyses every this many seconds."),
    ] = None,
) -> None:
    """Compute queued analyses until stopped (Ctrl-C)."""
    from api.analysis.worker import work

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    _, engine = settings_and_engine()
    ensure_current_schema(engine)
    try:
        done = work(engine, once=once, poll_seconds=poll, schedule_every_seconds=schedule_every)
    except KeyboardInterrupt:
        raise typer.Exit(0) from None
    typer.echo(f"computed {done} analyses")


@analyses_app.command("schedule")
def schedule_command() -> None:
    """Submit this month's and quarter's analyses (and the latest ones) of every version."""
    from sqlmodel import Session

    from api.analysis.worker import schedule

    _, engine = settings_and_engine()
    ensure_current_schema(engine)
    with Session(engine) as session:
        submitted = schedule(session)
        for job, created in submitted:
            state = "queued" if created else f"already {job.status}"
            typer.echo(f"analysis {job.id}: {_describe(job.request)}: {state}")
    if not submitted:
        typer.echo("no questionnaire version has completed responses: nothing to schedule")


@analyses_app.command("submit")
def submit_command(
    request: Annotated[str, typer.Argument(help='The request as JSON, e.g. \'{"version": '
                                               '"csi_mobile@2026.1", "period": "2026-Q2"}\'.')],
) -> None:  # fmt: skip
    """Queue one analysis (the body of POST /api/v1/analyses); prints the job."""
    from pydantic import ValidationError
    from sqlmodel import Session

    from api.analysis.request import AnalysisRequest
    from survey.analyses import jobs as analyses
    from survey.questionnaire.publish import find_reference

    try:
        body = AnalysisRequest.model_validate_json(request)
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(map(str, e['loc'])) or 'request'}: {e['msg']}" for e in error.errors()
        )
        raise fail(f"invalid analysis request: {problems}") from None
    _, engine = settings_and_engine()
    ensure_current_schema(engine)
    with Session(engine) as session:
        version = find_reference(session, body.version)
        if version is None:
            raise fail(f"no published questionnaire version {body.version}")
        job, created = analyses.submit(session, version.id, body.canonical())
        state = "queued" if created else f"already {job.status}"
        typer.echo(f"analysis {job.id}: {_describe(job.request)}: {state}")


@analyses_app.command("list")
def list_command(
    status: Annotated[str | None, typer.Option(help="queued, running, done or failed.")] = None,
    limit: Annotated[int, typer.Option(help="How many, newest first.")] = 20,
    as_json: Annotated[bool, typer.Option("--json", help="JSON lines.")] = False,
) -> None:
    """The newest analysis jobs and their state."""
    from sqlmodel import Session

    from survey.analyses import jobs as analyses
    from survey.db.states import AnalysisStatus

    if status is not None and status not in list(AnalysisStatus):
        raise fail(f"--status {status}: use one of {', '.join(AnalysisStatus)}")
    _, engine = settings_and_engine()
    ensure_current_schema(engine)
    with Session(engine) as session:
        rows, total = analyses.listing(session, status=status, limit=limit)
        for job in rows:
            if as_json:
                typer.echo(json.dumps({"id": job.id, "status": job.status, "request": job.request,
                                       "error": job.error}, ensure_ascii=False))  # fmt: skip
            else:
                reason = f" ({job.error})" if job.error else ""
                typer.echo(f"{job.id:>5} {job.status:<8} {_describe(job.request)}{reason}")
        if not as_json:
            typer.echo(f"{len(rows)} of {total} shown")


def _describe(request: dict) -> str:
    parts = [request["version"], request.get("period") or "all periods"]
    if request.get("segment"):
        parts.append(f"by {request['segment']}")
    filters = {k: v for k, v in (request.get("filters") or {}).items() if v}
    if filters:
        parts.append(" ".join(f"{k}={','.join(map(str, v))}" for k, v in filters.items()))
    return ", ".join(parts)
