"""What managers and supervisors do with a follow-up: assign it, escalate it, close it.

Each action is a conditional UPDATE of an open follow-up (two people acting at once cannot
both succeed on a closed case) and an audit entry whose target is ``follow_up:ID``: the
audit log is the case's history (:func:`history`), with who, when and what. The columns
``assigned_to`` and ``escalated_at`` hold the case's present state for lists and the queue.

- :func:`assign_follow_up`: the customer is to be called back by this person (an
  interviewer or a supervisor: someone who makes calls).
- :func:`escalate_follow_up`: the case goes before every other follow-up in the call queue
  (its call case's priority is raised), with the reason in words.
- :func:`close_manually`: :func:`survey.remedy.rules.close_follow_up` with its audit entry,
  for a case settled without a call through ``/calls`` (e.g. the customer came to a hall).

Who may act on which follow-up is the caller's check (the permission), and the scope's:
:func:`follow_up_in_scope` keeps a manager limited to regions to their own customers'.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, update
from sqlmodel import Session

from survey.db.tables import AuditLog, CallCase, FollowUp, Staff
from survey.errors import InvalidRequest, NotFound
from survey.remedy.rules import FOLLOW_UP_PRIORITY, FollowUpError, close_follow_up
from survey.staff import audit
from survey.staff.accounts import Role
from survey.staff.scope import follow_up_clause

ASSIGNED = "follow_up_assigned"
ESCALATED = "follow_up_escalated"
CLOSED = "follow_up_closed"
#: An escalated follow-up's call case goes before every other follow-up's.
ESCALATED_PRIORITY = FOLLOW_UP_PRIORITY + 50
#: Who may be given a follow-up to call back: the people who make calls.
CALLERS = (Role.INTERVIEWER, Role.SUPERVISOR)
MAX_REASON = 500


def target(follow_up_id: int) -> str:
    """The audit target of a follow-up."""
    return f"follow_up:{follow_up_id}"


def follow_up_in_scope(session: Session, reader: Staff, follow_up_id: int) -> FollowUp:
    """The follow-up, if ``reader`` may see it; else :class:`NotFound` (whether it exists
    elsewhere is not told)."""
    found = session.execute(
        select(FollowUp).where(FollowUp.id == follow_up_id, follow_up_clause(reader))
    ).scalar()
    if found is None:
        raise NotFound(f"there is no follow-up {follow_up_id} in your scope")
    return found


def _open(session: Session, reader: Staff, follow_up_id: int) -> FollowUp:
    found = follow_up_in_scope(session, reader, follow_up_id)
    if found.status != "open":
        raise FollowUpError(f"follow-up {follow_up_id} is closed already ({found.outcome})")
    return found


def assign_follow_up(
    session: Session, follow_up_id: int, username: str, by: Staff, now: datetime,
    *, ip: str | None = None,
) -> FollowUp:  # fmt: skip
    """Give the call-back to ``username`` (an active interviewer or supervisor). Commits."""
    _open(session, by, follow_up_id)
    to = session.execute(select(Staff).where(Staff.username == username)).scalar()
    if to is None or not to.active or to.role not in CALLERS:
        raise InvalidRequest(
            f"{username!r} is not an active interviewer or supervisor: choose one from the list"
        )
    changed = session.execute(
        update(FollowUp)
        .where(FollowUp.id == follow_up_id, FollowUp.status == "open")
        .values(assigned_to=to.id, assigned_at=now)
    ).rowcount
    if changed != 1:
        session.rollback()
        raise FollowUpError(f"follow-up {follow_up_id} was closed meanwhile")
    audit.audit(session, by, ASSIGNED, target(follow_up_id), {"to": to.username}, ip, at=now)
    return session.get(FollowUp, follow_up_id, populate_existing=True)


def escalate_follow_up(
    session: Session, follow_up_id: int, reason: str, by: Staff, now: datetime,
    *, ip: str | None = None,
) -> FollowUp:  # fmt: skip
    """Mark the follow-up escalated with ``reason`` and put its call first. Commits."""
    reason = " ".join(reason.split())
    if not reason:
        raise InvalidRequest("say why the follow-up is escalated (a sentence the team will read)")
    if len(reason) > MAX_REASON:
        raise InvalidRequest(f"the reason is {len(reason)} characters: keep it to {MAX_REASON}")
    follow_up = _open(session, by, follow_up_id)
    changed = session.execute(
        update(FollowUp)
        .where(FollowUp.id == follow_up_id, FollowUp.status == "open")
        .values(escalated_at=now, escalation=reason)
    ).rowcount
    if changed != 1:
        session.rollback()
        raise FollowUpError(f"follow-up {follow_up_id} was closed meanwhile")
    if follow_up.case_id is not None:
        session.execute(
            update(CallCase)
            .where(CallCase.id == follow_up.case_id, CallCase.status == "open")
            .values(priority=ESCALATED_PRIORITY, updated_at=now)
        )
    audit.audit(session, by, ESCALATED, target(follow_up_id), {"reason": reason}, ip, at=now)
    return session.get(FollowUp, follow_up_id, populate_existing=True)


def close_manually(
    session: Session, follow_up_id: int, outcome: str, root_cause: str | None, notes: str | None,
    by: Staff, now: datetime, *, ip: str | None = None,
) -> FollowUp:  # fmt: skip
    """Close the follow-up with its outcome and root cause, as the call page does. Commits."""
    _open(session, by, follow_up_id)
    notes = (notes or "").strip() or None
    follow_up = close_follow_up(session, follow_up_id, outcome, root_cause, by.id, now,
                                notes=notes)  # fmt: skip
    detail = {"outcome": outcome, "root_cause": follow_up.root_cause}
    audit.audit(session, by, CLOSED, target(follow_up_id), detail, ip, at=now)
    return follow_up


def history(session: Session, follow_up_id: int) -> list[tuple[AuditLog, str | None]]:
    """What was done to the follow-up, oldest first, with the username of who did it."""
    rows = session.execute(
        select(AuditLog, Staff.username)
        .outerjoin(Staff, AuditLog.staff_id == Staff.id)
        .where(AuditLog.target == target(follow_up_id))
        .order_by(AuditLog.at, AuditLog.id)
    ).all()
    return [(entry, username) for entry, username in rows]
