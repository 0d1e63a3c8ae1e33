"""The dispatcher: sends the outbox, once, at the campaign's rate, never at night.

Several dispatchers may run against one database. Each one

1. renews its lease (``dispatcher_lease``) and takes back the work of dispatchers whose
   lease ran out: their ``claimed`` rows were never handed to the provider and return to
   the queue; their ``sending`` rows may or may not have reached it, so they are looked
   up in the provider's log (when the transport can) and otherwise reported as
   ``uncertain``, never resent blindly;
2. claims a batch of due rows (``FOR UPDATE SKIP LOCKED`` on PostgreSQL, so two
   dispatchers never claim the same row; SQLite serialises writers);
3. skips opted-out numbers and stopped campaigns, defers rows to the end of the quiet
   hours in the recipient's time zone, reserves send slots on the campaign's shared
   clock (``next_send_slot``) so that all dispatchers together keep the rate limit;
4. marks one row ``sending`` in its own commit, hands it to the transport, and records
   the provider's message id and segment count; retryable failures (429, 5xx) come back
   later with exponential backoff, up to ``max_attempts``, permanent ones (opted out,
   invalid number) fail. :func:`survey.sms.outbox.record_send_result` decides this, for
   replies sent at once as well.

A dispatcher asked to stop finishes the send in hand, puts the rest of its batch back and
gives up its lease (:meth:`Dispatcher.release`), so nothing waits for a lease to run out.
A dispatcher restarted under the same worker id first takes back what its previous run
left (:meth:`Dispatcher.resume_own_work`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import or_, select, text, update
from sqlalchemy.engine import Connection, Engine
from sqlmodel import Session

from survey.answering.links import invitation_link, invitation_token
from survey.db.tables import Campaign, DispatcherLease, Invitation, OptOut, OutboundSms, utcnow
from survey.sms.outbox import (
    BACKOFF_SECONDS,
    KEYWORD_ANSWERS,
    MAX_ATTEMPTS,
    record_send_result,
)
from survey.sms.quiet_hours import next_allowed
from survey.sms.transport import (
    OutgoingSms,
    SendError,
    SendReceipt,
    SmsTransport,
    TransportConfigError,
)

log = logging.getLogger(__name__)

#: Messages that answer a keyword the customer just sent (an opt-out confirmation, help):
#: they go out even to a number on the opt-out list. Every other message to such a number
#: (invitations, reminders, a reply-mode question waiting for a retry) is skipped.
ANSWERS_TO_KEYWORDS = frozenset(KEYWORD_ANSWERS.values())

#: The counter of :class:`DispatchStats` that each status a send leaves its row in adds to.
_COUNTED_AS = {
    "sent": "sent",
    "pending": "retried",
    "failed": "failed",
    "skipped": "skipped",
    "uncertain": "uncertain",
}


@dataclass
class DispatchStats:
    sent: int = 0
    skipped: int = 0
    deferred: int = 0
    retried: int = 0
    failed: int = 0
    uncertain: int = 0
    recovered: int = 0
    reconciled: int = 0

    def add(self, other: DispatchStats) -> None:
        for name in self.__dataclass_fields__:
            setattr(self, name, getattr(self, name) + getattr(other, name))


@dataclass
class Dispatcher:
    """One dispatcher process (or thread). ``clock`` and ``sleep`` are injectable so
    tests can move time."""

    engine: Engine
    transport: SmsTransport
    worker_id: str
    secret: str
    public_base_url: str
    status_callback_url: str | None = None
    batch_size: int = 20
    lease_seconds: float = 30.0
    max_attempts: int = MAX_ATTEMPTS
    backoff_seconds: float = BACKOFF_SECONDS
    clock: Callable[[], datetime] = utcnow
    sleep: Callable[[float], None] = time.sleep
    stats: DispatchStats = field(default_factory=DispatchStats)

    def __post_init__(self) -> None:
        self._stop: Callable[[], bool] = lambda: False
        self._last_heartbeat: datetime | None = None

    @property
    def _postgres(self) -> bool:
        return self.engine.dialect.name == "postgresql"

    # -- leases and recovery ----------------------------------------------------------

    def heartbeat(self) -> None:
        self._last_heartbeat = self.clock()
        with Session(self.engine) as session:
            lease = session.get(DispatcherLease, self.worker_id)
            if lease is None:
                session.add(DispatcherLease(worker_id=self.worker_id, seen_at=self.clock()))
            else:
                lease.seen_at = self.clock()
                session.add(lease)
            session.commit()

    def recover(self) -> None:
        """Take back the rows of dispatchers whose lease ran out (crashed or killed)."""
        expired_before = self.clock() - timedelta(seconds=self.lease_seconds)
        with Session(self.engine) as session:
            dead = list(
                session.execute(
                    select(DispatcherLease.worker_id).where(
                        DispatcherLease.seen_at < expired_before,
                        DispatcherLease.worker_id != self.worker_id,
                    )
                ).scalars()
            )
        if dead:
            self._take_back(dead)

    def _take_back(self, workers: list[str]) -> None:
        with Session(self.engine) as session:
            requeued = session.execute(
                update(OutboundSms)
                .where(OutboundSms.status == "claimed", OutboundSms.claimed_by.in_(workers))
                .values(status="pending", claimed_by=None, claimed_at=None)
            ).rowcount
            self.stats.recovered += requeued or 0
            sending = select(OutboundSms).where(
                OutboundSms.status == "sending", OutboundSms.claimed_by.in_(workers)
            )
            if self._postgres:
                # Two dispatchers may take back the same worker at once: the second waits
                # here and then no longer sees the rows the first has settled.
                sending = sending.with_for_update()
            in_flight = list(session.execute(sending).scalars())
            for row in in_flight:
                self._reconcile(row)
                session.add(row)
                if row.status == "sent" and row.invitation_id is not None:
                    _mark_invited(session.connection(), row.invitation_id, row.sent_at,
                                  row.provider_message_id)  # fmt: skip
            session.execute(
                DispatcherLease.__table__.delete().where(DispatcherLease.worker_id.in_(workers))
            )
            session.commit()
        if requeued or in_flight:
            log.warning(
                "took back %s claimed and %s in-flight messages of dispatcher(s) %s",
                requeued, len(in_flight), ", ".join(workers),
            )  # fmt: skip

    def resume_own_work(self, stop: Callable[[], bool] = lambda: False) -> bool:
        """Take back what a previous run under this worker id left, before the first batch.

        A dispatcher restarted under the same id (after a crash or SIGKILL) would otherwise
        renew the old lease and never see the old run's rows. While that lease is fresh,
        another process may still be using the id, so this waits until it runs out.
        Returns False when ``stop()`` became true while waiting.
        """
        while True:
            with Session(self.engine) as session:
                lease = session.get(DispatcherLease, self.worker_id)
                seen_at = lease.seen_at if lease is not None else None
            if seen_at is None:
                return True  # a clean start, or another dispatcher took the rows back
            left = (seen_at + timedelta(seconds=self.lease_seconds) - self.clock()).total_seconds()
            if left <= 0:
                self._take_back([self.worker_id])
                return True
            log.info("worker id %s was in use %.0f s ago: waiting for its lease to run out",
                     self.worker_id, self.lease_seconds - left)  # fmt: skip
            if stop():
                return False
            self.sleep(min(left + 0.1, 1.0))

    def release(self) -> None:
        """Put this dispatcher's claimed rows back and give up its lease (a clean stop)."""
        with self.engine.begin() as connection:
            connection.execute(
                update(OutboundSms)
                .where(OutboundSms.status == "claimed", OutboundSms.claimed_by == self.worker_id)
                .values(status="pending", claimed_by=None, claimed_at=None)
            )
            connection.execute(
                DispatcherLease.__table__.delete().where(
                    DispatcherLease.worker_id == self.worker_id
                )
            )

    def _keep_lease(self) -> None:
        """Renew the lease inside a long batch (a low rate makes a batch outlast it)."""
        last = self._last_heartbeat
        if last is None or (self.clock() - last).total_seconds() > self.lease_seconds / 3:
            self.heartbeat()

    def _reconcile(self, row: OutboundSms) -> None:
        """A message whose send was interrupted: find it in the provider's log or report it."""
        body = self._render(row)
        lookup = getattr(self.transport, "find_sent", None)
        receipt = lookup(row.to_phone, body, row.sending_at) if lookup else None
        if receipt is not None:
            row.status = "sent"
            row.provider_message_id = receipt.provider_message_id
            row.segments = receipt.segments
            row.sent_at = row.sending_at
            self.stats.reconciled += 1
        else:
            row.status = "uncertain"
            row.error_code = "interrupted"
            row.error_message = (
                "the dispatcher stopped while handing this message to the provider; it "
                "may or may not have been sent, and is not resent automatically"
            )
            self.stats.uncertain += 1

    # -- claiming -------------------------------------------------------------------------

    def _due(self, now: datetime):
        """Rows a dispatcher may send now: pending, due, of a running (or closing) campaign."""
        return (
            select(OutboundSms.id)
            .outerjoin(Campaign, OutboundSms.campaign_id == Campaign.id)
            .where(
                OutboundSms.status == "pending",
                OutboundSms.not_before <= now,
                or_(OutboundSms.campaign_id.is_(None), Campaign.status.in_(("running", "closed"))),
            )  # fmt: skip
            .order_by(OutboundSms.not_before, OutboundSms.id)
        )

    def claim(self) -> list[int]:
        now = self.clock()
        due = self._due(now).limit(self.batch_size)
        if self._postgres:
            due = due.with_for_update(of=OutboundSms, skip_locked=True)
        with self.engine.begin() as connection:
            ids = list(
                connection.execute(
                    update(OutboundSms)
                    .where(
                        OutboundSms.id.in_(due.scalar_subquery()), OutboundSms.status == "pending"
                    )  # fmt: skip
                    .values(status="claimed", claimed_by=self.worker_id, claimed_at=now)
                    .returning(OutboundSms.id)
                ).scalars()
            )
        return sorted(ids)

    # -- one batch ------------------------------------------------------------------------

    def run_once(self) -> DispatchStats:
        """Renew the lease, recover, claim one batch and send it; returns what happened."""
        before = DispatchStats(**vars(self.stats))
        self.heartbeat()
        self.recover()
        ids = self.claim()
        if ids:
            self._process(ids)
        delta = DispatchStats()
        for name in delta.__dataclass_fields__:
            setattr(delta, name, getattr(self.stats, name) - getattr(before, name))
        return delta

    def run(self, *, stop: Callable[[], bool] = lambda: False, idle_seconds: float = 0.5,
            until_idle: bool = False) -> DispatchStats:  # fmt: skip
        """Dispatch until ``stop()`` is true (or, with ``until_idle``, nothing is due).

        ``stop`` is also checked before every send, so a stop request is honoured within
        one send; the rest of the batch goes back to the queue.
        """
        self._stop = stop
        while not stop():
            delta = self.run_once()
            if not any(vars(delta).values()):
                if until_idle and not self._anything_in_flight():
                    break
                self.sleep(idle_seconds)
        return self.stats

    def _anything_in_flight(self) -> bool:
        """Whether a row is due or still held by a dispatcher (paused campaigns wait)."""
        with Session(self.engine) as session:
            due = session.execute(self._due(self.clock()).limit(1)).first()
            held = session.execute(
                select(OutboundSms.id)
                .where(OutboundSms.status.in_(("claimed", "sending")))
                .limit(1)
            ).first()
            return due is not None or held is not None

    def _process(self, ids: list[int]) -> None:
        with Session(self.engine) as session:
            rows = list(
                session.execute(select(OutboundSms).where(OutboundSms.id.in_(ids))).scalars()
            )
            campaigns = {
                c.id: c
                for c in session.execute(
                    select(Campaign).where(Campaign.id.in_({r.campaign_id for r in rows}))
                ).scalars()
            }
            opted_out = set(
                session.execute(
                    select(OptOut.phone_e164).where(
                        OptOut.phone_e164.in_({r.to_phone for r in rows})
                    )
                ).scalars()
            )
            now = self.clock()
            ready: list[OutboundSms] = []
            for row in rows:
                campaign = campaigns.get(row.campaign_id)
                verdict = self._triage(row, campaign, opted_out, now)
                if verdict == "send":
                    ready.append(row)
                session.add(row)
            session.commit()
            for row in ready:
                session.refresh(row)
            slots = self._reserve_slots(ready, campaigns)
        for index, (row, slot) in enumerate(zip(ready, slots, strict=True)):
            self._keep_lease()
            wait = (slot - self.clock()).total_seconds()
            if wait > 0 and not self._stop():
                self.sleep(wait)
            if self._stop():
                # The reserved slots of the rows put back stay unused: the rate is a
                # ceiling, so a gap is harmless.
                self._put_back([r.id for r in ready[index:]])
                return
            self._send(row)

    def _put_back(self, ids: list[int]) -> None:
        with self.engine.begin() as connection:
            connection.execute(
                update(OutboundSms)
                .where(
                    OutboundSms.id.in_(ids),
                    OutboundSms.status == "claimed",
                    OutboundSms.claimed_by == self.worker_id,
                )
                .values(status="pending", claimed_by=None, claimed_at=None)
            )

    def _triage(self, row, campaign, opted_out, now) -> str:
        if row.to_phone in opted_out and row.kind not in ANSWERS_TO_KEYWORDS:
            row.status, row.error_code = "skipped", "opted-out"
            self.stats.skipped += 1
            return "skip"
        if row.kind in ("invitation", "reminder"):
            if (
                campaign is None
                or campaign.status == "closed"
                or (campaign.expires_at is not None and campaign.expires_at <= now)
            ):
                row.status, row.error_code = "skipped", "campaign-closed"
                self.stats.skipped += 1
                return "skip"
        if campaign is not None:
            allowed = next_allowed(now, row.timezone, campaign.quiet_start, campaign.quiet_end)
            if allowed > now:
                row.status, row.not_before = "pending", allowed
                row.claimed_by = row.claimed_at = None
                self.stats.deferred += 1
                return "defer"
        return "send"

    def _reserve_slots(self, rows, campaigns) -> list[datetime]:
        """Reserve one send slot per row on each campaign's shared clock."""
        slots: list[datetime] = []
        by_campaign: dict[int | None, int] = {}
        for row in rows:
            by_campaign[row.campaign_id] = by_campaign.get(row.campaign_id, 0) + 1
        starts: dict[int | None, tuple[datetime, float]] = {}
        for campaign_id, count in by_campaign.items():
            if campaign_id is None:
                starts[None] = (self.clock(), 0.0)
                continue
            with self.engine.begin() as connection:
                query = select(Campaign.next_send_slot, Campaign.rate_per_second).where(
                    Campaign.id == campaign_id
                )
                if self._postgres:
                    query = query.with_for_update()
                elif connection.dialect.name == "sqlite":
                    # Take SQLite's write lock before reading, so two dispatchers cannot
                    # read the same slot.
                    connection.execute(text("UPDATE campaign SET id = id WHERE id = :id"),
                                       {"id": campaign_id})  # fmt: skip
                slot, rate = connection.execute(query).one()
                now = self.clock()
                start = max(slot, now) if slot is not None else now
                step = 1.0 / rate
                connection.execute(
                    update(Campaign)
                    .where(Campaign.id == campaign_id)
                    .values(next_send_slot=start + timedelta(seconds=step * count))
                )
            starts[campaign_id] = (start, step)
        taken: dict[int | None, int] = {}
        for row in rows:
            start, step = starts[row.campaign_id]
            k = taken.get(row.campaign_id, 0)
            taken[row.campaign_id] = k + 1
            slots.append(start + timedelta(seconds=step * k))
        return slots

    # -- sending --------------------------------------------------------------------------

    def _render(self, row: OutboundSms) -> str:
        if row.invitation_id is None or "{link}" not in row.body:
            return row.body
        token = invitation_token(self.secret, row.invitation_id)
        return row.body.replace("{link}", invitation_link(self.public_base_url, token))

    def _send(self, row: OutboundSms) -> None:
        # One pooled connection for the mark and the record: every checkout costs a
        # round trip (pre-ping), and at a high rate that is a good part of a send.
        with self.engine.connect() as connection:
            self._send_on(connection, row)

    def _send_on(self, connection: Connection, row: OutboundSms) -> None:
        with connection.begin():
            marked = connection.execute(
                update(OutboundSms)
                .where(
                    OutboundSms.id == row.id,
                    OutboundSms.status == "claimed",
                    OutboundSms.claimed_by == self.worker_id,
                )  # fmt: skip
                .values(
                    status="sending", sending_at=self.clock(), attempts=OutboundSms.attempts + 1
                )  # fmt: skip
            ).rowcount
        if marked != 1:
            return  # taken back by another dispatcher: this one was presumed dead
        message = OutgoingSms(
            to=row.to_phone,
            body=self._render(row),
            status_callback_url=self.status_callback_url,
            idempotency_key=f"outbound-{row.id}",
        )
        result: SendReceipt | SendError
        try:
            result = self.transport.send(message)
        except SendError as error:
            result = error
        with connection.begin():
            values = record_send_result(
                connection, row.id, result, to_phone=row.to_phone, kind=row.kind,
                attempts=row.attempts + 1, now=self.clock(),
                max_attempts=self.max_attempts, backoff_seconds=self.backoff_seconds,
            )  # fmt: skip
            if values["status"] == "sent" and row.invitation_id is not None:
                _mark_invited(connection, row.invitation_id, values["sent_at"],
                              values["provider_message_id"])  # fmt: skip
        if isinstance(result, TransportConfigError):
            # The account or sender is wrong, not this message: stop, so an operator fixes
            # the settings before every other message fails the same way.
            raise result
        counter = _COUNTED_AS[values["status"]]
        setattr(self.stats, counter, getattr(self.stats, counter) + 1)


def _mark_invited(connection, invitation_id: int, sent_at: datetime, message_id: str) -> None:
    connection.execute(
        update(Invitation)
        .where(Invitation.id == invitation_id, Invitation.status == "created")
        .values(status="invited", sent_at=sent_at, provider_message_id=message_id)
    )
