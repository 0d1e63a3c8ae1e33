"""Signing in and out, and who am I.

- ``GET /login``: the form (sets a pre-login cookie whose nonce the CSRF field is tied to).
- ``POST /login``: checks CSRF, then takes a throttle slot (:mod:`survey.staff.throttle`:
  refused at once with 429 when full), then the password. An account that signs in with a
  one-time code then gets the code form (a second ``POST /login`` with the code and a signed,
  five-minute proof that the password was right, tied to this browser's login cookie; each
  code attempt takes a slot too). Success starts a new session (a fresh token: whatever
  session the browser had before is ended, so a planted cookie cannot be promoted to a
  signed-in one) and redirects (303) to ``next``.
- ``POST /logout``: ends the session on the server and clears the cookie.
- ``GET /me``: name, role, limits and permissions; ``GET /api/v1/me`` the same as JSON
  (for API keys: "which key is this?").

Every login, failed login, throttled login and logout is written to the audit log, with the
client's address (:func:`api.web.auth.client_ip`) and, apart, the X-Forwarded-For it claimed.
"""

from __future__ import annotations

import secrets
import time
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
from survey.db.tables import Staff, utcnow
from survey.signing import same
from survey.staff import audit, throttle, totp
from survey.staff.accounts import (
    SESSION_LIFETIME,
    Role,
    authenticate,
    describe_scope,
    end_session,
    find_staff,
    normalise_username,
    session_staff,
    signs_in_with_code,
    start_session,
)

router = APIRouter(tags=["account"])

LOGIN_COOKIE = "manyi_login"
# Long enough to type a password after a coffee; the form just reloads when it has passed.
LOGIN_COOKIE_AGE = 60 * 60
HOME = "/me"
#: Where a role lands after signing in without a page to return to: its daily work, not
#: the account page (an administrator's work is the accounts).
WORK_PAGES = {
    Role.INTERVIEWER: "/calls",
    Role.SUPERVISOR: "/supervision",
    Role.MANAGER: "/dashboard",
    # Their one page: their teams' agents, teams and queues.
    Role.TEAM_LEADER: "/dashboard/agents",
    # The survey team runs fieldwork from the console, which links to the dashboard.
    Role.RESEARCHER: "/console",
    Role.ADMIN: "/console",
}
# The time between a right password and its one-time code.
CODE_PROOF_AGE = 5 * 60

EXPIRED = "表单已过期，请重新登录。 The form had expired: please sign in again."
WRONG = "用户名或密码不正确。 Wrong username or password."
ENTER_CODE = (
    "请输入身份验证器应用中的 6 位验证码。 Enter the 6-digit code of your authenticator app."
)
WRONG_CODE = "验证码不正确。 Wrong code."
USED_CODE = "此验证码已使用过，请等待下一个。 This code was used already: wait for the next one."


def no_code_yet(username: str) -> str:
    return (
        f"管理员须使用一次性验证码登录，此账号尚未设置：请在服务器上运行 "
        f"manyi staff totp {username}。 Admins sign in with a one-time code, and this account "
        f"has none yet: run `manyi staff totp {username}` on the server to set it up."
    )


def unreadable_code(username: str) -> str:
    return (
        f"无法读取此账号的验证码密钥（MANYI_SECRET_KEY 是否已更改？）：请运行 "
        f"manyi staff totp {username} 重新设置。 This account's one-time code secret cannot be "
        f"read (was MANYI_SECRET_KEY changed?): run `manyi staff totp {username}` to set it up "
        "again."
    )


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
    proof: str | None = None,
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
        proof=proof,
        prompt=ENTER_CODE if proof else None,
    )
    set_cookie(response, settings, LOGIN_COOKIE, sign(settings, "login", nonce), LOGIN_COOKIE_AGE)
    return response


def _login_nonce(request: Request, settings: Settings) -> str | None:
    return unsign(settings, "login", request.cookies.get(cookie_name(settings, LOGIN_COOKIE)))


def _forwarded_for(request: Request) -> str | None:
    """The X-Forwarded-For chain as the request claimed it, for the audit log only."""
    chain = ", ".join(request.headers.getlist("x-forwarded-for"))
    return chain or None


def _code_proof(settings: Settings, staff: Staff, nonce: str) -> str:
    """That ``staff``'s password was right, for the code form of the browser holding ``nonce``."""
    return sign(settings, "login-code", f"{staff.id}:{nonce}:{int(time.time()) + CODE_PROOF_AGE}")


def _proven_staff(session, settings: Settings, proof: str, nonce: str) -> Staff | None:
    value = unsign(settings, "login-code", proof)
    if value is None:
        return None
    staff_id, proven_nonce, expires = value.split(":")
    if not same(proven_nonce, nonce) or int(expires) < time.time():
        return None
    staff = session.get(Staff, int(staff_id))
    return staff if staff is not None and staff.active else None


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
    code: Annotated[str, Form(max_length=20)] = "",
    proof: Annotated[str, Form(max_length=300)] = "",
    csrf: Annotated[str, Form(max_length=200)] = "",
    next: Annotated[str, Form(max_length=2000)] = HOME,
) -> Response:
    nonce = _login_nonce(request, settings)
    if nonce is None or not same(csrf, login_csrf_token(settings, nonce)):
        # No error page of its own: a fresh form, since the usual cause is an old tab.
        return _login_page(request, settings, next_=safe_next(next), status_code=403,
                           error=EXPIRED)  # fmt: skip
    origin = {"ip": client_ip(request, settings), "forwarded_for": _forwarded_for(request)}
    if proof:
        staff = _proven_staff(session, settings, proof, nonce)
        if staff is None:
            return _login_page(request, settings, next_=safe_next(next), status_code=403,
                               error=EXPIRED, nonce=nonce)  # fmt: skip
        username = staff.username
    username = normalise_username(username)
    again = dict(next_=safe_next(next), username=username, nonce=nonce)

    attempt = throttle.reserve(session, username, origin["ip"])
    if attempt.refused:
        audit.audit(session, None, audit.LOGIN_THROTTLED, username,
                    {"locked": attempt.locked_by}, **origin)  # fmt: skip
        minutes = max(1, int((attempt.locked_until - utcnow()).total_seconds() // 60) + 1)
        response = _login_page(
            request, settings, status_code=429, **again,
            error=f"失败次数过多，请 {minutes} 分钟后再试。 "
            f"Too many failed attempts: try again in {minutes} minutes.",
        )  # fmt: skip
        response.headers["Retry-After"] = str(minutes * 60)
        return response

    if proof:
        return _check_code(request, session, settings, staff, code, attempt, origin, again)

    staff = authenticate(session, username, password)
    if staff is None:
        known = find_staff(session, username) if username else None
        audit.audit(session, known, audit.LOGIN_FAILED, username, **origin)
        return _login_page(request, settings, status_code=401, **again, error=WRONG)

    if signs_in_with_code(staff, settings.require_admin_totp):
        # The password was right: no failure to count, whatever happens to the code.
        throttle.give_back(session, attempt)
        key = settings.secret_key.get_secret_value()
        if staff.totp_secret is None or totp.unseal(key, staff, staff.totp_secret) is None:
            # Said only after the right password: a guess learns nothing about the account.
            missing = staff.totp_secret is None
            reason = "no one-time code set up" if missing else "one-time code unreadable"
            error = no_code_yet(username) if missing else unreadable_code(username)
            audit.audit(session, staff, audit.LOGIN_FAILED, username, {"reason": reason}, **origin)
            return _login_page(request, settings, status_code=403, **again, error=error)
        return _login_page(request, settings, **again, proof=_code_proof(settings, staff, nonce))
    return _signed_in(request, session, settings, staff, attempt, origin, next)


def _check_code(request, session, settings, staff, code, attempt, origin, again) -> Response:
    key = settings.secret_key.get_secret_value()
    checked = totp.check_code(session, staff, key, code)
    if checked is totp.CodeCheck.ACCEPTED:
        return _signed_in(request, session, settings, staff, attempt, origin, again["next_"])
    audit.audit(session, staff, audit.LOGIN_FAILED, staff.username,
                {"reason": f"one-time code {checked.value}"}, **origin)  # fmt: skip
    if checked is totp.CodeCheck.UNREADABLE:
        return _login_page(request, settings, status_code=403, **again,
                           error=unreadable_code(staff.username))  # fmt: skip
    return _login_page(
        request, settings, status_code=401, **again,
        error=USED_CODE if checked is totp.CodeCheck.REPLAYED else WRONG_CODE,
        proof=_code_proof(settings, staff, again["nonce"]),
    )  # fmt: skip


def _signed_in(request, session, settings, staff, attempt, origin, next_) -> Response:
    throttle.succeeded(session, attempt)
    old = session_token(request, settings)
    if old is not None:
        end_session(session, old)
    token = start_session(session, staff, origin["ip"])
    audit.audit(session, staff, audit.LOGIN, staff.username, **origin)
    target = safe_next(next_)
    if target == HOME:
        target = WORK_PAGES.get(staff.role, HOME)
    response = RedirectResponse(target, status_code=303)
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
        origin = {"ip": client_ip(request, settings), "forwarded_for": _forwarded_for(request)}
        audit.audit(session, staff, audit.LOGOUT, staff.username, **origin)
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
    teams: list[str]
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
                    "teams": [],
                    "permissions": [
                        "view_analyses",
                        "view_contact_results",
                        "export_responses",
                        "view_follow_ups",
                        "manage_follow_ups",
                    ],
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
        teams=staff.teams,
        permissions=[permission.value for permission in permissions_of(staff.role)],
    )
