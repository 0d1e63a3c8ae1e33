"""Who is asking: session cookies for pages, API keys for the JSON API, CSRF for forms.

Other routers use three dependencies:

- ``CurrentStaff``: anyone signed in (a page without a session redirects to ``/login``;
  an API request answers 401).
- ``require_permission(Permission.X)``: the permission matrix of :mod:`api.permissions`
  (403 when the role lacks it); ``require_role(*roles)`` where a route really is about
  roles rather than a permission.
- ``CsrfChecked``: on every state-changing form POST; the page renders
  ``csrf_token(request, settings)`` in a hidden field named ``csrf``.

A request is an API request when its path starts with ``/api/`` or it carries an
``Authorization`` header: refusals are then JSON (401/403), never a redirect.

The session cookie carries a random token (its SHA-256 is the server-side session row) and
an HMAC under the service's secret, so a forged or truncated cookie is refused before the
database is asked. It is HttpOnly, SameSite=Lax, and Secure with the ``__Host-`` prefix
when the service is reached over https. CSRF tokens are HMACs of the session they belong
to: a token from another session, or from before a login, is refused.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_address, ip_network
from pathlib import Path
from typing import Annotated
from urllib.parse import quote

from fastapi import Depends, FastAPI, Request, Security
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from fastapi.templating import Jinja2Templates

from api.permissions import Permission, allowed
from api.settings import Settings
from api.web.deps import SessionDep, SettingsDep, settings_of
from api.web.errors import ACCOUNT_LINK, HOME_LINK, SIGN_IN_LINK, error_page, error_response
from api.web.formats import CAMPAIGN_STATUS_LABELS, CHANNEL_LABELS, label
from api.web.headers import HTML_HEADERS
from survey.db.tables import Staff
from survey.signing import same, signature
from survey.staff.accounts import (
    ROLE_LABELS,
    Role,
    api_key_staff,
    session_staff,
    session_token_digest,
)
from survey.staff.scope import Scope, scope_of

TEMPLATES = Jinja2Templates(directory=Path(__file__).with_name("templates"))
# Codes every page names in words, never as codes: ``{{ channel_label(code)[0] }}``.
TEMPLATES.env.globals.update(
    channel_label=lambda code: label(CHANNEL_LABELS, code),
    status_label=lambda code: label(CAMPAIGN_STATUS_LABELS, code),
)

#: Pages with personal data or forms: never cached, and the strict policy of every page.
PAGE_HEADERS = {"Cache-Control": "no-store", **HTML_HEADERS}


class AuthRefused(Exception):
    """Not signed in (401), not allowed (403) or a refused CSRF check (403).

    ``message`` is for the JSON API's callers; ``words`` (zh, en) for the person reading the
    403 page, without permission codes.
    """

    def __init__(
        self, status_code: int, message: str, words: tuple[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.message = message
        self.words = words or ("您的账户不能使用此页面。", "Your account may not use this page.")


def _role_words(role: str) -> tuple[str, str]:
    zh, en = ROLE_LABELS.get(role, (role, role))
    return (
        f"您的角色（{zh}）不能使用此页面。如需使用，请联系管理员。",
        f"Your role ({en}) may not use this page. Ask an administrator if you need it.",
    )


_EXPIRED_FORM = ("此表单已过期：请重新打开页面再提交。",
                 "This form has expired: open the page again and resend it.")  # fmt: skip


# -- cookies and signatures ----------------------------------------------------------------


def uses_https(settings: Settings) -> bool:
    """Whether cookies are Secure: behind https, and always in production (where a public
    URL mistyped as http must not send sessions in the clear)."""
    return settings.public_base_url.scheme == "https" or settings.env == "production"


def cookie_name(settings: Settings, name: str) -> str:
    # __Host- makes browsers refuse the cookie unless Secure, host-only and for path "/":
    # a neighbouring subdomain cannot plant a session cookie on us.
    return f"__Host-{name}" if uses_https(settings) else name


def session_cookie(settings: Settings) -> str:
    return cookie_name(settings, "manyi_session")


def _mac(settings: Settings, purpose: str, value: str) -> str:
    return signature(settings.secret_key.get_secret_value(), f"{purpose}:{value}", bits=256)


def sign(settings: Settings, purpose: str, value: str) -> str:
    return f"{value}.{_mac(settings, purpose, value)}"


def unsign(settings: Settings, purpose: str, signed: str | None) -> str | None:
    """The value of a signed cookie, or None if it is missing or its signature is wrong."""
    if not signed or "." not in signed:
        return None
    value, mac = signed.rsplit(".", 1)
    expected = _mac(settings, purpose, value)
    return value if same(mac, expected) else None


def set_cookie(response: Response, settings: Settings, name: str, value: str, max_age: int) -> None:
    response.set_cookie(
        cookie_name(settings, name),
        value,
        max_age=max_age,
        path="/",
        secure=uses_https(settings),
        httponly=True,
        samesite="lax",
    )


def delete_cookie(response: Response, settings: Settings, name: str) -> None:
    response.delete_cookie(
        cookie_name(settings, name),
        path="/",
        secure=uses_https(settings),
        httponly=True,
        samesite="lax",
    )


def session_token(request: Request, settings: Settings) -> str | None:
    """The session token of the request's cookie, if its signature holds."""
    return unsign(settings, "session", request.cookies.get(session_cookie(settings)))


def client_ip(request: Request, settings: Settings | None = None) -> str | None:
    """The client's address: the socket's peer, unless that peer is one of the trusted
    proxies (MANYI_TRUSTED_PROXIES; ``settings`` defaults to the application's).

    Behind trusted proxies, X-Forwarded-For is read from the right (each proxy appends the
    address it was reached from) past every trusted proxy: the first other address is the
    client. Anything left of it was written by the client, so it is never believed; nor is
    the header of a peer that is not a trusted proxy (uvicorn must not rewrite the peer from
    it either: ``manyi serve`` runs it with ``proxy_headers=False``).
    """
    peer = request.client.host if request.client else None
    if peer is not None:
        # A link-local peer may carry its interface ("fe80::1%eth0"): the address alone is
        # what the audit log and sessions keep (45 characters at most).
        address = _address(peer)
        peer = str(address) if address is not None else peer[:45]
    trusted = _trusted_networks((settings or settings_of(request)).trusted_proxies)
    if peer is None or not _within(peer, trusted):
        return peer
    hops = ",".join(request.headers.getlist("x-forwarded-for")).split(",")
    client = peer
    for hop in reversed(hops):
        address = _address(hop)
        if address is None:
            # Not an address a proxy of ours would write: stop at the last one we trust.
            return client
        client = str(address)
        if not _within(client, trusted):
            return client
    return client


@lru_cache
def _trusted_networks(entries: tuple[str, ...]) -> tuple[IPv4Network | IPv6Network, ...]:
    return tuple(ip_network(entry, strict=False) for entry in entries)


def _address(text: str) -> IPv4Address | IPv6Address | None:
    text = text.strip().removeprefix("[").removesuffix("]")
    # A scope id (fe80::1%eth0) names an interface of the host that wrote it, not a client,
    # and is text of any length: kept, str() of the address would not fit the audit log's
    # ip column (45 characters, the longest address without one).
    text = text.split("%", 1)[0]
    try:
        address = ip_address(text)
    except ValueError:
        return None
    # An IPv4 client of a dual-stack socket shows as ::ffff:a.b.c.d.
    mapped = getattr(address, "ipv4_mapped", None)
    return mapped or address


def _within(host: str, networks: tuple[IPv4Network | IPv6Network, ...]) -> bool:
    address = _address(host) if networks else None
    return address is not None and any(address in network for network in networks)


# -- who is asking -------------------------------------------------------------------------


def is_api_request(request: Request) -> bool:
    return request.url.path.startswith("/api/") or "authorization" in request.headers


#: Declares the API key in OpenAPI (the "Authorize" button of /docs) for every route that
#: asks who is calling; the header itself is read below, so that a wrong one is a 401 of ours.
API_KEY = HTTPBearer(
    scheme_name="apiKey",
    bearerFormat="manyi_...",
    description="An API key from `manyi staff key USERNAME --name NAME`, sent as "
    "`Authorization: Bearer manyi_...`.",
    auto_error=False,
)


def optional_staff(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    _: Annotated[HTTPAuthorizationCredentials | None, Security(API_KEY)] = None,
) -> Staff | None:
    """The staff member behind the request, or None when nobody is signed in.

    A request with an ``Authorization`` header is judged by that header alone: a wrong
    key is refused even when a session cookie comes along.
    """
    header = request.headers.get("authorization")
    if header is not None:
        scheme, _, key = header.partition(" ")
        staff = api_key_staff(session, key.strip()) if scheme.lower() == "bearer" else None
        if staff is None:
            raise AuthRefused(401, "invalid, revoked or malformed API key (Authorization: Bearer)")
        return staff
    token = session_token(request, settings)
    return session_staff(session, token) if token else None


def current_staff(staff: Annotated[Staff | None, Depends(optional_staff)]) -> Staff:
    if staff is None:
        raise AuthRefused(401, "sign in first")
    return staff


CurrentStaff = Annotated[Staff, Depends(current_staff)]


def require_permission(permission: Permission) -> Callable[[Staff], Staff]:
    """A dependency: the signed-in staff member, if their role has ``permission``."""

    def dependency(staff: CurrentStaff) -> Staff:
        if not allowed(staff.role, permission):
            raise AuthRefused(403, f"the {staff.role} role may not {permission.value}",
                              _role_words(staff.role))  # fmt: skip
        return staff

    return dependency


def require_role(*roles: Role | str) -> Callable[[Staff], Staff]:
    """A dependency: the signed-in staff member, if their role is one of ``roles``."""
    wanted = frozenset(Role(role) for role in roles)

    def dependency(staff: CurrentStaff) -> Staff:
        if staff.role not in wanted:
            raise AuthRefused(403, f"the {staff.role} role may not use this",
                              _role_words(staff.role))  # fmt: skip
        return staff

    return dependency


def _viewer_scope(
    session: SessionDep,
    staff: Annotated[Staff, Depends(require_permission(Permission.VIEW_ANALYSES))],
) -> Scope:
    return scope_of(session, staff)


#: A reader of analyses (``view_analyses``), as the scope they read in: the dashboard and the
#: analyses API cut what they show with it.
ViewerScope = Annotated[Scope, Depends(_viewer_scope)]


# -- CSRF ----------------------------------------------------------------------------------


def csrf_token(request: Request, settings: Settings) -> str:
    """The hidden ``csrf`` field of a signed-in page's forms: an HMAC of its session."""
    token = session_token(request, settings)
    if token is None:
        raise AuthRefused(401, "sign in first")
    return _mac(settings, "csrf", "session:" + session_token_digest(token))


def login_csrf_token(settings: Settings, nonce: str) -> str:
    """The login form's CSRF field, tied to the pre-login cookie's random nonce."""
    return _mac(settings, "csrf", "login:" + nonce)


async def check_csrf(request: Request, settings: SettingsDep) -> None:
    """Refuse a form POST whose ``csrf`` field is not the one of the sender's session."""
    form = await request.form()
    sent = form.get("csrf")
    token = session_token(request, settings)
    if not isinstance(sent, str) or token is None:
        raise AuthRefused(403, "this form has expired; open the page again", _EXPIRED_FORM)
    expected = _mac(settings, "csrf", "session:" + session_token_digest(token))
    if not same(sent, expected):
        raise AuthRefused(403, "this form has expired; open the page again", _EXPIRED_FORM)


CsrfChecked = Annotated[None, Depends(check_csrf)]


# -- refusals ------------------------------------------------------------------------------


def page(request: Request, name: str, status_code: int = 200, **context) -> HTMLResponse:
    """Render an account template with the headers every staff page gets."""
    response = TEMPLATES.TemplateResponse(request, name, context, status_code=status_code)
    response.headers.update(PAGE_HEADERS)
    return response


async def _refused(request: Request, error: Exception) -> Response:
    assert isinstance(error, AuthRefused)  # registered for AuthRefused only
    if is_api_request(request):
        headers = {"WWW-Authenticate": "Bearer"} if error.status_code == 401 else None
        return error_response(error.status_code, error.message, headers=headers)
    if error.status_code == 401:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(f"/login?next={quote(target, safe='')}", status_code=303)
    return error_page(
        request, error.status_code, ("无权访问", "Not allowed"), error.words,
        (HOME_LINK, ACCOUNT_LINK, SIGN_IN_LINK), headers=PAGE_HEADERS,
    )  # fmt: skip


def install(app: FastAPI) -> None:
    """Turn refusals into redirects to /login, 403 pages, or JSON for the API."""
    app.add_exception_handler(AuthRefused, _refused)
