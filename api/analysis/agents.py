"""Agents, teams, queues and channels measured: the rates of
:func:`survey.programmes.report.contact_counts`' counts, with their intervals, and the
agents' satisfaction shrunk toward their team's, ranked, with the bottom-5% flags.

One place for ``manyi contacts report`` and the dashboard's agents page, which therefore
show the same numbers. The statistics are :mod:`scoring.agents`'. A team leader's agents are
measured by :func:`measure_among`: ranked among every agent of the programme.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict

import numpy as np
import pandas as pd

from scoring.agents import bottom_flags, rank_shrunken, shrunken_rates
from scoring.proportions import wilson_interval

__all__ = ["BOTTOM_SHARE", "RANK_COLUMNS", "measure", "measure_among"]

BOTTOM_SHARE = 0.05
#: What :func:`measure` adds to an agent's row beyond its rates: shrinkage, rank, flags.
RANK_COLUMNS = (
    "shrunken_rate",
    "shrunken_ci_low",
    "shrunken_ci_high",
    "shrinkage",
    "rank",
    "rank_low",
    "rank_high",
    "ranked",
    "p_bottom",
    "bottom_raw",
    "bottom_shrunken",
)


def with_rates(counts: pd.DataFrame) -> pd.DataFrame:
    """The counts with ``scoring.agents.RATE_COLUMNS``' rates and Wilson intervals (the same
    numbers as :func:`scoring.agents.unit_rates` on one row per contact, from counts)."""
    out = counts.copy()
    invited, replies = out["invitations"].to_numpy(), out["replies"].to_numpy()
    with np.errstate(divide="ignore", invalid="ignore"):
        out["response_rate"] = np.where(invited > 0, replies / np.maximum(invited, 1), np.nan)
    for name, column in (("satisfaction", "satisfied"), ("dissatisfaction", "dissatisfied")):
        k = out[column].to_numpy()
        intervals = [wilson_interval(int(a), int(n)) for a, n in zip(k, replies, strict=True)]
        out[f"{name}_rate"] = np.where(replies > 0, k / np.maximum(replies, 1), np.nan)
        out[f"{name}_ci_low"] = [np.nan if i is None else i[0] for i in intervals]
        out[f"{name}_ci_high"] = [np.nan if i is None else i[1] for i in intervals]
    return out


#: Rankings computed before, by their inputs: a past day's or week's counts do not change,
#: so the agents page by day reads them back instead of fitting them again (0.2 s a period
#: for 300 agents; a month by day is 30 of them). Keyed by every input of the ranking (the
#: agents, in order, with their team, replies and "1"s): equal inputs give equal results
#: (the draws are seeded), so a hit is what a fit would give. Bounded, least recently used
#: first out; shared by the threads of one process.
_RANKINGS: OrderedDict[bytes, pd.DataFrame] = OrderedDict()
_RANKINGS_KEPT = 512
_RANKINGS_LOCK = threading.Lock()


def _inputs_key(table: pd.DataFrame) -> bytes:
    inputs = table[["team", "replies", "satisfied"]].reset_index()
    rows = pd.util.hash_pandas_object(inputs, index=False).to_numpy()
    return hashlib.blake2b(rows.tobytes(), digest_size=32).digest()


def _ranking(table: pd.DataFrame) -> pd.DataFrame:
    """The shrinkage, rank and flags of one period's agents (``table`` indexed by unit)."""
    key = _inputs_key(table)
    with _RANKINGS_LOCK:
        if key in _RANKINGS:
            _RANKINGS.move_to_end(key)
            return _RANKINGS[key]
    shrunk = shrunken_rates(table, successes="satisfied", trials="replies", group="team")
    ranks = rank_shrunken(shrunk, bottom_share=BOTTOM_SHARE)
    flags = bottom_flags(shrunk, BOTTOM_SHARE)
    extra = pd.DataFrame(
        {
            "shrunken_rate": shrunk["posterior_mean"],
            "shrunken_ci_low": shrunk["ci_low"],
            "shrunken_ci_high": shrunk["ci_high"],
            "shrinkage": shrunk["shrinkage"],
            "rank": ranks["rank"],
            "rank_low": ranks["rank_low"],
            "rank_high": ranks["rank_high"],
            "ranked": int(ranks["rank"].notna().sum()),
            "p_bottom": ranks["p_bottom"],
            "bottom_raw": flags["bottom_raw"],
            "bottom_shrunken": flags["bottom_shrunken"],
        }
    )
    with _RANKINGS_LOCK:
        _RANKINGS[key] = extra
        while len(_RANKINGS) > _RANKINGS_KEPT:
            _RANKINGS.popitem(last=False)
    return extra


def _ranked(agents: pd.DataFrame) -> pd.DataFrame:
    """One period's agents with their satisfaction rate shrunk toward their team's."""
    table = agents.set_index("unit")
    if table["replies"].sum() == 0:  # nothing to fit a prior on
        return agents.assign(shrunken_rate=np.nan, shrunken_ci_low=np.nan,
                             shrunken_ci_high=np.nan, shrinkage=np.nan, rank=None,
                             rank_low=None, rank_high=None, ranked=0, p_bottom=np.nan,
                             bottom_raw=False, bottom_shrunken=False)  # fmt: skip
    return agents.join(_ranking(table), on="unit")


def measure(counts: pd.DataFrame, by: str) -> pd.DataFrame:
    """Rates with intervals per row of ``contact_counts``; for agents, also the shrunken
    satisfaction rate toward the team, its rank and rank interval among the period's
    agents, and the bottom-5% flags on raw and on shrunken rates."""
    out = with_rates(counts)
    if by != "agent" or out.empty:
        return out
    if "period" not in out.columns:
        return _ranked(out)
    return pd.concat([_ranked(part) for _, part in out.groupby("period", sort=True)])


def measure_among(counts: pd.DataFrame, everyone: pd.DataFrame) -> pd.DataFrame:
    """Some agents' rates from ``counts``, with the shrinkage, rank and flags they have among
    ``everyone`` (``contact_counts`` of every agent of the same programmes and span).

    A team leader's page (``/dashboard/agents``): ranking the team's 15 agents among
    themselves would shrink them toward a prior fitted on one or two teams and make an
    agent's rank depend on who is looking (5th of 15 to their leader, 280th of 300 to a
    researcher). Fitted on every agent, as a researcher sees them, the prior, the shrunken
    rate, the rank "280 of 300" with its interval and the bottom-5% flags are the agent's
    own, whoever reads them; only the rows shown are the team's.

    The counts and rates are ``counts``' (the reader's contacts). They equal the agent's
    programme-wide ones unless the agent also worked in another team in the span: then the
    row counts this team's contacts, while the rank, being the agent's, is on all of them.

    Parameters
    ----------
    counts : pandas.DataFrame
        ``contact_counts(by="agent", reader=...)``: the agents to show.
    everyone : pandas.DataFrame
        ``contact_counts(by="agent")`` with the same programme, period and dates, no reader.

    Returns
    -------
    pandas.DataFrame
        ``counts``' rows with :func:`with_rates`' columns and :data:`RANK_COLUMNS` (empty
        where an agent has none in ``everyone``, which cannot happen with matching filters).
    """
    out = with_rates(counts)
    if out.empty:
        return out
    keys = ["unit", *(["period"] if "period" in out.columns else [])]
    ranks = measure(everyone, "agent")
    if ranks.empty:  # pragma: no cover - everyone holds counts' rows at least
        return out.assign(**{column: np.nan for column in RANK_COLUMNS})
    return out.merge(ranks[[*keys, *RANK_COLUMNS]], on=keys, how="left", validate="1:1")
