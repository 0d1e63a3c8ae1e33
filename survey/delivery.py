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

from sqlalchemy import or_, select, update
from sqlmodel import Session

from .tables import OutboundSms, utcnow

__all__ = ["DELIVERY_RANK", "FINAL_FAILURES", "DeliveryOutcome", "record_delivery"]

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
    now = now or utcnow()
    status = (status or "").strip().lower()
    if status not in DELIVERY_RANK:
        log.info(
            "delivery report with unknown status %r for %s ignored", status, provider_message_id
        )
        return DeliveryOutcome.UNKNOWN_STATUS
    values: dict[str, object] = {"delivery_status": status, "delivery_updated_at": now}
    movable = [OutboundSms.delivery_status.is_(None)]
    earlier = [s for s in _earlier_than(status) if s not in FINAL_FAILURES]
    if earlier:
        movable.append(OutboundSms.delivery_status.in_(earlier))
    changed = session.execute(
        update(OutboundSms)
        .where(OutboundSms.provider_message_id == provider_message_id, or_(*movable))
        .values(**values)
    ).rowcount
    if changed and status in FINAL_FAILURES and error_code:
        # Kept apart from the status UPDATE so that a send error the dispatcher recorded is
        # never overwritten by the carrier's later code.
        session.execute(
            update(OutboundSms)
            .where(
                OutboundSms.provider_message_id == provider_message_id,
                OutboundSms.error_code.is_(None),
            )
            .values(error_code=str(error_code)[:32])
        )
    session.commit()
    if changed:
        return DeliveryOutcome.UPDATED
    known = session.execute(
        select(OutboundSms.id).where(OutboundSms.provider_message_id == provider_message_id)
    ).first()
    if known is None:
        log.info("delivery report for unknown message %s ignored", provider_message_id)
        return DeliveryOutcome.UNKNOWN_MESSAGE
    return DeliveryOutcome.STALE
