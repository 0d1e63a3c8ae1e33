"""Contact events from a RabbitMQ queue, decided in batches and acknowledged once committed.

``manyi contacts consume`` runs :class:`ContactConsumer`. **One message is one event**: a
JSON object of :data:`~survey.programmes.decide.FIELDS` (the API's contact), UTF-8. One event
a message keeps the queue's unit the unit of redelivery and of dead-lettering: a bad event
never takes good ones with it. The consumer batches for speed instead:

1. up to ``prefetch`` unacknowledged messages are taken (the broker's ``basic_qos``), or
   fewer when the queue pauses for :data:`IDLE_S` or a batch waits :data:`MAX_WAIT_S`;
2. they are decided in one :func:`~survey.programmes.decide.decide_contacts` call (source
   ``queue``), one transaction, committed;
3. then they are settled: the dead ones rejected without requeue (RabbitMQ moves them to the
   dead-letter queue), the rest acknowledged at once (``multiple=True``).

A crash between 2 and 3 only causes redelivery, and a redelivered event changes nothing
(``decide_contacts`` answers its stored decision). No message is retried for ever: a body that
is not JSON, a JSON value that is not an object, and an event decided ``invalid`` (which is
not stored) go to the dead-letter queue ``QUEUE.dead``, logged with why; an event that makes
the database refuse the batch (not a lost connection) is decided alone, and dead-lettered if
it still fails.

The queue is declared durable with that dead-letter queue (``x-dead-letter-exchange`` the
default exchange, ``x-dead-letter-routing-key`` ``QUEUE.dead``); a queue of the same name
declared before with other arguments is refused by the broker, and the consumer says so.

When RabbitMQ goes away, the consumer reconnects with backoff (unacknowledged messages are
redelivered). When the database is unreachable or the programme is paused, it drops the
connection (the batch in hand goes back to the queue) and tries again with the same backoff.
A stop request (SIGTERM, Ctrl+C) finishes the batch in hand, acknowledges it and returns.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

import pika
import pika.exceptions
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError, OperationalError

from survey.errors import SurveyError
from survey.programmes.decide import MAX_BATCH, Decision, decide_contacts

__all__ = ["DEFAULT_QUEUE", "ConsumerError", "ConsumerStats",
           "ContactConsumer", "dead_letter_queue", "declare"]  # fmt: skip

log = logging.getLogger(__name__)

DEFAULT_QUEUE = "manyi.contacts"
#: Messages taken before deciding (RabbitMQ's prefetch): 500 decide in about a tenth of a second.
DEFAULT_PREFETCH = 500
#: A batch is decided when the queue has been quiet this long...
IDLE_S = 0.05
#: ...or when its first message has waited this long (a trickle is decided promptly).
MAX_WAIT_S = 0.5
#: Reconnection waits double from the first to the last.
BACKOFF_S = (0.5, 30.0)


class ConsumerError(Exception):
    """The consumer cannot run as configured (the queue exists with other arguments)."""


@dataclass(slots=True)
class ConsumerStats:
    """What one consumer did: messages taken, decisions, dead letters, reconnections."""

    received: int = 0
    redelivered: int = 0
    batches: int = 0
    dead_lettered: int = 0
    reconnects: int = 0
    decisions: Counter[str] = field(default_factory=Counter)

    def summary(self) -> str:
        decided = ", ".join(f"{n} {d}" for d, n in sorted(self.decisions.items())) or "none"
        return (f"{self.received} messages ({self.redelivered} redelivered) in {self.batches} "
                f"batches: {decided}; {self.dead_lettered} dead-lettered, {self.reconnects} "
                "reconnections")  # fmt: skip


def dead_letter_queue(queue: str) -> str:
    return f"{queue}.dead"


def declare(channel, queue: str) -> None:
    """Declare ``queue`` (durable) and its dead-letter queue; publishers may call it too."""
    channel.queue_declare(dead_letter_queue(queue), durable=True)
    channel.queue_declare(queue, durable=True, arguments={
        "x-dead-letter-exchange": "", "x-dead-letter-routing-key": dead_letter_queue(queue),
    })  # fmt: skip


class _Hold(Exception):
    """The batch cannot be decided now (database unreachable, programme paused): requeue it."""


@dataclass(slots=True)
class _Message:
    tag: int
    body: bytes
    event: dict | None = None
    dead: str | None = None  # why it goes to the dead-letter queue


class ContactConsumer:
    """Consume ``queue`` at ``url`` into ``programme`` until ``stop()`` is true.

    ``sleep(seconds)`` waits between reconnections; give ``threading.Event.wait`` of the stop
    event so that a stop request cuts a wait short.
    """

    def __init__(self, engine: Engine, programme: str, *, url: str,
                 queue: str = DEFAULT_QUEUE, secret: str, timezone: str,
                 prefetch: int = DEFAULT_PREFETCH, stop: Callable[[], bool],
                 sleep: Callable[[float], object] | None = None) -> None:  # fmt: skip
        if not 1 <= prefetch <= MAX_BATCH:
            raise ValueError(f"prefetch {prefetch}: give 1 to {MAX_BATCH}")
        self.engine, self.programme, self.queue = engine, programme, queue
        self.parameters = pika.URLParameters(url)
        self.secret, self.timezone, self.prefetch = secret, timezone, prefetch
        self.stop = stop
        self.sleep = sleep or threading.Event().wait
        self.stats = ConsumerStats()

    @property
    def where(self) -> str:
        """The broker and queue, without the password (for logs)."""
        p = self.parameters
        return f"amqp://{p.host}:{p.port}/{p.virtual_host} queue {self.queue}"

    def check(self) -> None:
        """Raise :class:`~survey.errors.SurveyError` when the programme cannot take events."""
        self._decide_contacts([])

    def run(self) -> ConsumerStats:
        """Consume until stopped; raises :class:`ConsumerError` for a misdeclared queue."""
        delay = BACKOFF_S[0]
        while not self.stop():
            try:
                connection = pika.BlockingConnection(self.parameters)
            except pika.exceptions.AMQPConnectionError as error:
                log.warning("RabbitMQ unreachable at %s (%r): trying again in %.1f s",
                            self.where, error, delay)  # fmt: skip
                self.sleep(delay)
                delay = min(delay * 2, BACKOFF_S[1])
                continue
            try:
                channel = connection.channel()
                try:
                    declare(channel, self.queue)
                except pika.exceptions.ChannelClosedByBroker as error:
                    raise ConsumerError(
                        f"RabbitMQ refused to declare {self.queue}: {error.reply_text}. A queue "
                        f"of that name exists with other arguments; the consumer needs it "
                        f"durable with the dead-letter queue {dead_letter_queue(self.queue)}: "
                        "delete it, or give another --queue"
                    ) from None
                channel.basic_qos(prefetch_count=self.prefetch)
                log.info("consuming %s into programme %s, %d a batch", self.where,
                         self.programme, self.prefetch)  # fmt: skip
                delay = BACKOFF_S[0]
                self._consume(channel)
            except (pika.exceptions.AMQPConnectionError, pika.exceptions.AMQPChannelError) as error:
                self.stats.reconnects += 1
                log.warning("lost RabbitMQ at %s (%r): reconnecting in %.1f s; the "
                            "unacknowledged messages come again",
                            self.where, error, delay)  # fmt: skip
                self.sleep(delay)
                delay = min(delay * 2, BACKOFF_S[1])
            except _Hold as error:
                self.stats.reconnects += 1
                log.warning("%s: the batch goes back to the queue; trying again in %.1f s",
                            error, delay)  # fmt: skip
                self.sleep(delay)
                delay = min(delay * 2, BACKOFF_S[1])
            finally:
                if connection.is_open:
                    try:
                        connection.close()
                    except pika.exceptions.AMQPError:
                        pass  # closing a broken connection: the broker requeues regardless
        return self.stats

    def _consume(self, channel) -> None:
        batch: list[_Message] = []
        started = 0.0
        for method, _properties, body in channel.consume(self.queue, inactivity_timeout=IDLE_S):
            if method is not None:
                if not batch:
                    started = time.monotonic()
                batch.append(_Message(method.delivery_tag, body))
                self.stats.received += 1
                self.stats.redelivered += bool(method.redelivered)
            stopping = self.stop()
            if batch and (len(batch) >= self.prefetch or method is None or stopping
                          or time.monotonic() - started >= MAX_WAIT_S):  # fmt: skip
                self._settle(channel, batch)
                batch = []
            if stopping:
                break
        # Messages the client holds but never handed out go back to the queue.
        channel.cancel()

    def _settle(self, channel, batch: list[_Message]) -> None:
        """Decide the batch, commit, then reject the dead and acknowledge the rest."""
        for message in batch:
            try:
                event = json.loads(message.body)
            except (UnicodeDecodeError, ValueError) as error:
                message.dead = f"not JSON ({error})"
                continue
            if isinstance(event, dict):
                message.event = event
            else:
                message.dead = f"JSON {type(event).__name__}, not an object of an event's fields"
        events = [m for m in batch if m.event is not None]
        for message, decision in zip(events, self._decide([m.event for m in events]),
                                     strict=True):  # fmt: skip
            if isinstance(decision, str):
                message.dead = decision
                continue
            self.stats.decisions[decision.decision] += 1
            if decision.decision == "invalid":
                message.dead = f"invalid: {decision.reason}"
        self.stats.batches += 1
        for message in batch:
            if message.dead is not None:
                channel.basic_nack(message.tag, multiple=False, requeue=False)
                self.stats.dead_lettered += 1
                contact = (message.event or {}).get("contact_id")
                log.warning("message %d%s dead-lettered to %s: %s", message.tag,
                            f" (contact {contact})" if contact else "",
                            dead_letter_queue(self.queue), message.dead)  # fmt: skip
        kept = [m.tag for m in batch if m.dead is None]
        if kept:  # every earlier message is settled: one acknowledgement covers them all
            channel.basic_ack(max(kept), multiple=True)

    def _decide(self, events: list[dict]) -> list[Decision | str]:
        """One decision per event, or why it goes to the dead-letter queue."""
        if not events:
            return []
        try:
            return list(self._decide_contacts(events))
        except (OperationalError, SurveyError) as error:
            raise _Hold(str(error).splitlines()[0]) from error
        except DBAPIError as error:
            # The database refused the batch for one of its events (say, a NUL in a text on
            # PostgreSQL): decide them one by one, and dead-letter the one refused.
            log.warning("the database refused a batch (%s): deciding its events one by one",
                        str(error.orig).splitlines()[0])  # fmt: skip
        answers: list[Decision | str] = []
        for event in events:
            try:
                answers += self._decide_contacts([event])
            except (OperationalError, SurveyError) as error:
                raise _Hold(str(error).splitlines()[0]) from error
            except DBAPIError as error:
                answers.append(f"refused by the database: {str(error.orig).splitlines()[0]}")
        return answers

    def _decide_contacts(self, events: list[dict]) -> list[Decision]:
        return decide_contacts(self.engine, self.programme, events, source="queue",
                               secret=self.secret, timezone=self.timezone)  # fmt: skip
