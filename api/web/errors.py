"""One error body for the JSON API (every path under ``/api/``).

::

    {"error": {"status": 404, "code": "not_found", "message": "...", "details": []}}

``install(app)`` answers so for an ``HTTPException`` (ours and the router's own 404/405), a
request that fails validation (422, one detail per field: its location and what is wrong),
an error the survey domain raised on purpose (:class:`survey.errors.SurveyError`: its
message, with the status its kind says, see :func:`status_of`), and an unexpected exception
(500, a generic message; the exception is logged, never sent).
Refusals of :mod:`api.web.auth` build the same body with :func:`error_response`.

Pages (every other path) keep FastAPI's and Starlette's own behaviour: the respondent,
phone and webhook routes render or answer as they always did; a domain error no page
handled itself is a short page with its message and status.

Routes document their refusals with :func:`error_responses`, e.g.
``responses=error_responses(401, 403, 404)``, so OpenAPI shows :class:`ErrorBody` for each.
"""

from __future__ import annotations

import html
import logging
from collections.abc import Mapping, Sequence
from http import HTTPStatus
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response
from fastapi.templating import Jinja2Templates
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from api.web.headers import HTML_HEADERS, OTHER_HEADERS
from survey.errors import Conflict, InvalidRequest, NotFound, SurveyError

log = logging.getLogger(__name__)
TEMPLATES = Jinja2Templates(directory=Path(__file__).with_name("templates"))

#: Machine-readable codes; any other status gets its HTTP phrase in snake case.
CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    422: "validation_error",
    429: "too_many_requests",
    500: "internal_error",
}

INTERNAL_MESSAGE = "internal error: the service could not answer this request"


class ErrorDetail(BaseModel):
    """One thing wrong with the request, e.g. one invalid field."""

    location: list[str | int] = Field(
        description="Where: the part of the request, then the field's path in it",
        examples=[["query", "limit"]],
    )
    message: str = Field(examples=["Input should be less than or equal to 500"])
    type: str | None = Field(
        default=None, description="The kind of problem", examples=["less_than_equal"]
    )


class ErrorInfo(BaseModel):
    status: int = Field(description="The HTTP status, repeated", examples=[404])
    code: str = Field(description="A stable, machine-readable code", examples=["not_found"])
    message: str = Field(
        description="What went wrong, for a person",
        examples=["no published questionnaire 'csi_mobile' version '1999.1'"],
    )
    details: list[ErrorDetail] = Field(default_factory=list)


class ErrorBody(BaseModel):
    """The body of every error of the JSON API."""

    error: ErrorInfo

    model_config = {
        "json_schema_extra": {
            "examples": [
                {
                    "error": {
                        "status": 422,
                        "code": "validation_error",
                        "message": "the request is invalid: see details",
                        "details": [
                            {
                                "location": ["query", "limit"],
                                "message": "Input should be less than or equal to 500",
                                "type": "less_than_equal",
                            }
                        ],
                    }
                }
            ]
        }
    }


def code_of(status: int) -> str:
    if status in CODES:
        return CODES[status]
    try:
        return HTTPStatus(status).phrase.lower().replace(" ", "_").replace("-", "_")
    except ValueError:
        return "error"


def error_body(status: int, message: str, details: Sequence[ErrorDetail] = ()) -> dict:
    info = ErrorInfo(status=status, code=code_of(status), message=message, details=list(details))
    return ErrorBody(error=info).model_dump(mode="json")


def error_response(
    status: int,
    message: str,
    details: Sequence[ErrorDetail] = (),
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    return JSONResponse(error_body(status, message, details), status, headers=headers)


#: What each documented refusal means, for OpenAPI.
DESCRIPTIONS = {
    400: "Malformed request",
    401: "No API key, or an invalid, revoked or malformed one (`Authorization: Bearer ...`)",
    403: "The key's role lacks the permission this operation needs",
    404: "Not found",
    422: "Invalid parameters or body; `details` names each field",
}


def error_responses(*statuses: int, **descriptions: str) -> dict[int | str, dict[str, Any]]:
    """``responses=`` for a route: :class:`ErrorBody` under each status.

    ``descriptions`` overrides the generic text per status, as ``_404="Unknown version"``.
    """
    documented: dict[int | str, dict[str, Any]] = {}
    for status in statuses:
        description = descriptions.get(f"_{status}", DESCRIPTIONS.get(status, "Error"))
        documented[status] = {"model": ErrorBody, "description": description}
    return documented


# -- handlers ------------------------------------------------------------------------------


def is_json_api(request: Request) -> bool:
    return request.url.path.startswith("/api/")


#: Where an error page sends a person next: (href, zh, en).
HOME_LINK = ("/", "首页", "Home")
ACCOUNT_LINK = ("/me", "我的账户", "My account")
SIGN_IN_LINK = ("/login", "登录", "Sign in")
#: What a page error says to a person, by status: title and sentence, each (zh, en).
_PAGE_WORDS = {
    404: (("找不到此页面", "Page not found"),
          ("此地址没有页面：请检查链接，或从首页进入。",
           "There is no page at this address: check the link, or start from the home page.")),
    405: (("不能这样打开此页面", "Not available this way"),
          ("此地址不接受这种请求：请使用页面上的链接和按钮。",
           "This address does not take this kind of request: use the links and buttons "
           "on the pages.")),
}  # fmt: skip


def error_page(
    request: Request,
    status: int,
    title: tuple[str, str],
    words: tuple[str, str],
    links: Sequence[tuple[str, str, str]] = (HOME_LINK,),
    headers: Mapping[str, str] | None = None,
) -> HTMLResponse:
    """An error as a page for people, in zh and en, with where to go next."""
    context = {"title": title, "words": words, "links": list(links)}
    response = TEMPLATES.TemplateResponse(request, "errors/page.html", context,
                                          status_code=status)  # fmt: skip
    response.headers.update({"Cache-Control": "no-store", **HTML_HEADERS, **(headers or {})})
    return response


def _page_words(status: int) -> tuple[tuple[str, str], tuple[str, str]]:
    if status in _PAGE_WORDS:
        return _PAGE_WORDS[status]
    try:
        phrase = HTTPStatus(status).phrase
    except ValueError:  # a status no standard names
        phrase = "Error"
    return (("请求未能完成", "The request could not be completed"),
            (f"服务无法处理此请求（{status}）。请返回上一页重试。",
             f"The service could not handle this request ({status} {phrase}). Go back and "
             "try again."))  # fmt: skip


async def _http_error(request: Request, error: Exception) -> Response:
    assert isinstance(error, StarletteHTTPException)  # registered for it only
    status = error.status_code
    headers = dict(error.headers or {})
    if status == 405:
        headers["Allow"] = ", ".join(allowed_methods(request))
    if not is_json_api(request):
        if status in (204, 304):  # no body allowed
            return await http_exception_handler(request, error)
        return error_page(request, status, *_page_words(status), headers=headers)
    message = error.detail if isinstance(error.detail, str) else HTTPStatus(status).phrase
    return error_response(status, message, headers=headers or None)


#: The methods a 405's Allow header may name.
METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")


def allowed_methods(request: Request) -> list[str]:
    """Every method some route answers at the request's path.

    Starlette's own 405 names the methods of the first route on the path only, so a GET and
    a POST declared as two routes on one path would each hide the other.
    """
    routes = request.app.router.routes

    def answered(method: str) -> bool:
        scope = {**request.scope, "method": method}
        return any(route.matches(scope)[0] == Match.FULL for route in routes)

    return [method for method in METHODS if answered(method)]


def _details(errors: Sequence[Any]) -> list[ErrorDetail]:
    # Never the offending "input": a body may carry a phone number or a password.
    return [
        ErrorDetail(
            location=[part for part in error.get("loc", ()) if isinstance(part, str | int)],
            message=str(error.get("msg", "invalid")),
            type=error.get("type"),
        )
        for error in errors
    ]


async def _validation_error(request: Request, error: Exception) -> Response:
    assert isinstance(error, RequestValidationError)  # registered for it only
    if not is_json_api(request):
        fields = ", ".join(dict.fromkeys(
            str(detail.location[-1]) for detail in _details(error.errors()) if detail.location
        ))  # fmt: skip
        return error_page(
            request,
            422,
            ("无法使用此请求", "The request cannot be used"),
            (f"地址或表单中有无法使用的值（{fields}）。请返回上一页重试。",
             f"The address or form has a value that cannot be used ({fields}). Go back and "
             "try again."),
        )  # fmt: skip
    return error_response(422, "the request is invalid: see details", _details(error.errors()))


def status_of(error: SurveyError) -> int:
    """The HTTP status of a domain error, by its kind: the one mapping of the web layer."""
    if isinstance(error, NotFound):
        return 404
    if isinstance(error, Conflict):
        return 409
    if isinstance(error, InvalidRequest):
        return 422
    return 400


async def _domain_error(request: Request, error: Exception) -> Response:
    assert isinstance(error, SurveyError)  # registered for it only
    status = status_of(error)
    if is_json_api(request):
        return error_response(status, str(error))
    body = f"<!doctype html><title>{status}</title><p>{html.escape(str(error))}</p>"
    return HTMLResponse(body, status_code=status)


#: The page a person sees when the service fails: what happened and what to do, no internals.
_FAILURE_PAGE = (
    '<!doctype html><html lang="zh-CN"><meta charset="utf-8">'
    '<meta name="viewport" content="width=device-width, initial-scale=1">'
    "<title>出错了 Something went wrong</title>"
    "<style>body{font:16px/1.5 system-ui,sans-serif;margin:2rem auto;max-width:36rem;"
    "padding:0 1rem;color:#1a1a1a}</style>"
    '<h1>出错了 <span lang="en">Something went wrong</span></h1>'
    "<p>服务暂时出了问题，您的操作可能没有完成。请稍后再试。</p>"
    '<p lang="en">The service failed on our side and what you did may not have been saved. '
    "Please try again in a moment.</p>"
    '<p><a href="/">首页 <span lang="en">Home</span></a></p></html>'
)


async def _unexpected(request: Request, error: Exception) -> Response:
    # Starlette's ServerErrorMiddleware calls this, sends the answer, then re-raises the
    # exception for the server to log too; ours names the request it failed on. That
    # middleware is the outermost, outside the one that adds the security headers, so the
    # answer carries them itself.
    name, method, path = type(error).__name__, request.method, request.url.path
    log.error("unhandled %s on %s %s", name, method, path, exc_info=error)
    if not is_json_api(request):
        return HTMLResponse(_FAILURE_PAGE, status_code=500, headers=HTML_HEADERS)
    response = error_response(500, INTERNAL_MESSAGE)
    response.headers.update(OTHER_HEADERS)
    return response


def install(app: FastAPI) -> None:
    """Answer the JSON API's errors with :class:`ErrorBody`; pages keep their own."""
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(SurveyError, _domain_error)
    app.add_exception_handler(Exception, _unexpected)
