"""The audit log: who did what, to what, from where.

Call :func:`audit` wherever something worth answering for later happens: a login, an
export, a look at a customer's phone number. Rows are never updated (a database trigger
refuses it), so the log can be trusted to say what happened.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

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
