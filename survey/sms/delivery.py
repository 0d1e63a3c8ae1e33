"""Delivery reports: the provider's word on what became of a message we sent.

Providers post a report per status change (Twilio: queued, sent, delivered, undelivered,
failed), and they retry, so duplicates are normal; they also arrive out of order (a
"sent" report can overtake "queued", or come in after "delivered"). So a report only moves a
message *forward*: each status has a rank, and the stored status changes only to a higher
rank. The three failures (undelivered, failed, canceled) are final: nothing moves a message
out of them. "delivered" and a failure share a rank, so whichever came first stays; only
"read" (channels with read receipts) comes after "delivered".

The forward-only rule is one conditional UPDATE, so two reports processed at once by two
API processes cannot interleave into a step backwards, and no lock is held.
"""

from __future__ import annotations

import enum
import logging
from datetime import datetime

from sqlalchemy import bindparam, or_, select, update
from sqlalchemy.engine import Connection
from sqlmodel import Session

from survey.db.tables import OutboundSms, utcnow

__all__ = [
    "DELIVERY_RANK",
    "FINAL_FAILURES",
    "DeliveryOutcome",
    "apply_delivery",
    "record_delivery",
]

log = logging.getLogger(__name__)

#: How far along a message is. Twilio's status names; other gateways are mapped to them by
#: their own webhook route.
DELIVERY_RANK = {
    "accepted": 0,
    "scheduled": 0,
    "queued": 1,
    "sending": 2,
    "sent": 3,
    "delivered": 4,
    "undelivered": 4,
    "failed": 4,
    "canceled": 4,
    "read": 5,
}
FINAL_FAILURES = frozenset({"undelivered", "failed", "canceled"})


class DeliveryOutcome(enum.Enum):
    UPDATED = "updated"
    #: A duplicate, or a report overtaken by a later status: nothing changed.
    STALE = "stale"
    #: No message of ours has this id (another application's, or sent before the id was
    #: recorded): acknowledged and ignored.
    UNKNOWN_MESSAGE = "unknown_message"
    #: A status this module does not know (e.g. "receiving" of an inbound message).
    UNKNOWN_STATUS = "unknown_status"


def _earlier_than(status: str) -> list[str]:
    rank = DELIVERY_RANK[status]
    return [name for name, other in DELIVERY_RANK.items() if other < rank]


_SMS = OutboundSms.__table__.c


def _move_forward(status: str):
    """The one conditional UPDATE that applies a report of ``status``."""
    # OR-ed equalities rather than IN: SQLAlchemy expands an IN list at every execution.
    movable = [_SMS.delivery_status.is_(None)]
    movable += [_SMS.delivery_status == s for s in _earlier_than(status) if s not in FINAL_FAILURES]
    return (
        update(OutboundSms.__table__)
        .where(_SMS.provider_message_id == bindparam("sid"), or_(*movable))
        .values(delivery_status=status, delivery_updated_at=bindparam("now"))
    )


# Built once per status: a report is applied with a statement compiled once, not rebuilt.
_MOVE_FORWARD = {status: _move_forward(status) for status in DELIVERY_RANK}
# Kept apart from the status UPDATE so that a send error the dispatcher recorded is never
# overwritten by the carrier's later code.
_KEEP_ERROR_CODE = (
    update(OutboundSms.__table__)
    .where(_SMS.provider_message_id == bindparam("sid"), _SMS.error_code.is_(None))
    .values(error_code=bindparam("code"))
)
_KNOWN = select(_SMS.id).where(_SMS.provider_message_id == bindparam("sid"))


def apply_delivery(
    connection: Connection,
    provider_message_id: str,
    status: str,
    *,
    error_code: str | None = None,
    now: datetime | None = None,
) -> DeliveryOutcome:
    """Apply one delivery report in the connection's transaction; the caller commits.

    A duplicate or stale report writes nothing, so it may share a batch with other writes
    (:mod:`survey.db.group_commit`).
    """
    now = now or utcnow()
    status = (status or "").strip().lower()
    if status not in DELIVERY_RANK:
        log.info(
            "delivery report with unknown status %r for %s ignored", status, provider_message_id
        )
        return DeliveryOutcome.UNKNOWN_STATUS
    sid = {"sid": provider_message_id}
    changed = connection.execute(_MOVE_FORWARD[status], {**sid, "now": now}).rowcount
    if changed and status in FINAL_FAILURES and error_code:
        connection.execute(_KEEP_ERROR_CODE, {**sid, "code": str(error_code)[:32]})
    if changed:
        return DeliveryOutcome.UPDATED
    if connection.execute(_KNOWN, sid).first() is None:
        log.info("delivery report for unknown message %s ignored", provider_message_id)
        return DeliveryOutcome.UNKNOWN_MESSAGE
    return DeliveryOutcome.STALE


def record_delivery(
    session: Session,
    provider_message_id: str,
    status: str,
    *,
    error_code: str | None = None,
    now: datetime | None = None,
) -> DeliveryOutcome:
    """Apply one delivery report to the outbox row with ``provider_message_id``; commits.

    Parameters
    ----------
    provider_message_id
        The provider's id of the message (Twilio ``MessageSid``).
    status
        The reported status (Twilio ``MessageStatus``), case-insensitive.
    error_code
        The provider's error code of a failure (Twilio ``ErrorCode``), kept on the row
        unless an error is already recorded there.
    """
    outcome = apply_delivery(
        session.connection(), provider_message_id, status, error_code=error_code, now=now
    )
    session.commit()
    return outcome
