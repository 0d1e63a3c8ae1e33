"""The questionnaire pages, shared by every way into them: the customer's web form
(``/s``), intercept interviews (``/intercept/r``) and phone interviews (``/calls/interview``).

Pages are rendered on the server from the questionnaire version the campaign uses and work
without JavaScript. GET renders a page with the stored answers; a POST with errors re-renders
the page (200) with a message per field; a valid POST stores the page's answers, commits, and
only then redirects (303) to the next page, so an acknowledged page is never lost.

A :class:`Flow` says where the pages of one way in live and how a token opens them; the
``*_response`` functions serve any flow.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.routing import APIRoute
from fastapi.templating import Jinja2Templates
from sqlmodel import Session

from api.web.deps import SettingsDep
from survey.answering.pages import (
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
    relevant_items,
    remember_language,
    resume_page,
    shown_items,
    unanswered_required,
    validate_page,
    visible_pages,
)
from survey.questionnaire import Item
from survey.signing import same, signature

TEMPLATES = Jinja2Templates(directory=Path(__file__).with_name("templates"))
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


def checked_form(
    token: str, settings: SettingsDep, form: Annotated[dict, Depends(posted_form)]
) -> dict[str, list[str]]:
    if not csrf_valid(secret_of(settings), token, form):
        raise CsrfRefused
    return form


FormDep = Annotated[dict[str, list[str]], Depends(checked_form)]


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


