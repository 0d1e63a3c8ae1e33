"""SMS for Manyi: the transport interface, segment counting, reply keywords, signatures.

Only ``twilio_transport`` and ``signatures`` know Twilio; everything else in Manyi talks to
an :class:`SmsTransport`, so the operator's own gateway (production in mainland China) and
the simulator fit behind the same interface. ``twilio_transport`` is not imported here, so
importing ``survey.sms`` never imports the ``twilio`` package.
"""

from survey.sms.keywords import InboundReply, ReplyKind, classify_reply, normalize_reply
from survey.sms.segments import SegmentCount, SmsEncoding, sms_segments
from survey.sms.transport import (
    OutgoingSms,
    PermanentReason,
    PermanentSendError,
    RetryableSendError,
    SendError,
    SendReceipt,
    SentMessageLookup,
    SmsTransport,
    TransportConfigError,
    UncertainSendError,
)

__all__ = [
    "InboundReply",
    "OutgoingSms",
    "PermanentReason",
    "PermanentSendError",
    "ReplyKind",
    "RetryableSendError",
    "SegmentCount",
    "SendError",
    "SendReceipt",
    "SentMessageLookup",
    "SmsEncoding",
    "SmsTransport",
    "TransportConfigError",
    "UncertainSendError",
    "classify_reply",
    "normalize_reply",
    "sms_segments",
]
