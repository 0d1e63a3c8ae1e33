"""A campaign's sampled cases with their AAPOR final dispositions, read from the database.

One :class:`CaseDisposition` per sampled case, ready for :mod:`survey.aapor.rates`:

- a **phone case** (a ``CallCase`` of kind ``interview`` of the campaign): the code stored
  when the case became final, or, while it is open, :func:`survey.cati.outcomes.
  final_disposition` of its attempts so far (what the case would end with if no more calls
  were made); a case never called is 3.11;
- an **SMS or web invitation**: :func:`survey.aapor.web.web_disposition` of the
  invitation's status and the provider's delivery report on its first message; an
  invitation the contact-frequency rules stopped before it was sent is no case
  (:data:`survey.aapor.web.REMOVED_FROM_SAMPLE`).

Follow-up call cases (service remedy) are no sampled case of any campaign and never count.

Each row also carries what rates are broken down by: the channel (``cati`` for phone
cases, the invitation's channel otherwise), the interviewer (username of the last one who
called, phone cases only) and the period, the local calendar month (``YYYY-MM``) of the
first attempt or of the invitation's sending (its creation when it was never sent; the
case's creation when it was never called).

A customer sampled on two channels of one campaign (a mixed-mode campaign) is two cases
here, one per channel; the rates per channel are then exact, those of the whole campaign
count such a customer twice. Our campaigns use one channel per customer.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlmodel import Session

from survey.aapor.web import REMOVED_FROM_SAMPLE, web_disposition
from survey.answering.pages import questionnaire_of, stored_answers
from survey.cati.outcomes import final_disposition
from survey.cati.queue import answered_share
from survey.cati.rules import parse_calling
from survey.db.tables import (
    CallAttempt,
    CallCase,
    Campaign,
    Invitation,
    OutboundSms,
    QuestionnaireVersion,
    Response,
    Staff,
)
from survey.errors import NotFound

__all__ = ["PHONE_CHANNEL", "CampaignNotFound", "CaseDisposition", "campaign_dispositions"]

#: The channel name of phone interviews (as in ``Campaign.channels``).
PHONE_CHANNEL = "cati"


class CampaignNotFound(NotFound):
    """No campaign has this id."""


@dataclass(frozen=True, slots=True)
class CaseDisposition:
    """One sampled case: who, how, by whom, when, and its AAPOR final disposition code."""

    customer_id: int
    channel: str
    interviewer: str | None
    period: str
    disposition: str
    #: "call_case" or "invitation", with that row's id: to trace a code back to its case.
    source: str
    source_id: int

    def to_dict(self) -> dict[str, object]:
        return {
            "customer_id": self.customer_id,
            "channel": self.channel,
            "interviewer": self.interviewer,
            "period": self.period,
            "disposition": self.disposition,
            "source": self.source,
            "source_id": self.source_id,
        }


def campaign_dispositions(
    session: Session,
    campaign_id: int,
    *,
    now: datetime,
    timezone: str = "Asia/Shanghai",
    sufficient_share: float | None = None,
) -> list[CaseDisposition]:
    """Every sampled case of a campaign with its final disposition as of ``now``.

    Parameters
    ----------
    campaign_id
        The campaign; :class:`CampaignNotFound` when there is none.
    now
        The moment the dispositions describe: attempts made later, and cases or invitations
        created later, are left out (so a report can be rebuilt for a past moment, and tests
        can move the clock).
    timezone
        The time zone whose calendar months make the ``period``.
    sufficient_share
        For a web response started but not finished: the share of required questions
        answered from which it is a partial interview (1.2) rather than a break-off (2.12).
        Default: the campaign's ``partial_threshold``, the one phone interviews use, set in
        advance.

    Returns
    -------
    list of CaseDisposition
        Phone cases first, then invitations, each in id order.
    """
    campaign = session.get(Campaign, campaign_id)
    if campaign is None:
        raise CampaignNotFound(f"campaign {campaign_id} does not exist")
    if sufficient_share is None:
        sufficient_share = parse_calling(campaign.calling).partial_threshold
    zone = ZoneInfo(timezone)
    rows = list(_phone_cases(session, campaign_id, now, zone))
    rows += _invitations(session, campaign_id, now, zone, sufficient_share)
    return rows


def _month(moment: datetime, zone: ZoneInfo) -> str:
    return moment.astimezone(zone).strftime("%Y-%m")


def _phone_cases(
    session: Session, campaign_id: int, now: datetime, zone: ZoneInfo
) -> Iterable[CaseDisposition]:
    cases = session.execute(
        select(CallCase)
        .where(
            CallCase.campaign_id == campaign_id,
            CallCase.kind == "interview",
            CallCase.created_at <= now,
        )
        .order_by(CallCase.id)
    ).scalars()
    cases = list(cases)
    attempts: dict[int, list[tuple[CallAttempt, str]]] = {c.id: [] for c in cases}
    if cases:
        found = session.execute(
            select(CallAttempt, Staff.username)
            .join(Staff, Staff.id == CallAttempt.interviewer_id)
            .join(CallCase, CallCase.id == CallAttempt.case_id)
            .where(
                CallCase.campaign_id == campaign_id,
                CallCase.kind == "interview",
                CallAttempt.started_at <= now,
            )
            .order_by(CallAttempt.started_at, CallAttempt.id)
        )
        for attempt, username in found:
            attempts[attempt.case_id].append((attempt, username))
    for case in cases:
        made = attempts[case.id]
        # A case closed after ``now`` was still open then: its stored code is for later.
        closed = case.status == "final" and case.final_disposition and case.updated_at <= now
        if closed:
            code = case.final_disposition
        else:
            code = final_disposition([attempt for attempt, _ in made])
        yield CaseDisposition(
            customer_id=case.customer_id,
            channel=PHONE_CHANNEL,
            interviewer=made[-1][1] if made else None,
            period=_month(made[0][0].started_at if made else case.created_at, zone),
            disposition=code,
            source="call_case",
            source_id=case.id,
        )


def _invitations(
    session: Session, campaign_id: int, now: datetime, zone: ZoneInfo, sufficient_share: float
) -> list[CaseDisposition]:
    first_message = (OutboundSms.invitation_id == Invitation.id) & (
        OutboundSms.kind == "invitation"
    )
    found = session.execute(
        select(Invitation, OutboundSms.status, OutboundSms.delivery_status)
        .outerjoin(OutboundSms, first_message)
        .where(
            Invitation.campaign_id == campaign_id,
            Invitation.created_at <= now,
            # Removed from the sample by the contact-frequency rules: no case at all.
            Invitation.status.not_in(REMOVED_FROM_SAMPLE),
        )
        .order_by(Invitation.id)
    )
    rows = []
    for invitation, outbox_status, delivery_status in found:
        if delivery_status is None and outbox_status == "failed":
            # The provider refused the message for good before any delivery report: it was
            # not delivered, exactly as an "undelivered" report would say.
            delivery_status = "failed"
        sufficient = invitation.status == "started" and _sufficient(
            session, invitation.id, sufficient_share
        )
        rows.append(
            CaseDisposition(
                customer_id=invitation.customer_id,
                channel=invitation.channel,
                interviewer=None,
                period=_month(invitation.sent_at or invitation.created_at, zone),
                disposition=web_disposition(
                    invitation.status, delivery_status, sufficient=sufficient
                ),
                source="invitation",
                source_id=invitation.id,
            )
        )
    return rows


def _sufficient(session: Session, invitation_id: int, share: float) -> bool:
    """Whether a started response answered enough required questions to be a partial."""
    found = session.execute(
        select(Response.id, QuestionnaireVersion)
        .join(QuestionnaireVersion, QuestionnaireVersion.id == Response.questionnaire_version_id)
        .where(Response.invitation_id == invitation_id)
    ).first()
    if found is None:
        return False
    response_id, version = found
    answers = stored_answers(session, response_id)
    return answered_share(questionnaire_of(version), answers) >= share
