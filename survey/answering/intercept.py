"""Intercept interviews in service halls: an interviewer asks the questionnaire on a tablet.

The interviewer is a signed-in staff member (the web layer's ``intercept`` permission) and
picks the hall, among their own halls when their account is limited to some;
:func:`start_interview` creates the response at once (channel ``intercept``, tagged with the
account's username and the hall), and the interview then runs through the
same pages as the web questionnaire (:mod:`survey.answering.pages`), with the interviewer's
missing codes (refused, don't know) where the questionnaire has them.

A walk-in customer has no invitation, so the interview's pages are addressed by a token of
their own: the response id with an HMAC of it under the service's secret key
(:func:`interview_token`). It needs no column, cannot be guessed from another interview's
token, and opens nothing once the interview is complete.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlmodel import Session

from survey.answering.pages import (
    INTERVIEWER,
    LAYOUTS,
    OPEN_CAMPAIGNS,
    Link,
    LinkUnavailable,
    build_pages,
    questionnaire_of,
    stored_answers,
)
from survey.db.tables import Campaign, Customer, Invitation, QuestionnaireVersion, Response, utcnow
from survey.errors import NotFound
from survey.signing import same, signature

CHANNEL = "intercept"
#: Longest interviewer id and hall name kept (the columns' sizes).
NAME_MAX = 64


class InterceptRefused(NotFound):
    """A campaign that cannot take intercept interviews now.

    ``reason``: ``unknown`` (no such campaign), ``no_intercept`` (the campaign does not
    include the intercept channel), ``not_open`` (not running, or expired).
    """

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


@dataclass(frozen=True, slots=True)
class InterceptCampaign:
    campaign: Campaign
    version: QuestionnaireVersion

    @property
    def languages(self) -> tuple[str, ...]:
        return questionnaire_of(self.version).languages

    @property
    def default_language(self) -> str:
        return questionnaire_of(self.version).default_language


def intercept_campaign(
    session: Session, campaign_id: int, now: datetime | None = None
) -> InterceptCampaign:
    """The campaign an interviewer starts an interview for; raise :class:`InterceptRefused`."""
    now = now or utcnow()
    row = session.execute(
        select(Campaign, QuestionnaireVersion)
        .join(QuestionnaireVersion, Campaign.questionnaire_version_id == QuestionnaireVersion.id)
        .where(Campaign.id == campaign_id)
    ).first()
    if row is None:
        raise InterceptRefused("unknown")
    campaign, version = row
    if CHANNEL not in campaign.channels:
        raise InterceptRefused("no_intercept")
    if not _open(campaign, now):
        raise InterceptRefused("not_open")
    return InterceptCampaign(campaign, version)


def _open(campaign: Campaign, now: datetime) -> bool:
    # A paused campaign stops sending SMS; it does not stop people answering.
    return campaign.status in OPEN_CAMPAIGNS and (
        campaign.expires_at is None or now < campaign.expires_at
    )


def service_halls(session: Session, campaign: Campaign) -> list[str]:
    """The halls an interviewer may pick from (they may also type another).

    The halls of the customers in the frames the campaign invited from; a campaign that
    invited nobody (intercept only) offers every hall known from the customer records.
    """
    frames = (
        select(Customer.frame_id)
        .join(Invitation, Invitation.customer_id == Customer.id)
        .where(Invitation.campaign_id == campaign.id)
        .distinct()
    )
    halls = select(Customer.service_hall).where(Customer.service_hall != "").distinct()
    found = session.execute(halls.where(Customer.frame_id.in_(frames))).scalars().all()
    if not found:
        found = session.execute(halls).scalars().all()
    return sorted(found)


def clean_name(value: str) -> str:
    """An interviewer id or hall name as typed: trimmed, NFC, inner whitespace collapsed."""
    return " ".join(unicodedata.normalize("NFC", value).split())


def check_start(
    interviewer: str, hall: str, own_halls: Sequence[str] = ()
) -> dict[str, str]:
    """Per-field error codes (``required``, ``too_long``, ``invalid``, ``not_yours``) for a
    start form. ``own_halls``: the halls an interviewer's account is limited to (empty: any)."""
    errors: dict[str, str] = {}
    for name, value in (("interviewer", interviewer), ("hall", hall)):
        if not value:
            errors[name] = "required"
        elif len(value) > NAME_MAX:
            errors[name] = "too_long"
        elif any(unicodedata.category(ch).startswith("C") for ch in value):
            # Control and format characters would hide in reports and exports.
            errors[name] = "invalid"
    if "hall" not in errors and own_halls and hall not in own_halls:
        errors["hall"] = "not_yours"
    return errors


def start_interview(
    session: Session,
    target: InterceptCampaign,
    *,
    interviewer: str,
    hall: str,
    language: str,
    own_halls: Sequence[str] = (),
    now: datetime | None = None,
) -> Response:
    """Create (and commit) the interview's response; the names must have passed
    :func:`check_start`."""
    errors = check_start(interviewer, hall, own_halls)
    if errors:
        raise ValueError(f"cannot start an interview: {errors}")
    if language not in target.languages:
        language = target.default_language
    response = Response(
        questionnaire_version_id=target.version.id,
        campaign_id=target.campaign.id,
        channel=CHANNEL,
        language=language,
        status="in_progress",
        started_at=now or utcnow(),
        interviewer=interviewer,
        service_hall=hall,
    )
    session.add(response)
    session.commit()
    session.refresh(response)
    return response


def _signature(secret: str, response_id: int) -> str:
    return signature(secret, f"interview:{response_id}")


def interview_token(secret: str, response_id: int) -> str:
    """The token of an interview's pages: ``{response id}.{128-bit HMAC}``."""
    return f"{response_id}.{_signature(secret, response_id)}"


def open_interview(
    session: Session, token: str, secret: str, interviewer: str, now: datetime | None = None
) -> Link:
    """The intercept interview of ``token`` that ``interviewer`` started; raise
    LinkUnavailable as :func:`open_link` does (another interviewer's token opens nothing).

    A completed interview is returned (``link.completed``) so that a second tap on the last
    page finds it; the pages themselves refuse to show it again.
    """
    now = now or utcnow()
    number, _, sent = token.partition(".")
    if not number.isdigit() or len(token) > 64:
        raise LinkUnavailable
    if not same(sent, _signature(secret, int(number))):
        raise LinkUnavailable
    row = session.execute(
        select(Response, Campaign, QuestionnaireVersion)
        .join(Campaign, Response.campaign_id == Campaign.id)
        .join(QuestionnaireVersion, Response.questionnaire_version_id == QuestionnaireVersion.id)
        .where(Response.id == int(number), Response.channel == CHANNEL)
    ).first()
    if row is None:
        raise LinkUnavailable
    response, campaign, version = row
    if response.interviewer != interviewer:
        raise LinkUnavailable
    if response.status != "completed" and not _open(campaign, now):
        raise LinkUnavailable
    questionnaire = questionnaire_of(version)
    layout = campaign.layout if campaign.layout in LAYOUTS else "grouped"
    return Link(
        token=token,
        invitation=None,
        campaign=campaign,
        version=version,
        questionnaire=questionnaire,
        pages=build_pages(questionnaire, layout),
        customer_language=response.language
        if response.language in questionnaire.languages
        else questionnaire.default_language,
        response=response,
        answers=stored_answers(session, response.id),
        mode=INTERVIEWER,
    )
