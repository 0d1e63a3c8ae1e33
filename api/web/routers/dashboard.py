"""Managers' pages: ``/dashboard``.

- ``GET /dashboard?version=FORM@VERSION``: satisfaction and loyalty indexes with their
  intervals, their trend by quarter and month, responses by channel, measurement warnings.
- ``GET /dashboard/priorities?version=&dimension=&segment=&period=``: one priority matrix
  (constructs, or one construct's items), whole or for one region, drawn as SVG.
- ``GET /dashboard/rankings?version=&period=``: regions and service halls with their rank
  intervals and the units that cannot be told apart.
- ``GET /dashboard/follow-ups``: open service-remedy follow-ups and SLA breaches.
- ``GET /dashboard/report?version=&period=``: one printable page of a period.

Every number is read from stored analyses (the worker computes them) and cut to the
reader's scope by :func:`api.analysis.scope.scoped_result`; follow-ups and their weekly
report are counted within it (:func:`survey.staff.scope.follow_up_clause`): a regional
manager reaches their own regions' numbers and nothing else. No JavaScript; the matrix is
inline SVG.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Form, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from markupsafe import Markup
from sqlalchemy import select
from sqlmodel import Session, col

from api.analysis import dashboard as data
from api.analysis.request import period_bounds
from api.analysis.result import AnalysisResult
from api.permissions import Permission, allowed
from api.web import charts_svg, matrix_svg, plain_warnings
from api.web.auth import CsrfChecked, ViewerScope, client_ip, csrf_token, page, require_permission
from api.web.deps import Now, RowId, SessionDep, SettingsDep
from api.web.formats import (
    CHANNEL_LABELS,
    SEGMENT_STATUS_LABELS,
    label,
)
from api.web.formats import local_time as shown
from scoring.proportions import wilson_interval
from survey.analyses import answers
from survey.analyses.answers import Where
from survey.answering.pages import questionnaire_of, stored_answers
from survey.cati.outcomes import LABELS as CALL_LABELS
from survey.db.tables import CallAttempt, Customer, FollowUp, QuestionnaireVersion, Staff
from survey.db.tables import Response as SurveyResponse
from survey.errors import InvalidRequest, NotFound
from survey.programmes.contact import follow_up_context
from survey.questionnaire.publish import find_reference
from survey.remedy import actions
from survey.remedy.report import open_follow_ups_of, weekly_report
from survey.remedy.rules import (
    OUTCOME_LABELS,
    OUTCOMES,
    REASON_LABELS,
    ROOT_CAUSE_LABELS,
    ROOT_CAUSES,
)
from survey.sms.messages import customer_messages
from survey.staff.accounts import sees_everywhere
from survey.staff.scope import Scope

router = APIRouter(prefix="/dashboard", tags=["dashboard"], include_in_schema=False)

RemedyReader = Annotated[Staff, Depends(require_permission(Permission.VIEW_FOLLOW_UPS))]
Text = Annotated[str, Query(max_length=200)]


#: The cuts a matrix can be shown by (api.analysis.request.Segment), with their words.
CUTS = {
    "region": ("地区", "region"),
    "service_hall": ("营业厅", "service hall"),
    "tier": ("客户星级", "customer tier"),
    "channel": ("渠道", "channel"),
}

NOT_IN_SCOPE = (
    "这一分组不在您的权限范围内，或没有这一分组的结果。",
    "This segment is outside your scope, or no result exists for it.",
)


class Formats:
    """Number formatting for the templates (one place, the same as the SVG's)."""

    num = staticmethod(matrix_svg.number)
    ci = staticmethod(matrix_svg.interval)
    ranks = staticmethod(matrix_svg.rank_interval)

    @staticmethod
    def period(value: str | None) -> str:
        return value or "全部 all periods"

    @staticmethod
    def share(part: int, whole: int) -> str:
        return f"{part / whole:.0%}" if whole else "–"

    @staticmethod
    def rate(value: float | None) -> str:
        return "n/a" if value is None else f"{value:.1%}"


def _freshness(session: Session, scope: Scope, job, zone: str) -> dict[str, Any] | None:
    """When the shown analysis was computed, and how many responses of its period (in the
    reader's scope) were completed since and in all: the live counts beside the stored
    numbers, so that a page never passes a stale analysis off as today's data."""
    if job is None or job.finished_at is None:
        return None
    since, until = period_bounds(job.period)
    where = Where(job.questionnaire_version_id, since, until)
    return {
        "computed": shown(job.finished_at, zone),
        "new": answers.completed_count(session, scope.staff, where, after=job.finished_at),
        "live": answers.completed_count(session, scope.staff, where),
        "timezone": zone,
    }


def _render(request: Request, staff: Staff, name: str, status_code: int = 200, **context):
    return page(
        request, name, status_code, staff=staff, f=Formats,
        follow_ups=allowed(staff.role, Permission.VIEW_FOLLOW_UPS),
        matrix_css=Markup(matrix_svg.CSS + charts_svg.CSS),  # noqa: S704 (constants of ours)
        segment_status=lambda code: label(SEGMENT_STATUS_LABELS, code),
        analyses_nav=allowed(staff.role, Permission.VIEW_ANALYSES),
        operate_nav=allowed(staff.role, Permission.OPERATE),
        limited=not sees_everywhere(staff),
        scope=", ".join(staff.regions + staff.service_halls),
        **context,
    )  # fmt: skip


def _version(session: Session, requested: str) -> tuple[QuestionnaireVersion | None, list, str]:
    """The version asked for (or the most recently analysed), the choices, and an error."""
    choices = data.analysed_versions(session)
    if requested:
        found = find_reference(session, requested)
        if found is None:
            return None, choices, f"没有问卷版本 No questionnaire version {requested}"
        return found, choices, ""
    return (choices[0] if choices else None), choices, ""


def _common(session: Session, scope: Scope, version, choices) -> dict[str, Any]:
    name = data.version_name(version) if version is not None else ""
    return {
        "version": name,
        "versions": [data.version_name(v) for v in choices],
        "periods": data.periods(session, scope, version.id) if version is not None else [],
        "waiting": data.waiting(session, scope, version.id if version is not None else None),
        "can_run": allowed(scope.staff.role, Permission.RUN_ANALYSES),
        "q": f"?version={name}" if name else "",
    }


def _missing(request, scope, session, name, version, choices, error, **context):
    """The page when the version is unknown (404) or nothing is computed for it yet."""
    return _render(
        request, scope.staff, name, 404 if error else 200,
        error=error, result=None, **_common(session, scope, version, choices), **context,
    )  # fmt: skip


@router.get("", response_class=HTMLResponse)
def overview(request: Request, scope: ViewerScope, session: SessionDep, settings: SettingsDep,
             version: Text = ""):  # fmt: skip
    """Indexes, trends, responses and warnings of all data (the all-periods analysis)."""
    found, choices, error = _version(session, version)
    if found is None:
        return _missing(request, scope, session, "dashboard/overview.html", found, choices, error)
    job, result = data.period_result(session, scope, found.id, None)
    context = _common(session, scope, found, choices)
    if result is None:
        return _render(request, scope.staff, "dashboard/overview.html", result=None, **context)
    indexes = data.indexes_by_construct(result)
    focus = [c for c in data.focus_constructs(result) if c in indexes]
    return _render(
        request, scope.staff, "dashboard/overview.html",
        result=result, job=job, indexes=indexes, focus=focus,
        others=[c for c in indexes if c not in focus],
        label=result.label,
        by_channel=[(label(CHANNEL_LABELS, c), n)
                    for c, n in sorted((result.responses_by_channel or {}).items())],
        warnings=plain_warnings.for_reader(result.warnings, result.label, result.labels,
                                           detailed=_researcher(scope.staff)),
        fresh=_freshness(session, scope, job, settings.timezone),
        trend_plot=lambda rows, freq, construct: charts_svg.trend_plot(
            rows, ident=f"{freq}-{construct}", scale=(0, 100),
            caption=f"{result.label(construct)['zh']} {result.label(construct)['en']}: "
                    f"{'按季度 by quarter' if freq == 'Q' else '按月 by month'}, 95% CI"),
        **context,
    )  # fmt: skip


@router.get("/priorities", response_class=HTMLResponse)
def priorities(
    request: Request,
    scope: ViewerScope,
    session: SessionDep,
    settings: SettingsDep,
    version: Text = "",
    dimension: Text = "constructs",
    segment: Text = "",
    period: Text = "",
    by: Text = "region",
):
    """One priority matrix: of the constructs or of one construct's items, whole or for one
    segment of a cut (region by default; service hall, tier or channel when analysed so)."""
    name = "dashboard/priorities.html"
    found, choices, error = _version(session, version)
    by = by if by in CUTS else "region"
    chosen = {"dimension": dimension or "constructs", "segment": segment, "period": period,
              "by": by}  # fmt: skip
    if found is None:
        return _missing(request, scope, session, name, found, choices, error, chosen=chosen,
                        cuts=CUTS)  # fmt: skip
    context = _common(session, scope, found, choices) | {"chosen": chosen, "cuts": CUTS}
    when = period or None
    job = data.find_job(session, scope, found.id, when, by if segment else None,
                        any_segment=True)  # fmt: skip
    result = data.visible(session, scope, job)
    cut = (
        result
        if segment
        else data.visible(session, scope, data.find_job(session, scope, found.id, when, by))
    )
    view = cut.priorities.get("constructs") if cut is not None else None
    segments = [b["segment"] for b in view.segments] if view is not None else []
    if result is None:
        status = 404 if segment else 200  # an unknown or out-of-scope region says nothing more
        return _render(request, scope.staff, name, status, result=None, segments=segments,
                       not_in_scope=NOT_IN_SCOPE if segment else None, **context)  # fmt: skip
    dimensions = ["constructs", *result.drivers]
    entry = result.priorities.get(chosen["dimension"])
    if entry is None:
        unknown = f"没有这一维度 No dimension {chosen['dimension']!r}"
        return _render(request, scope.staff, name, 404, result=result, segments=segments,
                       dimensions=dimensions, label=result.label,
                       error=unknown, **context)  # fmt: skip
    block, refusal, matrix = None, None, entry.matrix
    if segment:
        block = next((b for b in entry.segments if b["segment"] == segment), None)
        matrix = block["matrix"] if block else None
        refusal = NOT_IN_SCOPE if block is None else None
    warnings = _warnings_of(scope.staff, result, matrix, chosen["dimension"]) if matrix else []
    title = (f"{result.label(chosen['dimension'])['zh']} · "
             f"{segment or '全部 all'} · {Formats.period(when)}")  # fmt: skip
    labels = result.labels
    return _render(
        request, scope.staff, name, 404 if refusal else 200,
        result=result, job=job, segments=segments, dimensions=dimensions, block=block,
        not_in_scope=refusal, matrix=matrix, points=data.ranked_points(matrix),
        warnings=warnings, item_view=chosen["dimension"] != "constructs",
        fresh=_freshness(session, scope, job, settings.timezone),
        quadrants=matrix_svg.quadrant_names(matrix) if matrix else {},
        svg=matrix_svg.matrix_svg(matrix, labels, caption=title) if matrix else None,
        label=result.label, withheld=result.withheld,
        **context,
    )  # fmt: skip


def _warnings_of(staff: Staff, result: AnalysisResult, matrix: dict[str, Any], dimension: str):
    """A matrix's warnings, those of what it shows (a driver and its items, or the drivers),
    in the reader's words (api.web.plain_warnings)."""
    shown = {p["name"] for p in matrix.get("points", [])} | {dimension}
    if dimension == "constructs":
        shown |= set(result.labels)  # the drivers' view: every construct and item counts
    kept = plain_warnings.about(matrix.get("warnings") or [], result.labels, shown)
    return plain_warnings.for_reader(kept, result.label, result.labels,
                                     detailed=_researcher(staff))  # fmt: skip


def _researcher(staff: Staff) -> bool:
    """Who reads warnings with their codes and details: those who run analyses."""
    return allowed(staff.role, Permission.RUN_ANALYSES)


@router.get("/rankings", response_class=HTMLResponse)
def rankings(request: Request, scope: ViewerScope, session: SessionDep, settings: SettingsDep,
             version: Text = "",
             period: Text = ""):  # fmt: skip
    """Regions and service halls ranked on the target index, with their rank intervals."""
    name = "dashboard/rankings.html"
    found, choices, error = _version(session, version)
    if found is None:
        return _missing(request, scope, session, name, found, choices, error, period=period)
    job, result = data.ranking_result(session, scope, found.id, period)
    return _render(
        request, scope.staff, name, result=result, job=job, period=period,
        fresh=_freshness(session, scope, job, settings.timezone),
        tables=_ranking_tables(result) if result else [],
        label=result.label if result else None,
        **_common(session, scope, found, choices),
    )  # fmt: skip


def _ranking_tables(result: AnalysisResult) -> list[dict[str, Any]]:
    """Each kind's ranking: the named rows (a limited reader's own units, placed among all
    units), how many units it ranks, and its rank plot."""
    names = {"region": ("地区", "Regions"), "service_hall": ("营业厅", "Service halls")}
    halls = result.hall_regions
    tables = []
    for kind in ("region", "service_hall"):
        rows = result.rankings.get(kind)
        if rows is None:
            continue
        zh, en = names[kind]
        tables.append({
            "kind": kind, "zh": zh, "en": en, "total": len(rows),
            "rows": [r for r in rows if r["unit"] is not None],
            "regions": halls if kind == "service_hall" else {},
            "plot": charts_svg.rank_plot(rows, ident=kind, caption=f"{zh}排名 {en} ranked"),
        })  # fmt: skip
    return tables


def _item_rows(session: Session, questionnaire, names, reader: Staff, where: Where):
    """Each item's answer distribution (scale points, then missing codes), its top-2-box
    share with a Wilson 95% interval, and n, as the items page shows them."""
    rows = []
    for name in names:
        item = questionnaire.item(name)
        if item.choices is None:
            continue
        counts = answers.distribution(session, item, reader, where)
        scored = item.choices.scored
        n = sum(counts.get(c.name, 0) for c in scored)
        missing = sum(v for k, v in counts.items() if item.is_missing_code(k))
        top = sum(counts.get(code, 0) for code in answers.top_codes(item))
        ordered = sorted(scored, key=lambda c: item.score(c.name) or 0)
        points = [(c, counts.get(c.name, 0)) for c in ordered]
        shares = [(f"{c.label.get('zh', c.name)} {c.label.get('en', '')}", k / n if n else 0.0,
                   f"s{min(i + 1, 5)}") for i, (c, k) in enumerate(points)]  # fmt: skip
        rows.append({
            "name": name, "label": item.label, "n": n, "missing": missing,
            "points": [(c.label, k, k / n if n else None) for c, k in points],
            "top": top / n if n else None, "top_ci": wilson_interval(top, n),
            "bar": charts_svg.share_bar(shares, caption=item.label.get("en", name)),
        })  # fmt: skip
    return rows


@router.get("/items", response_class=HTMLResponse)
def items(
    request: Request,
    scope: ViewerScope,
    session: SessionDep,
    settings: SettingsDep,
    version: Text = "",
    driver: Text = "",
    item: Text = "",
    period: Text = "",
    region: Text = "",
    hall: Text = "",
    channel: Text = "",
    tier: Text = "",
    q: Annotated[str, Query(max_length=answers.MAX_SEARCH)] = "",
    show: Text = "low",
):
    """A driver's items: how customers answered each (distribution, top-2-box), and what
    customers wrote, searchable and filtered; with ``item``, the comments of those who rated
    it low. Counted live from the responses, within the reader's scope."""
    name = "dashboard/items.html"
    found, choices, error = _version(session, version)
    show = "all" if show == "all" else "low"
    chosen = {"driver": driver, "item": item, "period": period, "region": region,
              "hall": hall, "channel": channel, "tier": tier, "q": q, "show": show}  # fmt: skip
    if found is None:
        return _missing(request, scope, session, name, found, choices, error, chosen=chosen)
    context = _common(session, scope, found, choices) | {"chosen": chosen}
    questionnaire = questionnaire_of(found)
    blocks = questionnaire.construct_items()
    rated = None
    if item:
        rated = next((i for i in questionnaire.items if i.name == item and i.construct), None)
        driver = rated.construct if rated is not None else driver
        chosen["driver"] = driver
    driver = driver or (result_drivers(session, scope, found) or list(blocks) or [""])[0]
    chosen["driver"] = driver
    problem = None
    if item and rated is None:
        problem = f"没有题目 No rated item {item!r} in {context['version']}"
    elif driver not in blocks:
        problem = f"没有维度 No driver {driver!r} in {context['version']}"
    try:
        since, until = period_bounds(period or None)
    except ValueError as invalid:
        problem = str(invalid)
    label_of = _labels_of(questionnaire)
    if problem is not None:
        return _render(request, scope.staff, name, 404, error=problem, drivers=list(blocks),
                       label=label_of, **context)  # fmt: skip
    where = Where(found.id, since, until, region or None, hall or None, channel or None,
                  int(tier) if tier.isdigit() else None)  # fmt: skip
    texts = [i.name for i in questionnaire.items if i.type == "text"]
    # Whose comments: of those who rated the item low, or any item of the driver; or all.
    if show == "all":
        low = []
    elif rated is not None:
        low = [rated]
    else:
        low = [i for i in map(questionnaire.item, blocks[driver]) if answers.low_codes(i)]
    found_comments, total = answers.comments(session, texts, scope.staff, where, search=q,
                                             rated_low=low)  # fmt: skip
    zone = settings.timezone
    return _render(
        request, scope.staff, name, drivers=list(blocks), label=label_of,
        rows=_item_rows(session, questionnaire, blocks[driver], scope.staff, where),
        rated=rated, total=total, timezone=zone,
        comments=[{"when": shown(c.completed_at, zone), "region": c.region or "–",
                   "hall": c.hall or "–", "channel": label(CHANNEL_LABELS, c.channel),
                   "item": label_of(c.item), "text": c.text} for c in found_comments],
        channels=list(CHANNEL_LABELS.items()), regions=_regions(session, scope.staff),
        tiers=sorted(t for t in session.execute(select(Customer.tier).distinct()).scalars() if t),
        **context,
    )  # fmt: skip


def result_drivers(session: Session, scope: Scope, version: QuestionnaireVersion) -> list[str]:
    """The target's drivers of the version's newest analysis (the matrix's order), if any."""
    job = data.find_job(session, scope, version.id, None, None, any_segment=True)
    stored = data.visible(session, scope, job)
    return list(stored.drivers) if stored is not None else []


def _labels_of(questionnaire):
    """zh/en label of an item or construct of ``questionnaire``, by name."""
    labels = {i.name: dict(i.label) for i in questionnaire.items}
    labels |= {c: dict(k.label) for c, k in questionnaire.constructs.items()}
    return lambda name: labels.get(name) or {"zh": name, "en": name}


def _regions(session: Session, staff: Staff) -> list[str]:
    """The regions the reader may choose among."""
    if not sees_everywhere(staff):
        return sorted(set(staff.regions))
    return sorted(r for r in session.execute(select(Customer.region).distinct()).scalars() if r)


#: The customers' newest messages in words shown on the follow-ups page.
MESSAGES_SHOWN = 100


@router.get("/follow-ups", response_class=HTMLResponse)
def follow_ups(request: Request, staff: RemedyReader, session: SessionDep,
               settings: SettingsDep, now: Now):  # fmt: skip
    """Open follow-ups (past due first), this week's remedy report and the customers' own
    words by SMS (:func:`survey.sms.messages.customer_messages`), of the reader's scope.

    The weekly report is :func:`survey.remedy.report.weekly_report`, as on
    ``/supervision/follow-ups``, counted over the same follow-ups as the list.
    """
    zone = settings.timezone
    today = now.astimezone(ZoneInfo(zone)).date()
    start = today - timedelta(days=today.weekday())
    report = weekly_report(session, start, zone, now=now, reader=staff)
    names = dict(session.execute(select(Staff.id, Staff.username)).all())
    open_cases = [
        {"id": f.id, "opened": shown(f.opened_at, zone), "due": shown(f.due_at, zone),
         "late": f.due_at < now, "region": region or "–", "hall": hall or "–",
         "reasons": [label(REASON_LABELS, r) for r in f.reasons], "case_id": f.case_id,
         "escalated": f.escalated_at is not None, "assignee": names.get(f.assigned_to)}
        for f, region, hall in open_follow_ups_of(session, staff)
    ]  # fmt: skip
    messages = [
        {"id": m.id, "received": shown(m.received_at, zone), "tail": m.phone_tail,
         "region": m.region or "–", "hall": m.hall or "–", "body": m.body,
         "asks_to_stop": m.asks_to_stop}
        for m in customer_messages(session, staff, limit=MESSAGES_SHOWN)
    ]  # fmt: skip
    return _render(
        request, staff, "dashboard/follow_ups.html", messages=messages,
        messages_shown=MESSAGES_SHOWN,
        report=report, open_cases=open_cases, breaches=sum(c["late"] for c in open_cases),
        rate=None if report.resolution_rate is None else f"{report.resolution_rate:.0%}",
        timezone=zone, supervisor=allowed(staff.role, Permission.SUPERVISE), q="",
    )  # fmt: skip


Manager = Annotated[Staff, Depends(require_permission(Permission.MANAGE_FOLLOW_UPS))]
Words = Annotated[str, Form(max_length=2000)]
#: What the case page says after an action (the redirect's ``m``).
DONE = {
    "assigned": ("已分派。", "Assigned."),
    "escalated": ("已升级：此回访排在所有回访之前。", "Escalated: this call now comes first."),
    "closed": ("已关闭。", "Closed."),
}
#: The history's words for each action of the audit log.
ACTIONS = {
    actions.ASSIGNED: ("分派给", "assigned to"),
    actions.ESCALATED: ("升级", "escalated"),
    actions.CLOSED: ("关闭", "closed"),
}


def _answers(session: Session, follow_up: FollowUp) -> list[dict[str, Any]]:
    """Every answered question of the customer's response, in questionnaire order, with the
    choice's words; low answers (:meth:`Item.is_low`) are marked."""
    response = session.get(SurveyResponse, follow_up.response_id)
    version = session.get(QuestionnaireVersion, response.questionnaire_version_id)
    questionnaire = questionnaire_of(version)
    stored = stored_answers(session, response.id)
    shown = []
    for item in questionnaire.items:
        value = stored.get(item.name)
        if value in (None, ""):
            continue
        choice = item.choices.choice(value) if item.choices is not None else None
        words = choice.label if choice is not None else {"zh": value, "en": value}
        shown.append({"name": item.name, "zh": item.label.get("zh", item.name),
                      "en": item.label.get("en", item.name), "answer": words,
                      "text": item.type == "text", "low": item.is_low(value)})  # fmt: skip
    return shown


def _event(at, who, what: tuple[str, str], *details: tuple[str, str] | str | None):
    words = [" ".join(d) if isinstance(d, tuple) else d for d in details]
    return {"at": at, "who": who, "what": what, "detail": " · ".join(w for w in words if w)}


def _history(session: Session, follow_up: FollowUp, names: dict[int, str]) -> list[dict]:
    """Opened, each action (the audit log), each call of its case, and the closing, in order."""
    events = [_event(follow_up.opened_at, None, ("开启", "opened"),
                     *(label(REASON_LABELS, r) for r in follow_up.reasons))]  # fmt: skip
    for entry, who in actions.history(session, follow_up.id):
        detail = entry.detail or {}
        outcome = label(OUTCOME_LABELS, detail["outcome"]) if "outcome" in detail else None
        cause = label(ROOT_CAUSE_LABELS, detail.get("root_cause")) if outcome else None
        events.append(_event(entry.at, who, label(ACTIONS, entry.action),
                             detail.get("to"), detail.get("reason"), outcome, cause))  # fmt: skip
    if follow_up.case_id is not None:
        calls = select(CallAttempt).where(CallAttempt.case_id == follow_up.case_id)
        for call in session.execute(calls).scalars():
            events.append(_event(call.ended_at or call.started_at, names.get(call.interviewer_id),
                                 ("回访电话", "call"), label(CALL_LABELS, call.outcome),
                                 call.notes))  # fmt: skip
    closing = [e for e in events if e["what"] == ACTIONS[actions.CLOSED]]
    if follow_up.status == "closed" and not closing:  # closed on the call page
        events.append(_event(follow_up.closed_at, names.get(follow_up.closed_by),
                             ACTIONS[actions.CLOSED], label(OUTCOME_LABELS, follow_up.outcome),
                             follow_up.notes))  # fmt: skip
    return sorted(events, key=lambda e: e["at"])


def _case_context(session: Session, staff: Staff, follow_up: FollowUp, zone: str, now):
    response = session.get(SurveyResponse, follow_up.response_id)
    customer = session.get(Customer, follow_up.customer_id) if follow_up.customer_id else None
    names = dict(session.execute(select(Staff.id, Staff.username)).all())
    events = _history(session, follow_up, names)
    for event in events:
        event["at"] = shown(event["at"], zone)
    callers = session.execute(
        select(Staff.username).where(Staff.active, col(Staff.role).in_(actions.CALLERS))
        .order_by(Staff.username)
    ).scalars().all()  # fmt: skip
    return {
        "case": follow_up, "late": follow_up.status == "open" and follow_up.due_at < now,
        "opened": shown(follow_up.opened_at, zone), "due": shown(follow_up.due_at, zone),
        "escalated": shown(follow_up.escalated_at, zone),
        "assignee": names.get(follow_up.assigned_to),
        "region": customer.region if customer else None,
        "hall": (customer.service_hall if customer else None) or response.service_hall,
        "channel": label(CHANNEL_LABELS, response.channel),
        "submitted": shown(response.completed_at, zone),
        "reasons": [label(REASON_LABELS, r) for r in follow_up.reasons],
        "outcome": label(OUTCOME_LABELS, follow_up.outcome) if follow_up.outcome else None,
        "root_cause": label(ROOT_CAUSE_LABELS, follow_up.root_cause),
        "answers": _answers(session, follow_up), "history": events,
        **follow_up_context(session, follow_up.response_id, zone),
        "can_act": allowed(staff.role, Permission.MANAGE_FOLLOW_UPS) and follow_up.status == "open",
        "callers": callers,
        "outcomes": [(o, label(OUTCOME_LABELS, o)) for o in OUTCOMES],
        "root_causes": [(c, label(ROOT_CAUSE_LABELS, c)) for c in ROOT_CAUSES],
        "timezone": zone,
    }  # fmt: skip


def _case_page(request, session, settings, staff, follow_up_id, now, *, message=None,
               error=None, status_code=200):  # fmt: skip
    try:
        follow_up = actions.follow_up_in_scope(session, staff, follow_up_id)
    except NotFound:
        raise HTTPException(404) from None
    return _render(
        request, staff, "dashboard/follow_up.html", status_code, q="",
        message=message, error=error, csrf=csrf_token(request, settings),
        **_case_context(session, staff, follow_up, settings.timezone, now),
    )  # fmt: skip


@router.get("/follow-ups/{follow_up_id}", response_class=HTMLResponse)
def follow_up_case(request: Request, follow_up_id: RowId, staff: RemedyReader,
                   session: SessionDep, settings: SettingsDep, now: Now, m: Text = ""):  # fmt: skip
    """One follow-up: the customer's answers, the history, and (for those who manage
    follow-ups) assign, escalate and close."""
    return _case_page(request, session, settings, staff, follow_up_id, now,
                      message=DONE.get(m))  # fmt: skip


def _act(request, session, settings, staff, follow_up_id, now, done: str, action):
    """Run ``action``; back to the case page with what happened, or with why not (409)."""
    try:
        action()
    except NotFound:
        raise HTTPException(404) from None
    except InvalidRequest as error:
        return _case_page(request, session, settings, staff, follow_up_id, now,
                          error=str(error), status_code=409)  # fmt: skip
    return RedirectResponse(f"/dashboard/follow-ups/{follow_up_id}?m={done}", status_code=303)


@router.post("/follow-ups/{follow_up_id}/assign", response_class=HTMLResponse)
def assign(request: Request, follow_up_id: RowId, staff: Manager, session: SessionDep,
           settings: SettingsDep, now: Now, _: CsrfChecked,
           to: Annotated[str, Form(max_length=64)]):  # fmt: skip
    return _act(request, session, settings, staff, follow_up_id, now, "assigned",
                lambda: actions.assign_follow_up(session, follow_up_id, to, staff, now,
                                                 ip=client_ip(request)))  # fmt: skip


@router.post("/follow-ups/{follow_up_id}/escalate", response_class=HTMLResponse)
def escalate(request: Request, follow_up_id: RowId, staff: Manager, session: SessionDep,
             settings: SettingsDep, now: Now, _: CsrfChecked, reason: Words = ""):  # fmt: skip
    return _act(request, session, settings, staff, follow_up_id, now, "escalated",
                lambda: actions.escalate_follow_up(session, follow_up_id, reason, staff, now,
                                                   ip=client_ip(request)))  # fmt: skip


@router.post("/follow-ups/{follow_up_id}/close", response_class=HTMLResponse)
def close(request: Request, follow_up_id: RowId, staff: Manager, session: SessionDep,
          settings: SettingsDep, now: Now, _: CsrfChecked,
          outcome: Annotated[str, Form(max_length=32)],
          root_cause: Annotated[str, Form(max_length=64)] = "", notes: Words = ""):  # fmt: skip
    cause = root_cause or None
    return _act(request, session, settings, staff, follow_up_id, now, "closed",
                lambda: actions.close_manually(session, follow_up_id, outcome, cause, notes,
                                               staff, now, ip=client_ip(request)))  # fmt: skip


@router.get("/report", response_class=HTMLResponse)
def report(request: Request, scope: ViewerScope, session: SessionDep, settings: SettingsDep,
           version: Text = "",
           period: Text = ""):  # fmt: skip
    """One printable page of a period: indexes, the construct matrix, priorities, rankings."""
    name = "dashboard/report.html"
    found, choices, error = _version(session, version)
    if found is None:
        return _missing(request, scope, session, name, found, choices, error, period=period)
    job, result = data.period_result(session, scope, found.id, period)
    context = _common(session, scope, found, choices) | {"period": period}
    if result is None:
        return _render(request, scope.staff, name, result=None, **context)
    indexes = data.indexes_by_construct(result)
    view = result.priorities.get("constructs")
    matrix = view.matrix if view is not None else None
    ranked = data.ranking_result(session, scope, found.id, period)[1]
    tables = _ranking_tables(ranked) if ranked is not None else []
    return _render(
        request, scope.staff, name, result=result, job=job, indexes=indexes,
        focus=[c for c in data.focus_constructs(result) if c in indexes],
        drivers=[c for c in result.drivers if c in indexes],
        label=result.label,
        svg=matrix_svg.matrix_svg(matrix, result.labels, ident="report",
                                  caption="驱动因素优先级 Driver priorities") if matrix else None,
        matrix=matrix, points=data.top_priorities(matrix),
        quadrants=matrix_svg.quadrant_names(matrix) if matrix else {},
        regions=next((t for t in tables if t["kind"] == "region"), None),
        halls=next((t for t in tables if t["kind"] == "service_hall"), None),
        withheld=result.withheld, fresh=_freshness(session, scope, job, settings.timezone),
        **context,
    )  # fmt: skip
