"""The one interface between Manyi and an SMS provider.

Everything outside ``survey.sms.twilio_transport`` speaks only this vocabulary, so the
operator's own SMS gateway (production in mainland China), Twilio and the simulator are
interchangeable. Nothing here names a provider.

How the dispatcher acts on a send
---------------------------------
``send`` either returns a :class:`SendReceipt` (the provider has accepted the message) or
raises exactly one of the errors below. They are split by the only question that matters
for "no customer ever gets the same invitation twice": *could the provider have accepted
this message?*

=========================  ===============================  ==================================
error                      could it have been sent?         what the dispatcher does
=========================  ===============================  ==================================
PermanentSendError         no: the provider answered and    never retry this message; when
                           refused it                       ``reason.marks_recipient`` mark
                                                            the number (opted out / invalid)
RetryableSendError         no: the provider answered that   retry later with backoff, no
                           it did not take it, or the       sooner than ``retry_after``
                           request never left this machine
UncertainSendError         maybe: the request may have      never resend automatically;
                           reached the provider and the     record the message as uncertain
                           answer was lost                  and report it to a person
TransportConfigError       no: the provider refused the     stop sending (every message would
                           account or sender, not this      fail the same way); leave the
                           message                          invitation untouched
=========================  ===============================  ==================================

``RetryableSendError`` is only raised when the transport can *prove* nothing was taken:
an HTTP 429 or 5xx answer (the provider answered, and it said no), or a connection that
was never established (refused, unresolvable host, connect timeout). A timeout while
waiting for the answer, or a connection reset after the request was written, is an
``UncertainSendError``: the message may be on its way to the phone, and resending it would
be the duplicate the outbox exists to prevent. When in doubt, a transport must choose
``UncertainSendError``: a reported message costs a person a minute, a duplicate costs the
operator a customer's trust.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol, runtime_checkable

from survey.errors import SurveyError

__all__ = [
    "OutgoingSms",
    "PermanentReason",
    "PermanentSendError",
    "RetryableSendError",
    "SendError",
    "SendReceipt",
    "SentMessageLookup",
    "SmsTransport",
    "TransportConfigError",
    "UncertainSendError",
]


@dataclass(frozen=True)
class OutgoingSms:
    """One message to one phone.

    Parameters
    ----------
    to
        The recipient in E.164 (``+8613800138000``); the sample-frame import normalises it.
    body
        The text exactly as it will appear on the phone.
    status_callback_url
        The public URL the provider posts delivery reports to, or ``None`` for none.
    idempotency_key
        Stable per invitation and attempt (keyword only, required): the dispatcher's handle
        on this send. It is passed to providers that deduplicate on a client reference (many
        operator gateways do). Twilio's Messages API has no such parameter, so Twilio never
        sees it: the outbox, not the provider, is what prevents duplicates.
    """

    to: str
    body: str
    status_callback_url: str | None = None
    idempotency_key: str = field(kw_only=True)

    def __post_init__(self) -> None:
        if not isinstance(self.to, str) or not self.to.strip():
            raise ValueError("OutgoingSms.to must be a non-empty phone number (E.164)")
        if not isinstance(self.body, str) or not self.body:
            raise ValueError("OutgoingSms.body must be non-empty text")
        if not isinstance(self.idempotency_key, str) or not self.idempotency_key:
            raise ValueError("OutgoingSms.idempotency_key must be a non-empty string")


@dataclass(frozen=True)
class SendReceipt:
    """The provider's acknowledgement of an accepted message.

    ``provider_message_id`` is what delivery reports will refer to; ``status`` is the
    provider's first status (Twilio: ``queued``, or ``accepted`` through a Messaging
    Service); ``segments`` is the number of SMS parts billed.
    """

    provider_message_id: str
    status: str
    segments: int


@runtime_checkable
class SmsTransport(Protocol):
    """Sends one SMS. Implementations: Twilio, the simulator, an operator gateway.

    ``send`` returns only once the provider has accepted the message, and otherwise raises
    one of :class:`PermanentSendError`, :class:`RetryableSendError`,
    :class:`UncertainSendError` or :class:`TransportConfigError` (see the module docstring
    for which is which). It never retries by itself: retrying is the dispatcher's decision,
    taken with the outbox row in hand.
    """

    def send(self, message: OutgoingSms) -> SendReceipt: ...


@runtime_checkable
class SentMessageLookup(Protocol):
    """Optional for a transport: find a message the provider already accepted.

    After a crash in the middle of a send, the dispatcher asks the provider's log whether
    the message went out. A receipt means it did (record it, never resend); ``None`` means
    it was not found or the log could not be read, and the message is reported as uncertain.
    """

    def find_sent(self, to: str, body: str, since: datetime) -> SendReceipt | None: ...


class SendError(SurveyError):
    """Base of the errors a transport raises for one send.

    ``code`` is the provider's error code (Twilio: an int such as 21610) or ``None`` when
    there is none (a network failure). ``message`` is safe to log: it never contains the
    auth token.
    """

    def __init__(self, code: int | str | None, message: str) -> None:
        super().__init__(code, message)
        self.code = code
        self.message = message

    def __str__(self) -> str:
        return f"{self.message} (code {self.code})" if self.code is not None else self.message


class PermanentReason(enum.Enum):
    """Why a message was refused for good; says whether the number itself is to blame."""

    OPTED_OUT = "opted_out"
    """The recipient has opted out at the provider (Twilio 21610)."""
    INVALID_RECIPIENT = "invalid_recipient"
    """The number cannot receive SMS (Twilio 21211 invalid, 21614 not a mobile, ...)."""
    REJECTED = "rejected"
    """This message was refused (too long, blocked content, ...); the number may be fine."""

    @property
    def marks_recipient(self) -> bool:
        """True when the dispatcher should mark the number and skip later sends to it."""
        return self is not PermanentReason.REJECTED


class PermanentSendError(SendError):
    """The provider refused this message and will refuse it again: never retry it.

    The provider answered, so nothing was sent. With ``reason.marks_recipient`` the number
    itself is unusable (opted out, invalid) and the dispatcher marks it; with
    ``PermanentReason.REJECTED`` only this message is bad.
    """

    def __init__(
        self,
        code: int | str | None,
        message: str,
        *,
        reason: PermanentReason = PermanentReason.REJECTED,
    ) -> None:
        super().__init__(code, message)
        self.reason = reason


class RetryableSendError(SendError):
    """Nothing was sent and trying later may work.

    Raised for rate limiting (HTTP 429), server errors the provider answered with (500,
    502, 503) and connections that were never established. ``retry_after`` is the delay in
    seconds the provider asked for (``Retry-After``), or ``None``: then the dispatcher's own
    backoff applies.
    """

    def __init__(
        self, code: int | str | None, message: str, retry_after: float | None = None
    ) -> None:
        super().__init__(code, message)
        self.retry_after = retry_after


class UncertainSendError(SendError):
    """The request may have reached the provider, but no answer came back.

    A read timeout, a connection reset or closed after the request was written, a gateway
    timeout (504), an unreadable success answer. The message may already be on the phone:
    the dispatcher records it as uncertain and reports it; it never resends it blindly.
    """

    def __init__(self, message: str, code: int | str | None = None) -> None:
        super().__init__(code, message)


class TransportConfigError(SendError):
    """The provider refused the account or the sender, not this message.

    Wrong account SID or auth token (Twilio 20003, HTTP 401/403), suspended account, a From
    number or Messaging Service that is not ours, a malformed base URL. Nothing was sent and
    every other message would fail the same way: stop dispatching and tell an operator; do
    not mark the recipient.
    """
