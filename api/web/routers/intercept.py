"""Intercept interviews in service halls: ``/intercept/{campaign_id}`` on an interviewer's tablet.

- ``GET /intercept/{campaign_id}``: the start page; the interviewer types their id, picks
  the hall (or types one) and the language of the interview.
- ``POST /intercept/{campaign_id}``: creates the response (channel ``intercept``, tagged
  with interviewer and hall) and leads to its first page.
- ``/intercept/r/{token}``, ``.../p/{number}``, ``.../done``: the questionnaire pages, the
  same router factory as the customer's web form (:mod:`api.web.answering_pages`), with the
  interviewer's missing codes; the thank-you page leads to the next interview.

A campaign without the intercept channel, or not running, is refused with a page that says
so: the interviewer needs to know why, and a campaign id is no secret.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from api.web.answering_pages import (
    HTML_LANG,
    LANGUAGE_NAMES,
    AnsweringRoute,
    CsrfRefused,
    Flow,
    answering_router,
    csrf_token,
    csrf_valid,
    posted_form,
    secret_of,
    send_page,
)
from api.web.deps import SessionDep, SettingsDep
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

router = APIRouter(
    prefix="/intercept", tags=["intercept"], route_class=AnsweringRoute, include_in_schema=False
)

INTERVIEW = Flow(
    prefix="/intercept/r",
    tag="intercept",
    open=lambda session, token, secret, _staff: open_interview(session, token, secret),
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
}


def _start_subject(campaign_id: int) -> str:
    # Not a link token (those never contain a colon): the two CSRF fields never coincide.
    return f"intercept:{campaign_id}"


def _start_page(
    request: Request,
    target: InterceptCampaign,
    session,
    settings,
    *,
    values: dict[str, str],
    errors: dict[str, str],
) -> HTMLResponse:
    campaign = target.campaign
    return send_page(
        request,
        "intercept/start.html",
        status_code=200,
        html_lang="zh-CN",
        campaign=campaign.name,
        action=f"/intercept/{campaign.id}",
        csrf=csrf_token(secret_of(settings), _start_subject(campaign.id)),
        halls=service_halls(session, campaign),
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
    campaign_id: int, request: Request, session: SessionDep, settings: SettingsDep
) -> Response:
    try:
        target = intercept_campaign(session, campaign_id)
    except InterceptRefused as refusal:
        return _refused(request, refusal)
    values = {"interviewer": "", "hall": "", "language": target.default_language}
    return _start_page(request, target, session, settings, values=values, errors={})


@router.post("/{campaign_id}", response_class=HTMLResponse)
def start(
    campaign_id: int,
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    form: Annotated[dict[str, list[str]], Depends(posted_form)],
) -> Response:
    """Create the interview's response (committed) and go to its first page."""
    secret = secret_of(settings)
    if not csrf_valid(secret, _start_subject(campaign_id), form):
        raise CsrfRefused
    try:
        target = intercept_campaign(session, campaign_id)
    except InterceptRefused as refusal:
        return _refused(request, refusal)
    values = {
        "interviewer": clean_name((form.get("interviewer") or [""])[0]),
        "hall": clean_name((form.get("hall") or [""])[0]),
        "language": (form.get("language") or [""])[0],
    }
    errors = check_start(values["interviewer"], values["hall"])
    if errors:
        return _start_page(request, target, session, settings, values=values, errors=errors)
    response = start_interview(
        session,
        target,
        interviewer=values["interviewer"],
        hall=values["hall"],
        language=values["language"],
    )
    return RedirectResponse(
        f"{INTERVIEW.prefix}/{interview_token(secret, response.id)}", status_code=303
    )


# -- the interview's pages: the questionnaire pages under /intercept/r --------------------------

pages = answering_router(INTERVIEW)
