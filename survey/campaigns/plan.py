"""Planning a campaign: from an operator's request to a draft campaign with its sample drawn.

One path for ``manyi campaign create`` and the console's form, so that both refuse the same
requests with the same words and draw the same sample from the same seed. A request is
checked as a whole: every problem found is reported with the field it belongs to
(:class:`PlanProblem`), so that a form can show each next to its field and the command line
can print them all at once. Fields are named in messages as the caller names them
(``names``: the command line passes its options, ``--quota``; the console its labels).

Only customers who consented and are not on the opt-out list are drawn: simple random with
a sample size; stratified by frame columns (:data:`STRATA`) with either a sample size
(proportional allocation) or one quota per stratum.

The sample design (strata, quotas, seed, frame) is stored on the campaign
(``Campaign.sample_design``), where the live monitor (:mod:`survey.campaigns.monitor`) reads
the quotas back (:func:`sample_design`), and written with the creation to the audit log
(:data:`CREATED`).
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pandas as pd
from sqlalchemy import select
from sqlmodel import Session

from survey.campaigns.launch import check_channels
from survey.campaigns.lifecycle import (
    CHANNELS,
    LAYOUTS,
    CampaignError,
    create_campaign,
    draw_sample,
    invite,
)
from survey.db.tables import (
    Campaign,
    Customer,
    OptOut,
    QuestionnaireVersion,
    SampleFrame,
    utcnow,
)
from survey.errors import InvalidRequest
from survey.questionnaire.publish import load_version, split_version
from survey.staff import audit

__all__ = [
    "CREATED",
    "DEFAULT_MESSAGES",
    "FIELD_NAMES",
    "REPLY_GREETINGS",
    "STRATA",
    "CampaignRequest",
    "DrawnCampaign",
    "PlanProblem",
    "PlanRefused",
    "SampleDesign",
    "create_from_frame",
    "frame_customers",
    "sample_design",
]

DEFAULT_MESSAGES = {
    "zh": "【满意度调查】您好！诚邀您花2分钟评价我们的服务：{link} 回TD退订",
    "en": "Please rate our service, it takes 2 minutes: {link} Reply STOP to opt out",
}
REPLY_GREETINGS = {
    "zh": "【服务评价】感谢您致电，回TD退订。",
    "en": "Thank you for calling. Reply STOP to opt out.",
}
#: Frame columns a sample may be stratified by.
STRATA = ("tier", "region", "service_hall", "language")
#: The audit action that records a campaign's creation and its sample design.
CREATED = "campaign_created"
MAX_NAME = 200

#: How messages name a request's fields when the caller says nothing (the console's words).
FIELD_NAMES: dict[str, str] = {
    "questionnaire": "questionnaire",
    "frame": "sample frame",
    "name": "name",
    "channels": "channels",
    "sample": "sample size",
    "stratify": "stratify by",
    "quota": "quotas",
    "seed": "seed",
    "rate": "rate",
    "quiet": "quiet hours",
    "reminders": "reminders",
    "reminder_delay": "reminder delay",
    "starts": "starts",
    "expires": "expires",
    "layout": "layout",
    "message_zh": "Chinese message",
    "message_en": "English message",
    # How to get what is missing, said as the caller's reader would do it.
    "publish_hint": "publish one in the console's questionnaires section",
    "import_hint": "import one in the console's sample frames section",
}


@dataclass
class CampaignRequest:
    """What an operator asks for, as typed (text where the operator typed text)."""

    questionnaire: str
    frame: str
    name: str
    channels: list[str] = field(default_factory=lambda: ["sms_link"])
    sample: int | None = None
    #: Frame columns, comma-separated (``tier,region``), or None.
    stratify: str | None = None
    #: One text per stratum: its values in the order of ``stratify``, then ``=COUNT``.
    quotas: list[str] = field(default_factory=list)
    seed: int | None = None
    rate: float = 10.0
    quiet: str = "21:00-08:00"
    reminders: int = 0
    reminder_delay: float = 48.0
    starts: str | None = None
    expires: str | None = None
    layout: str = "grouped"
    message_zh: str | None = None
    message_en: str | None = None


@dataclass(frozen=True, slots=True)
class PlanProblem:
    """One thing wrong with a request: the field it belongs to (None: the whole request)."""

    field: str | None
    message: str


class PlanRefused(CampaignError):
    """A request that cannot be carried out; ``problems`` lists every reason found."""

    def __init__(self, problems: list[PlanProblem]) -> None:
        super().__init__("; ".join(p.message for p in problems))
        self.problems = problems


@dataclass(frozen=True)
class SampleDesign:
    """How a campaign's sample was drawn: what the monitor's quota progress compares with."""

    frame: str
    strata: tuple[str, ...]
    #: (stratum values in the order of ``strata``, number wanted); empty without quotas.
    quotas: tuple[tuple[tuple[Any, ...], int], ...]
    sample: int
    seed: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "frame": self.frame,
            "strata": list(self.strata),
            "sample": self.sample,
            "seed": self.seed,
            "quotas": [{"stratum": list(key), "quota": n} for key, n in self.quotas],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SampleDesign:
        return cls(
            frame=str(data.get("frame", "")),
            strata=tuple(data.get("strata", ())),
            quotas=tuple((tuple(q["stratum"]), int(q["quota"])) for q in data.get("quotas", ())),
            sample=int(data.get("sample", 0)),
            seed=int(data.get("seed", 0)),
        )


@dataclass(frozen=True)
class DrawnCampaign:
    """A draft campaign just created, its sample drawn, with what the draw was made from."""

    campaign: Campaign
    #: FORM@VERSION of its questionnaire.
    form: str
    design: SampleDesign
    drawn: int
    #: The frame's customers, and how many of them could be drawn.
    customers: int
    eligible: int
    no_consent: int
    opted_out: int
    #: Strata with fewer eligible customers than their quota: (stratum, drawn, quota).
    shortfalls: list[tuple[tuple[Any, ...], int, int]]


# -- reading the request's fields ----------------------------------------------------------


def _quiet_hours(text: str, names: Mapping[str, str]) -> tuple[str, str]:
    if text.strip().lower() in ("none", "off", ""):
        return "00:00", "00:00"  # equal ends: no quiet hours
    match = re.fullmatch(r"\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*", text)
    if (
        not match
        or int(match.group(1)) > 23
        or int(match.group(3)) > 23
        or int(match.group(2)) > 59
        or int(match.group(4)) > 59
    ):
        raise ValueError(
            f"{names['quiet']} {text!r}: write START-END in local time, e.g. 21:00-08:00, or none"
        )
    return (
        f"{match.group(1).zfill(2)}:{match.group(2)}",
        f"{match.group(3).zfill(2)}:{match.group(4)}",
    )


def _moment(text: str | None, option: str, zone: str, start: datetime) -> datetime | None:
    """An ISO date/time (local time when it has no offset) or a delay after ``start``."""
    if text is None or not text.strip():
        return None
    relative = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([dh])\s*", text.lower())
    if relative:
        amount, unit = float(relative.group(1)), relative.group(2)
        return start + timedelta(days=amount) if unit == "d" else start + timedelta(hours=amount)
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(
            f"{option} {text!r}: write a date and time such as 2026-04-01T18:00, "
            "or a delay such as 7d or 48h"
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=ZoneInfo(zone))


def _stratum_keys(customers: pd.DataFrame, strata: list[str]) -> set[tuple]:
    known = set(customers.groupby(strata).size().index)
    return {k if isinstance(k, tuple) else (k,) for k in known}


def _quotas(
    texts: list[str], strata: list[str], customers: pd.DataFrame, names: Mapping[str, str]
) -> dict[tuple, int]:
    """``5,Hangzhou=10``: values in the order of the strata, then the count."""
    quotas: dict[tuple, int] = {}
    for text in texts:
        key_text, _, count = text.rpartition("=")
        values = [v.strip() for v in key_text.split(",")]
        if not key_text or len(values) != len(strata) or not count.strip().isdigit():
            raise ValueError(
                f"{names['quota']} {text!r}: write one value per "
                f"{names['stratify']} column ({','.join(strata)}) then =COUNT, "
                f"e.g. {','.join('…' for _ in strata)}=100"
            )
        key = tuple(
            int(v) if customers[column].dtype.kind in "iu" and v.lstrip("-").isdigit() else v
            for v, column in zip(values, strata, strict=True)
        )
        quotas[key] = int(count)
    known = _stratum_keys(customers, strata)
    unknown = [k for k in quotas if k not in known]
    if unknown:
        examples = ", ".join(",".join(map(str, k)) for k in sorted(known, key=str)[:5])
        raise ValueError(
            f"no eligible customer in stratum {','.join(map(str, unknown[0]))}; "
            f"strata look like: {examples or 'none (no eligible customer)'}"
        )
    return quotas


def frame_customers(session: Session, frame_id: int) -> pd.DataFrame:
    """The frame's customers as a DataFrame, with whether each may be invited."""
    rows = session.execute(
        select(
            Customer.id,
            Customer.phone_e164,
            Customer.region,
            Customer.service_hall,
            Customer.tier,
            Customer.language,
            Customer.consent,
        )
        .where(Customer.frame_id == frame_id)
        .order_by(Customer.id)
    ).all()
    columns = ["id", "phone", "region", "service_hall", "tier", "language", "consent"]
    customers = pd.DataFrame(rows, columns=columns)
    customers["consent"] = customers["consent"].astype(bool)
    opted_out = set(session.execute(select(OptOut.phone_e164)).scalars())
    customers["opted_out"] = customers["phone"].isin(opted_out)
    return customers


def _version(session: Session, spec: str, names: Mapping[str, str]) -> QuestionnaireVersion:
    """The version ``FORM@VERSION``, or the newest of ``FORM``."""
    try:
        form_id, version = split_version(spec) if "@" in spec else (spec, "")
    except InvalidRequest as error:
        raise ValueError(str(error)) from None
    query = select(QuestionnaireVersion).where(QuestionnaireVersion.form_id == form_id)
    if version:
        query = query.where(QuestionnaireVersion.version == version)
    row = (
        session.execute(
            query.order_by(QuestionnaireVersion.published_at.desc(), QuestionnaireVersion.id.desc())
        )
        .scalars()
        .first()
    )
    if row is None:
        published = session.execute(
            select(QuestionnaireVersion.form_id, QuestionnaireVersion.version)
        ).all()
        listed = ", ".join(f"{f}@{v}" for f, v in published) or "none yet"
        raise ValueError(
            f"no published questionnaire {spec!r} (published: {listed}); {names['publish_hint']}"
        )
    return row


def _frame(session: Session, name: str, names: Mapping[str, str]) -> SampleFrame:
    row = session.execute(select(SampleFrame).where(SampleFrame.name == name)).scalars().first()
    if row is None:
        stored = ", ".join(session.execute(select(SampleFrame.name)).scalars()) or "none yet"
        raise ValueError(f"no sample frame {name!r} (stored: {stored}); {names['import_hint']}")
    return row


# -- the whole request ---------------------------------------------------------------------


def create_from_frame(
    session: Session,
    request: CampaignRequest,
    *,
    secret: str,
    public_base_url: str,
    timezone: str,
    now: datetime | None = None,
    names: Mapping[str, str] = FIELD_NAMES,
    staff_id: int | None = None,
    ip: str | None = None,
    via: str = "console",
    known: list[PlanProblem] = (),
) -> DrawnCampaign:
    """Check ``request``, create its draft campaign and draw its sample (nothing is sent).

    Raises :class:`PlanRefused` with every problem found, before anything is stored.
    ``now`` (default: the current time) is what ``starts`` and ``expires`` delays count
    from. The creation and its sample design are written to the audit log, by
    ``staff_id`` (None: the command line) from ``ip``. ``known`` are problems the caller
    found already (a field it could not read as a number): they are reported with the rest,
    in place of what this check says of the same fields, and nothing is created.
    """
    now = now or utcnow()
    names = {**FIELD_NAMES, **names}
    problems: list[PlanProblem] = []

    def check(field_name: str | None, work):
        try:
            return work()
        except (ValueError, InvalidRequest) as error:  # CampaignError, ReplyModeError too
            problems.append(PlanProblem(field_name, str(error)))
            return None

    name = request.name.strip()
    if not name:
        problems.append(PlanProblem("name", f"give the campaign a {names['name']}"))
    elif len(name) > MAX_NAME:
        problems.append(
            PlanProblem(
                "name", f"the {names['name']} has {len(name)} characters: shorten it to {MAX_NAME}"
            )
        )
    quiet = check("quiet", lambda: _quiet_hours(request.quiet, names))
    strata = (
        [s.strip() for s in request.stratify.split(",") if s.strip()] if request.stratify else []
    )
    bad = [s for s in strata if s not in STRATA]
    if bad:
        problems.append(
            PlanProblem(
                "stratify",
                f"{names['stratify']} {request.stratify!r}: "
                f"{', '.join(bad)} is not a frame column to stratify by; "
                f"use {', '.join(STRATA)}",
            )
        )
    quota_texts = [q.strip() for q in request.quotas if q.strip()]
    if quota_texts and not strata and not bad:
        problems.append(
            PlanProblem(
                "quota",
                f"{names['quota']} needs {names['stratify']}, "
                f"e.g. {names['stratify']} tier {names['quota']} 5=100"
                if names["quota"].startswith("--")
                else f"{names['quota']} need {names['stratify']}: name the "
                "columns the quotas' values belong to, e.g. tier",
            )
        )
    if request.sample is None and not quota_texts:
        problems.append(
            PlanProblem(
                "sample",
                f"say how many customers to draw: "
                f"{names['sample']} N, or {names['stratify']} with "
                f"{names['quota']}",
            )
        )
    elif request.sample is not None and request.sample < 1:
        problems.append(
            PlanProblem("sample", f"{names['sample']} {request.sample}: draw at least 1 customer")
        )
    channels = [c.strip() for c in request.channels if c.strip()]
    unknown = [c for c in channels if c not in CHANNELS]
    if not channels or unknown:
        problems.append(
            PlanProblem(
                "channels",
                f"unknown channel(s) {unknown or channels}: use {', '.join(CHANNELS)}"
                if unknown
                else f"choose at least one channel of {', '.join(CHANNELS)}",
            )
        )
    if not request.rate > 0:
        problems.append(
            PlanProblem(
                "rate",
                f"{names['rate']} {request.rate:g}: send at least some messages a second, e.g. 10",
            )
        )
    if request.reminders < 0:
        problems.append(
            PlanProblem("reminders", f"{names['reminders']} {request.reminders}: write 0 or more")
        )
    if not request.reminder_delay > 0:
        problems.append(
            PlanProblem(
                "reminder_delay",
                f"{names['reminder_delay']} "
                f"{request.reminder_delay:g}: write a number of hours "
                "above 0, e.g. 48",
            )
        )
    if request.layout not in LAYOUTS:
        problems.append(
            PlanProblem("layout", f"unknown layout {request.layout!r}: use {' or '.join(LAYOUTS)}")
        )
    # A reply-mode campaign's first message is its first question: its default greeting
    # carries no link.
    defaults = DEFAULT_MESSAGES if "sms_link" in channels else REPLY_GREETINGS
    message = {
        "zh": (request.message_zh or "").strip() or defaults["zh"],
        "en": (request.message_en or "").strip() or defaults["en"],
    }
    if "sms_link" in channels:
        for language in ("zh", "en"):
            if "{link}" not in message[language]:
                problems.append(
                    PlanProblem(
                        f"message_{language}",
                        f"the {language} message has "
                        "no {link} placeholder: put {link} where the "
                        "customer's link goes",
                    )
                )
    start = now.astimezone(ZoneInfo(timezone))
    starts_at = check("starts", lambda: _moment(request.starts, names["starts"], timezone, start))
    expires_at = check(
        "expires", lambda: _moment(request.expires, names["expires"], timezone, starts_at or start)
    )
    if starts_at and expires_at and expires_at <= starts_at:
        problems.append(
            PlanProblem(
                "expires",
                f"the campaign expires before it starts: give {names['expires']} a later moment",
            )
        )
    version = check("questionnaire", lambda: _version(session, request.questionnaire, names))
    if version is not None and channels and not unknown:
        check("channels", lambda: check_channels(channels, load_version(version)))
    frame = check("frame", lambda: _frame(session, request.frame, names))
    customers = eligible = quotas = None
    if frame is not None:
        customers = frame_customers(session, frame.id)
        eligible = customers[customers["consent"] & ~customers["opted_out"]]
        if quota_texts and strata and not bad:
            quotas = check("quota", lambda: _quotas(quota_texts, strata, eligible, names))
    wanted = sum(quotas.values()) if quotas else request.sample
    if quotas and request.sample is not None and request.sample != wanted:
        problems.append(
            PlanProblem(
                "sample",
                f"{names['sample']} {request.sample} disagrees "
                f"with the quotas, which add up to {wanted}",
            )
        )
    if known:
        taken = {p.field for p in known}
        problems = [*known, *(p for p in problems if p.field not in taken)]
    if problems:
        raise PlanRefused(problems)
    seed = request.seed if request.seed is not None else secrets.randbelow(2**31)
    try:
        drawn = draw_sample(eligible, wanted, seed=seed, strata=strata or None, quotas=quotas)
    except CampaignError as error:
        raise PlanRefused([PlanProblem("sample", str(error))]) from None
    try:
        campaign = create_campaign(
            session,
            version.id,
            name,
            channels=channels,
            message=message,
            quiet_start=quiet[0],
            quiet_end=quiet[1],
            rate_per_second=request.rate,
            reminders=request.reminders,
            reminder_delay_hours=request.reminder_delay,
            starts_at=starts_at,
            expires_at=expires_at,
            layout=request.layout,
        )
    except (CampaignError, ValueError) as error:
        raise PlanRefused([PlanProblem(None, str(error))]) from None
    invite(
        session,
        campaign,
        drawn["id"].tolist(),
        secret=secret,
        public_base_url=public_base_url,
        timezone=timezone,
        now=now,
        queue=False,
    )
    design = SampleDesign(
        frame=frame.name,
        strata=tuple(strata),
        quotas=tuple((tuple(_plain(v) for v in key), n) for key, n in (quotas or {}).items()),
        sample=len(drawn),
        seed=seed,
    )
    campaign.sample_design = design.to_dict()
    session.add(campaign)
    form = f"{version.form_id}@{version.version}"
    audit.audit(
        session,
        staff_id,
        CREATED,
        f"campaign:{campaign.id}",
        {"via": via, "name": name, "questionnaire": form, **design.to_dict()},
        ip,
        at=now,
    )
    shortfalls = []
    if quotas:
        got = drawn.groupby(strata).size()
        for key, want in quotas.items():
            have = int(got.get(key if len(key) > 1 else key[0], 0))
            if have < want:
                shortfalls.append((key, have, want))
    return DrawnCampaign(
        campaign=campaign,
        form=form,
        design=design,
        drawn=len(drawn),
        customers=len(customers),
        eligible=len(eligible),
        no_consent=int((~customers["consent"]).sum()),
        opted_out=int(customers["opted_out"].sum()),
        shortfalls=shortfalls,
    )


def _plain(value: Any) -> Any:
    """A stratum's value as JSON holds it (numpy integers are not JSON)."""
    return int(value) if hasattr(value, "item") and isinstance(value.item(), int) else value


def sample_design(session: Session, campaign_id: int) -> SampleDesign | None:
    """The design the campaign's sample was drawn by; None for a campaign created otherwise
    (directly through :func:`survey.campaigns.lifecycle.create_campaign`)."""
    campaign = session.get(Campaign, campaign_id)
    design = campaign.sample_design if campaign is not None else None
    return SampleDesign.from_dict(design) if design else None
