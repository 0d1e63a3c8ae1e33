"""The SMS simulator: a transport that keeps messages in the database instead of sending them.

It is the default in development and in ``make demo``. Every message sent is stored as a
``simulated_sms`` row (direction ``out``) that the phone page of its number shows; what a
person types on that page comes back as an inbound message (direction ``in``) through the
same handling as a provider's webhook. Segments are counted exactly as a provider bills
them, so a campaign's cost can be read off a simulated run.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import Engine, select
from sqlmodel import Session

from survey.db.tables import SimulatedSms
from survey.sms.segments import sms_segments
from survey.sms.transport import OutgoingSms, SendReceipt

__all__ = ["SimulatorTransport"]

#: Message ids look like a provider's, with their own prefix so they are never mistaken
#: for a real provider's ids in the outbox.
ID_PREFIX = "SIM"


def new_message_id() -> str:
    return f"{ID_PREFIX}{uuid.uuid4().hex}"


class SimulatorTransport:
    """Stores each message for the phone page of its number; never fails on its own."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def __repr__(self) -> str:
        return f"SimulatorTransport(engine={self.engine.url.render_as_string()!r})"

    def send(self, message: OutgoingSms) -> SendReceipt:
        message_id = new_message_id()
        with Session(self.engine) as session:
            session.add(SimulatedSms(phone=message.to, direction="out", body=message.body,
                                     message_id=message_id))  # fmt: skip
            session.commit()
        return SendReceipt(message_id, "delivered", sms_segments(message.body).segments)

    def find_sent(self, to: str, body: str, since: datetime) -> SendReceipt | None:
        """The stored message to ``to`` with this body since ``since``, if there is one."""
        with Session(self.engine) as session:
            row = session.execute(
                select(SimulatedSms)
                .where(SimulatedSms.phone == to, SimulatedSms.direction == "out",
                       SimulatedSms.body == body, SimulatedSms.created_at >= since)
                .order_by(SimulatedSms.id.desc())
            ).scalars().first()  # fmt: skip
        if row is None:
            return None
        return SendReceipt(row.message_id, "delivered", sms_segments(body).segments)
