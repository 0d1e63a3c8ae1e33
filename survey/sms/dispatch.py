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
4. at each slot, marks the rows due ``sending`` (committed before any of them leaves),
   hands each to one of up to ``in_flight`` sending threads, and records the provider's
   message id and segment count; retryable failures (429, 5xx) come back later with
   exponential backoff, up to ``max_attempts``, permanent ones (opted out, invalid number)
   fail. :func:`survey.sms.outbox.record_send_result` decides this, for replies sent at
   once as well.

Several messages are in flight at once because a provider takes a round trip to accept
each one (Twilio about 150 ms): one at a time, a dispatcher sends 6 a second whatever the
campaign's rate. The sending threads only call the transport; the dispatcher's own thread
does every read and write of the database (claims, marks, results in one commit per turn),
so SQLite's one writer is not fought over, and the rate is kept by the shared slots, not
by the number of threads. Threads rather than the Twilio client's asyncio client: the
transport interface is synchronous (the simulator and an operator's gateway implement it
too), and the careful mapping of network failures to "retry" or "uncertain" is written
and tested against ``requests``; a thread waiting on a socket costs little.

A dispatcher asked to stop finishes the sends in flight, puts the rest of its rows back and
gives up its lease (:meth:`Dispatcher.release`), so nothing waits for a lease to run out.
A dispatcher restarted under the same worker id first takes back what its previous run
left (:meth:`Dispatcher.resume_own_work`).
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import bindparam, or_, select, text, true, update
from sqlalchemy.engine import Engine
from sqlmodel import Session

from survey.answering.links import invitation_link, invitation_token
from survey.db.tables import (
    Campaign,
    DispatcherLease,
    Invitation,
    OptOut,
    OutboundSms,
    Programme,
    utcnow,
)
from survey.sms.outbox import (
    BACKOFF_SECONDS,
    KEYWORD_ANSWERS,
    MAX_ATTEMPTS,
    record_send_results,
)
from survey.sms.quiet_hours import next_allowed
from survey.sms.transport import (
    OutgoingSms,
    SendError,
    SendReceipt,
    SmsTransport,
    TransportConfigError,
    UncertainSendError,
)

log = logging.getLogger(__name__)

#: Messages that answer a keyword the customer just sent (an opt-out confirmation, help):
#: they go out even to a number on the opt-out list. Every other message to such a number
#: (invitations, reminders, a reply-mode question waiting for a retry) is skipped.
ANSWERS_TO_KEYWORDS = frozenset(KEYWORD_ANSWERS.values())

#: Messages a ``manyi dispatch`` process may have with the provider at once (``--in-flight``).
#: The slots keep the rate; this is only a ceiling. By Little's law a dispatcher holds rate x
#: latency of them: 400 msg/s against a provider answering in 150 ms is 60, but each send
#: also waits for its thread and for the dispatcher to take its answer, so the latency it
#: holds a place for is longer (measured: 64 places gave 0.89x of 400 msg/s, 96 gave 1.00x;
#: ``bench/bench_dispatch.py``). 100 leaves room for a provider answering in up to about
#: 240 ms at 400 msg/s, and is about the concurrent requests a provider lets an account
#: have. Several dispatchers share a campaign's rate, so together they still hold rate x
#: latency in steady state; the ceilings add up only when the provider slows, and a refusal
#: then (429) is retried after its Retry-After. Threads are started as sends need them.
IN_FLIGHT = 100

#: The longest the dispatcher's thread waits in one go, so that results are written and
#: the lease renewed while it waits for a slot or an answer.
_LONGEST_NAP = 0.05

#: The results of sends are written together, in one commit, at least this often (seconds)
#: or when this many have come back: a row waits a little longer in ``sending``, which
#: costs nothing (a crash meanwhile is reconciled with the provider's log), while a commit
#: per result would cost more than the send (SQLite syncs every commit to disk).
_RESULTS_EVERY = 0.1
_MOST_RESULTS = 256

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
    #: Messages with the provider at once. 1 sends each on the dispatcher's own thread and
    #: waits for its answer (the library's default, deterministic under a test's clock);
    #: ``manyi dispatch`` runs :data:`IN_FLIGHT`.
    in_flight: int = 1
    #: Rows due within this many seconds are marked ``sending`` in one commit. A SIGKILL
    #: leaves them ``sending`` although some never left: reported uncertain after the
    #: provider's log, never resent. Short, so that few are.
    mark_ahead_seconds: float = 0.01
    #: The next batch is claimed when the rows in hand cover less than this much time, so
    #: that a claim never holds up a send. Slots reserved by a dispatcher that is killed
    #: are lost to the rate: short, so that the gap is.
    lookahead_seconds: float = 0.2
    #: Send only this campaign's messages (a demo loading one programme's week); None: all.
    only_campaign: int | None = None
    clock: Callable[[], datetime] = utcnow
    sleep: Callable[[float], None] = time.sleep
    stats: DispatchStats = field(default_factory=DispatchStats)

    def __post_init__(self) -> None:
        self._stop: Callable[[], bool] = lambda: False
        self._last_heartbeat: datetime | None = None
        self._claim_size = self.batch_size

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
        """Rows a dispatcher may send now: pending, due, of a running (or closing) campaign
        (of ``only_campaign`` when set)."""
        due = (
            select(OutboundSms.id)
            .outerjoin(Campaign, OutboundSms.campaign_id == Campaign.id)
            .where(
                OutboundSms.status == "pending",
                OutboundSms.not_before <= now,
                or_(OutboundSms.campaign_id.is_(None), Campaign.status.in_(("running", "closed"))),
            )  # fmt: skip
            .order_by(OutboundSms.not_before, OutboundSms.id)
        )
        if self.only_campaign is not None:
            due = due.where(OutboundSms.campaign_id == self.only_campaign)
        return due

    def claim(self) -> list[int]:
        """Claim up to a batch of due rows: the programmes' first (contact evaluations and
        their conversations), then the batch filled from the rest (bulk campaigns, keyword
        answers), each part oldest due first. One transaction; ``FOR UPDATE SKIP LOCKED``
        on PostgreSQL for both parts. No column says "programme": the programmes' campaigns
        are read (``SELECT campaign_id FROM programme``, a few rows) and the claim is split
        on them, so each part still walks the outbox's ``(status, not_before)`` order."""
        now = self.clock()
        with self.engine.begin() as connection:
            urgent = list(connection.execute(select(Programme.campaign_id)).scalars())
            ids: list[int] = []
            if urgent:
                ids += self._claim_part(
                    connection, now, OutboundSms.campaign_id.in_(urgent), self._claim_size
                )
            rest = self._claim_size - len(ids)
            if rest > 0:
                others = (
                    or_(OutboundSms.campaign_id.is_(None), OutboundSms.campaign_id.not_in(urgent))
                    if urgent
                    else true()
                )
                ids += self._claim_part(connection, now, others, rest)
        return sorted(ids)

    def _claim_part(self, connection, now: datetime, which, size: int) -> list[int]:
        due = self._due(now).where(which).limit(size)
        if self._postgres:
            # The rows are locked and read first, then updated by id: PostgreSQL may run an
            # ``IN (SELECT ... LIMIT n FOR UPDATE SKIP LOCKED)`` subquery more than once in
            # one UPDATE (seen with the NOT IN of the second part: all 20 rows for n = 3).
            locked = connection.execute(
                due.with_for_update(of=OutboundSms, skip_locked=True)
            ).scalars()
            chosen = OutboundSms.id.in_(list(locked))
        else:
            chosen = OutboundSms.id.in_(due.scalar_subquery())
        return list(
            connection.execute(
                update(OutboundSms)
                .where(chosen, OutboundSms.status == "pending")
                .values(status="claimed", claimed_by=self.worker_id, claimed_at=now)
                .returning(OutboundSms.id)
            ).scalars()
        )

    # -- running --------------------------------------------------------------------------

    def run_once(self) -> DispatchStats:
        """Renew the lease, recover, claim one batch and send it; returns what happened."""
        before = DispatchStats(**vars(self.stats))
        self.heartbeat()
        self.recover()
        ids = self.claim()
        if ids:
            self._drive(self._prepare(ids), refill=None)
        return self._since(before)

    def run(self, *, stop: Callable[[], bool] = lambda: False, idle_seconds: float = 0.5,
            until_idle: bool = False) -> DispatchStats:  # fmt: skip
        """Dispatch until ``stop()`` is true (or, with ``until_idle``, nothing is due).

        While messages are going out, the next batch is claimed before the last one is
        sent (``lookahead_seconds``), so that the sends never wait for a claim. ``stop`` is
        checked before every send: the messages in flight finish, the rest of the claimed
        rows go back to the queue.
        """
        self._stop = stop
        while not stop():
            before = DispatchStats(**vars(self.stats))
            self.heartbeat()
            self._drive([], refill=self._refill)
            if not any(vars(self._since(before)).values()):
                if until_idle and not self._anything_in_flight():
                    break
                self.sleep(idle_seconds)
        return self.stats

    def _since(self, before: DispatchStats) -> DispatchStats:
        delta = DispatchStats()
        for name in delta.__dataclass_fields__:
            setattr(delta, name, getattr(self.stats, name) - getattr(before, name))
        return delta

    def _refill(self) -> tuple[int, list[_Queued]]:
        """Recover, claim one batch and prepare it: (rows claimed, rows to send)."""
        self.recover()
        ids = self.claim()
        return len(ids), self._prepare(ids) if ids else []

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

    def _prepare(self, ids: list[int]) -> list[_Queued]:
        """Skip, defer or keep each claimed row; reserve a send slot for each one kept."""
        # The rows outlive the session, as they were after the triage's commit (no reload).
        with Session(self.engine, expire_on_commit=False) as session:
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
            slots = self._reserve_slots(ready, campaigns)
        # A fast campaign is claimed in batches that cover the look-ahead, so that a claim
        # (three commits) is not paid every few messages; never more than twice what can
        # be in flight, so that a killed dispatcher leaves few reserved slots unused.
        rate = sum(c.rate_per_second for c in campaigns.values() if c.rate_per_second)
        self._claim_size = max(
            self.batch_size, min(math.ceil(rate * self.lookahead_seconds), 2 * self.in_flight)
        )
        return [_Queued(row, slot) for row, slot in zip(ready, slots, strict=True)]

    def _drive(
        self, queued: list[_Queued], refill: Callable[[], tuple[int, list[_Queued]]] | None
    ) -> None:
        """Send ``queued`` (and, with ``refill``, whatever it claims) at their slots.

        This thread alone reads and writes the database; the sending threads only talk to
        the provider. Each turn it writes the results that came back (one commit for all of
        them: SQLite has one writer, and a commit per result would cost more than a send),
        claims more when the rows in hand cover less than ``lookahead_seconds``, and marks
        the rows whose slot has come ``sending`` (one commit for those due within
        ``mark_ahead_seconds``) before handing each to a free sending thread at its slot.
        At most ``in_flight`` messages are with the provider at once: a provider slower
        than ``in_flight / rate`` per message slows the dispatcher below the rate, never
        above it.
        """
        queue = sorted(queued, key=lambda q: q.slot)
        sender = _Sender(self.transport, self.in_flight, self.clock)
        exhausted = refill is None
        fatal: BaseException | None = None
        results: list[_Done] = []
        written_at = time.monotonic()

        def collect(*, block: bool) -> bool:
            """Take the results that came back; True when one says to stop sending."""
            nonlocal fatal, written_at
            done = sender.done(block=block)
            results.extend(done)
            stop = any(isinstance(item.result, TransportConfigError) for item in done)
            if results and (
                stop
                or sender.size == 1
                or len(results) >= _MOST_RESULTS
                or time.monotonic() - written_at >= _RESULTS_EVERY
            ):
                fatal = self._write_results(results) or fatal
                results.clear()
                written_at = time.monotonic()
            return stop

        try:
            while not self._stop():
                self._keep_lease()
                if collect(block=False):
                    break
                if not exhausted and (
                    not queue
                    or (queue[-1].slot - self.clock()).total_seconds() < self.lookahead_seconds
                ):
                    claimed, more = refill()
                    exhausted = claimed == 0
                    if more:
                        queue = sorted(queue + more, key=lambda q: q.slot)
                    continue
                if not queue:
                    if not sender.busy:
                        break
                    if collect(block=True):
                        break
                    continue
                if sender.free == 0:
                    if collect(block=True):
                        break
                    continue
                wait = (queue[0].slot - self.clock()).total_seconds()
                if wait > 0:
                    # In short steps while answers are coming back, so that they are
                    # written; else at most a third of the lease, so that it is renewed.
                    busy = sender.busy or results
                    nap = min(wait, _LONGEST_NAP if busy else self.lease_seconds / 3)
                    self.sleep(nap)
                    if nap < wait:
                        continue
                # The slot has come (after a full sleep, also under a test's frozen clock).
                start = max(self.clock(), queue[0].slot)
                horizon = start + timedelta(seconds=self.mark_ahead_seconds)
                take = []
                while queue and len(take) < sender.free and queue[0].slot <= horizon:
                    take.append(queue.pop(0))
                for item in self._mark_sending(take):
                    wait = (item.slot - self.clock()).total_seconds()
                    if wait > 0:
                        self.sleep(wait)
                    sender.submit(item.row, self._message(item.row))
        finally:
            if queue:
                # The reserved slots of the rows put back stay unused: the rate is a
                # ceiling, so a gap is harmless.
                self._put_back([item.row.id for item in queue])
            while sender.busy:
                results.extend(sender.done(block=True))
            fatal = self._write_results(results) or fatal
            sender.close()
        if fatal is not None:
            raise fatal

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

    def _message(self, row: OutboundSms) -> OutgoingSms:
        return OutgoingSms(
            to=row.to_phone,
            body=self._render(row),
            status_callback_url=self.status_callback_url,
            idempotency_key=f"outbound-{row.id}",
        )

    def _mark_sending(self, items: list[_Queued]) -> list[_Queued]:
        """Mark rows ``sending`` in one commit, before any of them leaves; returns those
        still this dispatcher's (a row taken back by another one, which presumed this one
        dead, is not sent)."""
        if not items:
            return []
        with self.engine.begin() as connection:
            marked = set(
                connection.execute(
                    update(OutboundSms)
                    .where(
                        OutboundSms.id.in_([item.row.id for item in items]),
                        OutboundSms.status == "claimed",
                        OutboundSms.claimed_by == self.worker_id,
                    )  # fmt: skip
                    .values(
                        status="sending",
                        sending_at=self.clock(),
                        attempts=OutboundSms.attempts + 1,
                    )
                    .returning(OutboundSms.id)
                ).scalars()
            )
        return [item for item in items if item.row.id in marked]

    def _write_results(self, done: list[_Done]) -> TransportConfigError | None:
        """Record what came back, in one commit; returns an error that must stop sending."""
        if not done:
            return None
        fatal: TransportConfigError | None = None
        with self.engine.begin() as connection:
            written = record_send_results(
                connection,
                [(item.row.id, item.result, item.row.to_phone, item.row.kind,
                  item.row.attempts + 1, item.finished_at) for item in done],
                max_attempts=self.max_attempts, backoff_seconds=self.backoff_seconds,
            )  # fmt: skip
            invited = [
                {"b_id": item.row.invitation_id, "v_sent_at": values["sent_at"],
                 "v_message_id": values["provider_message_id"]}
                for item, values in zip(done, written, strict=True)
                if values["status"] == "sent" and item.row.invitation_id is not None
            ]  # fmt: skip
            if invited:
                connection.execute(_MARK_INVITED, invited)
        for item, values in zip(done, written, strict=True):
            if isinstance(item.result, TransportConfigError):
                # The account or sender is wrong, not this message: stop, so an operator
                # fixes the settings before every other message fails the same way.
                fatal = fatal or item.result
                continue
            counter = _COUNTED_AS[values["status"]]
            setattr(self.stats, counter, getattr(self.stats, counter) + 1)
        return fatal


@dataclass
class _Queued:
    """A claimed row kept for sending, with the slot reserved for it."""

    row: OutboundSms
    slot: datetime


@dataclass
class _Done:
    """What one send came back with, and when (the dispatcher's clock)."""

    row: OutboundSms
    result: SendReceipt | SendError
    finished_at: datetime


class _Sender:
    """The messages in flight: up to ``size`` sends at once, on threads that only talk to
    the provider.

    With ``size`` 1 the send runs on the dispatcher's own thread, as before the pool
    existed: the baseline of the benchmark, and deterministic under a test's clock.
    """

    def __init__(self, transport: SmsTransport, size: int, clock: Callable[[], datetime]):
        if size < 1:
            raise ValueError(f"in_flight must be at least 1, got {size!r}")
        self.transport = transport
        self.size = size
        self.clock = clock
        self._pool = ThreadPoolExecutor(size, thread_name_prefix="sms-send") if size > 1 else None
        self._in_flight: dict[Future, OutboundSms] = {}

    @property
    def busy(self) -> bool:
        return bool(self._in_flight)

    @property
    def free(self) -> int:
        return self.size - len(self._in_flight)

    def submit(self, row: OutboundSms, message: OutgoingSms) -> None:
        if self._pool is None:
            future: Future = Future()
            future.set_result(self._attempt(message))
        else:
            future = self._pool.submit(self._attempt, message)
        self._in_flight[future] = row

    def _attempt(self, message: OutgoingSms) -> tuple[SendReceipt | SendError, datetime]:
        try:
            result: SendReceipt | SendError = self.transport.send(message)
        except SendError as error:
            result = error
        return result, self.clock()

    def done(self, *, block: bool) -> list[_Done]:
        """The sends that came back; with ``block``, waits (briefly) for at least one."""
        if not self._in_flight:
            return []
        finished, _ = wait(
            self._in_flight, timeout=_LONGEST_NAP if block else 0, return_when=FIRST_COMPLETED
        )
        results = []
        for future in finished:
            row = self._in_flight.pop(future)
            error = future.exception()
            if error is None:
                result, finished_at = future.result()
            else:
                # A transport must raise only SendErrors; anything else is a defect whose
                # message may or may not have left: reported, never resent blindly.
                log.error("the transport failed unexpectedly sending message %s: %r",
                          row.id, error)  # fmt: skip
                result, finished_at = (
                    UncertainSendError(f"transport failure: {error!r}"),
                    (self.clock()),
                )
            results.append(_Done(row, result, finished_at))
        return results

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True)


#: Invitations whose message was sent, many at once (bound as b_id, v_sent_at, v_message_id).
_MARK_INVITED = (
    update(Invitation)
    .where(Invitation.id == bindparam("b_id"), Invitation.status == "created")
    .values(status="invited", sent_at=bindparam("v_sent_at"),
            provider_message_id=bindparam("v_message_id"))
)  # fmt: skip


def _mark_invited(connection, invitation_id: int, sent_at: datetime, message_id: str) -> None:
    connection.execute(
        update(Invitation)
        .where(Invitation.id == invitation_id, Invitation.status == "created")
        .values(status="invited", sent_at=sent_at, provider_message_id=message_id)
    )
