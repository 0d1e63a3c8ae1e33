"""The web questionnaire a customer opens from an invitation link: ``/s/{token}``.

- ``GET /s/{token}``: the page to resume at (see :func:`survey.answering.pages.resume_page`).
- ``GET /s/{token}/p/{number}``: a page, with the answers stored for it (the back button).
- ``POST /s/{token}/p/{number}``: save a page; the last page completes the response, once.
- ``GET /s/{token}/done?k=...``: the thank-you page, reached only through the signed marker
  the completing POST redirects to.

Unknown tokens, expired or closed campaigns and used links all get one page, byte for byte
(404), so a token cannot be probed; the customer who has just completed sees the thank-you
page through the signed redirect. The token is in the URL: every page is ``no-store`` and
sends no referrer. The pages themselves are :mod:`api.web.answering_pages`.
"""

from __future__ import annotations

from functools import partial
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.engine import Connection

from api.web.answering_pages import (
    _SECURITY_RAW_HEADERS,
    WEB,
    AnsweringRoute,
    CsrfRefused,
    LangQuery,
    ValidPage,
    after_saving,
    check_answer,
    csrf_valid,
    done_response,
    page_response,
    resume_response,
    secret_of,
    send_page,
)
from api.web.deps import SessionDep, SettingsDep, get_group_commit, settings_of
from api.web.forms import form_fields
from survey.answering.pages import Link, LinkUnavailable, apply_page, open_link, read_link

router = APIRouter(
    prefix="/s", tags=["respondent"], route_class=AnsweringRoute, include_in_schema=False
)




def get_link(token: str, session: SessionDep) -> Link:
    return open_link(session, token)


LinkDep = Annotated[Link, Depends(get_link)]


# -- routes ----------------------------------------------------------------------------------


@router.get("/{token}", response_class=HTMLResponse)
def resume(
    request: Request,
    link: LinkDep,
    session: SessionDep,
    settings: SettingsDep,
    lang: LangQuery = None,
) -> Response:
    return resume_response(WEB, request, link, session, settings, lang)


@router.get("/{token}/p/{number}", response_class=HTMLResponse)
def show_page(
    request: Request,
    number: int,
    link: LinkDep,
    session: SessionDep,
    settings: SettingsDep,
    lang: LangQuery = None,
) -> Response:
    return page_response(WEB, request, number, link, session, settings, lang)


def _answer_in_batch(
    request: Request,
    token: str,
    number: int,
    form: dict[str, list[str]],
    settings,
    connection: Connection,
) -> Response | None:
    """Read the link, check the page and write it, in a group commit's transaction.

    Returns the answer to send once the batch is committed, or None for an unavailable link:
    an expected outcome, returned rather than raised so that the batch is not rolled back. A
    page with errors is rendered here too: rare, and simpler than carrying the link out.
    """
    try:
        link = read_link(connection, token)
        checked = check_answer(WEB, request, number, form, link, settings)
    except LinkUnavailable:
        return None
    if not isinstance(checked, ValidPage):
        return checked
    saved = apply_page(connection, checked.write)
    return after_saving(WEB, link, checked, saved, settings)


async def answer_page(request: Request) -> Response:
    """POST /s/{token}/p/{number}: save a page. The hot path of collection, kept lean.

    A plain Starlette route (added below), not a FastAPI one: FastAPI's parameter and
    dependency machinery, and a sync route's worker thread, cost more CPU than the page itself
    (see :func:`api.web.deps.settings_of`). The form is read (:func:`api.web.forms.form_fields`) and
    the CSRF field checked on the event loop; the link is read, the page checked and written in
    the application's group commit (one thread, one transaction for every page waiting), and
    the redirect is sent after its commit. Reading in the same transaction as the write also
    means the page is checked against the response's latest state.
    """
    try:
        response = await _answer_page(request)
    except LinkUnavailable:
        response = send_page(request, "respondent/unavailable.html", 404, html_lang="zh-CN")
    except CsrfRefused:
        response = send_page(request, "respondent/refused.html", 403, html_lang="zh-CN")
    response.raw_headers.extend(_SECURITY_RAW_HEADERS)
    return response


async def _answer_page(request: Request) -> Response:
    params = request.path_params
    token, number = params["token"], params["number"]
    if not number.isdigit() or len(number) > 6:
        raise LinkUnavailable
    settings = settings_of(request)
    form: dict[str, list[str]] = {}
    for name, value in await form_fields(request):
        form.setdefault(name, []).append(value)
    # The CSRF check comes before the token lookup: a forged POST learns nothing about tokens.
    if not csrf_valid(secret_of(settings), token, form):
        raise CsrfRefused
    job = partial(_answer_in_batch, request, token, int(number), form, settings)
    response = await get_group_commit(request).submit_async(job)
    if response is None:
        raise LinkUnavailable
    return response


# A Starlette route does not get the router's prefix: it is spelled out.
router.add_route(
    f"{router.prefix}/{{token}}/p/{{number}}",
    answer_page,
    methods=["POST"],
    include_in_schema=False,
)


@router.get("/{token}/done", response_class=HTMLResponse)
def done(
    request: Request,
    token: str,
    session: SessionDep,
    settings: SettingsDep,
    k: Annotated[str, Query(max_length=80)] = "",
) -> Response:
    return done_response(WEB, request, token, session, settings, k)
