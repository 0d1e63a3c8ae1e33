"""``GET /dashboard/agents?by=agent|team|queue|channel&period=&programme=``: units measured.

Per agent, team, queue or channel (and per day, week or month with ``period``): contacts,
invitations, replies and the response rate, the shares of "1" satisfied and "3"
dissatisfied with Wilson 95% intervals; agents also get their satisfaction rate shrunk
toward their team's (empirical Bayes), a rank among the agents with its rank interval, and
the bottom-5% flags said in words, raw beside shrunken, with the reply count beside them:
an agent with 4 replies is not "the worst agent". Below, the programme's satisfaction by
day and by ISO week with its interval.

Counted live from the tables (:func:`survey.programmes.report.contact_counts`, one GROUP
BY) within the reader's scope: a limited manager counts their regions' and halls' contacts
only. The statistics are :mod:`scoring.agents`'; the same as ``manyi contacts report``
(api.cli.contact_report, which a router may not import: the two apply them alike).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import numpy as np
import pandas as pd
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse
from markupsafe import Markup
from sqlalchemy import select

from api.permissions import Permission, allowed
from api.web import charts_svg, matrix_svg
from api.web.auth import page, require_permission
from api.web.deps import SessionDep, SettingsDep
from scoring.agents import bottom_flags, rank_shrunken, shrunken_rates
from scoring.proportions import wilson_interval
from survey.db.tables import Programme, Staff
from survey.programmes.report import contact_counts
from survey.staff.accounts import sees_everywhere

router = APIRouter(prefix="/dashboard", tags=["dashboard"], include_in_schema=False)

Reader = Annotated[Staff, Depends(require_permission(Permission.VIEW_ANALYSES))]
BOTTOM_SHARE = 0.05
UNIT_WORDS = {
    "agent": ("坐席", "agent"),
    "team": ("班组", "team"),
    "queue": ("队列", "queue"),
    "channel": ("渠道", "channel"),
}
PERIOD_WORDS = {"": ("全部", "whole span"), "day": ("按日", "by day"),
                "week": ("按周", "by week"), "month": ("按月", "by month")}  # fmt: skip


def _with_rates(counts: pd.DataFrame) -> pd.DataFrame:
    """Response rate and the shares of "1" and "3" with Wilson intervals, from counts."""
    out = counts.copy()
    invited, replies = out["invitations"].to_numpy(), out["replies"].to_numpy()
    out["response_rate"] = np.where(invited > 0, replies / np.maximum(invited, 1), np.nan)
    for name, column in (("satisfaction", "satisfied"), ("dissatisfaction", "dissatisfied")):
        k = out[column].to_numpy()
        intervals = [wilson_interval(int(a), int(n)) for a, n in zip(k, replies, strict=True)]
        out[f"{name}_rate"] = np.where(replies > 0, k / np.maximum(replies, 1), np.nan)
        out[f"{name}_ci_low"] = [np.nan if i is None else i[0] for i in intervals]
        out[f"{name}_ci_high"] = [np.nan if i is None else i[1] for i in intervals]
    return out


def _ranked(agents: pd.DataFrame) -> pd.DataFrame:
    """One period's agents, their satisfaction rate shrunk toward their team's, ranked."""
    table = agents.set_index("unit")
    if table["replies"].sum() == 0:
        return agents.assign(shrunken_rate=np.nan, shrunken_ci_low=np.nan,
                             shrunken_ci_high=np.nan, rank=None, rank_low=None,
                             rank_high=None, ranked=0, p_bottom=np.nan, bottom_raw=False,
                             bottom_shrunken=False)  # fmt: skip
    shrunk = shrunken_rates(table, successes="satisfied", trials="replies", group="team")
    ranks = rank_shrunken(shrunk, bottom_share=BOTTOM_SHARE)
    flags = bottom_flags(shrunk, BOTTOM_SHARE)
    extra = pd.DataFrame(
        {
            "shrunken_rate": shrunk["posterior_mean"],
            "shrunken_ci_low": shrunk["ci_low"],
            "shrunken_ci_high": shrunk["ci_high"],
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


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows for the template: NaN and pandas' NA as None."""
    rows = frame.astype("object").where(frame.notna(), None).to_dict("records")
    return [{k: (None if v is pd.NA else v) for k, v in row.items()} for row in rows]


def _trend(counts: pd.DataFrame, ident: str, words: tuple[str, str]) -> dict[str, Any]:
    """The programme's satisfaction (0-100) by period, with its Wilson interval."""
    whole = _with_rates(
        counts.groupby("period", sort=True)[
            ["contacts", "invitations", "replies", "satisfied", "fair", "dissatisfied", "free_text"]
        ].sum()
    )
    whole = whole.astype("object").where(whole.notna(), None)
    points = [
        {"period": period, "n": int(row["replies"]),
         "mean": None if row["replies"] == 0 else 100 * row["satisfaction_rate"],
         "ci_low": None if row["replies"] == 0 else 100 * row["satisfaction_ci_low"],
         "ci_high": None if row["replies"] == 0 else 100 * row["satisfaction_ci_high"],
         "rate": row["satisfaction_rate"], "low": row["satisfaction_ci_low"],
         "high": row["satisfaction_ci_high"], "contacts": int(row["contacts"]),
         "response_rate": row["response_rate"]}
        for period, row in whole.iterrows()
    ]  # fmt: skip
    plot = charts_svg.trend_plot(
        points, ident=ident, scale=(0, 100),
        caption=f"满意率{words[0]} Satisfaction {words[1]}, 95% CI",
    )  # fmt: skip
    return {"ident": ident, "zh": words[0], "en": words[1], "points": points, "plot": plot}


class Formats:
    """Shares as percentages, intervals as [low–high]."""

    @staticmethod
    def pct(value: float | None) -> str:
        return "–" if value is None else f"{value:.0%}"

    @staticmethod
    def ci(low: float | None, high: float | None) -> str:
        return "–" if low is None or high is None else f"{low:.0%}–{high:.0%}"

    ranks = staticmethod(matrix_svg.rank_interval)


@router.get("/agents", response_class=HTMLResponse)
def agents(
    request: Request,
    staff: Reader,
    session: SessionDep,
    settings: SettingsDep,
    by: Literal["agent", "team", "queue", "channel"] = "agent",
    period: Literal["", "day", "week", "month"] = "",
    programme: Annotated[str, Query(max_length=100)] = "",
):
    """Units measured with intervals, agents ranked on shrunken rates; the trend."""
    chosen = programme or None
    counts = contact_counts(session, by=by, period=period or None, programme=chosen,
                            timezone=settings.timezone, reader=staff)  # fmt: skip
    measured = _with_rates(counts)
    if by == "agent" and not measured.empty:
        measured = (
            _ranked(measured)
            if not period
            else pd.concat([_ranked(part) for _, part in measured.groupby("period")])
        )
        if not period:
            measured = measured.sort_values(["rank", "unit"], na_position="last")
    daily = contact_counts(session, by="channel", period="day", programme=chosen,
                           timezone=settings.timezone, reader=staff)  # fmt: skip
    weekly = contact_counts(session, by="channel", period="week", programme=chosen,
                            timezone=settings.timezone, reader=staff)  # fmt: skip
    rows = _records(measured)
    plot = None
    if by == "agent" and not period and rows:
        plot = charts_svg.rank_plot(
            [r for r in rows if r["rank"] is not None], ident="agents",
            caption="坐席排名与排名区间（收缩后满意率） Agents' ranks and rank intervals "
                    "(shrunken satisfaction rate)",
        )  # fmt: skip
    names = session.execute(select(Programme.name).order_by(Programme.name)).scalars().all()
    return page(
        request, "dashboard/agents.html", staff=staff, f=Formats, rows=rows, by=by,
        period=period, programme=programme, programmes=names, units=UNIT_WORDS,
        periods=PERIOD_WORDS, plot=plot, total=int(counts["contacts"].sum()),
        replies=int(counts["replies"].sum()), share=int(BOTTOM_SHARE * 100),
        trends=[_trend(daily, "day", ("按日", "by day")),
                _trend(weekly, "week", ("按周", "by ISO week"))],
        matrix_css=Markup(matrix_svg.CSS + charts_svg.CSS),  # noqa: S704 (constants of ours)
        analyses_nav=True, operate_nav=allowed(staff.role, Permission.OPERATE),
        follow_ups=allowed(staff.role, Permission.VIEW_FOLLOW_UPS),
        limited=not sees_everywhere(staff), scope=", ".join(staff.regions + staff.service_halls),
    )  # fmt: skip
