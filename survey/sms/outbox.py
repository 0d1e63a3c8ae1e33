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

What a send's result does to its row (sent, retried later, given up, uncertain) is decided
once, in :func:`record_send_result`, for both ways a message leaves: a reply handed over
here and a message the dispatcher sends, so that the same answer of the provider leaves
the same row whichever way the message went.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, bindparam, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from survey.db.tables import DispatcherLease, OptOut, OutboundSms, utcnow
from survey.sms.transport import (
    OutgoingSms,
    PermanentReason,
    PermanentSendError,
    RetryableSendError,
    SendError,
    SendReceipt,
    SmsTransport,
    TransportConfigError,
)

__all__ = [
    "BACKOFF_SECONDS",
    "KEYWORD_ANSWERS",
    "MAX_ATTEMPTS",
    "insert_once",
    "queue",
    "record_provider_opt_out",
    "record_send_result",
    "record_send_results",
    "send_now",
]

log = logging.getLogger(__name__)

#: The outbox kind of the answer to each keyword a customer may send. These answers go out
#: even to a number on the opt-out list (the dispatcher skips every other message to it).
KEYWORD_ANSWERS = {
    "opt_out": "opt_out_confirmation",
    "opt_in": "opt_in_confirmation",
    "help": "help",
}

#: Sends of one message before a retryable failure gives it up (the dispatcher's default).
MAX_ATTEMPTS = 5

#: Delay before the first retry of a message the provider could not take; it doubles with
#: every further attempt, unless the provider asks for a delay of its own.
BACKOFF_SECONDS = 30.0

# Error texts are cut to their columns: PostgreSQL refuses a longer value, and the refusal
# would leave the row ``sending`` (reported as uncertain) although nothing was sent.
_CODE_WIDTH = OutboundSms.__table__.c.error_code.type.length
_MESSAGE_WIDTH = OutboundSms.__table__.c.error_message.type.length


def insert_once(session: Session | Connection, table: Any, values: Mapping[str, Any]) -> Any:
    """INSERT a row unless it collides with a unique key; returns its id, or None if not new.

    ``ON CONFLICT DO NOTHING`` rather than catching an IntegrityError: the error would roll
    back the whole transaction (the inbound message with it), and on PostgreSQL a concurrent
    insert of the same key waits for the other transaction and then does nothing.
    """
    bind = session.get_bind() if isinstance(session, Session) else session
    dialect = bind.dialect.name
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
    clock: Callable[[], datetime] = utcnow,
) -> dict[int, str]:
    """Hand queued replies to the transport now; returns each row's resulting status.

    A row already taken by a dispatcher is reported as ``"dispatcher"`` and left alone; a
    :class:`TransportConfigError` puts the row back, is reported as ``"configuration"`` and
    stops the rest (every other message would fail the same way; dispatchers will retry).
    ``clock`` is injectable like the dispatcher's, so tests can compare the two paths.
    """
    ids = list(outbox_ids)
    if not ids:
        return {}
    worker_id = f"reply-{uuid.uuid4().hex[:16]}"
    with Session(engine) as session:
        session.add(DispatcherLease(worker_id=worker_id, seen_at=clock()))
        session.commit()
    results: dict[int, str] = {}
    try:
        for outbox_id in ids:
            results[outbox_id] = _send_one(
                engine, transport, outbox_id, worker_id, status_callback_url, clock
            )
            if results[outbox_id] == "configuration":
                break
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
    clock: Callable[[], datetime],
) -> str:
    now = clock()
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
            .returning(
                OutboundSms.to_phone, OutboundSms.body, OutboundSms.kind, OutboundSms.attempts
            )
        ).first()
    if row is None:
        return "dispatcher"
    to_phone, body, kind, attempts = row
    message = OutgoingSms(
        to_phone, body, status_callback_url, idempotency_key=f"outbound-{outbox_id}"
    )
    result: SendReceipt | SendError
    try:
        result = transport.send(message)
    except SendError as error:
        result = error
    # A connection of its own, not one held across the provider's answer: this runs in
    # the web process, whose pool serves the respondents' pages.
    with engine.begin() as connection:
        values = record_send_result(
            connection, outbox_id, result, to_phone=to_phone, kind=kind, attempts=attempts,
            now=clock(),
        )  # fmt: skip
    if isinstance(result, TransportConfigError):
        log.error(
            "the SMS provider refused the account or sender; reply %s left for the dispatcher: %s",
            outbox_id,
            result,
        )
        return "configuration"
    return str(values["status"])


def record_send_result(
    connection: Connection,
    outbox_id: int,
    result: SendReceipt | SendError,
    *,
    to_phone: str,
    kind: str,
    attempts: int,
    now: datetime,
    max_attempts: int = MAX_ATTEMPTS,
    backoff_seconds: float = BACKOFF_SECONDS,
) -> dict[str, Any]:
    """Write what one send attempt did to its outbox row, in the caller's transaction.

    The one place that decides it, for the dispatcher and for a reply sent at once (see
    the table in :mod:`survey.sms.transport`):

    * accepted: ``sent``, with the provider's message id, segments and first status;
    * :class:`PermanentSendError`: ``failed`` (an opt-out confirmation the provider refuses
      because the number opted out is ``skipped``); a provider's opt-out puts the number on
      the list, in the same transaction;
    * :class:`RetryableSendError`: back to ``pending``, due after the provider's
      ``retry_after`` or the doubling backoff; ``failed`` once ``max_attempts`` is reached;
    * :class:`UncertainSendError`: ``uncertain``, never resent;
    * :class:`TransportConfigError`: back to ``pending`` as if never tried; stopping is the
      caller's part.

    Parameters
    ----------
    connection
        A connection inside a transaction the caller commits, so that the caller may add
        its own writes to the same commit (the dispatcher marks the invitation invited).
    outbox_id
        The row, which the caller has marked ``sending``.
    result
        What ``SmsTransport.send`` returned, or the :class:`SendError` it raised.
    to_phone, kind
        The row's recipient and kind.
    attempts
        The row's attempts, this one included.
    now
        The caller's clock, read after the send.
    max_attempts, backoff_seconds
        The retry policy (the dispatcher's settings; replies take the defaults).

    Returns
    -------
    dict
        The columns written. ``status`` is the row's new status: ``sent``, ``pending``,
        ``failed``, ``skipped`` or ``uncertain``.
    """
    values = _result_values(result, kind, attempts, now, max_attempts, backoff_seconds)
    if isinstance(result, PermanentSendError) and result.reason is PermanentReason.OPTED_OUT:
        record_provider_opt_out(connection, to_phone, now=now)
    connection.execute(update(OutboundSms).where(OutboundSms.id == outbox_id).values(**values))
    return values


def record_send_results(
    connection: Connection,
    attempts: Iterable[tuple[int, SendReceipt | SendError, str, str, int, datetime]],
    *,
    max_attempts: int = MAX_ATTEMPTS,
    backoff_seconds: float = BACKOFF_SECONDS,
) -> list[dict[str, Any]]:
    """:func:`record_send_result` for many sends at once, in the caller's transaction.

    ``attempts`` holds ``(outbox_id, result, to_phone, kind, attempts, now)`` per send.
    Each row gets exactly what :func:`record_send_result` would give it; the accepted ones
    (nearly all) are written by one executemany UPDATE, so that a dispatcher with many
    messages in flight writes their results in one statement and one commit.
    """
    written: list[dict[str, Any]] = []
    sent: list[dict[str, Any]] = []
    for outbox_id, result, to_phone, kind, tries, now in attempts:
        if isinstance(result, SendReceipt):
            values = _result_values(result, kind, tries, now, max_attempts, backoff_seconds)
            sent.append(
                {"b_id": outbox_id, **{f"v_{name}": value for name, value in values.items()}}
            )
        else:
            values = record_send_result(
                connection, outbox_id, result, to_phone=to_phone, kind=kind, attempts=tries,
                now=now, max_attempts=max_attempts, backoff_seconds=backoff_seconds,
            )  # fmt: skip
        written.append(values)
    if sent:
        # Bound names must differ from the columns': SQLAlchemy keeps those for itself.
        columns = [name.removeprefix("v_") for name in sent[0] if name != "b_id"]
        connection.execute(
            update(OutboundSms)
            .where(OutboundSms.id == bindparam("b_id"))
            .values({name: bindparam(f"v_{name}") for name in columns}),
            sent,
        )
    return written


def _result_values(
    result: SendReceipt | SendError,
    kind: str,
    attempts: int,
    now: datetime,
    max_attempts: int,
    backoff_seconds: float,
) -> dict[str, Any]:
    if isinstance(result, SendReceipt):
        return {
            "status": "sent",
            "sent_at": now,
            "provider_message_id": result.provider_message_id,
            "segments": result.segments,
            "delivery_status": result.status,
        }
    if isinstance(result, TransportConfigError):
        # Nothing was sent and the message is not to blame: it goes back untouched, its
        # attempt not counted, so fixing the settings does not bring it nearer giving up.
        return {
            "status": "pending",
            "claimed_by": None,
            "claimed_at": None,
            "attempts": OutboundSms.attempts - 1,
        }
    status, code, message = "failed", str(result.code)[:_CODE_WIDTH], str(result)
    retry_at = None
    if isinstance(result, PermanentSendError):
        # Twilio answers STOP itself and then refuses our own confirmation (21610):
        # expected, not a failure anyone needs to look at.
        if result.reason is PermanentReason.OPTED_OUT and kind == "opt_out_confirmation":
            status = "skipped"
    elif isinstance(result, RetryableSendError):
        # The dispatcher's documented policy holds for replies too: a provider that keeps
        # refusing a message is given up on, not asked again every 30 s without end.
        if attempts >= max_attempts:
            message = f"gave up after {attempts} attempts: {message}"
        else:
            status = "pending"
            delay = result.retry_after or backoff_seconds * 2 ** (attempts - 1)
            retry_at = now + timedelta(seconds=delay)
    else:
        # UncertainSendError, and any other SendError: a transport that has not shown that
        # nothing was sent is taken at its doubt (see survey.sms.transport), never resent.
        status, code = "uncertain", "no-answer"
    values: dict[str, Any] = {"status": status}
    if retry_at is not None:
        values.update(claimed_by=None, claimed_at=None, not_before=retry_at)
    values.update(error_code=code, error_message=message[:_MESSAGE_WIDTH])
    return values


def record_provider_opt_out(connection: Connection, phone: str, *, now: datetime) -> None:
    """Put a number the provider reports as opted out on the list, once (race-safe).

    Runs in the caller's transaction, with the row whose send the provider refused.
    """
    insert_once(
        connection,
        OptOut,
        {"phone_e164": phone, "keyword": "carrier", "source": "provider", "created_at": now},
    )
