"""A simulated week of hotline contacts with known true agent effects.

``manyi sample contacts`` writes what :func:`simulate_contacts` returns: the contact events
a contact-centre system would send (``CONTACT_COLUMNS``), the reply each customer would
give if surveyed (``REPLY_COLUMNS``), and beside them the truth: every agent's team, true
effect and true rates (``AGENT_TRUTH_COLUMNS``) and the parameters of the simulation.

The model, on the logit scale of the post-contact reply (1 satisfied, 2 fair,
3 dissatisfied) as a cumulative logit:

    eta = team effect + agent effect + queue effect + channel effect + customer effect
    P(reply = 1) = logistic(c1 + eta),  P(reply <= 2) = logistic(c2 + eta)

so one "quality" effect per agent (``true_effect`` = team effect + agent effect) moves both
the satisfied and the dissatisfied share. Whether the customer replies at all is a
logistic model of its own, with a customer effect (some customers always answer, most
never do) and a channel effect, for a response rate of about a quarter.

Everything is drawn from one ``numpy.random.Generator`` seeded by ``seed`` and is
vectorised: 200,000 contacts take about a second. The same seed gives the same data.

Phone numbers are fictional: the NANP's 555-0100 to 555-0199 in every area code the
``phonenumbers`` library deems valid (reserved for fiction by the NANPA), then the
Australian ranges (02/03/07/08) 5550 xxxx and 7010 xxxx (reserved for fiction by the
ACMA): 125,100 numbers in all, which bounds the customers of one simulation.
"""

from __future__ import annotations

import functools
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import phonenumbers

CONTACT_COLUMNS = (
    "contact_id",
    "phone",
    "channel",
    "ended_at",
    "agent_id",
    "team",
    "queue",
    "region",
    "service_hall",
)
REPLY_COLUMNS = ("contact_id", "replied_at", "digit", "text")
AGENT_TRUTH_COLUMNS = (
    "agent_id",
    "team",
    "channel",
    "primary_queue",
    "service_hall",
    "team_effect",
    "agent_effect",
    "true_effect",
    "true_satisfaction_rate",
    "true_dissatisfaction_rate",
    "contacts",
    "replies",
)

#: Queues (skill groups): share of hotline contacts and effect on the reply's logit.
QUEUES: Mapping[str, tuple[float, float]] = {
    "billing": (0.35, 0.0),
    "network": (0.25, -0.3),
    "complaints": (0.10, -0.9),
    "general": (0.30, 0.3),
}
#: Channels: share of teams (hence of contacts) and effect on the reply's logit and on
#: the chance of a reply.
CHANNELS: Mapping[str, tuple[float, float, float]] = {
    "hotline": (0.85, 0.0, 0.0),
    "hall": (0.10, 0.2, 0.3),
    "online": (0.05, -0.1, -0.2),
}
#: Regions of the synthetic province (as in the sample frame), halls per region, share.
REGIONS: tuple[tuple[str, int, float], ...] = (
    ("Hangzhou", 9, 0.28),
    ("Ningbo", 7, 0.19),
    ("Wenzhou", 7, 0.17),
    ("Jiaxing", 5, 0.10),
    ("Shaoxing", 5, 0.10),
    ("Jinhua", 5, 0.09),
    ("Taizhou", 4, 0.07),
)
#: Contacts per hour of the day, relative: quiet at night, peaks mid-morning, after
#: lunch and in the evening (a hotline's usual curve).
HOURLY_CURVE = (
    0.6, 0.3, 0.2, 0.15, 0.15, 0.3, 0.9, 2.2, 4.5, 6.5, 7.0, 6.3,
    4.8, 5.2, 6.0, 6.1, 5.6, 5.0, 5.0, 5.6, 5.4, 4.2, 2.6, 1.3,
)  # fmt: skip
#: Daily volume, Monday first: the week starts busy and the weekend is quieter.
DAILY_CURVE = (1.15, 1.05, 1.0, 1.0, 1.0, 0.85, 0.8)
#: A few words a dissatisfied customer types instead of (or after) the digit.
COMPLAINTS = ("3 等了太久", "3 问题没解决", "3 态度不好", "没解决", "3 still not fixed")


@dataclass(frozen=True)
class ContactTruth:
    """The parameters of a simulated week (written to truth.json beside the data)."""

    n: int = 200_000
    agents: int = 300
    teams: int = 20
    seed: int = 20260302
    week_start: str = "2026-03-02T00:00:00+08:00"
    team_sd: float = 0.3
    agent_sd: float = 0.5
    customer_sd: float = 0.6
    repeat_effect: float = -0.4
    cut_satisfied: float = 1.8
    cut_not_dissatisfied: float = 3.2
    response_intercept: float = -1.6
    response_customer_sd: float = 1.2
    repeat_share: float = 0.32
    repeat_calls: tuple[float, ...] = (0.45, 0.25, 0.18, 0.12)
    primary_queue_share: float = 0.3
    low_volume_share: float = 0.08
    low_volume_factor: float = 0.03
    text_share: float = 0.15
    queues: Mapping[str, tuple[float, float]] = field(default_factory=lambda: dict(QUEUES))
    channels: Mapping[str, tuple[float, float, float]] = field(
        default_factory=lambda: dict(CHANNELS)
    )

    def record(self) -> dict[str, Any]:
        """The parameters as plain JSON, with what each means."""
        values = {k: v for k, v in self.__dict__.items()}
        values["repeat_calls"] = dict(zip(range(2, 6), self.repeat_calls, strict=True))
        values["queues"] = {k: {"share": s, "effect": e} for k, (s, e) in self.queues.items()}
        values["channels"] = {
            k: {"share": s, "effect": e, "response_effect": r}
            for k, (s, e, r) in self.channels.items()
        }
        values["model"] = (
            "eta = team_effect + agent_effect + queue_effect + channel_effect + customer_effect "
            "(+ repeat_effect for repeat callers); P(1) = logistic(cut_satisfied + eta), "
            "P(1 or 2) = logistic(cut_not_dissatisfied + eta); "
            "P(reply) = logistic(response_intercept + response_effect + customer_response), "
            "customer_response ~ N(0, response_customer_sd)"
        )
        return values


@dataclass(frozen=True, eq=False)
class SimulatedWeek:
    """A simulated week: the contacts, the replies they would get, the agents' truth."""

    contacts: pd.DataFrame
    replies: pd.DataFrame
    agents: pd.DataFrame
    truth: ContactTruth


@functools.cache
def _fiction_blocks() -> tuple[tuple[str, int], ...]:
    """(prefix, numbers in the block): NANP 555-01XX per valid area code, then ACMA's."""
    blocks: list[tuple[str, int]] = []
    for area in range(200, 1000):
        if phonenumbers.is_valid_number(phonenumbers.parse(f"+1{area}5550150")):
            blocks.append((f"+1{area}55501", 100))
    for trunk in (2, 3, 7, 8):
        for exchange in ("5550", "7010"):
            blocks.append((f"+61{trunk}{exchange}", 10_000))
    return tuple(blocks)


def max_fiction_numbers() -> int:
    """How many distinct fictional numbers :func:`fiction_phones` can give."""
    return sum(size for _, size in _fiction_blocks())


def fiction_phones(n: int) -> np.ndarray:
    """The first ``n`` fictional E.164 numbers (NANP 555-01XX, then ACMA's ranges)."""
    if n > max_fiction_numbers():
        raise ValueError(
            f"only {max_fiction_numbers()} fictional numbers exist in the reserved ranges; "
            "ask for fewer contacts"
        )
    parts: list[np.ndarray] = []
    left = n
    for prefix, size in _fiction_blocks():
        if left <= 0:
            break
        take = min(size, left)
        width = 2 if size == 100 else 4
        suffix = np.char.zfill(np.arange(take).astype(str), width)
        parts.append(np.char.add(prefix, suffix))
        left -= take
    return np.concatenate(parts) if parts else np.array([], dtype=str)


def _team_sizes(agents: int, teams: int, rng: np.random.Generator) -> np.ndarray:
    base = max(1, min(5, agents // teams))
    extra = rng.multinomial(agents - base * teams, rng.dirichlet(np.full(teams, 5.0)))
    return base + extra


def _customers(n: int, truth: ContactTruth, rng: np.random.Generator) -> np.ndarray:
    """A customer index per contact: most call once, ``repeat_share`` call 2-5 times."""
    p = np.asarray(truth.repeat_calls, dtype=float)
    mean_calls = 1 + truth.repeat_share * (float(p @ np.arange(2, 6)) - 1)
    customers = int(math.ceil(n / mean_calls * 1.02)) + 10
    repeat = rng.random(customers) < truth.repeat_share
    calls = np.where(repeat, rng.choice(np.arange(2, 6), size=customers, p=p / p.sum()), 1)
    owner = np.repeat(np.arange(customers), calls)
    if owner.size < n:
        owner = np.concatenate([owner, np.arange(customers, customers + n - owner.size)])
    owner = owner[:n]
    rng.shuffle(owner)
    # Renumber the customers who appear, in order of first appearance.
    _, first, inverse = np.unique(owner, return_index=True, return_inverse=True)
    rank = np.empty(first.size, dtype=np.int64)
    rank[np.argsort(first, kind="stable")] = np.arange(first.size)
    return rank[inverse]


def simulate_contacts(truth: ContactTruth | None = None, **overrides: Any) -> SimulatedWeek:
    """Simulate a week of contacts, the replies they would get, and the agents' truth.

    Parameters
    ----------
    truth : ContactTruth, optional
        The parameters; keyword ``overrides`` (``n=``, ``agents=``, ``teams=``, ``seed=``,
        ...) replace single fields.

    Returns
    -------
    SimulatedWeek
        ``contacts`` (``CONTACT_COLUMNS``, ``ended_at`` in China Standard Time),
        ``replies`` (``REPLY_COLUMNS``: one row per contact whose customer would reply;
        ``digit`` is "1", "2" or "3", ``text`` the message as typed), ``agents``
        (``AGENT_TRUTH_COLUMNS``, one row per agent; the true rates are the expected
        shares over the agent's own contacts, so they include the case mix).
    """
    truth = truth or ContactTruth()
    if overrides:
        truth = ContactTruth(**{**truth.__dict__, **overrides})
    n, agents, teams = truth.n, truth.agents, truth.teams
    if n < 1 or agents < 1 or teams < 1:
        raise ValueError("n, agents and teams must each be at least 1")
    if teams > agents:
        raise ValueError(f"{teams} teams need at least {teams} agents, not {agents}")
    rng = np.random.default_rng(truth.seed)

    # Teams: a channel and a primary queue each; agents in teams of unequal size.
    channel_names = list(truth.channels)
    channel_share = np.array([truth.channels[c][0] for c in channel_names])
    team_channel_count = np.maximum(
        np.round(channel_share * teams).astype(int), (channel_share > 0).astype(int)
    )
    team_channel_count[0] = teams - team_channel_count[1:].sum()
    team_channel = np.repeat(np.arange(len(channel_names)), np.maximum(team_channel_count, 0))[
        :teams
    ]
    queue_names = list(truth.queues)
    queue_share = np.array([truth.queues[q][0] for q in queue_names])
    team_queue = rng.choice(len(queue_names), size=teams, p=queue_share / queue_share.sum())
    team_effect = rng.normal(0.0, truth.team_sd, teams)
    sizes = _team_sizes(agents, teams, rng)
    agent_team = np.repeat(np.arange(teams), sizes)
    agent_effect = rng.normal(0.0, truth.agent_sd, agents)
    # Workload: most agents take a full share, a few (new, part-time) only a handful.
    workload = rng.gamma(4.0, 1.0, agents)
    low = rng.random(agents) < truth.low_volume_share
    workload = np.where(low, workload * truth.low_volume_factor, workload)
    hall_names = [f"{r}-{h:02d}" for r, halls, _ in REGIONS for h in range(1, halls + 1)]
    hall_region = [i for i, (_, halls, _) in enumerate(REGIONS) for _ in range(halls)]
    agent_hall = rng.integers(0, len(hall_names), agents)
    agent_is_hall = np.array(channel_names, dtype=object)[team_channel[agent_team]] == "hall"

    # Contacts: an agent by workload, a queue (mostly the team's), a customer, a time.
    agent = rng.choice(agents, size=n, p=workload / workload.sum())
    team = agent_team[agent]
    own_queue = rng.random(n) < truth.primary_queue_share
    queue = np.where(
        own_queue,
        team_queue[team],
        rng.choice(len(queue_names), size=n, p=queue_share / queue_share.sum()),
    )
    channel = team_channel[team]
    customer = _customers(n, truth, rng)
    customers = int(customer.max()) + 1
    calls = np.bincount(customer, minlength=customers)
    repeat_caller = calls[customer] > 1
    region_share = np.array([s for _, _, s in REGIONS])
    customer_region = rng.choice(len(REGIONS), size=customers, p=region_share / region_share.sum())
    region = customer_region[customer]
    is_hall = agent_is_hall[agent]
    # At a hall, the customer is where the hall is.
    region = np.where(is_hall, np.array(hall_region)[agent_hall[agent]], region)
    phones = fiction_phones(customers)[rng.permutation(customers)]

    weights = np.outer(DAILY_CURVE, HOURLY_CURVE).ravel()
    hour = rng.choice(weights.size, size=n, p=weights / weights.sum())
    seconds = hour * 3600 + rng.integers(0, 3600, n)
    start = pd.Timestamp(truth.week_start)
    order = np.argsort(seconds, kind="stable")
    ended = start + pd.to_timedelta(seconds, unit="s")

    # Replies: who would answer, and what.
    customer_effect = rng.normal(0.0, truth.customer_sd, customers)
    customer_response = rng.normal(0.0, truth.response_customer_sd, customers)
    queue_effect = np.array([truth.queues[q][1] for q in queue_names])
    channel_effect = np.array([truth.channels[c][1] for c in channel_names])
    channel_response = np.array([truth.channels[c][2] for c in channel_names])
    true_effect = team_effect[agent_team] + agent_effect
    eta = (
        true_effect[agent]
        + queue_effect[queue]
        + channel_effect[channel]
        + customer_effect[customer]
        + truth.repeat_effect * repeat_caller
    )
    p1 = _logistic(truth.cut_satisfied + eta)
    p12 = _logistic(truth.cut_not_dissatisfied + eta)
    u = rng.random(n)
    digit = np.where(u < p1, "1", np.where(u < p12, "2", "3"))
    replies = rng.random(n) < _logistic(
        truth.response_intercept + channel_response[channel] + customer_response[customer]
    )
    delay = 300 + np.exp(rng.normal(np.log(1200), 1.0, n))  # the SMS 5 min after, then minutes
    text = digit.astype(object)
    typed = (digit == "3") & (rng.random(n) < truth.text_share)
    text[typed] = np.array(COMPLAINTS, dtype=object)[rng.integers(0, len(COMPLAINTS), typed.sum())]

    contact_id = np.char.add("CT", np.char.zfill(np.arange(1, n + 1).astype(str), 7))
    contacts = pd.DataFrame(
        {
            "contact_id": contact_id,
            "phone": phones[customer],
            "channel": np.array(channel_names, dtype=object)[channel],
            "ended_at": ended,
            "agent_id": _agent_ids(agents)[agent],
            "team": _team_ids(teams)[team],
            "queue": np.array(queue_names, dtype=object)[queue],
            "region": np.array([r for r, _, _ in REGIONS], dtype=object)[region],
            "service_hall": np.where(
                is_hall, np.array(hall_names, dtype=object)[agent_hall[agent]], None
            ),
        }
    )
    contacts = contacts.iloc[order].reset_index(drop=True)
    contacts["contact_id"] = contact_id
    answered = order[replies[order]]
    reply_frame = pd.DataFrame(
        {
            "contact_id": contacts["contact_id"].to_numpy()[replies[order]],
            "replied_at": ended[answered] + pd.to_timedelta(np.round(delay[answered]), unit="s"),
            "digit": digit[answered],
            "text": text[answered],
        }
    )

    expected_1 = np.bincount(agent, weights=p1, minlength=agents)
    expected_3 = np.bincount(agent, weights=1 - p12, minlength=agents)
    handled = np.bincount(agent, minlength=agents)
    with np.errstate(divide="ignore", invalid="ignore"):
        rate_1 = np.where(handled > 0, expected_1 / handled, np.nan)
        rate_3 = np.where(handled > 0, expected_3 / handled, np.nan)
    agent_frame = pd.DataFrame(
        {
            "agent_id": _agent_ids(agents),
            "team": _team_ids(teams)[agent_team],
            "channel": np.array(channel_names, dtype=object)[team_channel[agent_team]],
            "primary_queue": np.array(queue_names, dtype=object)[team_queue[agent_team]],
            "service_hall": np.where(
                agent_is_hall, np.array(hall_names, dtype=object)[agent_hall], None
            ),
            "team_effect": team_effect[agent_team],
            "agent_effect": agent_effect,
            "true_effect": true_effect,
            "true_satisfaction_rate": rate_1,
            "true_dissatisfaction_rate": rate_3,
            "contacts": handled,
            "replies": np.bincount(agent[replies], minlength=agents),
        }
    )
    return SimulatedWeek(
        contacts=contacts[list(CONTACT_COLUMNS)],
        replies=reply_frame[list(REPLY_COLUMNS)],
        agents=agent_frame[list(AGENT_TRUTH_COLUMNS)],
        truth=truth,
    )


def _logistic(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def _agent_ids(agents: int) -> np.ndarray:
    return np.char.add("A", np.char.zfill(np.arange(1, agents + 1).astype(str), 4)).astype(object)


def _team_ids(teams: int) -> np.ndarray:
    return np.char.add("T", np.char.zfill(np.arange(1, teams + 1).astype(str), 2)).astype(object)


def _iso_times(frame: pd.DataFrame) -> pd.DataFrame:
    """Times as ISO 8601 text with the offset's colon (2026-03-02T09:15:00+08:00)."""
    out = frame.copy()
    for column in out.columns:
        if isinstance(out[column].dtype, pd.DatetimeTZDtype):
            text = out[column].dt.strftime("%Y-%m-%dT%H:%M:%S%z")
            out[column] = text.str.replace(r"(\d\d)(\d\d)$", r"\1:\2", regex=True)
    return out


def write_week(week: SimulatedWeek, out: str | Path, fmt: str = "parquet") -> list[Path]:
    """Write contacts, replies, the agents' truth and truth.json into the folder ``out``.

    ``fmt`` is ``"parquet"`` or ``"csv"`` for the three tables; ``truth.json`` holds the
    parameters, the seed and a summary (contacts, customers, replies, response rate).
    Returns the paths written.
    """
    if fmt not in ("parquet", "csv"):
        raise ValueError(f"format must be parquet or csv, not {fmt!r}")
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for name, frame in (
        ("contacts", week.contacts),
        ("replies", week.replies),
        ("agents_truth", week.agents),
    ):
        path = folder / f"{name}.{fmt}"
        if fmt == "parquet":
            frame.to_parquet(path, index=False)
        else:
            _iso_times(frame).to_csv(path, index=False, lineterminator="\n")
        written.append(path)
    contacts = week.contacts
    summary = {
        "contacts": len(contacts),
        "customers": int(contacts["phone"].nunique()),
        "repeat_customers": int((contacts["phone"].value_counts() > 1).sum()),
        "replies": len(week.replies),
        "response_rate": round(len(week.replies) / max(len(contacts), 1), 4),
        "replies_by_digit": {
            k: int(v) for k, v in week.replies["digit"].value_counts().sort_index().items()
        },
        "files": [p.name for p in written],
    }
    path = folder / "truth.json"
    path.write_text(
        json.dumps({"parameters": week.truth.record(), "summary": summary}, indent=2, default=str)
        + "\n",
        encoding="utf-8",
    )
    written.append(path)
    return written
