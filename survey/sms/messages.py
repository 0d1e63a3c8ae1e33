"""Customers' own words by SMS, for the follow-up team to read.

:mod:`survey.sms.inbound` stores every SMS and acts on keywords and on answers a reply-mode
conversation can take. A message in words that is neither (a complaint, a question, "别再发了"
written out) is kept as ``ignored``, or ``invalid`` when a conversation re-prompted for a
digit; before this list nobody read it. :func:`customer_messages` lists the newest of them
that hold words (a letter of any script), with the customer's region and hall from their
latest customer record, for readers allowed to see follow-ups, in their scope
(:func:`survey.staff.accounts.scope_clause`; a number matching no customer is seen only by
readers who see everywhere).

Phone numbers reach only the people who dial them: the list shows the last four digits, to
tell messages of one number apart, never the number.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlmodel import Session, col

from survey.db.tables import Customer, InboundSms, Staff
from survey.sms.keywords import classify_reply
from survey.staff.accounts import scope_clause, sees_everywhere

__all__ = ["CustomerMessage", "customer_messages"]

#: What a message that no rule took is stored as (see :mod:`survey.sms.inbound`).
UNREAD = ("ignored", "invalid")
#: Words: a letter of any script, CJK included ("5", "5!" or "  " are not words).
_WORDS = re.compile(r"[^\W\d_]")
# Rows read per round while looking for messages in words.
_BATCH = 500


@dataclass(frozen=True)
class CustomerMessage:
    id: int
    received_at: datetime
    phone_tail: str  # the last four digits
    region: str | None
    hall: str | None
    body: str
    asks_to_stop: bool  # talks about stopping without the keyword: confirm, then opt out


def customer_messages(
    session: Session, reader: Staff, *, limit: int = 100
) -> list[CustomerMessage]:
    """The newest ``limit`` messages in words that no rule took, that ``reader`` may see."""
    latest = (
        select(Customer.phone_e164, func.max(Customer.id).label("customer_id"))
        .group_by(Customer.phone_e164)
        .subquery()
    )
    query = (
        select(InboundSms, Customer.region, Customer.service_hall)
        .outerjoin(latest, latest.c.phone_e164 == InboundSms.from_phone)
        .outerjoin(Customer, Customer.id == latest.c.customer_id)
        .where(col(InboundSms.handled_as).in_(UNREAD))
        .order_by(col(InboundSms.received_at).desc(), col(InboundSms.id).desc())
    )
    if not sees_everywhere(reader):
        query = query.where(scope_clause(reader, Customer.region, Customer.service_hall))
    found: list[CustomerMessage] = []
    offset = 0
    while len(found) < limit:
        rows = session.execute(query.offset(offset).limit(_BATCH)).all()
        for message, region, hall in rows:
            if _WORDS.search(message.body):
                found.append(
                    CustomerMessage(
                        id=message.id,
                        received_at=message.received_at,
                        phone_tail=message.from_phone[-4:],
                        region=region,
                        hall=hall,
                        body=message.body,
                        asks_to_stop=classify_reply(message.body).mentions_opt_out,
                    )
                )
                if len(found) == limit:
                    break
        if len(rows) < _BATCH:
            break
        offset += _BATCH
    return found
