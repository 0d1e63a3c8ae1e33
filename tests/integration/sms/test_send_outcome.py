"""One send result, one row state: a reply sent at once and a dispatched message agree.

Each case hands the same transport answer to both ways a message leaves the outbox
(:func:`survey.sms.outbox.send_now` and :class:`survey.sms.dispatch.Dispatcher`) under the
same clock, and compares what each leaves in the row (and on the opt-out list). A change
to one path that the other does not share fails here, on SQLite and PostgreSQL.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import Session

from survey.db.tables import OptOut, OutboundSms
from survey.sms.dispatch import Dispatcher
from survey.sms.outbox import BACKOFF_SECONDS, MAX_ATTEMPTS, send_now
from survey.sms.transport import (
    PermanentReason,
    PermanentSendError,
    RetryableSendError,
    SendError,
    SendReceipt,
    TransportConfigError,
    UncertainSendError,
)

NOW = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)
REPLY_PHONE, DISPATCHED_PHONE = "+8613800000001", "+8613800000002"

#: Columns the two paths must leave alike (ids, the worker's name and the provider's message
#: id differ by nature and are compared on their own).
COMPARED = ("status", "attempts", "not_before", "claimed_at", "sending_at", "sent_at",
            "segments", "error_code", "error_message", "delivery_status")  # fmt: skip


class OneAnswer:
    """A provider that gives one prepared answer: an error, or a receipt per message."""

    def __init__(self, error: SendError | None) -> None:
        self.error = error

    def send(self, message):
        if self.error is not None:
            raise self.error
        return SendReceipt(f"SM-{message.idempotency_key}", "queued", 2)


def queued(engine, phone: str, kind: str, attempts: int) -> int:
    """A due row tried ``attempts`` times, of no campaign (no quiet hours, no rate limit)."""
    with Session(engine) as session:
        row = OutboundSms(kind=kind, to_phone=phone, body="您好", timezone="Asia/Shanghai",
                          attempts=attempts, not_before=NOW, created_at=NOW)  # fmt: skip
        session.add(row)
        session.commit()
        return row.id


def state(engine, outbox_id: int) -> dict:
    with Session(engine) as session:
        row = session.get(OutboundSms, outbox_id)
        values = {name: getattr(row, name) for name in COMPARED}
        values["claimed"] = row.claimed_by is not None
        values["provider_message_id"] = (
            row.provider_message_id and row.provider_message_id == f"SM-outbound-{row.id}"
        )
        values["on_opt_out_list"] = session.get(OptOut, row.to_phone) is not None
        return values


def both_paths(engine, error: SendError | None, *, kind: str = "help", attempts: int = 0):
    """The row state the reply path and the dispatcher's path leave after ``error``."""
    transport = OneAnswer(error)
    dispatched = queued(engine, DISPATCHED_PHONE, kind, attempts)
    dispatcher = Dispatcher(engine=engine, transport=transport, worker_id="w1", secret="s" * 40,
                            public_base_url="https://survey.example.org", clock=lambda: NOW,
                            sleep=lambda seconds: None)  # fmt: skip
    if isinstance(error, TransportConfigError):
        with pytest.raises(TransportConfigError):
            dispatcher.run_once()
    else:
        dispatcher.run_once()
    # Queued only now, so that the dispatcher above could not take it.
    reply = queued(engine, REPLY_PHONE, kind, attempts)
    result = send_now(engine, transport, [reply], clock=lambda: NOW)
    return state(engine, reply), state(engine, dispatched), result[reply], dispatcher.stats


LONG = "x" * 600

CASES = {
    "accepted": (None, "help", 0, "sent"),
    "rate limited": (RetryableSendError("429", "too many requests"), "help", 0, "pending"),
    "rate limited, told when": (
        RetryableSendError("429", "too many requests", retry_after=90), "help", 0, "pending"
    ),
    "server error, third attempt": (RetryableSendError(503, "unavailable"), "help", 2, "pending"),
    "server error, last attempt": (
        RetryableSendError(500, "server error"), "help", MAX_ATTEMPTS - 1, "failed"
    ),
    "rejected, long code and text": (PermanentSendError("E" * 40, LONG), "help", 0, "failed"),
    "opted out at the provider": (
        PermanentSendError(21610, "unsubscribed", reason=PermanentReason.OPTED_OUT), "help", 0,
        "failed",
    ),
    "opt-out confirmation refused": (
        PermanentSendError(21610, "unsubscribed", reason=PermanentReason.OPTED_OUT),
        "opt_out_confirmation", 0, "skipped",
    ),
    "invalid number": (
        PermanentSendError(21211, "invalid", reason=PermanentReason.INVALID_RECIPIENT), "help",
        0, "failed",
    ),
    "no answer": (UncertainSendError("read timeout " + LONG), "help", 0, "uncertain"),
    "another send error": (SendError(None, "a transport outside the contract"), "help", 0,
                           "uncertain"),
    "account refused": (TransportConfigError(20003, "authenticate"), "help", 0, "configuration"),
}  # fmt: skip


@pytest.mark.parametrize(("error", "kind", "attempts", "expected"), CASES.values(), ids=CASES)
def test_the_same_transport_answer_leaves_the_same_row_through_both_paths(
    engine, error, kind, attempts, expected
):
    reply, dispatched, result, _ = both_paths(engine, error, kind=kind, attempts=attempts)
    assert reply == dispatched
    assert result == expected
    if expected == "configuration":
        assert reply["status"] == "pending" and reply["attempts"] == attempts


def test_retries_back_off_by_doubling_unless_the_provider_names_a_delay(engine):
    reply, dispatched, _, stats = both_paths(
        engine, RetryableSendError(503, "unavailable"), attempts=2
    )
    assert reply == dispatched
    assert reply["not_before"] == NOW + timedelta(seconds=BACKOFF_SECONDS * 4)
    assert (reply["attempts"], reply["claimed"], reply["error_code"]) == (3, False, "503")
    assert stats.retried == 1


def test_a_provider_that_keeps_refusing_is_given_up_on_through_both_paths(engine):
    reply, dispatched, _, stats = both_paths(
        engine, RetryableSendError(500, "server error"), attempts=MAX_ATTEMPTS - 1
    )
    assert reply == dispatched
    assert reply["status"] == "failed" and reply["attempts"] == MAX_ATTEMPTS
    assert reply["error_message"] == (
        f"gave up after {MAX_ATTEMPTS} attempts: server error (code 500)"
    )
    assert stats.failed == 1


def test_error_texts_are_cut_to_their_columns_through_both_paths(engine):
    reply, dispatched, _, _ = both_paths(engine, PermanentSendError("E" * 40, LONG))
    assert reply == dispatched
    assert (len(reply["error_code"]), len(reply["error_message"])) == (32, 500)


def test_a_refused_opt_out_confirmation_is_skipped_and_the_number_listed(engine):
    error = PermanentSendError(21610, "unsubscribed", reason=PermanentReason.OPTED_OUT)
    reply, dispatched, _, stats = both_paths(engine, error, kind="opt_out_confirmation")
    assert reply == dispatched
    assert (reply["status"], reply["error_code"], reply["on_opt_out_list"]) == (
        "skipped", "21610", True
    )  # fmt: skip
    assert (stats.skipped, stats.failed) == (1, 0)


def test_an_uncertain_send_is_recorded_and_never_resent(engine):
    reply, dispatched, _, stats = both_paths(engine, UncertainSendError("read timeout"))
    assert reply == dispatched
    assert (reply["status"], reply["error_code"], reply["attempts"]) == (
        "uncertain", "no-answer", 1
    )  # fmt: skip
    assert stats.uncertain == 1


def test_an_accepted_send_records_the_providers_id_and_segments(engine):
    reply, dispatched, _, stats = both_paths(engine, None)
    assert reply == dispatched
    assert (reply["status"], reply["sent_at"], reply["segments"]) == ("sent", NOW, 2)
    assert reply["provider_message_id"] and reply["delivery_status"] == "queued"
    assert stats.sent == 1
