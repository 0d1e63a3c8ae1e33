"""``manyi contacts report``: agents, teams, queues or channels measured, as a table or JSON.

For :mod:`api.cli.main` to register in the ``contacts`` group:
``contacts_app.command("report")(contacts_report)``.

The counts are :func:`survey.programmes.report.contact_counts` (one GROUP BY); the rates,
Wilson intervals, shrunken rates, rank intervals and bottom-5% flags are
:mod:`scoring.agents`' (:func:`measure`).
"""

from __future__ import annotations

import json
import math
from datetime import date
from typing import Annotated, Any

import numpy as np
import pandas as pd
import typer

from api.cli.support import fail, settings_and_engine
from scoring.agents import bottom_flags, rank_shrunken, shrunken_rates
from scoring.proportions import wilson_interval

__all__ = ["contacts_report", "measure"]

BOTTOM_SHARE = 0.05


def _with_rates(counts: pd.DataFrame) -> pd.DataFrame:
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


def _ranked(agents: pd.DataFrame) -> pd.DataFrame:
    """One period's agents with their satisfaction rate shrunk toward their team's."""
    table = agents.set_index("unit")
    if table["replies"].sum() == 0:  # nothing to fit a prior on
        return agents.assign(shrunken_rate=np.nan, shrunken_ci_low=np.nan,
                             shrunken_ci_high=np.nan, shrinkage=np.nan, rank=None,
                             rank_low=None, rank_high=None, ranked=0, p_bottom=np.nan,
                             bottom_raw=False, bottom_shrunken=False)  # fmt: skip
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
    return agents.join(extra, on="unit")


def measure(counts: pd.DataFrame, by: str) -> pd.DataFrame:
    """Rates with intervals per row of ``contact_counts``; for agents, also the shrunken
    satisfaction rate toward the team, its rank and rank interval among the period's
    agents, and the bottom-5% flags on raw and on shrunken rates."""
    out = _with_rates(counts)
    if by != "agent" or out.empty:
        return out
    if "period" not in out.columns:
        return _ranked(out)
    return pd.concat([_ranked(part) for _, part in out.groupby("period", sort=True)])


def _plain(value: Any) -> Any:
    if value is None or value is pd.NA:
        return None
    if isinstance(value, float | np.floating):
        return None if math.isnan(value) else float(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.bool_):
        return bool(value)
    return value


def _pct(value: Any) -> str:
    return "–" if _plain(value) is None else f"{value:.1%}"


def _ci(low: Any, high: Any) -> str:
    if _plain(low) is None:
        return ""
    return f"[{low:.0%}–{high:.0%}]"


def _line(row: dict[str, Any], by: str) -> str:
    parts = [
        str(row["unit"]),
        *([row["period"]] if "period" in row else []),
        f"contacts {row['contacts']}, invited {row['invitations']}, replies {row['replies']}"
        f" ({_pct(row['response_rate'])}), free text {row['free_text']}",
        f"satisfied {_pct(row['satisfaction_rate'])} "
        f"{_ci(row['satisfaction_ci_low'], row['satisfaction_ci_high'])}",
        f"dissatisfied {_pct(row['dissatisfaction_rate'])} "
        f"{_ci(row['dissatisfaction_ci_low'], row['dissatisfaction_ci_high'])}",
    ]
    if by == "agent":
        rank = row.get("rank")
        parts.append(f"team {row['team']}, shrunken {_pct(row['shrunken_rate'])} "
                     f"{_ci(row['shrunken_ci_low'], row['shrunken_ci_high'])}")  # fmt: skip
        if rank is not None:
            parts.append(f"rank {rank} [{row['rank_low']}–{row['rank_high']}] of "
                         f"{row['ranked']}")  # fmt: skip
        flags = [name for name, key in (("raw", "bottom_raw"), ("shrunken", "bottom_shrunken"))
                 if row.get(key)]  # fmt: skip
        if flags:
            parts.append(f"bottom 5% by {' and '.join(flags)} rate")
    return " · ".join(parts)


def contacts_report(
    by: Annotated[str, typer.Option(help="agent, team, queue or channel.")] = "agent",
    period: Annotated[
        str | None, typer.Option(help="day, week or month: one row per unit and period.")
    ] = None,
    programme: Annotated[str | None, typer.Option(help="One programme (default: all).")] = None,
    since: Annotated[
        str | None, typer.Option(help="First local day, YYYY-MM-DD (default: all).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="JSON instead of a table.")] = False,
) -> None:
    """Contacts, invitations, replies, response rate and the shares of "1" satisfied and
    "3" dissatisfied with Wilson 95% intervals, per unit (and period); by agent also the
    satisfaction rate shrunk toward the agent's team, its rank with a rank interval, and
    who is in the bottom 5% by the raw and by the shrunken rate. Days are local days of
    the settings' time zone. Exits 2 on a wrong choice or an unknown programme."""
    from sqlmodel import Session

    from survey.errors import SurveyError
    from survey.programmes.report import contact_counts

    try:
        first = date.fromisoformat(since) if since else None
    except ValueError:
        raise fail(f"--since {since!r}: give a day as YYYY-MM-DD", 2) from None
    settings, engine = settings_and_engine()
    try:
        with Session(engine) as session:
            counts = contact_counts(session, by=by, period=period, programme=programme,
                                    since=first, timezone=settings.timezone)  # fmt: skip
    except SurveyError as error:
        raise fail(str(error), 2) from None
    rows = [
        {key: _plain(value) for key, value in row.items()}
        for row in measure(counts, by).to_dict("records")
    ]
    if as_json:
        document = {"by": by, "period": period, "programme": programme, "since": since,
                    "timezone": settings.timezone, "units": rows}  # fmt: skip
        typer.echo(json.dumps(document, ensure_ascii=False, indent=1))
        return
    if not rows:
        typer.echo("no contacts to report")
        return
    for row in rows:
        typer.echo(_line(row, by))
