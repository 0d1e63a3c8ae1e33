"""The console's staff pages and audit log: ``/console/staff`` and ``/console/audit``.

What ``manyi staff add|set-password|totp|disable|list|key|revoke-key`` does, in the browser,
with the same rules (:mod:`survey.staff.accounts`: the password policy, roles, the limits a
role may have, a team leader's teams; one-time codes for admins when MANYI_REQUIRE_ADMIN_TOTP
says so):

- ``GET /console/staff``: everyone, with the form that adds someone; ``POST`` adds.
- ``GET /console/staff/{id}``: one member; ``POST .../role`` (role and scope), ``.../disable``,
  ``.../enable``, ``.../password``, ``.../totp`` (set up or remove one-time codes),
  ``.../keys`` (a new API key) and ``.../keys/{key_id}/revoke``.
- ``GET /console/audit``: the audit log, filtered, newest first, 100 rows a page;
  ``GET /console/audit.csv`` the filtered rows as a file.

Staff pages need ``manage_staff``, the log ``view_audit_log``. Every change checks CSRF, is
audited with the client's address, and answers 303 to the member's page with what was done;
a refused one re-renders its page with the reason (422), beside the field at fault when
there is one (a team leader's teams, a manager's regions). A secret (a generated password, an
API key, a one-time code secret) exists only in the answer to the POST that made it: never in
a URL, a redirect, a log or the audit log, so it cannot be shown twice.
"""

from __future__ import annotations

import csv
import io
import json
from datetime import date, datetime, time, timedelta
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Form, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlmodel import Session, col, select

from api.permissions import Permission
from api.web.auth import CsrfChecked, client_ip, require_permission
from api.web.console_pages import console_page
from api.web.deps import MAX_ID, RowId, SessionDep, SettingsDep
from api.web.formats import local_time
from survey.db.tables import Staff
from survey.spreadsheets import csv_cell
from survey.staff import accounts, audit, totp
from survey.staff.accounts import ROLE_LABELS, ROLES, Role, StaffError

router = APIRouter(prefix="/console", tags=["console"], include_in_schema=False)

Admin = Annotated[Staff, Depends(require_permission(Permission.MANAGE_STAFF))]
Auditor = Annotated[Staff, Depends(require_permission(Permission.VIEW_AUDIT_LOG))]
Short = Annotated[str, Form(max_length=100)]
Places = Annotated[str, Form(max_length=5000)]
Secret = Annotated[str, Form(max_length=accounts.MAX_PASSWORD_LENGTH + 1)]
Filter = Annotated[str, Query(max_length=200)]

#: The audit log's page.
PAGE_SIZE = 100
#: Who the console's changes are by, besides the author's id (the CLI writes "manyi staff").
VIA = "console"

#: What a 303 tells the member's page (``?m=``), (zh, en).
DONE = {
    "added": ("已添加。", "Added."),
    "role": ("角色与范围已更改，下次打开页面时生效。",
             "Role and scope changed; they apply from their next page."),
    "disabled": ("已停用：其会话已结束，API 密钥已失效。",
                 "Disabled: their sessions ended and their API keys stopped working."),
    "enabled": ("已重新启用：可用原密码登录；停用前的 API 密钥已吊销。",
                "Enabled again: they sign in with their password; keys from before are revoked."),
    "password": ("新密码已设置，其会话已结束。", "New password set; their sessions have ended."),
    "revoked": ("API 密钥已吊销。", "API key revoked."),
    "totp-removed": ("已取消一次性验证码。", "One-time codes removed."),
}  # fmt: skip

MISMATCH = "the two passwords differ: type the same password twice"
NO_PASSWORD = "type a password twice, or tick 'generate one'"  # noqa: S105 (advice, no secret)


def _roles() -> list[tuple[str, tuple[str, str]]]:
    return [(role, ROLE_LABELS[role]) for role in ROLES]


def _names(text: str) -> list[str]:
    """Region, hall or team names as typed: one a line or separated by commas (either kind)."""
    parts = text.replace("，", ",").replace("\n", ",").split(",")
    return sorted({" ".join(part.split()) for part in parts if part.strip()})


def _member(session: Session, staff_id: int) -> Staff:
    member = session.get(Staff, staff_id)
    if member is None:
        raise HTTPException(404, f"no staff member {staff_id}")
    return member


def _audit(session, request, admin, action, target, **detail) -> None:
    audit.audit(session, admin, action, target, {"via": VIA, **detail}, client_ip(request))


def _new_password(password: str, again: str, generate: bool, username: str) -> tuple[str, bool]:
    """The password chosen on a form, or a generated one; and whether it was generated."""
    if generate:
        return accounts.generate_password(username), True
    if not password:
        raise StaffError(NO_PASSWORD)
    if password != again:
        raise StaffError(MISMATCH)
    accounts.check_password(password, username)
    return password, False


def _needs_code(settings, member: Staff) -> bool:
    """Whether ``member`` cannot sign in until one-time codes are set up for them."""
    return settings.require_admin_totp and member.role == Role.ADMIN and member.totp_secret is None


# -- everyone ------------------------------------------------------------------------------


def _list_page(request, session, admin, status_code=200, *, error=None, field=None,
               form=None, message=None, shown=None):  # fmt: skip
    people = session.exec(select(Staff).order_by(col(Staff.username))).all()
    logins = audit.last_logins(session)
    keys = accounts.unrevoked_key_counts(session)
    regions, halls = accounts.known_places(session)
    return console_page(
        request, admin, "console/staff.html", status_code, current="/console/staff",
        people=people, logins=logins, keys=keys, roles=_roles(), role_label=_role_label,
        error=error, field=field, form=form or {}, message=message, shown=shown,
        known_regions=regions, known_halls=halls, known_teams=accounts.known_teams(session),
    )  # fmt: skip


def _role_label(role: str) -> tuple[str, str]:
    return ROLE_LABELS.get(role, (role, role))


@router.get("/staff", response_class=HTMLResponse)
def staff_list(request: Request, session: SessionDep, admin: Admin,
               m: Annotated[str, Query(max_length=20)] = ""):  # fmt: skip
    """Everyone who works in Manyi: role, scope, state, last sign-in, keys; and 'add'."""
    return _list_page(request, session, admin, message=DONE.get(m))


@router.post("/staff", response_class=HTMLResponse)
def add_staff(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    admin: Admin,
    _: CsrfChecked,
    username: Annotated[str, Form(max_length=64)],
    role: Annotated[str, Form(max_length=16)],
    display_name: Short = "",
    regions: Places = "",
    service_halls: Places = "",
    teams: Places = "",
    password: Secret = "",
    password_again: Secret = "",
    generate: Annotated[bool, Form()] = False,
):
    """Add a staff member; a generated password is shown on this answer only."""
    form = {"username": username, "display_name": display_name, "role": role,
            "regions": regions, "service_halls": service_halls, "teams": teams,
            "generate": generate}  # fmt: skip
    try:
        places = _names(regions), _names(service_halls), _names(teams)
        accounts.check_role_and_scope(role, *places)
        accounts.check_places(session, *places)
        chosen, generated = _new_password(password, password_again, generate,
                                          accounts.normalise_username(username))  # fmt: skip
        member = accounts.create_staff(
            session, username, role, chosen, display_name=display_name or None,
            regions=places[0], service_halls=places[1], teams=places[2],
        )  # fmt: skip
    except StaffError as error:
        return _list_page(request, session, admin, 422, error=str(error), field=error.field,
                          form=form)  # fmt: skip
    _audit(session, request, admin, audit.STAFF_ADDED, member.username, role=role,
           regions=member.regions, service_halls=member.service_halls,
           **({"teams": member.teams} if member.teams else {}))  # fmt: skip
    if generated:
        # Not a redirect: the password must not travel in a URL, and exists only here.
        return _list_page(request, session, admin, 201, message=DONE["added"],
                          shown={"member": member, "password": chosen,
                                 "needs_code": _needs_code(settings, member)})  # fmt: skip
    return RedirectResponse(f"/console/staff/{member.id}?m=added", status_code=303)


# -- one member ----------------------------------------------------------------------------


def _member_page(request, session, settings, admin, member, status_code=200, *,
                 message=None, error=None, field=None, form=None, secret=None):  # fmt: skip
    regions, halls = accounts.known_places(session)
    return console_page(
        request, admin, "console/staff_member.html", status_code, current="/console/staff",
        member=member, keys=accounts.api_keys_of(session, member), roles=_roles(),
        role_label=_role_label, last_login=audit.last_logins(session).get(member.id),
        itself=member.id == admin.id, needs_code=_needs_code(settings, member),
        requires_code=settings.require_admin_totp,
        message=message, error=error, field=field, form=form or {}, secret=secret,
        known_regions=regions, known_halls=halls, known_teams=accounts.known_teams(session),
    )  # fmt: skip


@router.get("/staff/{staff_id}", response_class=HTMLResponse)
def staff_member(request: Request, staff_id: RowId, session: SessionDep, settings: SettingsDep,
                 admin: Admin, m: Annotated[str, Query(max_length=20)] = ""):  # fmt: skip
    """One member: details, role and scope, disable, password, one-time codes, API keys."""
    member = _member(session, staff_id)
    return _member_page(request, session, settings, admin, member, message=DONE.get(m))


def _done(member: Staff, what: str) -> RedirectResponse:
    return RedirectResponse(f"/console/staff/{member.id}?m={what}", status_code=303)


def _role_and_scope(member: Staff) -> dict[str, Any]:
    """What the audit log keeps of a role change (teams only where there are some)."""
    kept = {"role": member.role, "regions": member.regions,
            "service_halls": member.service_halls}  # fmt: skip
    return kept | ({"teams": member.teams} if member.teams else {})


@router.post("/staff/{staff_id}/role", response_class=HTMLResponse)
def change_role(request: Request, staff_id: RowId, session: SessionDep, settings: SettingsDep,
                admin: Admin, _: CsrfChecked, role: Annotated[str, Form(max_length=16)],
                regions: Places = "", service_halls: Places = "",
                teams: Places = ""):  # fmt: skip
    """Another role or scope: a manager's regions and halls, a team leader's teams."""
    member = _member(session, staff_id)
    before = _role_and_scope(member)
    try:
        places = _names(regions), _names(service_halls), _names(teams)
        accounts.check_role_and_scope(role, *places)
        accounts.check_places(session, *places)
        accounts.change_role(session, member, role, regions=places[0],
                             service_halls=places[1], teams=places[2], by=admin)  # fmt: skip
    except StaffError as error:
        form = {"role": role, "regions": regions, "service_halls": service_halls,
                "teams": teams}  # fmt: skip
        return _member_page(request, session, settings, admin, member, 422,
                            error=str(error), field=error.field, form=form)  # fmt: skip
    after = _role_and_scope(member)
    _audit(session, request, admin, audit.STAFF_CHANGED, member.username, before=before,
           after=after)  # fmt: skip
    return _done(member, "role")


@router.post("/staff/{staff_id}/disable", response_class=HTMLResponse)
def disable(request: Request, staff_id: RowId, session: SessionDep, settings: SettingsDep,
            admin: Admin, _: CsrfChecked):  # fmt: skip
    member = _member(session, staff_id)
    try:
        accounts.disable_staff(session, member, by=admin)
    except StaffError as error:
        return _member_page(request, session, settings, admin, member, 422, error=str(error))
    _audit(session, request, admin, audit.STAFF_DISABLED, member.username)
    return _done(member, "disabled")


@router.post("/staff/{staff_id}/enable", response_class=HTMLResponse)
def enable(request: Request, staff_id: RowId, session: SessionDep, settings: SettingsDep,
           admin: Admin, _: CsrfChecked):  # fmt: skip
    member = _member(session, staff_id)
    if member.active:
        return _member_page(request, session, settings, admin, member, 422,
                            error=f"{member.username} is active already")  # fmt: skip
    revoked = accounts.enable_staff(session, member)
    _audit(session, request, admin, audit.STAFF_ENABLED, member.username, keys_revoked=revoked)
    return _done(member, "enabled")


@router.post("/staff/{staff_id}/password", response_class=HTMLResponse)
def new_password(request: Request, staff_id: RowId, session: SessionDep, settings: SettingsDep,
                 admin: Admin, _: CsrfChecked, password: Secret = "",
                 password_again: Secret = "",
                 generate: Annotated[bool, Form()] = False):  # fmt: skip
    """A new password (typed twice, or generated and shown once); their sessions end."""
    member = _member(session, staff_id)
    try:
        chosen, generated = _new_password(password, password_again, generate, member.username)
        accounts.set_password(session, member, chosen)
    except StaffError as error:
        return _member_page(request, session, settings, admin, member, 422, error=str(error))
    _audit(session, request, admin, audit.PASSWORD_CHANGED, member.username,
           generated=generated)  # fmt: skip
    if generated:
        return _member_page(request, session, settings, admin, member, 201,
                            message=DONE["password"],
                            secret={"kind": "password", "value": chosen})  # fmt: skip
    return _done(member, "password")


@router.post("/staff/{staff_id}/totp", response_class=HTMLResponse)
def one_time_codes(request: Request, staff_id: RowId, session: SessionDep,
                   settings: SettingsDep, admin: Admin, _: CsrfChecked,
                   remove: Annotated[bool, Form()] = False):  # fmt: skip
    """Set up one-time codes (a new secret, shown once with its otpauth:// URI), or remove
    them, as ``manyi staff totp [--remove]`` does."""
    member = _member(session, staff_id)
    if remove:
        locked_out = settings.require_admin_totp and member.role == Role.ADMIN
        try:
            if locked_out:
                accounts.refuse_own_account(admin, member, "remove the one-time codes of")
        except StaffError as error:
            return _member_page(request, session, settings, admin, member, 422,
                                error=str(error))  # fmt: skip
        totp.remove(session, member)
        _audit(session, request, admin, audit.TOTP_REMOVED, member.username)
        return _done(member, "totp-removed")
    if not member.active:
        return _member_page(request, session, settings, admin, member, 422,
                            error=f"{member.username} is disabled; enable them first")  # fmt: skip
    secret = totp.enrol(session, member, settings.secret_key.get_secret_value())
    _audit(session, request, admin, audit.TOTP_ENROLLED, member.username)
    return _member_page(request, session, settings, admin, member, 201,
                        secret={"kind": "totp", "value": secret,
                                "uri": totp.provisioning_uri(member, secret)})  # fmt: skip


@router.post("/staff/{staff_id}/keys", response_class=HTMLResponse)
def create_key(request: Request, staff_id: RowId, session: SessionDep, settings: SettingsDep,
               admin: Admin, _: CsrfChecked, name: Short = ""):  # fmt: skip
    """A new API key, shown on this answer only (only its hash and prefix are kept)."""
    member = _member(session, staff_id)
    try:
        row, key = accounts.create_api_key(session, member, name)
    except StaffError as error:
        return _member_page(request, session, settings, admin, member, 422, error=str(error),
                            form={"key_name": name})  # fmt: skip
    _audit(session, request, admin, audit.API_KEY_CREATED, row.prefix, name=row.name,
           staff=member.username)  # fmt: skip
    return console_page(request, admin, "console/staff_key.html", 201, current="/console/staff",
                        member=member, row=row, key=key)  # fmt: skip


@router.post("/staff/{staff_id}/keys/{key_id}/revoke", response_class=HTMLResponse)
def revoke_key(request: Request, staff_id: RowId, key_id: RowId, session: SessionDep,
               settings: SettingsDep, admin: Admin, _: CsrfChecked):  # fmt: skip
    member = _member(session, staff_id)
    try:
        row = accounts.revoke_key_of(session, member, key_id)
    except StaffError as error:
        return _member_page(request, session, settings, admin, member, 422, error=str(error))
    _audit(session, request, admin, audit.API_KEY_REVOKED, row.prefix, name=row.name,
           staff=member.username)  # fmt: skip
    return _done(member, "revoked")


# -- the audit log -------------------------------------------------------------------------


def _day(text: str, field: str) -> date | None:
    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise StaffError(f"{field} {text!r}: give a date as 2026-04-30") from None


def _search(zone: str, action: str, staff: str, target: str, since: str, until: str,
            before: int | None) -> audit.Search:  # fmt: skip
    """The filters as typed, the dates read as whole local days (``until`` included)."""
    tz = ZoneInfo(zone)
    first, last = _day(since, "from"), _day(until, "to")
    if first and last and last < first:
        raise StaffError("'to' is before 'from': swap the two dates")
    return audit.Search(
        action=action or None, username=staff or None, target=target or None,
        since=datetime.combine(first, time(), tz) if first else None,
        until=datetime.combine(last + timedelta(days=1), time(), tz) if last else None,
        before_id=before,
    )  # fmt: skip


def _compact(detail: dict[str, Any]) -> str:
    return json.dumps(detail, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


Before = Annotated[int | None, Query(ge=1, le=MAX_ID)]


@router.get("/audit", response_class=HTMLResponse)
def audit_log(request: Request, session: SessionDep, settings: SettingsDep, auditor: Auditor,
              action: Filter = "", staff: Filter = "", target: Filter = "",
              since: Filter = "", until: Filter = "", before: Before = None):  # fmt: skip
    """The audit log, newest first, a page of :data:`PAGE_SIZE`; "older" continues below the
    page's last row, so that new rows arriving meanwhile do not shift the pages."""
    chosen = {"action": action, "staff": staff, "target": target, "since": since,
              "until": until}  # fmt: skip
    error, rows = None, []
    try:
        wanted = _search(settings.timezone, action, staff, target, since, until, before)
        rows = audit.search(session, wanted, limit=PAGE_SIZE + 1)
    except StaffError as refused:
        error = str(refused)
    older = rows[PAGE_SIZE - 1][0].id if len(rows) > PAGE_SIZE else None
    query = {k: v for k, v in chosen.items() if v}
    return console_page(
        request, auditor, "console/audit.html", 422 if error else 200, current="/console/audit",
        rows=rows[:PAGE_SIZE], older=older, chosen=chosen, query=query, error=error,
        paged=before is not None, actions=audit.actions_written(session), compact=_compact,
    )  # fmt: skip


@router.get("/audit.csv")
def audit_csv(request: Request, session: SessionDep, settings: SettingsDep, auditor: Auditor,
              action: Filter = "", staff: Filter = "", target: Filter = "",
              since: Filter = "", until: Filter = ""):  # fmt: skip
    """Every row the filters keep, as CSV (UTF-8 with a BOM, which Excel needs to read
    Chinese); each text cell formula-safe (:func:`survey.spreadsheets.csv_cell`)."""
    try:
        wanted = _search(settings.timezone, action, staff, target, since, until, None)
    except StaffError as refused:
        raise HTTPException(422, str(refused)) from None
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["id", f"at ({settings.timezone})", "at (UTC)", "staff", "action",
                     "target", "ip", "forwarded_for", "detail"])  # fmt: skip
    found = audit.search(session, wanted, limit=None)
    for row, username in found:
        writer.writerow([
            row.id, local_time(row.at, settings.timezone, "%Y-%m-%d %H:%M:%S"),
            row.at.isoformat(), csv_cell(username or ""), csv_cell(row.action),
            csv_cell(row.target or ""), csv_cell(row.ip or ""),
            csv_cell(row.forwarded_for or ""), csv_cell(_compact(row.detail)),
        ])  # fmt: skip
    # Who read the log is on the log too (after the rows were read: not in this file).
    _audit(session, request, auditor, audit.EXPORT, "audit_log", rows=len(found),
           filters={k: v for k, v in (("action", action), ("staff", staff), ("target", target),
                                       ("since", since), ("until", until)) if v})  # fmt: skip
    headers = {"Content-Disposition": 'attachment; filename="audit-log.csv"',
               "Cache-Control": "no-store"}  # fmt: skip
    return Response("\ufeff" + out.getvalue(), media_type="text/csv; charset=utf-8",
                    headers=headers)  # fmt: skip
