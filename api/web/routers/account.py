"""Signing in and out, and who am I.

- ``GET /login``: the form (sets a pre-login cookie whose nonce the CSRF field is tied to).
- ``POST /login``: checks CSRF, then the throttle, then the password; success starts a new
  session (a fresh token: whatever session the browser had before is ended, so a planted
  cookie cannot be promoted to a signed-in one) and redirects (303) to ``next``.
- ``POST /logout``: ends the session on the server and clears the cookie.
- ``GET /me``: name, role, limits and permissions; ``GET /api/v1/me`` the same as JSON
  (for API keys: "which key is this?").

Every login, failed login, throttled login and logout is written to the audit log.
"""

from __future__ import annotations

import secrets
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import BaseModel

from api.permissions import permissions_of
from api.settings import Settings
from api.web.auth import (
    CsrfChecked,
    CurrentStaff,
    client_ip,
    cookie_name,
    csrf_token,
    delete_cookie,
    login_csrf_token,
    optional_staff,
    page,
    session_token,
    set_cookie,
    sign,
    unsign,
)
from api.web.deps import SessionDep, SettingsDep
from api.web.errors import error_responses
from api.web.strict_query import KnownQueryOnly
from survey.db.tables import utcnow
from survey.signing import same
from survey.staff import audit
from survey.staff.accounts import (
    SESSION_LIFETIME,
    authenticate,
    describe_scope,
    end_session,
    find_staff,
    login_locked_until,
    normalise_username,
    session_staff,
    start_session,
)

router = APIRouter(tags=["account"])

LOGIN_COOKIE = "manyi_login"
# Long enough to type a password after a coffee; the form just reloads when it has passed.
LOGIN_COOKIE_AGE = 60 * 60
HOME = "/me"


def safe_next(target: str | None) -> str:
    """Where to go after login: a path on this site only, never another host."""
    if (
        not target
        or not target.startswith("/")
        or target.startswith("//")
        or "\\" in target
        or any(ord(character) < 32 for character in target)
    ):
        return HOME
    return target


def _login_page(
    request: Request,
    settings: Settings,
    *,
    next_: str,
    username: str = "",
    error: str | None = None,
    status_code: int = 200,
    nonce: str | None = None,
) -> HTMLResponse:
    nonce = nonce or secrets.token_urlsafe(16)
    response = page(
        request,
        "account/login.html",
        status_code,
        csrf=login_csrf_token(settings, nonce),
        next=next_,
        username=username,
        error=error,
    )
    set_cookie(response, settings, LOGIN_COOKIE, sign(settings, "login", nonce), LOGIN_COOKIE_AGE)
    return response


def _login_nonce(request: Request, settings: Settings) -> str | None:
    return unsign(settings, "login", request.cookies.get(cookie_name(settings, LOGIN_COOKIE)))


@router.get("/login", response_class=HTMLResponse, include_in_schema=False)
def login_form(
    request: Request,
    settings: SettingsDep,
    staff: Annotated[object, Depends(optional_staff)],
    next: str | None = None,
) -> Response:
    if staff is not None:
        return RedirectResponse(safe_next(next), status_code=303)
    return _login_page(
        request, settings, next_=safe_next(next), nonce=_login_nonce(request, settings)
    )


@router.post("/login", response_class=HTMLResponse, include_in_schema=False)
def login(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    username: Annotated[str, Form(max_length=200)] = "",
    password: Annotated[str, Form(max_length=1000)] = "",
    csrf: Annotated[str, Form(max_length=200)] = "",
    next: Annotated[str, Form(max_length=2000)] = HOME,
) -> Response:
    nonce = _login_nonce(request, settings)
    if nonce is None or not same(csrf, login_csrf_token(settings, nonce)):
        # No error page of its own: a fresh form, since the usual cause is an old tab.
        return _login_page(
            request, settings, next_=safe_next(next), status_code=403,
            error="表单已过期，请重新登录。 The form had expired: please sign in again.",
        )  # fmt: skip
    ip = client_ip(request)
    username = normalise_username(username)
    again = dict(next_=safe_next(next), username=username, nonce=nonce)

    locked_until = login_locked_until(session, username, ip)
    if locked_until is not None:
        audit.audit(session, None, audit.LOGIN_THROTTLED, username, ip=ip)
        minutes = max(1, int((locked_until - utcnow()).total_seconds() // 60) + 1)
        response = _login_page(
            request, settings, status_code=429, **again,
            error=f"失败次数过多，请 {minutes} 分钟后再试。 "
            f"Too many failed attempts: try again in {minutes} minutes.",
        )  # fmt: skip
        response.headers["Retry-After"] = str(minutes * 60)
        return response

    staff = authenticate(session, username, password)
    if staff is None:
        known = find_staff(session, username) if username else None
        audit.audit(session, known, audit.LOGIN_FAILED, username, ip=ip)
        return _login_page(
            request, settings, status_code=401, **again,
            error="用户名或密码不正确。 Wrong username or password.",
        )  # fmt: skip

    old = session_token(request, settings)
    if old is not None:
        end_session(session, old)
    token = start_session(session, staff, ip)
    audit.audit(session, staff, audit.LOGIN, username, ip=ip)
    response = RedirectResponse(safe_next(next), status_code=303)
    set_cookie(
        response,
        settings,
        "manyi_session",
        sign(settings, "session", token),
        int(SESSION_LIFETIME.total_seconds()),
    )
    delete_cookie(response, settings, LOGIN_COOKIE)
    return response


@router.post("/logout", include_in_schema=False)
def logout(
    request: Request, session: SessionDep, settings: SettingsDep, _: CsrfChecked
) -> Response:
    token = session_token(request, settings)
    staff = session_staff(session, token) if token is not None else None
    if token is not None:
        end_session(session, token)
    if staff is not None:
        audit.audit(session, staff, audit.LOGOUT, staff.username, ip=client_ip(request))
    response = RedirectResponse("/login", status_code=303)
    delete_cookie(response, settings, "manyi_session")
    return response


@router.get("/me", response_class=HTMLResponse, include_in_schema=False)
def me_page(request: Request, staff: CurrentStaff, settings: SettingsDep) -> HTMLResponse:
    return page(
        request,
        "account/me.html",
        staff=staff,
        scope=list(describe_scope(staff)),
        permissions=[permission.value for permission in permissions_of(staff.role)],
        csrf=csrf_token(request, settings),
    )


class StaffPublic(BaseModel):
    """A staff member as the API shows them: no password hash, no ids of keys."""

    username: str
    display_name: str
    role: str
    regions: list[str]
    service_halls: list[str]
    permissions: list[str]

    model_config = {
        "json_schema_extra": {
            "examples": [
                {
                    "username": "li.na",
                    "display_name": "李娜",
                    "role": "manager",
                    "regions": ["华东"],
                    "service_halls": [],
                    "permissions": ["view_analyses", "export_responses", "view_follow_ups"],
                }
            ]
        }
    }


@router.get(
    "/api/v1/me",
    response_model=StaffPublic,
    summary="Who the API key belongs to",
    responses=error_responses(401, 422, _422="An unknown query parameter"),
    dependencies=[KnownQueryOnly],
)
def me(staff: CurrentStaff) -> StaffPublic:
    """The staff member behind the request's API key (or session), and their permissions."""
    return StaffPublic(
        username=staff.username,
        display_name=staff.display_name,
        role=staff.role,
        regions=staff.regions,
        service_halls=staff.service_halls,
        permissions=[permission.value for permission in permissions_of(staff.role)],
    )
