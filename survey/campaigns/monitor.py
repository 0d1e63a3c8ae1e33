"""A campaign's fieldwork as it stands: counted from the tables at every call, never stored.

What the console's live monitor shows and ``manyi campaign list`` summarises. Nothing here
is cached or read from a stored analysis: a number is as fresh as the moment it was counted
(:attr:`Fieldwork.counted_at`), and the AAPOR rates come from the one function that
``manyi rates --campaign ID`` prints (:func:`survey.campaigns.rates.campaign_rates`).

The funnel's stages, each a count of the campaign's rows:

========================  ==============================================================
drawn                     invitations of the campaign (``invitation``): one per customer
                          drawn, created with the sample, before anything is sent
sent                      invitations whose first message (the outbox row of kind
                          ``invitation``) has status ``sent``: the provider accepted it
delivered                 of those, the ones whose last delivery report
                          (``outbound_sms.delivery_status``) is ``delivered`` or ``read``
opened                    invitations whose status is ``opened``, ``started`` or
                          ``completed``: opening a link is recorded only as the invitation
                          moving to ``opened`` (survey.answering.pages.mark_opened), and a
                          start or a completion implies the link was opened
started                   responses of the campaign (``response.campaign_id``), whatever
                          their state: a response exists once its first page is saved
completed                 of those, the ones with status ``completed``
follow-ups opened         service-remedy follow-ups (``follow_up``) of those responses
========================  ==============================================================

Each stage's share is of the customers drawn. Responses of a phone interview belong to the
campaign too (``started`` and ``completed`` count every way in), while ``sent``,
``delivered`` and ``opened`` are about messages and links.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlmodel import Session

from survey.campaigns.cases import CampaignNotFound
from survey.campaigns.plan import SampleDesign, sample_design
from survey.campaigns.rates import campaign_rates
from survey.db.tables import (
    Campaign,
    Customer,
    FollowUp,
    Invitation,
    OutboundSms,
    QuestionnaireVersion,
    Response,
)

__all__ = [
    "STAGES",
    "CampaignSummary",
    "Fieldwork",
    "Stage",
    "campaign_summaries",
    "fieldwork",
]

#: The funnel's stages in order: key, zh, en.
STAGES = (
    ("drawn", "抽中", "drawn"),
    ("sent", "已发送", "sent"),
    ("delivered", "已送达", "delivered"),
    ("opened", "已打开", "opened"),
    ("started", "已开始", "started"),
    ("completed", "已完成", "completed"),
    ("follow_ups", "已开启回访", "follow-ups opened"),
)
OPENED = ("opened", "started", "completed")
DELIVERED = ("delivered", "read")
UNDELIVERED = ("undelivered", "failed", "canceled")
OUTBOX_FAILURES = ("failed", "uncertain")
WAITING = ("pending", "claimed", "sending")


@dataclass(frozen=True, slots=True)
class Stage:
    key: str
    zh: str
    en: str
    count: int
    #: Of the customers drawn; None when nobody was drawn.
    share: float | None


@dataclass(frozen=True, slots=True)
class Stratum:
    """One stratum of the sample: drawn, completes, and its quota when it has one."""

    values: tuple[Any, ...]
    drawn: int
    completed: int
    quota: int | None

    @property
    def key(self) -> str:
        return ",".join(map(str, self.values))

    @property
    def share(self) -> float | None:
        """Completes as a share of the quota (of those drawn without quotas)."""
        whole = self.quota if self.quota is not None else self.drawn
        return self.completed / whole if whole else None


@dataclass(frozen=True, slots=True)
class Failure:
    """Messages that did not get through for one reason."""

    #: "outbox" (the provider refused or the send's fate is unknown) or "delivery" (the
    #: provider's report says undelivered).
    kind: str
    status: str
    error_code: str | None
    count: int
    #: The provider's words on one of them, when it gave any.
    example: str | None


@dataclass(frozen=True)
class Fieldwork:
    campaign: Campaign
    form: str
    counted_at: datetime
    funnel: list[Stage]
    #: (local date, {"sent", "started", "completed", "follow_ups": count}) in date order.
    by_day: list[tuple[str, dict[str, int]]]
    #: (channel, {stage key: count}) for the stages counted per channel.
    by_channel: list[tuple[str, dict[str, int]]]
    design: SampleDesign | None
    strata: list[Stratum]
    #: The document of ``manyi rates --campaign ID --json`` at ``counted_at``.
    rates: dict[str, Any]
    failures: list[Failure]
    opted_out: int
    #: Invitations the contact-frequency rules stopped before they were sent (the customer
    #: was surveyed by another programme or campaign within the rules' span).
    frequency_capped: int
    #: Outbox rows of the campaign by status (every kind of message).
    outbox: dict[str, int]

    def stage(self, key: str) -> Stage:
        return next(s for s in self.funnel if s.key == key)


def _invitation_rows(session: Session, campaign_id: int, now: datetime):
    first_message = (OutboundSms.invitation_id == Invitation.id) & (
        OutboundSms.kind == "invitation"
    )
    return session.execute(
        select(
            Invitation.id,
            Invitation.channel,
            Invitation.status,
            Invitation.customer_id,
            OutboundSms.status,
            OutboundSms.delivery_status,
            OutboundSms.sent_at,
        )
        .outerjoin(OutboundSms, first_message)
        .where(Invitation.campaign_id == campaign_id, Invitation.created_at <= now)
    ).all()


def fieldwork(session: Session, campaign_id: int, *, now: datetime, timezone: str) -> Fieldwork:
    """Count a campaign's fieldwork as of ``now`` (see the module's table of stages).

    Raises :class:`survey.campaigns.cases.CampaignNotFound` when no campaign has this id.
    """
    campaign = session.get(Campaign, campaign_id)
    if campaign is None:
        raise CampaignNotFound(f"campaign {campaign_id} does not exist")
    version = session.get(QuestionnaireVersion, campaign.questionnaire_version_id)
    zone = ZoneInfo(timezone)

    def day(moment: datetime) -> str:
        return moment.astimezone(zone).strftime("%Y-%m-%d")

    invitations = _invitation_rows(session, campaign_id, now)
    responses = session.execute(
        select(
            Response.id,
            Response.channel,
            Response.status,
            Response.customer_id,
            Response.started_at,
            Response.completed_at,
        ).where(Response.campaign_id == campaign_id, Response.started_at <= now)
    ).all()
    follow_ups = (
        session.execute(
            select(FollowUp.opened_at)
            .join(Response, Response.id == FollowUp.response_id)
            .where(Response.campaign_id == campaign_id, FollowUp.opened_at <= now)
        )
        .scalars()
        .all()
    )

    def completed(row) -> bool:
        return (
            row.status == "completed" and row.completed_at is not None and row.completed_at <= now
        )

    sent = [r for r in invitations if r[4] == "sent"]
    counts = {
        "drawn": len(invitations),
        "sent": len(sent),
        "delivered": sum(1 for r in sent if r[5] in DELIVERED),
        "opened": sum(1 for r in invitations if r[2] in OPENED),
        "started": len(responses),
        "completed": sum(1 for r in responses if completed(r)),
        "follow_ups": len(follow_ups),
    }
    drawn = counts["drawn"]
    funnel = [
        Stage(key, zh, en, counts[key], counts[key] / drawn if drawn else None)
        for key, zh, en in STAGES
    ]

    days: dict[str, Counter] = {}
    for r in sent:
        if r[6] is not None:
            days.setdefault(day(r[6]), Counter())["sent"] += 1
    for r in responses:
        days.setdefault(day(r.started_at), Counter())["started"] += 1
        if completed(r):
            days.setdefault(day(r.completed_at), Counter())["completed"] += 1
    for opened_at in follow_ups:
        days.setdefault(day(opened_at), Counter())["follow_ups"] += 1
    by_day = [(d, dict(days[d])) for d in sorted(days)]

    channels: dict[str, Counter] = {}
    for r in invitations:
        counter = channels.setdefault(r[1], Counter())
        counter["drawn"] += 1
        counter["sent"] += r[4] == "sent"
        counter["delivered"] += r[4] == "sent" and r[5] in DELIVERED
        counter["opened"] += r[2] in OPENED
    for r in responses:
        counter = channels.setdefault(r.channel, Counter())
        counter["started"] += 1
        counter["completed"] += completed(r)
    by_channel = [(c, dict(channels[c])) for c in sorted(channels)]

    design = sample_design(session, campaign_id)
    strata = _strata(session, campaign_id, design, invitations, responses, completed)
    outbox = dict(
        session.execute(
            select(OutboundSms.status, func.count())
            .where(OutboundSms.campaign_id == campaign_id)
            .group_by(OutboundSms.status)
        ).all()
    )
    return Fieldwork(
        campaign=campaign,
        form=f"{version.form_id}@{version.version}",
        counted_at=now,
        funnel=funnel,
        by_day=by_day,
        by_channel=by_channel,
        design=design,
        strata=strata,
        rates=campaign_rates(session, campaign_id, now=now, timezone=timezone),
        failures=_failures(session, campaign_id),
        opted_out=sum(1 for r in invitations if r[2] == "opted_out"),
        frequency_capped=sum(1 for r in invitations if r[2] == "frequency_capped"),
        outbox=outbox,
    )


def _strata(session, campaign_id, design, invitations, responses, completed) -> list[Stratum]:
    """Drawn and completes per stratum of the design, with each stratum's quota."""
    if design is None or not design.strata:
        return []
    columns = [getattr(Customer, name) for name in design.strata]
    ids = {r[3] for r in invitations} | {r.customer_id for r in responses if r.customer_id}
    values: dict[int, tuple] = {}
    listed = sorted(ids)
    for start in range(0, len(listed), 5000):  # bounded IN lists
        for row in session.execute(
            select(Customer.id, *columns).where(Customer.id.in_(listed[start : start + 5000]))
        ):
            values[row[0]] = tuple(row[1:])
    drawn = Counter(values[r[3]] for r in invitations if r[3] in values)
    done = Counter(
        values[r.customer_id] for r in responses if completed(r) and r.customer_id in values
    )
    quotas = {tuple(key): n for key, n in design.quotas}
    keys = list(quotas) if quotas else sorted(drawn, key=lambda k: tuple(map(str, k)))
    return [Stratum(key, drawn.get(key, 0), done.get(key, 0), quotas.get(key)) for key in keys]


def _failures(session: Session, campaign_id: int) -> list[Failure]:
    found: list[Failure] = []
    for kind, column, statuses in (
        ("outbox", OutboundSms.status, OUTBOX_FAILURES),
        ("delivery", OutboundSms.delivery_status, UNDELIVERED),
    ):
        rows = session.execute(
            select(
                column, OutboundSms.error_code, func.count(), func.max(OutboundSms.error_message)
            )
            .where(OutboundSms.campaign_id == campaign_id, column.in_(statuses))
            .group_by(column, OutboundSms.error_code)
            .order_by(func.count().desc())
        ).all()
        found += [Failure(kind, status, code, n, example) for status, code, n, example in rows]
    return found


# -- listings --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CampaignSummary:
    campaign: Campaign
    form: str
    invited: int
    #: Outbox rows by status.
    outbox: dict[str, int]
    completes: int

    @property
    def sent(self) -> int:
        return self.outbox.get("sent", 0)

    @property
    def waiting(self) -> int:
        return sum(self.outbox.get(s, 0) for s in WAITING)


def campaign_summaries(session: Session) -> list[CampaignSummary]:
    """Every campaign, oldest first, with its invitations, messages and completes."""
    campaigns = session.execute(
        select(Campaign, QuestionnaireVersion.form_id, QuestionnaireVersion.version)
        .join(QuestionnaireVersion)
        .order_by(Campaign.id)
    ).all()
    invited = dict(
        session.execute(
            select(Invitation.campaign_id, func.count()).group_by(Invitation.campaign_id)
        ).all()
    )
    completes = dict(
        session.execute(
            select(Response.campaign_id, func.count())
            .where(Response.campaign_id.is_not(None), Response.status == "completed")
            .group_by(Response.campaign_id)
        ).all()
    )
    outbox: dict[int, dict[str, int]] = {}
    for campaign_id, status, count in session.execute(
        select(OutboundSms.campaign_id, OutboundSms.status, func.count()).group_by(
            OutboundSms.campaign_id, OutboundSms.status
        )
    ):
        outbox.setdefault(campaign_id, {})[status] = count
    return [
        CampaignSummary(
            campaign,
            f"{form_id}@{version}",
            invited.get(campaign.id, 0),
            outbox.get(campaign.id, {}),
            completes.get(campaign.id, 0),
        )
        for campaign, form_id, version in campaigns
    ]
