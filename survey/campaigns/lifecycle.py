"""Campaigns: sampling customers, inviting them, and the campaign's life cycle.

Invitations are rows; their link tokens are made and checked by :mod:`survey.answering.links`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime

import numpy as np
import pandas as pd
from sqlalchemy import insert, select
from sqlmodel import Session

from survey.answering.links import invitation_token, token_hash
from survey.campaigns import frequency
from survey.cati.rules import PRIORITY, parse_calling
from survey.db.tables import CallCase, Campaign, Customer, Invitation, OptOut, OutboundSms, utcnow
from survey.errors import InvalidRequest
from survey.sms.quiet_hours import parse_clock

#: "cati": phone interviews by the outbound-call team (see survey.cati.queue).
CHANNELS = ("sms_link", "sms_reply", "web_link", "intercept", "cati")
LAYOUTS = ("grouped", "single")
TRANSITIONS = {
    "launch": ({"draft"}, "running"),
    "pause": ({"running"}, "paused"),
    "resume": ({"paused"}, "running"),
    "close": ({"draft", "running", "paused"}, "closed"),
}


class CampaignError(InvalidRequest):
    """A campaign request that cannot be carried out, with what to do instead."""


def create_campaign(
    session: Session,
    questionnaire_version_id: int,
    name: str,
    *,
    channels: Iterable[str] = ("sms_link",),
    message: Mapping[str, str] | None = None,
    quiet_start: str = "21:00",
    quiet_end: str = "08:00",
    rate_per_second: float = 10.0,
    reminders: int = 0,
    reminder_delay_hours: float = 48.0,
    starts_at: datetime | None = None,
    expires_at: datetime | None = None,
    layout: str = "grouped",
    calling: Mapping | None = None,
) -> Campaign:
    """Create a draft campaign after checking its settings.

    ``calling`` holds the phone-interview rules (:func:`survey.cati.rules.parse_calling`;
    empty: the defaults).
    """
    channels = list(channels)
    unknown = [c for c in channels if c not in CHANNELS]
    if not channels or unknown:
        raise CampaignError(f"unknown channel(s) {unknown or channels}: use {', '.join(CHANNELS)}")
    message = dict(message or {})
    if "sms_link" in channels:
        if not message:
            raise CampaignError("an sms_link campaign needs a message per language with {link}")
        for language, text in message.items():
            if "{link}" not in text:
                raise CampaignError(f"the {language} message has no {{link}} placeholder")
    parse_clock(quiet_start), parse_clock(quiet_end)
    if rate_per_second <= 0:
        raise CampaignError("rate_per_second must be positive")
    if starts_at and expires_at and expires_at <= starts_at:
        raise CampaignError("the campaign expires before it starts")
    if layout not in LAYOUTS:
        raise CampaignError(f"unknown layout {layout!r}: use {' or '.join(LAYOUTS)}")
    calling = dict(calling or {})
    parse_calling(calling)  # CallingRulesError (a ValueError) says what to fix
    campaign = Campaign(
        name=name,
        questionnaire_version_id=questionnaire_version_id,
        channels=channels,
        message=message,
        quiet_start=quiet_start,
        quiet_end=quiet_end,
        rate_per_second=rate_per_second,
        reminders=reminders,
        reminder_delay_hours=reminder_delay_hours,
        starts_at=starts_at,
        expires_at=expires_at,
        layout=layout,
        calling=calling,
    )
    session.add(campaign)
    session.commit()
    session.refresh(campaign)
    return campaign


def draw_sample(
    customers: pd.DataFrame,
    n: int,
    *,
    seed: int,
    strata: list[str] | None = None,
    quotas: Mapping[tuple, int] | None = None,
) -> pd.DataFrame:
    """Draw customers: simple random, or stratified with proportional allocation or quotas.

    ``quotas`` maps a stratum (a tuple of values of ``strata``) to its number of
    customers; without quotas, ``n`` is split proportionally to stratum sizes (largest
    remainders). A stratum smaller than its share is taken whole.
    """
    rng = np.random.default_rng(seed)
    if not strata:
        if n > len(customers):
            raise CampaignError(f"cannot draw {n} customers from {len(customers)}")
        return customers.iloc[np.sort(rng.choice(len(customers), n, replace=False))]
    groups = customers.groupby(strata, sort=True)
    sizes = groups.size()
    # Iterating a grouping by one column gives 1-tuples, its index plain values: key
    # everything by tuples, as ``quotas`` is.
    keys = [key if isinstance(key, tuple) else (key,) for key in sizes.index]
    if quotas is None:
        exact = sizes.to_numpy() / sizes.sum() * n
        allocation = np.floor(exact).astype(int)
        remainder = n - int(allocation.sum())
        allocation[np.argsort(-(exact - allocation), kind="stable")[:remainder]] += 1
        wanted = dict(zip(keys, allocation, strict=True))
    else:
        wanted = {key: quotas.get(key, 0) for key in keys}
    picked = []
    for key, group in groups:
        take = min(int(wanted[key if isinstance(key, tuple) else (key,)]), len(group))
        picked.append(group.iloc[np.sort(rng.choice(len(group), take, replace=False))])
    return pd.concat(picked).sort_index()


def invite(
    session: Session,
    campaign: Campaign,
    customer_ids: Iterable[int],
    *,
    secret: str,
    public_base_url: str,
    timezone: str,
    now: datetime | None = None,
    queue: bool = True,
    exempt_from_frequency_rules: bool = False,
) -> dict[str, int]:
    """Create invitations and, for SMS-link campaigns, their outbox rows.

    Customers on the opt-out list or without consent are recorded as such and get no
    message; with ``queue``, so are those the contact-frequency rules do not allow
    (``frequency_capped``, see :func:`_cap`; ``exempt_from_frequency_rules`` counts them
    without refusing). Returns counts: invited, opted_out, no_consent, already_invited,
    frequency_capped. ``now`` (default: the current time) is when the messages become due,
    unless the campaign starts later. With ``queue=False`` only the invitations are created
    (a drawn sample awaiting launch); :func:`queue_invitations` writes their messages and
    applies the rules later.
    """
    now = now or utcnow()
    if campaign.status == "closed":
        raise CampaignError("the campaign is closed")
    ids = list(dict.fromkeys(customer_ids))
    customers = {
        c.id: c for c in session.execute(select(Customer).where(Customer.id.in_(ids))).scalars()
    }
    missing = [i for i in ids if i not in customers]
    if missing:
        raise CampaignError(f"{len(missing)} customer id(s) do not exist, e.g. {missing[0]}")
    opted_out = set(
        session.execute(
            select(OptOut.phone_e164).where(
                OptOut.phone_e164.in_([c.phone_e164 for c in customers.values()])
            )
        ).scalars()
    )
    already = set(
        session.execute(
            select(Invitation.customer_id).where(Invitation.campaign_id == campaign.id)
        ).scalars()
    )
    counts = {"invited": 0, "opted_out": 0, "no_consent": 0, "already_invited": 0,
              "frequency_capped": 0}  # fmt: skip
    channel = campaign.channels[0]
    new: list[tuple[Invitation, Customer]] = []
    for customer_id in ids:
        customer = customers[customer_id]
        if customer_id in already:
            counts["already_invited"] += 1
            continue
        status = "created"
        if customer.phone_e164 in opted_out:
            status, key = "opted_out", "opted_out"
        elif not customer.consent:
            status, key = "no_consent", "no_consent"
        else:
            key = "invited"
        counts[key] += 1
        # A placeholder hash keeps the unique column valid until the id is known.
        invitation = Invitation(campaign_id=campaign.id, customer_id=customer_id,
                                channel=channel, status=status,
                                token_hash=f"pending-{customer_id}")  # fmt: skip
        session.add(invitation)
        new.append((invitation, customer))
    session.flush()
    for invitation, _ in new:
        invitation.token_hash = token_hash(invitation_token(secret, invitation.id))
    if queue:
        created = [(i, c) for i, c in new if i.status == "created"]
        ready = _cap(session, campaign, created, now, exempt=exempt_from_frequency_rules)
        counts["frequency_capped"] = len(created) - len(ready)
        counts["invited"] -= counts["frequency_capped"]
        _queue(session, campaign, ready, timezone=timezone, now=now)
    session.commit()
    return counts


def queue_invitations(
    session: Session, campaign: Campaign, *, timezone: str, now: datetime | None = None
) -> dict[str, int]:
    """Write the outbox rows of a campaign's invitations that have none yet (at launch).

    The opt-out list is read again: a number that opted out after the sample was drawn
    is marked ``opted_out`` and gets nothing. The contact-frequency rules are applied now,
    when the messages are about to go (:func:`_cap`): a number surveyed since the draw is
    marked ``frequency_capped`` and gets nothing. Safe to repeat: an invitation already
    queued is left alone. Returns counts: queued, opted_out, frequency_capped.
    """
    now = now or utcnow()
    waiting = list(
        session.execute(
            select(Invitation, Customer)
            .join(Customer, Invitation.customer_id == Customer.id)
            .outerjoin(
                OutboundSms,
                (OutboundSms.invitation_id == Invitation.id) & (OutboundSms.kind == "invitation"),
            )
            .where(
                Invitation.campaign_id == campaign.id,
                Invitation.status == "created",
                OutboundSms.id.is_(None),
            )
            .order_by(Invitation.id)
        )
    )
    phones = [customer.phone_e164 for _, customer in waiting]
    opted_out: set[str] = set()
    for start in range(0, len(phones), 5000):  # bounded IN lists
        chunk = phones[start : start + 5000]
        opted_out |= set(
            session.execute(select(OptOut.phone_e164).where(OptOut.phone_e164.in_(chunk)))
            .scalars()
        )  # fmt: skip
    ready = []
    for invitation, customer in waiting:
        if customer.phone_e164 in opted_out:
            invitation.status = "opted_out"
            session.add(invitation)
        else:
            ready.append((invitation, customer))
    allowed = _cap(session, campaign, ready, now)
    queued = _queue(session, campaign, allowed, timezone=timezone, now=now)
    session.commit()
    return {"queued": queued, "opted_out": len(waiting) - len(ready),
            "frequency_capped": len(ready) - len(allowed)}  # fmt: skip


def _cap(
    session: Session, campaign: Campaign, pairs, now: datetime, *, exempt: bool = False
) -> list:
    """The (invitation, customer) pairs the contact-frequency rules allow to be sent now.

    Each number is taken (:func:`survey.campaigns.frequency.take`) in this transaction, as
    a programme's contact takes it: a customer surveyed by a programme or another campaign
    within the rules' span is not sent this campaign's invitation. Their invitation becomes
    ``frequency_capped``: removed from the sample by the operator's rule before anything
    was sent, and counted as such (never a nonrespondent; see :mod:`survey.aapor.web`).
    ``exempt`` counts without refusing: a re-survey after a service remedy asks a customer
    who was just surveyed, on purpose. Phone-only campaigns send nothing and take nothing.
    """
    if not {"sms_link", "sms_reply"} & set(campaign.channels):
        return list(pairs)
    when = max(campaign.starts_at or now, now)
    invitations = [(customer.phone_e164, when) for _, customer in pairs]
    if exempt:
        frequency.record(session.connection(), invitations)
        return list(pairs)
    taken = frequency.take(session.connection(), invitations)
    ready = []
    for invitation, customer in pairs:
        if customer.phone_e164 in taken:
            ready.append((invitation, customer))
        else:
            invitation.status = "frequency_capped"
            session.add(invitation)
    return ready


def _queue(session: Session, campaign: Campaign, pairs, *, timezone: str, now: datetime) -> int:
    """Insert one outbox row per (invitation, customer) of an SMS-link campaign."""
    if "sms_link" not in campaign.channels:
        return 0
    outbox = []
    for invitation, customer in pairs:
        template = campaign.message.get(customer.language) or next(iter(campaign.message.values()))
        outbox.append(
            {
                "campaign_id": campaign.id,
                "invitation_id": invitation.id,
                "kind": "invitation",
                "sequence": 0,
                "to_phone": customer.phone_e164,
                "body": template,
                "timezone": timezone,
                "status": "pending",
                "attempts": 0,
                "not_before": max(campaign.starts_at or now, now),
                "created_at": now,
            }  # fmt: skip
        )
    for start in range(0, len(outbox), 5000):
        session.execute(insert(OutboundSms), outbox[start : start + 5000])
    return len(outbox)


def create_call_cases(
    session: Session,
    campaign: Campaign,
    customer_ids: Iterable[int],
    *,
    kind: str = "interview",
    now: datetime | None = None,
) -> dict[str, int]:
    """Put customers in the outbound-call queue of a campaign (see :mod:`survey.cati.queue`).

    Interview cases need a campaign with the ``cati`` channel; ``follow_up`` cases (service
    remedy) may belong to any campaign and come first in the queue (their priority). A
    customer without consent is not called; a customer with an open case of the same kind
    in the campaign is not queued twice. Returns counts: created, no_consent, already_queued.
    """
    now = now or utcnow()
    if kind not in PRIORITY:
        raise CampaignError(f"unknown kind of call case {kind!r}: use {', '.join(PRIORITY)}")
    if kind == "interview" and "cati" not in campaign.channels:
        raise CampaignError("the campaign has no cati channel: add it to phone its customers")
    if campaign.status == "closed":
        raise CampaignError("the campaign is closed")
    ids = list(dict.fromkeys(customer_ids))
    consent = {
        customer_id: allowed
        for customer_id, allowed in session.execute(
            select(Customer.id, Customer.consent).where(Customer.id.in_(ids))
        )
    }
    missing = [i for i in ids if i not in consent]
    if missing:
        raise CampaignError(f"{len(missing)} customer id(s) do not exist, e.g. {missing[0]}")
    queued = set(
        session.execute(
            select(CallCase.customer_id).where(
                CallCase.campaign_id == campaign.id,
                CallCase.kind == kind,
                CallCase.status == "open",
            )
        ).scalars()
    )
    counts = {"created": 0, "no_consent": 0, "already_queued": 0}
    rows = []
    for customer_id in ids:
        if customer_id in queued:
            counts["already_queued"] += 1
        elif not consent[customer_id]:
            counts["no_consent"] += 1
        else:
            counts["created"] += 1
            rows.append({"campaign_id": campaign.id, "customer_id": customer_id, "kind": kind,
                         "priority": PRIORITY[kind], "status": "open", "attempts": 0,
                         "created_at": now, "updated_at": now})  # fmt: skip
    for start in range(0, len(rows), 5000):
        session.execute(insert(CallCase), rows[start : start + 5000])
    session.commit()
    return counts


def change_status(session: Session, campaign: Campaign, action: str) -> Campaign:
    """launch, pause, resume or close a campaign; an impossible change says why."""
    if action not in TRANSITIONS:
        raise CampaignError(f"unknown action {action!r}: use {', '.join(TRANSITIONS)}")
    allowed, target = TRANSITIONS[action]
    if campaign.status not in allowed:
        raise CampaignError(f"cannot {action} a {campaign.status} campaign")
    campaign.status = target
    if action == "launch":
        campaign.launched_at = utcnow()
    if action == "close":
        campaign.closed_at = utcnow()
    session.add(campaign)
    session.commit()
    session.refresh(campaign)
    return campaign
