"""The audit log: who did what, to what, from where.

Call :func:`audit` wherever something worth answering for later happens: a login, an
export, a look at a customer's phone number. Rows are never updated (a database trigger
refuses it), so the log can be trusted to say what happened.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func
from sqlmodel import Session, col, select

from survey.db.tables import AuditLog, Staff, utcnow

# The actions written today. Others may be added by callers (any short snake_case name):
# list them here when they become common, so that readers of the log find them documented.
LOGIN = "login"
LOGIN_FAILED = "login_failed"
#: A login refused without checking the password, because of too many recent failures.
LOGIN_THROTTLED = "login_throttled"
LOGOUT = "logout"
EXPORT = "export"
PERSONAL_DATA_ACCESS = "personal_data_access"
STAFF_ADDED = "staff_added"
STAFF_DISABLED = "staff_disabled"
PASSWORD_CHANGED = "password_changed"  # noqa: S105 (an action name, no secret)
#: One-time codes (TOTP) set up for an account, or removed from it; never the secret itself.
TOTP_ENROLLED = "totp_enrolled"
TOTP_REMOVED = "totp_removed"
API_KEY_CREATED = "api_key_created"
API_KEY_REVOKED = "api_key_revoked"
#: A staff member's role or scope changed (detail: the old and the new).
STAFF_CHANGED = "staff_changed"
#: A disabled staff member let in again (detail: how many of their API keys were revoked).
STAFF_ENABLED = "staff_enabled"
#: An analysis asked for from the console (target "analysis:ID"), or asked for again with
#: the same inputs (a forced re-run, detail: the job it re-runs).
ANALYSIS_REQUESTED = "analysis_requested"
ANALYSIS_RERUN = "analysis_rerun"

_ACTION = re.compile(r"[a-z][a-z0-9_]{0,31}")
_TARGET_LENGTH = 200
_FORWARDED_LENGTH = 500


def audit(
    session: Session,
    staff: Staff | int | None,
    action: str,
    target: str | None = None,
    detail: dict[str, Any] | None = None,
    ip: str | None = None,
    *,
    at: datetime | None = None,
    forwarded_for: str | None = None,
) -> AuditLog:
    """Record ``action`` by ``staff`` (a row, an id, or None when nobody is known).

    ``target`` names what was acted on (a username, ``"campaign:12"``, an export's file
    name); ``detail`` holds anything else as JSON, never a secret or a password. ``ip`` is
    the client's address as the service believes it; ``forwarded_for`` the X-Forwarded-For
    chain the request claimed, kept apart whether it was believed or not.

    The row is committed with whatever else ``session`` holds, before this returns: an access
    to personal data is on record even if showing the data then fails.
    """
    if not _ACTION.fullmatch(action):
        raise ValueError(f"audit action {action!r} is not a short snake_case name")
    staff_id = staff.id if isinstance(staff, Staff) else staff
    row = AuditLog(
        at=at or utcnow(),
        staff_id=staff_id,
        action=action,
        target=target[:_TARGET_LENGTH] if target is not None else None,
        detail=detail or {},
        ip=ip,
        forwarded_for=forwarded_for[:_FORWARDED_LENGTH] if forwarded_for else None,
    )
    session.add(row)
    session.commit()
    session.refresh(row)
    return row


def entries(session: Session, *, action: str | None = None, limit: int = 100) -> list[AuditLog]:
    """The newest audit rows, optionally of one action."""
    query = select(AuditLog)
    if action is not None:
        query = query.where(AuditLog.action == action)
    return list(session.exec(query.order_by(col(AuditLog.id).desc()).limit(limit)))


@dataclass(frozen=True, slots=True)
class Search:
    """Which audit rows to read: an action, the username of who did it, words in the target,
    a time range (``since`` included, ``until`` excluded), and rows older than ``before_id``
    (the page after the one that ended there)."""

    action: str | None = None
    username: str | None = None
    target: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    before_id: int | None = None


def search(
    session: Session, wanted: Search, *, limit: int | None = 100
) -> list[tuple[AuditLog, str | None]]:
    """The rows ``wanted`` keeps, newest first, each with its author's username (None:
    nobody known, e.g. the command line). ``limit`` None reads them all (a download)."""
    query = select(AuditLog, Staff.username).outerjoin(Staff, col(Staff.id) == AuditLog.staff_id)
    if wanted.action:
        query = query.where(AuditLog.action == wanted.action)
    if wanted.username:
        query = query.where(Staff.username == wanted.username.strip().lower())
    if wanted.target:
        # A literal search: % and _ typed by the reader are characters, not wildcards.
        escaped = wanted.target.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        query = query.where(col(AuditLog.target).like(f"%{escaped}%", escape="\\"))
    if wanted.since is not None:
        query = query.where(col(AuditLog.at) >= wanted.since)
    if wanted.until is not None:
        query = query.where(col(AuditLog.at) < wanted.until)
    if wanted.before_id is not None:
        query = query.where(col(AuditLog.id) < wanted.before_id)
    query = query.order_by(col(AuditLog.id).desc())
    if limit is not None:
        query = query.limit(limit)
    return [(row, username) for row, username in session.exec(query)]


def actions_written(session: Session) -> list[str]:
    """Every action the log holds, for a filter's choices."""
    return sorted(session.exec(select(AuditLog.action).distinct()).all())


def last_logins(session: Session) -> dict[int, datetime]:
    """When each staff member last signed in, by staff id (those never seen are absent)."""
    rows = session.exec(
        select(AuditLog.staff_id, func.max(AuditLog.at))
        .where(AuditLog.action == LOGIN, col(AuditLog.staff_id).is_not(None))
        .group_by(AuditLog.staff_id)
    ).all()
    return {staff_id: at for staff_id, at in rows}
