"""Answers to a customer's SMS: queued in the outbox once, then handed over at once.

A reply (an opt-out confirmation, help, the next question, a re-prompt) is an outbox row
like an invitation, written in the same transaction as the inbound message that caused it.
That gives two guarantees for free:

* **once**: a provider retrying its webhook brings the same message id, which is stored
  once, so its replies are queued once; rows of a conversation are also unique per
  ``(invitation_id, kind, sequence)``, and :func:`queue` skips a row that already exists;
* **never lost**: if the immediate send below fails or the process dies, the row is still
  in the outbox and a dispatcher sends (or reconciles) it.

A reply answers a message the customer just wrote, so :func:`send_now` hands it to the
transport right away, outside the campaign's quiet hours and rate limit (which exist for
messages nobody asked for). It follows the dispatcher's protocol: the row goes
``pending -> sending`` in its own commit under a dispatcher lease, so that a crash in the
middle leaves a ``sending`` row that a dispatcher reconciles with the provider's log
instead of resending it. A row a dispatcher claimed first is left to that dispatcher.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from survey.db.tables import DispatcherLease, OptOut, OutboundSms, utcnow
from survey.sms.transport import (
    OutgoingSms,
    PermanentReason,
    PermanentSendError,
    RetryableSendError,
    SmsTransport,
    TransportConfigError,
    UncertainSendError,
)

__all__ = ["KEYWORD_ANSWERS", "insert_once", "queue", "record_provider_opt_out", "send_now"]

log = logging.getLogger(__name__)

#: The outbox kind of the answer to each keyword a customer may send. These answers go out
#: even to a number on the opt-out list (the dispatcher skips every other message to it).
KEYWORD_ANSWERS = {
    "opt_out": "opt_out_confirmation",
    "opt_in": "opt_in_confirmation",
    "help": "help",
}

#: Delay before a dispatcher retries a reply the provider could not take right now.
RETRY_SECONDS = 30.0


def insert_once(session: Session, table: Any, values: Mapping[str, Any]) -> Any:
    """INSERT a row unless it collides with a unique key; returns its id, or None if not new.

    ``ON CONFLICT DO NOTHING`` rather than catching an IntegrityError: the error would roll
    back the whole transaction (the inbound message with it), and on PostgreSQL a concurrent
    insert of the same key waits for the other transaction and then does nothing.
    """
    dialect = session.get_bind().dialect.name
    insert = postgresql_insert if dialect == "postgresql" else sqlite_insert
    statement = insert(table).values(**values).on_conflict_do_nothing()
    primary_key = next(iter(table.__table__.primary_key.columns))
    return session.execute(statement.returning(primary_key)).scalar_one_or_none()


def queue(
    session: Session,
    *,
    to_phone: str,
    kind: str,
    body: str,
    timezone: str,
    now: datetime,
    campaign_id: int | None = None,
    invitation_id: int | None = None,
    sequence: int = 0,
) -> int | None:
    """Add one message to the outbox (not committed); None when it was already queued."""
    return insert_once(
        session,
        OutboundSms,
        {
            "campaign_id": campaign_id,
            "invitation_id": invitation_id,
            "kind": kind,
            "sequence": sequence,
            "to_phone": to_phone,
            "body": body,
            "timezone": timezone,
            "status": "pending",
            "attempts": 0,
            "not_before": now,
            "created_at": now,
        },
    )


def send_now(
    engine: Engine,
    transport: SmsTransport,
    outbox_ids: Iterable[int],
    *,
    status_callback_url: str | None = None,
) -> dict[int, str]:
    """Hand queued replies to the transport now; returns each row's resulting status.

    A row already taken by a dispatcher is reported as ``"dispatcher"`` and left alone.
    """
    ids = list(outbox_ids)
    if not ids:
        return {}
    worker_id = f"reply-{uuid.uuid4().hex[:16]}"
    with Session(engine) as session:
        session.add(DispatcherLease(worker_id=worker_id, seen_at=utcnow()))
        session.commit()
    results: dict[int, str] = {}
    try:
        for outbox_id in ids:
            results[outbox_id] = _send_one(
                engine, transport, outbox_id, worker_id, status_callback_url
            )
            if results[outbox_id] == "configuration":
                break  # every other message would fail the same way; dispatchers will retry
    finally:
        with engine.begin() as connection:
            connection.execute(
                DispatcherLease.__table__.delete().where(DispatcherLease.worker_id == worker_id)
            )
    return results


def _send_one(
    engine: Engine,
    transport: SmsTransport,
    outbox_id: int,
    worker_id: str,
    status_callback_url: str | None,
) -> str:
    now = utcnow()
    with engine.begin() as connection:
        row = connection.execute(
            update(OutboundSms)
            .where(OutboundSms.id == outbox_id, OutboundSms.status == "pending")
            .values(
                status="sending",
                claimed_by=worker_id,
                claimed_at=now,
                sending_at=now,
                attempts=OutboundSms.attempts + 1,
            )
            .returning(OutboundSms.to_phone, OutboundSms.body, OutboundSms.kind)
        ).first()
    if row is None:
        return "dispatcher"
    to_phone, body, kind = row
    message = OutgoingSms(
        to_phone, body, status_callback_url, idempotency_key=f"outbound-{outbox_id}"
    )
    values: dict[str, Any]
    try:
        receipt = transport.send(message)
    except PermanentSendError as error:
        values = {
            "status": "failed",
            "error_code": str(error.code)[:32],
            "error_message": str(error)[:500],
        }
        if error.reason is PermanentReason.OPTED_OUT:
            # Twilio answers STOP itself and then refuses our own confirmation (21610):
            # expected, not a failure anyone needs to look at.
            if kind == "opt_out_confirmation":
                values["status"] = "skipped"
            record_provider_opt_out(engine, to_phone)
    except RetryableSendError as error:
        delay = error.retry_after or RETRY_SECONDS
        values = {
            "status": "pending",
            "claimed_by": None,
            "claimed_at": None,
            "not_before": utcnow() + timedelta(seconds=delay),
            "error_code": str(error.code)[:32],
            "error_message": str(error)[:500],
        }
    except TransportConfigError as error:
        log.error(
            "the SMS provider refused the account or sender; reply %s left for the dispatcher: %s",
            outbox_id,
            error,
        )
        values = {
            "status": "pending",
            "claimed_by": None,
            "claimed_at": None,
            "attempts": OutboundSms.attempts - 1,
        }
        _finish(engine, outbox_id, values)
        return "configuration"
    except UncertainSendError as error:
        values = {
            "status": "uncertain",
            "error_code": "no-answer",
            "error_message": str(error)[:500],
        }
    else:
        values = {
            "status": "sent",
            "sent_at": utcnow(),
            "provider_message_id": receipt.provider_message_id,
            "segments": receipt.segments,
            "delivery_status": receipt.status,
        }
    _finish(engine, outbox_id, values)
    return str(values["status"])


def _finish(engine: Engine, outbox_id: int, values: Mapping[str, Any]) -> None:
    with engine.begin() as connection:
        connection.execute(update(OutboundSms).where(OutboundSms.id == outbox_id).values(**values))


def record_provider_opt_out(engine: Engine, phone: str) -> None:
    """Put a number the provider reports as opted out on the list, once (race-safe)."""
    with Session(engine) as session:
        insert_once(
            session,
            OptOut,
            {
                "phone_e164": phone,
                "keyword": "carrier",
                "source": "provider",
                "created_at": utcnow(),
            },
        )
        session.commit()
