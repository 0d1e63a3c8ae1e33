"""Launching a campaign: its first messages go to the outbox, then it runs.

Kept apart from :mod:`survey.campaigns.lifecycle` because a reply-mode campaign's first
message is its
first question (:mod:`survey.sms.reply_mode`), which depends on answering logic that itself
depends on campaigns.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlmodel import Session

from survey.campaigns.lifecycle import change_status, create_call_cases, queue_invitations
from survey.db.tables import Campaign, Invitation, QuestionnaireVersion
from survey.questionnaire import Questionnaire
from survey.questionnaire.publish import load_version
from survey.sms.reply_mode import CHANNEL as REPLY_CHANNEL
from survey.sms.reply_mode import queue_reply_invitations, reply_questions


def check_channels(campaign_channels: list[str], questionnaire: Questionnaire) -> None:
    """Refuse, before anything is drawn or sent, a questionnaire the channels cannot ask.

    Raises :class:`survey.sms.reply_mode.ReplyModeError` naming every problem.
    """
    if REPLY_CHANNEL in campaign_channels:
        reply_questions(questionnaire)


def launch(
    session: Session, campaign: Campaign, *, timezone: str, now: datetime | None = None
) -> dict[str, int]:
    """Queue the campaign's first messages and set it running; returns counts.

    ``queued`` counts SMS-link invitations, ``questions`` reply-mode first questions,
    ``calls`` cases put in the outbound-call queue (``cati``), ``opted_out`` invitations
    dropped because the number opted out since the draw.
    A reply-mode questionnaire that does not fit raises before anything is queued.
    """
    if REPLY_CHANNEL in campaign.channels:
        version = session.get(QuestionnaireVersion, campaign.questionnaire_version_id)
        check_channels(campaign.channels, load_version(version))
    counts = queue_invitations(session, campaign, timezone=timezone, now=now)
    questions = 0
    if REPLY_CHANNEL in campaign.channels:
        questions = queue_reply_invitations(session, campaign, timezone=timezone, now=now)
    change_status(session, campaign, "launch")
    calls = 0
    if "cati" in campaign.channels:
        sampled = session.execute(
            select(Invitation.customer_id).where(
                Invitation.campaign_id == campaign.id, Invitation.status == "created"
            )
        ).scalars()
        calls = create_call_cases(session, campaign, list(sampled), now=now)["created"]
    return {**counts, "questions": questions, "calls": calls}
