"""The SMS simulator stores what it sends, for the phone page, and finds it again."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select
from sqlmodel import Session

from survey.db.tables import SimulatedSms, utcnow
from survey.sms import OutgoingSms, SmsTransport
from survey.sms.simulator_transport import SimulatorTransport


def test_sent_messages_are_stored_for_the_phone_page_with_billed_segments(engine):
    transport = SimulatorTransport(engine)
    assert isinstance(transport, SmsTransport)
    before = utcnow() - timedelta(seconds=1)
    receipt = transport.send(OutgoingSms("+15555550100", "满" * 71, idempotency_key="k1"))
    assert receipt.provider_message_id.startswith("SIM")
    assert receipt.segments == 2  # 71 Chinese characters: two parts of at most 67
    with Session(engine) as session:
        rows = list(session.execute(select(SimulatedSms)).scalars())
    assert [(r.phone, r.direction, r.body) for r in rows] == [("+15555550100", "out", "满" * 71)]
    found = transport.find_sent("+15555550100", "满" * 71, before)
    assert found is not None and found.provider_message_id == receipt.provider_message_id
    assert transport.find_sent("+15555550101", "满" * 71, before) is None
