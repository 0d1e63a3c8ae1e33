"""``manyi contacts report``: agents, teams, queues or channels measured, as a table or JSON.

Registered by :mod:`api.cli.main` in the ``contacts`` group.

The counts are :func:`survey.programmes.report.contact_counts` (one GROUP BY); the rates,
Wilson intervals, shrunken rates, rank intervals and bottom-5% flags are
:mod:`scoring.agents`', applied by :func:`api.analysis.agents.measure` as the dashboard's
agents page applies them.
"""

from __future__ import annotations

import json
import math
from datetime import date
from typing import Annotated, Any

import typer

from api.cli.support import fail, settings_and_engine

__all__ = ["contacts_report"]


def _plain(value: Any) -> Any:
    """A cell as JSON holds it: NaN and pandas' NA as None, NumPy scalars as Python's."""
    # Here, not at the top: `manyi --help` must not wait for NumPy and pandas.
    import numpy as np
    import pandas as pd

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

    from api.analysis.agents import measure
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
