"""Fieldwork in the operations console: sample frames, campaigns, and the live monitor.

- ``/console/frames``: the stored frames and an import form; an upload is checked row by
  row and its report stored (:class:`survey.db.tables.FrameImportReport`) whatever the
  outcome, shown at ``/console/frames/imports/{id}`` and downloadable as CSV.
- ``/console/campaigns``: every campaign; ``/new`` creates a draft and draws its sample
  through :mod:`survey.campaigns.plan`, the code ``manyi campaign create`` runs; launch,
  pause, resume and close are audited.
- ``/console/campaigns/{id}``: the live monitor, counted from the tables at every request
  (:mod:`survey.campaigns.monitor`); its AAPOR rates are those of ``manyi rates --campaign``.

Every route needs the ``operate`` permission (:data:`api.web.console_pages.Operator`) and
every form POST its CSRF field.
"""

from __future__ import annotations

import csv
import io
import tempfile
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlmodel import Session, col, select
from starlette.datastructures import UploadFile

from api.web.auth import CsrfChecked, client_ip
from api.web.console_pages import Operator, console_page
from api.web.deps import Now, RowId, SessionDep, SettingsDep
from api.web.formats import CHANNEL_LABELS, label
from survey.aapor.dispositions import CATEGORIES, CATEGORY_NAMES
from survey.aapor.rates import RATE_NAMES
from survey.campaigns.cases import CampaignNotFound
from survey.campaigns.launch import launch
from survey.campaigns.lifecycle import CHANNELS, LAYOUTS, CampaignError, change_status
from survey.campaigns.monitor import campaign_summaries, fieldwork
from survey.campaigns.plan import (
    DEFAULT_MESSAGES,
    STRATA,
    CampaignRequest,
    PlanProblem,
    PlanRefused,
    create_from_frame,
)
from survey.db.tables import Campaign, FrameImportReport, QuestionnaireVersion, SampleFrame
from survey.errors import InvalidRequest
from survey.frames.importer import REPORT_COLUMNS, FrameImportError, import_frame
from survey.frames.listing import frame_summaries
from survey.spreadsheets import csv_cell
from survey.staff import audit

router = APIRouter(prefix="/console", tags=["console"], include_in_schema=False)

FRAMES = "/console/frames"
CAMPAIGNS = "/console/campaigns"
#: The largest frame file taken: a million customers in CSV is about 80 MB, but an
#: operator's monthly export is tens of thousands of rows (a few MB); bigger lists are
#: imported with ``manyi frame import``, which has no upload to wait for.
MAX_UPLOAD_BYTES = 20 * 1024 * 1024
SUFFIXES = (".csv", ".xlsx")
#: Problems shown on the report page; the CSV holds them all.
SHOWN_PROBLEMS = 100
FRAME_IMPORTED = "frame_imported"
#: The audit action of each campaign action.
ACTIONS = {"launch": "campaign_launched", "pause": "campaign_paused",
           "resume": "campaign_resumed", "close": "campaign_closed"}  # fmt: skip
DONE = {
    "created": ("调查活动已创建，样本已抽取；检查无误后即可启动。",
                "Campaign created and its sample drawn: check it, then launch it."),
    "launch": ("调查活动已启动，邀请短信已进入发送队列。",
               "Campaign launched: its invitations are queued for sending."),
    "pause": ("调查活动已暂停：排队的短信会等待恢复。",
              "Campaign paused: queued messages wait until it is resumed."),
    "resume": ("调查活动已恢复发送。", "Campaign resumed: sending again."),
    "close": ("调查活动已结束：未发送的短信不会再发送。",
              "Campaign closed: messages not yet sent are skipped."),
}  # fmt: skip
STRATUM_LABELS = {
    "tier": ("客户星级", "tier"),
    "region": ("地区", "region"),
    "service_hall": ("营业厅", "service hall"),
    "language": ("语言", "language"),
}
LAYOUT_LABELS = {"grouped": ("按维度分页", "grouped: one page per construct"),
                 "single": ("每页一题", "single: one question per screen")}  # fmt: skip
COUNT_LABELS = {
    "rows_read": ("读取行数", "rows read"),
    "stored": ("已保存", "stored"),
    "invalid": ("无效行", "invalid rows"),
    "duplicates": ("重复行", "duplicates"),
    "opted_out": ("已退订（保存但不邀请）", "opted out (stored, never invited)"),
}

Message = Annotated[str, Query(max_length=16)]


# -- frames --------------------------------------------------------------------------------


def _frames_page(request, session, staff, status_code=200, *, errors=None, typed=None):
    return console_page(
        request, staff, "console/frames.html", status_code, current=FRAMES,
        frames=frame_summaries(session), errors=errors or {},
        typed=typed or {"name": "", "default_region": "CN"},
        imports=session.exec(
            select(FrameImportReport).order_by(col(FrameImportReport.id).desc()).limit(10)
        ).all(),
        max_mb=MAX_UPLOAD_BYTES // (1024 * 1024), count_labels=COUNT_LABELS,
    )  # fmt: skip


@router.get("/frames", response_class=HTMLResponse)
def frames(request: Request, staff: Operator, session: SessionDep) -> HTMLResponse:
    """The stored sample frames and the import form."""
    return _frames_page(request, session, staff)


@router.post("/frames", response_class=HTMLResponse)
async def import_frame_file(
    request: Request, staff: Operator, session: SessionDep, _: CsrfChecked
) -> Response:
    """Import an uploaded CSV/XLSX; its report is stored and shown, whatever happened.

    A request that cannot be an import (no file, another type, too large, no name or a name
    taken) is refused on the form itself (422), nothing stored: there is no row to report on.
    """
    form = await request.form()  # read once, by the CSRF check: this is the same form
    name = str(form.get("name") or "").strip()
    region = str(form.get("default_region") or "CN").strip() or "CN"
    upload = form.get("file")
    typed = {"name": name, "default_region": region}
    errors: dict[str, str] = {}
    if not name:
        errors["name"] = "give the frame a name, e.g. 2026-04 customers"
    elif len(name) > 100:
        errors["name"] = f"the name has {len(name)} characters: shorten it to 100"
    elif session.exec(select(SampleFrame).where(SampleFrame.name == name)).first():
        errors["name"] = f"a sample frame named {name!r} is already stored: pick another name"
    if not isinstance(upload, UploadFile) or not upload.filename:
        errors["file"] = "choose the customer list to import: a .csv or .xlsx file"
    else:
        filename = Path(upload.filename).name[:255]
        suffix = Path(filename).suffix.lower()
        if suffix not in SUFFIXES:
            errors["file"] = (f"{filename} is not a .csv or .xlsx file: save the list as UTF-8 "
                              "CSV or as an Excel workbook (.xlsx)")  # fmt: skip
        elif upload.size is not None and upload.size > MAX_UPLOAD_BYTES:
            errors["file"] = (f"{filename} has {upload.size:,} bytes, more than the "
                              f"{MAX_UPLOAD_BYTES:,} taken here: split it into smaller files, "
                              "or import it with `manyi frame import`")  # fmt: skip
    if errors:
        return _frames_page(request, session, staff, 422, errors=errors, typed=typed)
    report = await _import(session, upload, filename, suffix, name, region, staff)
    audit.audit(session, staff, FRAME_IMPORTED, f"frame_import:{report.id}",
                {"name": name, "filename": filename, "frame_id": report.frame_id,
                 **report.counts}, client_ip(request))  # fmt: skip
    return RedirectResponse(f"{FRAMES}/imports/{report.id}", status_code=303)


async def _import(session, upload, filename, suffix, name, region, staff) -> FrameImportReport:
    """Check and store the upload; a file that cannot be read is a report of one problem."""
    with tempfile.TemporaryDirectory(prefix="manyi-frame-") as folder:
        path = Path(folder) / f"upload{suffix}"
        with open(path, "wb") as handle:
            while chunk := await upload.read(1024 * 1024):
                handle.write(chunk)
        try:
            result = import_frame(session, path, name, default_region=region)
        except FrameImportError as error:
            words = str(error).replace(path.name, filename)
            problem = {
                "row": None,
                "column": None,
                "code": "unreadable-file",
                "value": filename,
                "problem": words,
                "fix": "fix the file as said, then import it again",
            }
            counts = {"rows_read": 0, "stored": 0, "invalid": 0, "duplicates": 0,
                      "opted_out": 0}  # fmt: skip
            frame_id, problems = None, [problem]
        else:
            counts = result.summary()
            frame_id = result.stored.id if result.stored is not None else None
            if result.stored is not None:
                result.stored.source = filename  # the upload's name, not the temporary file's
                session.add(result.stored)
            problems = [
                {
                    "row": p.row,
                    "column": p.column,
                    "code": p.code,
                    "value": p.value,
                    "problem": p.problem,
                    "fix": p.fix,
                }
                for p in result.check.problems
            ]
    report = FrameImportReport(name=name, filename=filename, frame_id=frame_id, counts=counts,
                               problems=problems, imported_by=staff.id)  # fmt: skip
    session.add(report)
    session.commit()
    session.refresh(report)
    return report


def _report(session: Session, report_id: int) -> FrameImportReport:
    report = session.get(FrameImportReport, report_id)
    if report is None:
        raise HTTPException(404)
    return report


@router.get("/frames/imports/{report_id}", response_class=HTMLResponse)
def import_report(
    request: Request, report_id: RowId, staff: Operator, session: SessionDep
) -> HTMLResponse:
    """One import: its counts and its problems (the first ones; the CSV has them all)."""
    report = _report(session, report_id)
    frame = session.get(SampleFrame, report.frame_id) if report.frame_id else None
    return console_page(
        request, staff, "console/frames_import.html", current=FRAMES, report=report,
        frame=frame, shown=report.problems[:SHOWN_PROBLEMS], count_labels=COUNT_LABELS,
    )  # fmt: skip


@router.get("/frames/imports/{report_id}/report.csv")
def import_report_csv(report_id: RowId, staff: Operator, session: SessionDep) -> Response:
    """Every problem of an import as CSV (UTF-8 with BOM, so Excel shows Chinese).

    Values come from the operator's file: each text cell is one a spreadsheet must not run.
    """
    report = _report(session, report_id)
    out = io.StringIO()
    out.write("\ufeff")
    writer = csv.writer(out)
    writer.writerow(REPORT_COLUMNS)
    for p in report.problems:
        writer.writerow(["" if p.get("row") is None else p["row"]] +
                        [csv_cell(str(p.get(c) or "")) for c in REPORT_COLUMNS[1:]])  # fmt: skip
    filename = f"frame-import-{report.id}-problems.csv"
    return Response(
        out.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


# -- campaigns -----------------------------------------------------------------------------


@router.get("/campaigns", response_class=HTMLResponse)
def campaigns(request: Request, staff: Operator, session: SessionDep) -> HTMLResponse:
    """Every campaign, newest first, with its invitations, messages sent and completes."""
    return console_page(request, staff, "console/campaigns.html", current=CAMPAIGNS,
                        summaries=list(reversed(campaign_summaries(session))))  # fmt: skip


#: The form's fields as typed, and what an empty form holds.
FIELDS = {
    "questionnaire": "", "frame": "", "name": "", "sample": "", "quotas": "", "seed": "",
    "rate": "10", "quiet": "21:00-08:00", "reminders": "0", "reminder_delay": "48",
    "starts": "", "expires": "7d", "layout": "grouped", "message_zh": "", "message_en": "",
}  # fmt: skip
#: How a form's errors name its fields (survey.campaigns.plan words its messages with them).
FORM_NAMES = {
    "questionnaire": "questionnaire", "frame": "sample frame", "name": "name",
    "channels": "channels", "sample": "sample size", "stratify": "stratify by",
    "quota": "quotas", "seed": "seed", "rate": "rate", "quiet": "quiet hours",
    "reminders": "reminders", "reminder_delay": "reminder delay", "starts": "starts",
    "expires": "expires", "layout": "layout", "message_zh": "Chinese message",
    "message_en": "English message",
    "publish_hint": "publish one in the console's questionnaires section",
    "import_hint": "import one in the console's sample frames section",
}  # fmt: skip


def _new_page(request, session, staff, status_code=200, *, typed=None, channels=None,
              strata=None, errors=None):  # fmt: skip
    versions = session.exec(
        select(QuestionnaireVersion).order_by(col(QuestionnaireVersion.published_at).desc(),
                                              col(QuestionnaireVersion.id).desc())
    ).all()  # fmt: skip
    names = session.exec(select(SampleFrame.name).order_by(col(SampleFrame.id).desc())).all()
    return console_page(
        request, staff, "console/campaign_new.html", status_code, current=CAMPAIGNS,
        versions=versions, frame_names=names, typed=typed or dict(FIELDS),
        channels=channels if channels is not None else ["sms_link"],
        strata=strata or [], errors=errors or {}, all_channels=CHANNELS,
        all_strata=[(s, STRATUM_LABELS[s]) for s in STRATA], layouts=LAYOUTS,
        layout_labels=LAYOUT_LABELS, defaults=DEFAULT_MESSAGES,
    )  # fmt: skip


@router.get("/campaigns/new", response_class=HTMLResponse)
def new_campaign(request: Request, staff: Operator, session: SessionDep) -> HTMLResponse:
    """The form of a new campaign."""
    return _new_page(request, session, staff)


def _number(text: str, kind, field: str, example: str, errors: dict[str, str]):
    """``text`` as ``kind`` (int or float), None when blank; an error for its field else."""
    text = text.strip()
    if not text:
        return None
    try:
        return kind(text)
    except ValueError:
        whole = "a whole number" if kind is int else "a number"
        errors[field] = f"{FORM_NAMES[field]} {text!r}: write {whole}, e.g. {example}"
        return None


@router.post("/campaigns", response_class=HTMLResponse)
async def create_campaign(
    request: Request, staff: Operator, session: SessionDep, settings: SettingsDep, now: Now,
    _: CsrfChecked,
) -> Response:  # fmt: skip
    """Create a draft campaign and draw its sample, or show the form again with every
    problem next to its field (422), keeping what was typed."""
    form = await request.form()
    typed = {key: str(form.get(key) or "")[:4000] for key in FIELDS}
    channels = [str(c) for c in form.getlist("channels")]
    strata = [s for s in STRATA if s in form.getlist("stratify")]  # the frame's column order
    errors: dict[str, str] = {}
    sample = _number(typed["sample"], int, "sample", "500", errors)
    seed = _number(typed["seed"], int, "seed", "7", errors)
    rate = _number(typed["rate"], float, "rate", "10", errors)
    reminders = _number(typed["reminders"], int, "reminders", "1", errors)
    delay = _number(typed["reminder_delay"], float, "reminder_delay", "48", errors)
    request_ = CampaignRequest(
        questionnaire=typed["questionnaire"], frame=typed["frame"], name=typed["name"],
        channels=channels, sample=sample, stratify=",".join(strata) or None,
        quotas=typed["quotas"].splitlines(), seed=seed,
        rate=rate if rate is not None else 10.0, quiet=typed["quiet"],
        reminders=reminders if reminders is not None else 0,
        reminder_delay=delay if delay is not None else 48.0,
        starts=typed["starts"] or None, expires=typed["expires"] or None,
        layout=typed["layout"], message_zh=typed["message_zh"] or None,
        message_en=typed["message_en"] or None,
    )  # fmt: skip
    if not typed["questionnaire"]:
        errors["questionnaire"] = "choose the questionnaire to ask"
    if not typed["frame"]:
        errors["frame"] = "choose the sample frame to draw from"
    made = None
    try:
        made = create_from_frame(
            session, request_, secret=settings.secret_key.get_secret_value(),
            public_base_url=str(settings.public_base_url), timezone=settings.timezone,
            now=now, names=FORM_NAMES, staff_id=staff.id, ip=client_ip(request),
            known=[PlanProblem(key, words) for key, words in errors.items()],
        )  # fmt: skip
    except PlanRefused as refused:
        errors = {}
        for problem in refused.problems:
            key = {"quota": "quotas"}.get(problem.field or "", problem.field or "form")
            errors[key] = f"{errors[key]}; {problem.message}" if key in errors \
                else problem.message  # fmt: skip
    if made is None:
        return _new_page(request, session, staff, 422, typed=typed, channels=channels,
                         strata=strata, errors=errors)  # fmt: skip
    return RedirectResponse(f"{CAMPAIGNS}/{made.campaign.id}?m=created", status_code=303)


def _monitor(request, session, settings, staff, campaign_id, now, status_code=200, *,
             message=None, error=None):  # fmt: skip
    try:
        counted = fieldwork(session, campaign_id, now=now, timezone=settings.timezone)
    except CampaignNotFound:
        raise HTTPException(404) from None
    return console_page(
        request, staff, "console/campaign.html", status_code, current=CAMPAIGNS, live=True,
        work=counted, message=message, error=error, rate_names=RATE_NAMES,
        categories=[(c, CATEGORY_NAMES[c]) for c in CATEGORIES],
        stratum_labels=STRATUM_LABELS, layout_labels=LAYOUT_LABELS,
        channel_words=lambda code: label(CHANNEL_LABELS, code),
    )  # fmt: skip


@router.get("/campaigns/{campaign_id}", response_class=HTMLResponse)
def monitor(request: Request, campaign_id: RowId, staff: Operator, session: SessionDep,
            settings: SettingsDep, now: Now, m: Message = "") -> HTMLResponse:  # fmt: skip
    """The live fieldwork monitor, counted now from the tables."""
    return _monitor(request, session, settings, staff, campaign_id, now, message=DONE.get(m))


@router.post("/campaigns/{campaign_id}/{action}", response_class=HTMLResponse)
def act(
    request: Request,
    campaign_id: RowId,
    action: str,
    staff: Operator,
    session: SessionDep,
    settings: SettingsDep,
    now: Now,
    _: CsrfChecked,
) -> Response:
    """Launch, pause, resume or close; a change the campaign's state forbids is refused in
    words (409) on the monitor."""
    if action not in ACTIONS:
        raise HTTPException(404)
    campaign = session.get(Campaign, campaign_id)
    if campaign is None:
        raise HTTPException(404)
    detail: dict = {"from": campaign.status}
    try:
        if action == "launch":
            if campaign.status != "draft":
                raise CampaignError(f"campaign {campaign_id} is {campaign.status}: only a draft "
                                    "is launched (resume a paused one)")  # fmt: skip
            detail |= launch(session, campaign, timezone=settings.timezone)
        else:
            change_status(session, campaign, action)
    except InvalidRequest as error:
        session.rollback()
        return _monitor(request, session, settings, staff, campaign_id, now, 409,
                        error=str(error))  # fmt: skip
    audit.audit(session, staff, ACTIONS[action], f"campaign:{campaign_id}",
                {**detail, "to": campaign.status}, client_ip(request))  # fmt: skip
    return RedirectResponse(f"{CAMPAIGNS}/{campaign_id}?m={action}", status_code=303)
