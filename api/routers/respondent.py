"""The web questionnaire a customer opens from an invitation link: ``/s/{token}``.

Pages are rendered on the server from the questionnaire version the campaign uses and work
without JavaScript. GET renders a page with the stored answers; a POST with errors re-renders
the page (200) with a message per field; a valid POST stores the page's answers, commits, and
only then redirects (303) to the next page, so an acknowledged page is never lost.

- ``GET /s/{token}``: the page to resume at (see :func:`survey.responding.resume_page`).
- ``GET /s/{token}/p/{number}``: a page, with the answers stored for it (the back button).
- ``POST /s/{token}/p/{number}``: save a page; the last page completes the response, once.
- ``GET /s/{token}/done?k=...``: the thank-you page, reached only through the signed marker
  the completing POST redirects to.

Unknown tokens, expired or closed campaigns and used links all get one page, byte for byte
(404), so a token cannot be probed; the customer who has just completed sees the thank-you
page through the signed redirect. The token is in the URL: every page is ``no-store`` and
sends no referrer.

The page flow itself (:class:`Flow` and the ``*_response`` functions) does not know how a
token opens a response: the intercept interviews of :mod:`api.routers.intercept` run the same
pages under their own prefix, with the interviewer's missing codes.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.routing import APIRoute
from fastapi.templating import Jinja2Templates
from sqlalchemy.engine import Connection
from sqlmodel import Session

from survey.questionnaire import Item
from survey.responding import (
    TEXT_MAX,
    Link,
    LinkUnavailable,
    Page,
    PageWrite,
    apply_page,
    decode,
    mark_opened,
    next_page,
    offered_choices,
    open_link,
    plan_page,
    previous_page,
    read_link,
    relevant_items,
    remember_language,
    resume_page,
    shown_items,
    unanswered_required,
    validate_page,
    visible_pages,
)

from ..deps import SessionDep, SettingsDep, get_group_commit, settings_of
from ..forms import form_fields

TEMPLATES = Jinja2Templates(directory=Path(__file__).resolve().parents[1] / "templates")
#: How long the thank-you page stays reachable after completing (seconds).
DONE_MARKER_TTL = 24 * 3600

SECURITY_HEADERS = {
    # The token in the URL opens the questionnaire: keep pages out of caches and history
    # snapshots, and never send the URL to another site.
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
}

# The same, encoded once, for the hot POST: appending them costs a third of MutableHeaders.update,
# which looks each one up first. The responses there set none of them.
_SECURITY_RAW_HEADERS = [
    (name.lower().encode("latin-1"), value.encode("latin-1"))
    for name, value in SECURITY_HEADERS.items()
]

LANGUAGE_NAMES = {"zh": "中文", "en": "English"}
HTML_LANG = {"zh": "zh-CN", "en": "en"}
TEXT = {
    "zh": {
        "next": "下一页",
        "submit": "提交",
        "back": "上一页",
        "required": "必答",
        "progress": "进度",
        "check": "请检查标出的问题：",
        "language": "语言",
        "thanks": "感谢您的参与！",
        "thanks_body": "您的回答已提交。现在可以关闭此页面。",
        "again": "开始下一份访谈",
        "error.required": "请回答此题。",
        "error.invalid_choice": "请从给出的选项中选择。",
        "error.too_long": f"回答请不超过 {TEXT_MAX} 字。",
        "error.exclusive_missing": "选择“无法回答”时请不要再选其他选项。",
    },
    "en": {
        "next": "Next",
        "submit": "Submit",
        "back": "Back",
        "required": "required",
        "progress": "Progress",
        "check": "Please check the questions marked below:",
        "language": "Language",
        "thanks": "Thank you for taking part!",
        "thanks_body": "Your answers have been submitted. You can close this page now.",
        "again": "Start the next interview",
        "error.required": "Please answer this question.",
        "error.invalid_choice": "Please choose one of the options given.",
        "error.too_long": f"Please keep your answer under {TEXT_MAX} characters.",
        "error.exclusive_missing": "“Cannot answer” cannot be combined with other options.",
    },
}


class CsrfRefused(PermissionError):
    """A form POST without the page's CSRF field (or with a wrong one)."""


def send_page(request: Request, name: str, status_code: int = 200, **context) -> HTMLResponse:
    """Render ``name`` (a path under the templates folder)."""
    return TEMPLATES.TemplateResponse(request, name, context, status_code=status_code)


class RespondentRoute(APIRoute):
    """Turns the respondent's failures into friendly pages and secures every response.

    An unknown token, a closed campaign, a used link or a malformed URL all become the same
    404 page; a refused CSRF check becomes a 403 page.
    """

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def route(request: Request) -> Response:
            try:
                response = await handler(request)
            except (LinkUnavailable, RequestValidationError):
                response = send_page(request, "respondent/unavailable.html", 404, html_lang="zh-CN")
            except CsrfRefused:
                response = send_page(request, "respondent/refused.html", 403, html_lang="zh-CN")
            response.headers.update(SECURITY_HEADERS)
            return response

        return route


router = APIRouter(
    prefix="/s", tags=["respondent"], route_class=RespondentRoute, include_in_schema=False
)


# -- signatures ------------------------------------------------------------------------------


def _sign(secret: str, message: str) -> str:
    digest = hmac.new(secret.encode(), message.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest[:16]).decode().rstrip("=")


def csrf_token(secret: str, subject: str) -> str:
    """The hidden form field: an HMAC of what the form is about under the service's secret.

    For a questionnaire page the subject is the link token, so the check comes before the
    token is looked up: a forged POST is refused the same way whether the token exists or not.
    The forms carry no cookie and no session: the unguessable token in the URL is the only
    authority, and this field proves that the POST comes from a page that was served with it.
    """
    return _sign(secret, f"csrf:{subject}")


def csrf_valid(secret: str, subject: str, form: dict[str, list[str]]) -> bool:
    sent = (form.get("csrf") or [""])[0]
    return hmac.compare_digest(sent.encode(), csrf_token(secret, subject).encode())


def done_marker(secret: str, token: str, now: float | None = None) -> str:
    issued = int(time.time() if now is None else now)
    return f"{issued}.{_sign(secret, f'done:{token}:{issued}')}"


def done_marker_valid(secret: str, token: str, marker: str, now: float | None = None) -> bool:
    issued, _, signature = marker.partition(".")
    if not issued.isdigit():
        return False
    age = (time.time() if now is None else now) - int(issued)
    expected = _sign(secret, f"done:{token}:{issued}")
    return 0 <= age <= DONE_MARKER_TTL and hmac.compare_digest(signature, expected)


# -- dependencies ----------------------------------------------------------------------------


def secret_of(settings) -> str:
    return settings.secret_key.get_secret_value()


async def posted_form(request: Request) -> dict[str, list[str]]:
    form = await request.form()
    return {key: [v for v in form.getlist(key) if isinstance(v, str)] for key in form}


def checked_form(
    token: str, settings: SettingsDep, form: Annotated[dict, Depends(posted_form)]
) -> dict[str, list[str]]:
    if not csrf_valid(secret_of(settings), token, form):
        raise CsrfRefused
    return form


FormDep = Annotated[dict[str, list[str]], Depends(checked_form)]


def get_link(token: str, session: SessionDep) -> Link:
    return open_link(session, token)


LinkDep = Annotated[Link, Depends(get_link)]


LangQuery = Annotated[str | None, Query(max_length=8)]


# -- the page flow ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Flow:
    """One way into the questionnaire pages: where they live and how a token opens them."""

    #: The URL prefix of the pages: ``{prefix}/{token}/p/{number}``.
    prefix: str
    #: Opens a token (session, token, secret); raises LinkUnavailable.
    open: Callable[[Session, str, str], Link]
    #: Where the thank-you page leads on (the next intercept interview), if anywhere.
    after: Callable[[Link], str] | None = None

    def url(self, link: Link, suffix: str = "") -> str:
        return f"{self.prefix}/{link.token}{suffix}"

    def page_url(self, link: Link, page: Page) -> str:
        return self.url(link, f"/p/{page.number}")


WEB = Flow("/s", lambda session, token, _secret: open_link(session, token))


@dataclass(frozen=True, slots=True)
class Option:
    code: str
    label: str
    checked: bool
    missing: bool


@dataclass(frozen=True, slots=True)
class Field:
    name: str
    kind: str  # "radio", "checkbox" or "text"
    type: str
    label: str
    hint: str
    required: bool
    options: tuple[Option, ...]
    text: str
    error: str


def _label(labels, language: str, fallback: str) -> str:
    return labels.get(language) or labels.get(fallback) or next(iter(labels.values()), "")


def _field(link: Link, item: Item, value: Any, error: str, language: str) -> Field:
    default = link.questionnaire.default_language
    if item.type == "text":
        kind, options = "text", ()
    else:
        kind = "checkbox" if item.type == "multiple" else "radio"
        chosen = set(value) if isinstance(value, list) else {value}
        if item.type == "nps":
            options = tuple(Option(str(n), str(n), str(n) in chosen, False) for n in range(11))
        else:
            options = tuple(
                Option(
                    c.name,
                    _label(c.label, language, default),
                    c.name in chosen,
                    c.missing is not None,
                )
                for c in offered_choices(item, link.questionnaire, link.mode)
            )
    return Field(
        name=item.name,
        kind=kind,
        type=item.type,
        label=_label(item.label, language, default),
        hint=_label(item.hint, language, default) if item.hint else "",
        required=item.required,
        options=options,
        text=value if kind == "text" and isinstance(value, str) else "",
        error=error,
    )


def text_for(language: str) -> dict[str, str]:
    return TEXT.get(language, TEXT["en"])


def _render(
    flow: Flow,
    request: Request,
    link: Link,
    page: Page,
    settings,
    *,
    language: str,
    values: dict[str, Any],
    errors: dict[str, str] | None = None,
) -> HTMLResponse:
    errors = errors or {}
    relevant = link.relevant
    visible = visible_pages(link.pages, relevant)
    position = next(
        (i for i, p in enumerate(visible, start=1) if p.number == page.number), len(visible)
    )
    text = text_for(language)
    fields = [
        _field(
            link,
            item,
            values.get(item.name),
            text[f"error.{errors[item.name]}"] if item.name in errors else "",
            language,
        )
        for item in shown_items(page, relevant)
    ]
    back = previous_page(link.pages, page, relevant)
    construct = link.questionnaire.constructs.get(page.construct or "")
    default = link.questionnaire.default_language
    response = link.response
    # The interviewer sees whose interview this is; a customer's page names nobody.
    # Phone interviews have no service hall: only what is known is shown.
    tag = (
        " · ".join(part for part in (response.interviewer, response.service_hall) if part)
        if response is not None and response.interviewer
        else ""
    )
    return send_page(
        request,
        "respondent/page.html",
        html_lang=HTML_LANG.get(language, language),
        t=text,
        title=_label(link.questionnaire.title, language, default),
        heading=_label(construct.label, language, default) if construct else "",
        tag=tag,
        fields=fields,
        position=position,
        total=len(visible),
        last=next_page(link.pages, page, relevant) is None,
        action=flow.page_url(link, page),
        back=flow.page_url(link, back) if back else "",
        csrf=csrf_token(secret_of(settings), link.token),
        language=language,
        languages=[
            (code, LANGUAGE_NAMES.get(code, code))
            for code in link.questionnaire.languages
            if code != language
        ],
    )


def _stored_values(link: Link, page: Page) -> dict[str, Any]:
    return {item.name: decode(item, link.answers.get(item.name)) for item in page.items}


def _posted_values(page: Page, form: dict[str, list[str]]) -> dict[str, Any]:
    return {
        item.name: list(form.get(item.name, []))
        if item.type == "multiple"
        else (form.get(item.name) or [""])[0]
        for item in page.items
    }


def _language(link: Link, wanted: str | None) -> str:
    return wanted if wanted in link.questionnaire.languages else link.language


def _see_other(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


def _done_url(flow: Flow, link: Link, settings) -> str:
    return flow.url(link, f"/done?k={done_marker(secret_of(settings), link.token)}")


def _show(
    flow: Flow, request: Request, link: Link, page: Page, settings, session, lang: str | None
) -> Response:
    if link.completed:
        raise LinkUnavailable
    mark_opened(session, link)
    language = _language(link, lang)
    if lang == language:
        remember_language(session, link, language)
    return _render(
        flow, request, link, page, settings, language=language, values=_stored_values(link, page)
    )


def resume_response(
    flow: Flow, request: Request, link: Link, session: Session, settings, lang: str | None
) -> Response:
    """The first page still to answer: where someone who left continues, on any device."""
    if link.completed:
        raise LinkUnavailable
    page = resume_page(link.pages, link.questionnaire, link.answers)
    return _show(flow, request, link, page, settings, session, lang)


def page_response(
    flow: Flow,
    request: Request,
    number: int,
    link: Link,
    session: Session,
    settings,
    lang: str | None,
) -> Response:
    """A page with the answers stored for it: going back is safe."""
    page = link.page(number)
    if page is None or link.completed:
        raise LinkUnavailable
    if not shown_items(page, link.relevant):
        # Skip logic leaves this page out now: go where the customer is expected.
        target = resume_page(link.pages, link.questionnaire, link.answers)
        return _see_other(flow.page_url(link, target))
    return _show(flow, request, link, page, settings, session, lang)


@dataclass(frozen=True, slots=True)
class ValidPage:
    """A posted page that passed validation: what to write, and where to go once written."""

    write: PageWrite
    complete: bool
    #: The next page to ask, if any, given the answers with this page's.
    following: Page | None
    answers: dict[str, str | None]


def check_answer(
    flow: Flow,
    request: Request,
    number: int,
    form: dict[str, list[str]],
    link: Link,
    settings,
) -> Response | ValidPage:
    """A posted page checked: the page to answer with now, or a :class:`ValidPage` to save."""
    if link.completed:
        # A double tap, or a stale tab: the response is already in, exactly once.
        return _see_other(_done_url(flow, link, settings))
    page = link.page(number)
    if page is None:
        raise LinkUnavailable
    items = shown_items(page, link.relevant)
    if not items:
        target = resume_page(link.pages, link.questionnaire, link.answers)
        return _see_other(flow.page_url(link, target))
    language = _language(link, (form.get("lang") or [None])[0])
    check = validate_page(link.questionnaire, items, form, link.mode)
    if not check.ok:
        return _render(
            flow,
            request,
            link,
            page,
            settings,
            language=language,
            values=_posted_values(page, form),
            errors={name: e.code for name, e in check.errors.items()},
        )
    answers = {**link.answers, **check.values}
    following = next_page(link.pages, page, relevant_items(link.questionnaire, answers))
    complete = following is None and not unanswered_required(link.questionnaire, answers)
    write = plan_page(link, check.values, language=language, complete=complete)
    return ValidPage(write, complete, following, answers)


def after_saving(flow: Flow, link: Link, valid: ValidPage, saved: bool, settings) -> Response:
    """Where a saved page leads (sent only after its commit)."""
    if not saved or valid.complete:
        return _see_other(_done_url(flow, link, settings))
    following = valid.following
    if following is None:
        # The last page, but an earlier required answer is missing (skip logic changed, or
        # a page was reached by its address): go back to it.
        following = resume_page(link.pages, link.questionnaire, valid.answers)
    return _see_other(flow.page_url(link, following))


def answer_response(
    flow: Flow,
    request: Request,
    number: int,
    form: dict[str, list[str]],
    link: Link,
    session: Session,
    settings,
) -> Response:
    """Store a page's answers (committed before the redirect) and go on, or show what is wrong."""
    checked = check_answer(flow, request, number, form, link, settings)
    if not isinstance(checked, ValidPage):
        return checked
    saved = apply_page(session.connection(), checked.write)
    if saved:
        session.commit()
    else:
        session.rollback()
    return after_saving(flow, link, checked, saved, settings)


def done_response(
    flow: Flow, request: Request, token: str, session: Session, settings, marker: str
) -> Response:
    """The thank-you page, only with the marker the completing POST signed."""
    secret = secret_of(settings)
    if not done_marker_valid(secret, token, marker):
        raise LinkUnavailable
    link = flow.open(session, token, secret)
    if not link.completed:
        raise LinkUnavailable
    language = link.language
    title = _label(link.questionnaire.title, language, link.questionnaire.default_language)
    return send_page(
        request,
        "respondent/done.html",
        html_lang=HTML_LANG.get(language, language),
        t=text_for(language),
        title=title,
        again=flow.after(link) if flow.after else "",
    )


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
    (see :func:`api.deps.settings_of`). The form is read (:func:`api.forms.form_fields`) and
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
