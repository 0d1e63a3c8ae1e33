"""Intercept interviews in service halls: ``/intercept/{campaign_id}`` on an interviewer's tablet.

Staff work: every page needs a signed-in account with the ``intercept`` permission (a page
without a session redirects to ``/login``). A campaign id is no secret, so it must never be
enough to add a response.

- ``GET /intercept/{campaign_id}``: the start page; the interviewer picks the hall (only
  their own halls when their account is limited to some; otherwise from the list or typed)
  and the language of the interview.
- ``POST /intercept/{campaign_id}``: creates the response (channel ``intercept``, tagged
  with the account's username, never a typed name, and the hall) and leads to its first page.
- ``/intercept/r/{token}``, ``.../p/{number}``, ``.../done``: the questionnaire pages, the
  same router factory as the customer's web form (:mod:`api.web.answering_pages`), with the
  interviewer's missing codes; only the interviewer who started the interview opens them,
  and their CSRF field is tied to that interviewer's session. The thank-you page leads to
  the next interview.

A campaign without the intercept channel, or not running, is refused with a page that says
so: the interviewer needs to know why.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from api.permissions import Permission
from api.web.answering_pages import (
    HTML_LANG,
    LANGUAGE_NAMES,
    AnsweringRoute,
    Flow,
    answering_router,
    posted_form,
    secret_of,
    send_page,
    staff_csrf_subject,
)
from api.web.auth import CsrfChecked, csrf_token, require_permission
from api.web.deps import RowId, SessionDep, SettingsDep
from survey.answering.intercept import (
    InterceptCampaign,
    InterceptRefused,
    check_start,
    clean_name,
    intercept_campaign,
    interview_token,
    open_interview,
    service_halls,
    start_interview,
)
from survey.db.tables import Staff

Interviewer = Annotated[Staff, Depends(require_permission(Permission.INTERCEPT))]

router = APIRouter(
    prefix="/intercept", tags=["intercept"], route_class=AnsweringRoute, include_in_schema=False
)

INTERVIEW = Flow(
    prefix="/intercept/r",
    tag="intercept",
    open=lambda session, token, secret, staff: open_interview(
        session, token, secret, staff.username
    ),
    staff=require_permission(Permission.INTERCEPT),
    csrf_subject=staff_csrf_subject,
    after=lambda link: f"/intercept/{link.campaign.id}",
)

#: Refusals: HTTP status and the message, in both languages (the tablet's reader may be
#: either; the start page comes before a language is chosen).
REFUSALS = {
    "unknown": (404, "没有这个调查活动。", "There is no such campaign."),
    "no_intercept": (
        409,
        "此调查活动不包括营业厅拦截访问。",
        "This campaign does not include intercept interviews in service halls.",
    ),
    "not_open": (
        409,
        "此调查活动目前没有在进行。",
        "This campaign is not running at the moment.",
    ),
}
START_ERRORS = {
    "required": "必填 · Required",
    "too_long": "最多 64 个字符 · At most 64 characters",
    "invalid": "含有不可见字符 · Contains invisible characters",
    "not_yours": "您的账号不能在此营业厅访问 · Your account is not for this hall",
}


def _start_page(
    request: Request,
    target: InterceptCampaign,
    session,
    settings,
    staff: Staff,
    *,
    values: dict[str, str],
    errors: dict[str, str],
) -> HTMLResponse:
    campaign = target.campaign
    own = list(staff.service_halls)
    return send_page(
        request,
        "intercept/start.html",
        status_code=200,
        html_lang="zh-CN",
        campaign=campaign.name,
        action=f"/intercept/{campaign.id}",
        csrf=csrf_token(request, settings),
        interviewer=staff.username,
        # A limited account picks among its halls; others pick from the campaign's or type.
        halls=own or service_halls(session, campaign),
        typed=not own,
        languages=[(code, LANGUAGE_NAMES.get(code, code)) for code in target.languages],
        values=values,
        errors={name: START_ERRORS[code] for name, code in errors.items()},
    )


def _refused(request: Request, refusal: InterceptRefused) -> HTMLResponse:
    status, zh, en = REFUSALS[refusal.reason]
    return send_page(
        request, "intercept/refused.html", status, html_lang=HTML_LANG["zh"], zh=zh, en=en
    )


@router.get("/{campaign_id}", response_class=HTMLResponse)
def start_form(
    campaign_id: RowId,
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    staff: Interviewer,
) -> Response:
    try:
        target = intercept_campaign(session, campaign_id)
    except InterceptRefused as refusal:
        return _refused(request, refusal)
    own = staff.service_halls
    values = {"hall": own[0] if len(own) == 1 else "", "language": target.default_language}
    return _start_page(request, target, session, settings, staff, values=values, errors={})


@router.post("/{campaign_id}", response_class=HTMLResponse)
def start(
    campaign_id: RowId,
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    staff: Interviewer,
    _: CsrfChecked,
    form: Annotated[dict[str, list[str]], Depends(posted_form)],
) -> Response:
    """Create the interview's response (committed) and go to its first page."""
    try:
        target = intercept_campaign(session, campaign_id)
    except InterceptRefused as refusal:
        return _refused(request, refusal)
    values = {
        "hall": clean_name((form.get("hall") or [""])[0]),
        "language": (form.get("language") or [""])[0],
    }
    errors = check_start(staff.username, values["hall"], staff.service_halls)
    if errors:
        return _start_page(
            request, target, session, settings, staff, values=values, errors=errors
        )
    response = start_interview(
        session,
        target,
        interviewer=staff.username,
        hall=values["hall"],
        language=values["language"],
        own_halls=staff.service_halls,
    )
    token = interview_token(secret_of(settings), response.id)
    return RedirectResponse(f"{INTERVIEW.prefix}/{token}", status_code=303)


# -- the interview's pages: the questionnaire pages under /intercept/r --------------------------

pages = answering_router(INTERVIEW)
