"""The short re-survey after a service-remedy call: closing the loop with the customer.

When a follow-up is closed as resolved or not resolved, the customer was reached and heard;
:func:`send_resurvey` then invites them to a running reply-mode campaign (channel
``sms_reply``, e.g. the standing hotline evaluation) and queues its first question. Their
answer is an ordinary response of that campaign; the follow-up keeps the invitation's id in
``FollowUp.resurvey_invitation_id`` so the two can be joined.

It reuses the campaign machinery rather than writing messages itself:
:func:`survey.campaigns.lifecycle.invite` (opt-out list, consent, one invitation per customer and
campaign) and :func:`survey.sms.reply_mode.queue_reply_invitations` (the first question in the
customer's language, once per invitation). The latter queues every reply invitation of the
campaign still waiting for its first question, which a running campaign owes them anyway.

Once only
---------
Both steps commit on their own, so a crash can fall between them. What makes a re-survey
happen at most once is the database: an invitation is unique per (campaign, customer) and
the first question's outbox row unique per invitation. A repeated call returns the recorded
invitation; a call after a crash adopts the invitation the crashed call made (of this
customer to this campaign, created after the follow-up was closed, named by no follow-up)
and finishes the job. A customer invited to the campaign for another reason is refused:
one customer answers one campaign once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update
from sqlmodel import Session

from survey.answering.pages import questionnaire_of
from survey.campaigns.lifecycle import invite
from survey.db.tables import Campaign, Customer, FollowUp, Invitation, OptOut, QuestionnaireVersion
from survey.errors import InvalidRequest
from survey.sms.reply_mode import CHANNEL, ReplyModeError, queue_reply_invitations, reply_questions

__all__ = ["RESURVEYED_OUTCOMES", "Resurvey", "ResurveyError", "send_resurvey"]

#: Outcomes after which the customer was reached and can be asked again.
RESURVEYED_OUTCOMES = ("resolved", "not_resolved")


class ResurveyError(InvalidRequest):
    """A re-survey that cannot be sent; the message says why and, where it can, what to do."""


@dataclass(frozen=True, slots=True)
class Resurvey:
    """The re-survey of a follow-up: its invitation, and whether this call sent it."""

    follow_up_id: int
    invitation_id: int
    sent_now: bool


def send_resurvey(
    session: Session,
    follow_up_id: int,
    campaign_id: int,
    *,
    secret: str,
    public_base_url: str,
    timezone: str,
    now: datetime,
) -> Resurvey:
    """Invite a closed follow-up's customer to a reply-mode campaign; commits.

    Idempotent: once a follow-up has its re-survey invitation, a call returns it with
    ``sent_now=False`` and sends nothing. Raises :class:`ResurveyError` (nothing created
    or queued) for an unknown follow-up, one that is open or closed as unreachable, a
    follow-up without a customer, a customer on the opt-out list or without consent or
    already invited to the campaign, and a campaign that is missing, not ``sms_reply``,
    not running, expired, or whose questionnaire cannot be answered by SMS reply.
    """
    follow_up = session.get(FollowUp, follow_up_id)
    if follow_up is None:
        raise ResurveyError(f"follow-up {follow_up_id} does not exist")
    if follow_up.resurvey_invitation_id is not None:
        return Resurvey(follow_up_id, follow_up.resurvey_invitation_id, sent_now=False)
    _check_follow_up(follow_up)
    campaign = _checked_campaign(session, campaign_id, now)
    customer = session.get(Customer, follow_up.customer_id)
    invitation_id = _crashed_attempt(session, follow_up, campaign, customer)
    if invitation_id is None:
        _check_customer(session, customer, campaign)
        counts = invite(
            session,
            campaign,
            [customer.id],
            secret=secret,
            public_base_url=public_base_url,
            timezone=timezone,
            now=now,
            # Asked because they were just surveyed and called back: the contact-frequency
            # rules count this invitation but cannot refuse it.
            exempt_from_frequency_rules=True,
        )
        if counts["invited"] != 1:  # the customer opted out between our check and invite's
            raise ResurveyError(f"customer {customer.id} was not invited: {counts}")
        invitation_id = _invitation_of(session, campaign.id, customer.id).id
    queue_reply_invitations(session, campaign, timezone=timezone, now=now)
    # Conditional: of two calls racing here, one records the id and the other's invitation
    # was refused by the unique (campaign, customer) above.
    session.execute(
        update(FollowUp)
        .where(FollowUp.id == follow_up_id, FollowUp.resurvey_invitation_id.is_(None))
        .values(resurvey_invitation_id=invitation_id)
    )
    session.commit()
    return Resurvey(follow_up_id, invitation_id, sent_now=True)


def _check_follow_up(follow_up: FollowUp) -> None:
    if follow_up.status != "closed":
        raise ResurveyError(
            f"follow-up {follow_up.id} is open: record the call's outcome first; a re-survey "
            "asks how the remedy went"
        )
    if follow_up.outcome not in RESURVEYED_OUTCOMES:
        raise ResurveyError(
            f"follow-up {follow_up.id} was closed as {follow_up.outcome}: only a customer "
            f"reached ({' or '.join(RESURVEYED_OUTCOMES)}) is asked again"
        )
    if follow_up.customer_id is None:
        raise ResurveyError(f"follow-up {follow_up.id} has no customer to ask")


def _checked_campaign(session: Session, campaign_id: int, now: datetime) -> Campaign:
    campaign = session.get(Campaign, campaign_id)
    if campaign is None:
        raise ResurveyError(f"campaign {campaign_id} does not exist")
    # invite() gives every invitation the campaign's first channel.
    if not campaign.channels or campaign.channels[0] != CHANNEL:
        raise ResurveyError(
            f"campaign {campaign_id} ({campaign.name}) is a {', '.join(campaign.channels)} "
            f"campaign: a re-survey goes to an {CHANNEL} campaign, e.g. the hotline evaluation"
        )
    if campaign.status != "running":
        raise ResurveyError(
            f"campaign {campaign_id} ({campaign.name}) is {campaign.status}, not running: "
            "launch or resume it first"
        )
    if campaign.expires_at is not None and campaign.expires_at <= now:
        raise ResurveyError(f"campaign {campaign_id} ({campaign.name}) has expired")
    version = session.get(QuestionnaireVersion, campaign.questionnaire_version_id)
    try:
        reply_questions(questionnaire_of(version))
    except ReplyModeError as error:
        raise ResurveyError(str(error)) from None
    return campaign


def _check_customer(session: Session, customer: Customer, campaign: Campaign) -> None:
    # Checked here, not left to invite(): invite() would record an opted-out invitation,
    # which counts as a refusal in the campaign's response rates.
    opted_out = session.get(OptOut, customer.phone_e164)
    if opted_out is not None:
        raise ResurveyError(
            f"customer {customer.id} is on the opt-out list (since "
            f"{opted_out.created_at:%Y-%m-%d}): no re-survey is sent"
        )
    if not customer.consent:
        raise ResurveyError(f"customer {customer.id} has not consented to surveys")
    earlier = _invitation_of(session, campaign.id, customer.id)
    if earlier is not None:
        raise ResurveyError(
            f"customer {customer.id} was already invited to campaign {campaign.id} "
            f"(invitation {earlier.id}, {earlier.status}); a customer answers a campaign once"
        )


def _invitation_of(session: Session, campaign_id: int, customer_id: int) -> Invitation | None:
    return session.execute(
        select(Invitation).where(
            Invitation.campaign_id == campaign_id, Invitation.customer_id == customer_id
        )
    ).scalar_one_or_none()


def _crashed_attempt(
    session: Session, follow_up: FollowUp, campaign: Campaign, customer: Customer
) -> int | None:
    """The invitation an earlier call made for this follow-up before it could record it."""
    invitation = _invitation_of(session, campaign.id, customer.id)
    if invitation is None or invitation.created_at < follow_up.closed_at:
        return None
    claimed = session.execute(
        select(FollowUp.id).where(FollowUp.resurvey_invitation_id == invitation.id)
    ).first()
    return None if claimed is not None else invitation.id
