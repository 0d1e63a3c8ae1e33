"""The questionnaire pages, one router factory for every way into them.

:func:`answering_router` makes the pages of a :class:`Flow`: the customer's web form
(``/s``, :mod:`api.web.routers.respondent`), intercept interviews on a tablet
(``/intercept/r``, :mod:`api.web.routers.intercept`) and phone interviews
(``/calls/interview``, :mod:`api.web.routers.calls`). A flow says where its pages live, who
may use them, how a token opens them, and what it adds (the interviewer's way back to the
case, shown in the page template's slot); the page itself is the same everywhere, and every
posted page goes through one domain function, :func:`survey.answering.submit.submit_page`.
Interviewers' pages (interviewer mode) also show each item's read-out instruction; the phone
interview's flow is the interviewer's desk (``Flow.desk``): a desktop's width, large questions
and answers by number keys, with the one script its policy allows (:data:`KEYS_SCRIPT`).
The operations console's preview of a questionnaire draws its pages with the same context
(:func:`page_context`) and template block (:func:`page_main`), without a link or a campaign.

Pages are rendered on the server from the questionnaire version the campaign uses and work
without JavaScript. GET renders a page with the stored answers; a POST with errors re-renders
the page (200) with a message per field; a valid POST stores the page's answers, commits, and
only then redirects (303) to the next page, so an acknowledged page is never lost.
"""

from __future__ import annotations

import base64
import hashlib
import time
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.routing import APIRoute
from fastapi.templating import Jinja2Templates
from markupsafe import Markup
from sqlalchemy.engine import Connection
from sqlmodel import Session

from api.web.auth import session_token
from api.web.deps import Now, SessionDep, SettingsDep, get_group_commit, settings_of
from api.web.forms import form_fields
from api.web.headers import HTML_HEADERS, PAGE_POLICY
from survey.answering.pages import (
    INTERVIEWER,
    TEXT_MAX,
    Link,
    LinkUnavailable,
    Page,
    decode,
    mark_opened,
    next_page,
    offered_choices,
    previous_page,
    remember_language,
    resume_page,
    shown_items,
    visible_pages,
)
from survey.answering.submit import Submitted, submit_page
from survey.questionnaire import Item, Questionnaire
from survey.signing import same, signature
from survey.staff.accounts import session_token_digest

TEMPLATES = Jinja2Templates(directory=Path(__file__).with_name("templates"))
#: How long the thank-you page stays reachable after completing (seconds).
DONE_MARKER_TTL = 24 * 3600

#: The token in the URL opens the questionnaire: keep pages out of caches and history
#: snapshots, and never send the URL to another site (the policy of every page does that).
SECURITY_HEADERS = {"Cache-Control": "no-store", **HTML_HEADERS}

# The same, encoded once, for the hot POST: appending them costs a third of MutableHeaders.update,
# which looks each one up first. The responses there set none of them.
_SECURITY_RAW_HEADERS = [
    (name.lower().encode("latin-1"), value.encode("latin-1"))
    for name, value in SECURITY_HEADERS.items()
]

#: The interviewer's desk answers by number keys with this one script, inline (the page still
#: loads in one round trip) and allowed by its hash alone: no other script may run there.
KEYS_SCRIPT = Markup(  # noqa: S704 - a file shipped with the code, never anybody's input
    Path(__file__).with_name("templates").joinpath("respondent", "keys.js").read_text("utf-8")
)
DESK_POLICY = PAGE_POLICY.replace(
    "default-src 'none';",
    "default-src 'none'; script-src 'sha256-"
    + base64.b64encode(hashlib.sha256(str(KEYS_SCRIPT).encode("utf-8")).digest()).decode()
    + "';",
)

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
        "already": "您已经完成了这份问卷，回答已经保存。现在可以关闭此页面。",
        "again": "开始下一份访谈",
        "error.required": "请回答此题。",
        "error.invalid_choice": "请从给出的选项中选择。",
        "error.too_long": f"回答请不超过 {TEXT_MAX} 字。",
        "error.exclusive_missing": "选择“无法回答”时请不要再选其他选项。",
        "instruction": "访员",
        "keys_help": "用数字键作答：按答案前的数字，Enter 提交本页。",
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
        "already": "You have already answered this survey and your answers are saved. You can "
        "close this page now.",
        "again": "Start the next interview",
        "error.required": "Please answer this question.",
        "error.invalid_choice": "Please choose one of the options given.",
        "error.too_long": f"Please keep your answer under {TEXT_MAX} characters.",
        "error.exclusive_missing": "“Cannot answer” cannot be combined with other options.",
        "instruction": "Interviewer",
        "keys_help": "Answer with number keys: press the number before an answer; Enter "
        "submits the page.",
    },
}


class CsrfRefused(PermissionError):
    """A form POST without the page's CSRF field (or with a wrong one)."""


def send_page(request: Request, name: str, status_code: int = 200, **context) -> HTMLResponse:
    """Render ``name`` (a path under the templates folder)."""
    return TEMPLATES.TemplateResponse(request, name, context, status_code=status_code)


class AnsweringRoute(APIRoute):
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


# -- signatures ------------------------------------------------------------------------------


def csrf_token(secret: str, subject: str) -> str:
    """The hidden form field: an HMAC of what the form is about under the service's secret.

    For a questionnaire page the subject is the link token, so the check comes before the
    token is looked up: a forged POST is refused the same way whether the token exists or not.
    The forms carry no cookie and no session: the unguessable token in the URL is the only
    authority, and this field proves that the POST comes from a page that was served with it.
    """
    return signature(secret, f"csrf:{subject}")


def csrf_valid(secret: str, subject: str, form: dict[str, list[str]]) -> bool:
    sent = (form.get("csrf") or [""])[0]
    return same(sent, csrf_token(secret, subject))


def done_marker(secret: str, token: str, now: float | None = None) -> str:
    issued = int(time.time() if now is None else now)
    return f"{issued}.{signature(secret, f'done:{token}:{issued}')}"


def done_marker_valid(secret: str, token: str, marker: str, now: float | None = None) -> bool:
    issued, _, sent = marker.partition(".")
    if not issued.isdigit():
        return False
    age = (time.time() if now is None else now) - int(issued)
    expected = signature(secret, f"done:{token}:{issued}")
    return 0 <= age <= DONE_MARKER_TTL and same(sent, expected)


# -- dependencies ----------------------------------------------------------------------------


def secret_of(settings) -> str:
    return settings.secret_key.get_secret_value()


async def posted_form(request: Request) -> dict[str, list[str]]:
    form = await request.form()
    return {key: [v for v in form.getlist(key) if isinstance(v, str)] for key in form}


def staff_csrf_subject(request: Request, token: str) -> str:
    """The CSRF subject of an interviewer's page: the token and the signed-in session, so
    that a page's field posts only from the session that was shown it."""
    session = session_token(request, settings_of(request))
    return f"{token}:{session_token_digest(session)}" if session else token


LangQuery = Annotated[str | None, Query(max_length=8)]


# -- the page flow ---------------------------------------------------------------------------


def _nobody() -> None:
    return None


@dataclass(frozen=True, slots=True)
class Flow:
    """One way into the questionnaire pages."""

    #: The URL prefix of the pages: ``{prefix}/{token}/p/{number}``.
    prefix: str
    #: The OpenAPI tag of its routes (they are left out of the schema, but named).
    tag: str
    #: Opens a token (session, token, secret, staff); raises LinkUnavailable.
    open: Callable[[Session, str, str, Any], Link]
    #: A dependency giving the staff member who answers for the customer (an interviewer);
    #: the default lets anybody with the token in.
    staff: Callable[..., Any] = _nobody
    #: Where the thank-you page leads on (the next intercept interview), if anywhere.
    after: Callable[[Link], str] | None = None
    #: An interviewer's way back to the case, ``(url, label)`` of a token: every page links to
    #: it, and a completed interview and the end of the questionnaire lead there.
    back: Callable[[str], tuple[str, str]] | None = None
    #: Runs before a page is saved (session, token, staff, now, settings): renews an
    #: interviewer's hold on the case.
    before_save: Callable[..., None] | None = None
    #: Opens a token on a group commit's connection: when given, posted pages are saved in
    #: the application's group commit, on a lean Starlette route (the customer's hot path).
    read_in_batch: Callable[[Connection, str], Link] | None = None
    #: What turns the pages' refusals into pages (and secures every response).
    route_class: type[APIRoute] = AnsweringRoute
    #: What a page's CSRF field signs (request, token): the token alone for customers, whose
    #: only authority is the token; :func:`staff_csrf_subject` for interviewers' pages.
    csrf_subject: Callable[[Request, str], str] | None = None
    #: The interviewer's desk (phone interviews): large questions, answers by number keys
    #: (:data:`KEYS_SCRIPT`, allowed by :data:`DESK_POLICY`), the width of a desktop.
    desk: bool = False

    def csrf_of(self, request: Request, token: str) -> str:
        return token if self.csrf_subject is None else self.csrf_subject(request, token)

    def url(self, link: Link, suffix: str = "") -> str:
        return f"{self.prefix}/{link.token}{suffix}"

    def page_url(self, link: Link, page: Page) -> str:
        return self.url(link, f"/p/{page.number}")


@dataclass(frozen=True, slots=True)
class Option:
    code: str
    label: str
    checked: bool
    missing: bool
    #: The number key that picks it at the interviewer's desk: its place from 1, and on a
    #: 0-10 scale the score itself (its missing codes 11, 12...).
    key: str = ""


@dataclass(frozen=True, slots=True)
class Field:
    name: str
    kind: str  # "radio", "checkbox" or "text"
    type: str
    label: str
    hint: str
    #: What the interviewer reads out or probes; empty on a customer's page.
    instruction: str
    required: bool
    options: tuple[Option, ...]
    text: str
    error: str


def _label(labels, language: str, fallback: str) -> str:
    return labels.get(language) or labels.get(fallback) or next(iter(labels.values()), "")


def _field(
    questionnaire: Questionnaire, mode: str, item: Item, value: Any, error: str, language: str
) -> Field:
    default = questionnaire.default_language
    if item.type == "text":
        kind, options = "text", ()
    else:
        kind = "checkbox" if item.type == "multiple" else "radio"
        chosen = set(value) if isinstance(value, list) else {value}
        # A 0-10 scale is keyed by its scores (7 is 7); other lists by place (1 is the first).
        first = 0 if item.type == "nps" else 1
        options = tuple(
            Option(
                c.name,
                _label(c.label, language, default),
                c.name in chosen,
                c.missing is not None,
                str(place),
            )
            for place, c in enumerate(offered_choices(item, questionnaire, mode), start=first)
        )
    # Read-out and probe instructions are for interviewers: never on a customer's page.
    interviewer = mode == INTERVIEWER and bool(item.instruction)
    return Field(
        name=item.name,
        kind=kind,
        type=item.type,
        label=_label(item.label, language, default),
        hint=_label(item.hint, language, default) if item.hint else "",
        instruction=_label(item.instruction, language, default) if interviewer else "",
        required=item.required,
        options=options,
        text=value if kind == "text" and isinstance(value, str) else "",
        error=error,
    )


def text_for(language: str) -> dict[str, str]:
    return TEXT.get(language, TEXT["en"])


def page_context(
    questionnaire: Questionnaire,
    pages: Sequence[Page],
    page: Page,
    relevant: frozenset[str],
    *,
    mode: str,
    language: str,
    desk: bool,
    values: dict[str, Any],
    errors: dict[str, str] | None = None,
) -> dict[str, Any]:
    """What ``respondent/page.html`` shows of ``page``, whoever shows it.

    The pages of a response (:func:`_render`) and the operations console's preview of a
    questionnaire (:func:`page_main`) both come from here, so that a preview cannot show a
    question otherwise than the customer or the interviewer will see it. The caller adds
    where the form posts (``action``, ``back``, ``csrf``) and whose interview it is
    (``tag``, ``return_to``).
    """
    errors = errors or {}
    visible = visible_pages(pages, relevant)
    position = next(
        (i for i, p in enumerate(visible, start=1) if p.number == page.number), len(visible)
    )
    text = text_for(language)
    fields = [
        _field(
            questionnaire,
            mode,
            item,
            values.get(item.name),
            text[f"error.{errors[item.name]}"] if item.name in errors else "",
            language,
        )
        for item in shown_items(page, relevant)
    ]
    construct = questionnaire.constructs.get(page.construct or "")
    default = questionnaire.default_language
    return {
        "html_lang": HTML_LANG.get(language, language),
        "desk": desk,
        "keys_script": KEYS_SCRIPT if desk else "",
        "t": text,
        "title": _label(questionnaire.title, language, default),
        "heading": _label(construct.label, language, default) if construct else "",
        "fields": fields,
        "position": position,
        "total": len(visible),
        "last": next_page(pages, page, relevant) is None,
        "language": language,
        "languages": [
            (code, LANGUAGE_NAMES.get(code, code))
            for code in questionnaire.languages
            if code != language
        ],
    }


def page_main(context: dict[str, Any]) -> Markup:
    """The ``main`` block of ``respondent/page.html`` rendered with ``context`` (see
    :func:`page_context`): one page's markup without its document, so that the console's
    preview can show every page of a questionnaire in one document, each drawn by the very
    template the customer's and the interviewer's pages use."""
    template = TEMPLATES.get_template("respondent/page.html")
    return Markup("".join(template.blocks["main"](template.new_context(context))))  # noqa: S704 (our template, autoescaped)


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
    relevant = link.relevant
    context = page_context(
        link.questionnaire, link.pages, page, relevant, mode=link.mode, language=language,
        desk=flow.desk, values=values, errors=errors,
    )  # fmt: skip
    back = previous_page(link.pages, page, relevant)
    response = link.response
    # The interviewer sees whose interview this is; a customer's page names nobody.
    # Phone interviews have no service hall: only what is known is shown.
    tag = (
        " · ".join(part for part in (response.interviewer, response.service_hall) if part)
        if response is not None and response.interviewer
        else ""
    )
    page_response = send_page(
        request,
        "respondent/page.html",
        tag=tag,
        action=flow.page_url(link, page),
        back=flow.page_url(link, back) if back else "",
        csrf=csrf_token(secret_of(settings), flow.csrf_of(request, link.token)),
        return_to=flow.back(link.token) if flow.back is not None else None,
        **context,
    )
    if flow.desk:
        page_response.headers["Content-Security-Policy"] = DESK_POLICY
    return page_response


def _stored_values(link: Link, page: Page) -> dict[str, Any]:
    return {item.name: decode(item, link.answers.get(item.name)) for item in page.items}


def _see_other(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


def _done_url(flow: Flow, link: Link, settings) -> str:
    return flow.url(link, f"/done?k={done_marker(secret_of(settings), link.token)}")


def _completed(flow: Flow, request: Request, link: Link) -> Response:
    """A completed response's pages: the interviewer goes back to the case; the customer,
    who holds the link, is thanked and told the answers are saved (not "invalid")."""
    if flow.back is not None:
        return _see_other(f"{flow.back(link.token)[0]}?m=completed")
    return _thanks(request, link, "already", flow.after(link) if flow.after else "")


def _thanks(request: Request, link: Link, body: str, again: str = "") -> HTMLResponse:
    language = link.language
    title = _label(link.questionnaire.title, language, link.questionnaire.default_language)
    t = text_for(language)
    return send_page(
        request, "respondent/done.html", html_lang=HTML_LANG.get(language, language), t=t,
        title=title, body=t[body], again=again,
    )  # fmt: skip


def _show(
    flow: Flow, request: Request, link: Link, page: Page, settings, session, lang: str | None
) -> Response:
    mark_opened(session, link)
    language = link.language_for(lang)
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
        return _completed(flow, request, link)
    page = resume_page(link.pages, link.questionnaire, link.answers, link.relevant)
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
    if link.completed:
        return _completed(flow, request, link)
    page = link.page(number)
    if page is None:
        raise LinkUnavailable
    relevant = link.relevant
    if not shown_items(page, relevant):
        # Skip logic leaves this page out now: go where the customer is expected.
        target = resume_page(link.pages, link.questionnaire, link.answers, relevant)
        return _see_other(flow.page_url(link, target))
    return _show(flow, request, link, page, settings, session, lang)


def submitted_response(
    flow: Flow, request: Request, link: Link, submitted: Submitted, settings
) -> Response:
    """What a posted page answers: the page again with its errors, or a 303 onwards (sent
    only after the commit that stores the page)."""
    if submitted.outcome == "invalid":
        return _render(
            flow, request, link, submitted.page, settings, language=submitted.language,
            values=dict(submitted.values), errors=dict(submitted.errors),
        )  # fmt: skip
    if submitted.outcome == "completed":
        return _see_other(_done_url(flow, link, settings))
    return _see_other(flow.page_url(link, submitted.page))


def done_response(
    flow: Flow, request: Request, token: str, session: Session, settings, marker: str, staff
) -> Response:
    """The thank-you page, only with the marker the completing POST signed."""
    if flow.back is not None:
        # The thank-you page is for customers: the interviewer goes back to the case to
        # record the call (the case page checks the hold).
        return _see_other(f"{flow.back(token)[0]}?m=completed")
    secret = secret_of(settings)
    if not done_marker_valid(secret, token, marker):
        raise LinkUnavailable
    link = flow.open(session, token, secret, staff)
    if not link.completed:
        raise LinkUnavailable
    return _thanks(request, link, "thanks_body", flow.after(link) if flow.after else "")


# -- the router factory ----------------------------------------------------------------------


def answering_router(flow: Flow) -> APIRouter:
    """The pages of ``flow``: resume, a page, a posted page, the thank-you page.

    - ``GET {prefix}/{token}``: the page to resume at;
    - ``GET {prefix}/{token}/p/{number}``: a page, with the answers stored for it;
    - ``POST {prefix}/{token}/p/{number}``: save a page; the last page completes the
      response, once;
    - ``GET {prefix}/{token}/done?k=...``: the thank-you page, reached only through the
      signed marker the completing POST redirects to.
    """
    router = APIRouter(
        prefix=flow.prefix,
        tags=[flow.tag],
        route_class=flow.route_class,
        include_in_schema=False,
    )
    # Dependencies made per flow are defaults, not Annotated types: with postponed annotations
    # FastAPI resolves a route's annotations in the module's globals, where these are not.
    staff_of = Depends(flow.staff)

    def get_link(
        token: str, session: SessionDep, settings: SettingsDep, staff: Any = staff_of
    ) -> Link:
        return flow.open(session, token, secret_of(settings), staff)

    link_of = Depends(get_link)

    def checked_form(
        request: Request,
        token: str,
        settings: SettingsDep,
        form: Annotated[dict, Depends(posted_form)],
    ) -> dict[str, list[str]]:
        if not csrf_valid(secret_of(settings), flow.csrf_of(request, token), form):
            raise CsrfRefused
        return form

    form_of = Depends(checked_form)

    @router.get("/{token}", response_class=HTMLResponse)
    def resume(
        request: Request,
        session: SessionDep,
        settings: SettingsDep,
        lang: LangQuery = None,
        link: Link = link_of,
    ) -> Response:
        return resume_response(flow, request, link, session, settings, lang)

    @router.get("/{token}/p/{number}", response_class=HTMLResponse)
    def show_page(
        request: Request,
        number: int,
        session: SessionDep,
        settings: SettingsDep,
        lang: LangQuery = None,
        link: Link = link_of,
    ) -> Response:
        return page_response(flow, request, number, link, session, settings, lang)

    if flow.read_in_batch is not None:
        # A Starlette route does not get the router's prefix: it is spelled out.
        router.add_route(
            f"{flow.prefix}/{{token}}/p/{{number}}",
            partial(_answer_in_group_commit, flow),
            methods=["POST"],
            include_in_schema=False,
        )
    else:

        @router.post("/{token}/p/{number}", response_class=HTMLResponse)
        def answer_page(
            request: Request,
            token: str,
            number: int,
            *,
            staff: Any = staff_of,
            form: dict[str, list[str]] = form_of,
            session: SessionDep,
            settings: SettingsDep,
            now: Now,
        ) -> Response:
            # Who posts is checked first (an interviewer's sign-in), then the form's CSRF
            # field, and only then is the token opened.
            if flow.before_save is not None:
                flow.before_save(session, token, staff, now, settings)
            link = flow.open(session, token, secret_of(settings), staff)
            submitted = submit_page(session.connection(), link, number, form)
            if submitted.written:
                session.commit()
            else:
                session.rollback()
            return submitted_response(flow, request, link, submitted, settings)

    @router.get("/{token}/done", response_class=HTMLResponse)
    def done(
        request: Request,
        token: str,
        session: SessionDep,
        settings: SettingsDep,
        k: Annotated[str, Query(max_length=80)] = "",
        staff: Any = staff_of,
    ) -> Response:
        return done_response(flow, request, token, session, settings, k, staff)

    return router


# -- the customer's hot path -----------------------------------------------------------------


def _answer_in_batch(
    flow: Flow,
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
        link = flow.read_in_batch(connection, token)
        submitted = submit_page(connection, link, number, form)
    except LinkUnavailable:
        return None
    return submitted_response(flow, request, link, submitted, settings)


async def _answer_in_group_commit(flow: Flow, request: Request) -> Response:
    """POST {prefix}/{token}/p/{number}: save a page. The hot path of collection, kept lean.

    A plain Starlette route, not a FastAPI one: FastAPI's parameter and dependency machinery,
    and a sync route's worker thread, cost more CPU than the page itself (see
    :func:`api.web.deps.settings_of`). The form is read (:func:`api.web.forms.form_fields`)
    and the CSRF field checked on the event loop; the link is read, the page checked and
    written in the application's group commit (one transaction for every page waiting), and
    the redirect is sent after its commit. Reading in the same transaction as the write also
    means the page is checked against the response's latest state.
    """
    try:
        response = await _answer_page(flow, request)
    except LinkUnavailable:
        response = send_page(request, "respondent/unavailable.html", 404, html_lang="zh-CN")
    except CsrfRefused:
        response = send_page(request, "respondent/refused.html", 403, html_lang="zh-CN")
    response.raw_headers.extend(_SECURITY_RAW_HEADERS)
    return response


async def _answer_page(flow: Flow, request: Request) -> Response:
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
    job = partial(_answer_in_batch, flow, request, token, int(number), form, settings)
    response = await get_group_commit(request).submit_async(job)
    if response is None:
        raise LinkUnavailable
    return response
