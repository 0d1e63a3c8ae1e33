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
only, and ranks the agents of those; a team leader counts their teams' contacts only (their
agents, their teams, the queues and channels and the trend over those contacts), and sees
their agents ranked among every agent of the programme (:func:`api.analysis.agents.
measure_among`: an agent's rank does not depend on who is looking). No other team's agent
is named anywhere on a team leader's page. The statistics are :mod:`scoring.agents`',
applied by :mod:`api.analysis.agents` as for ``manyi contacts report``.

Needs ``view_contact_results`` (admins, researchers, managers, team leaders).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import pandas as pd
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse
from markupsafe import Markup
from sqlalchemy import select

from api.analysis.agents import BOTTOM_SHARE, measure, measure_among, with_rates
from api.permissions import Permission, allowed
from api.web import charts_svg, matrix_svg
from api.web.auth import page, require_permission
from api.web.deps import SessionDep, SettingsDep
from survey.db.tables import Programme, Staff
from survey.programmes.report import contact_counts
from survey.staff.accounts import Role, sees_everywhere

router = APIRouter(prefix="/dashboard", tags=["dashboard"], include_in_schema=False)

Reader = Annotated[Staff, Depends(require_permission(Permission.VIEW_CONTACT_RESULTS))]
UNIT_WORDS = {
    "agent": ("坐席", "agent"),
    "team": ("班组", "team"),
    "queue": ("队列", "queue"),
    "channel": ("渠道", "channel"),
}
PERIOD_WORDS = {"": ("全部", "whole span"), "day": ("按日", "by day"),
                "week": ("按周", "by week"), "month": ("按月", "by month")}  # fmt: skip


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows for the template: NaN and pandas' NA as None."""
    rows = frame.astype("object").where(frame.notna(), None).to_dict("records")
    return [{k: (None if v is pd.NA else v) for k, v in row.items()} for row in rows]


def _trend(counts: pd.DataFrame, ident: str, words: tuple[str, str]) -> dict[str, Any]:
    """The programme's satisfaction (0-100) by period, with its Wilson interval."""
    whole = with_rates(
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
    leader = staff.role == Role.TEAM_LEADER
    if by == "agent" and leader:
        everyone = contact_counts(session, by=by, period=period or None, programme=chosen,
                                  timezone=settings.timezone)  # fmt: skip
        measured = measure_among(counts, everyone)
    else:
        measured = measure(counts, by)
    if by == "agent" and not measured.empty and not period:
        measured = measured.sort_values(["rank", "unit"], na_position="last")
    daily = contact_counts(session, by="channel", period="day", programme=chosen,
                           timezone=settings.timezone, reader=staff)  # fmt: skip
    weekly = contact_counts(session, by="channel", period="week", programme=chosen,
                            timezone=settings.timezone, reader=staff)  # fmt: skip
    rows = _records(measured)
    plot = None
    if by == "agent" and not period and rows:
        ranked = [r for r in rows if r["rank"] is not None]
        plot = charts_svg.rank_plot(
            ranked, ident="agents",
            caption="坐席排名与排名区间（收缩后满意率） Agents' ranks and rank intervals "
                    "(shrunken satisfaction rate)",
            # A team leader's agents on the axis of the whole programme's ranks.
            out_of=ranked[0]["ranked"] if ranked and leader else None,
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
        analyses_nav=allowed(staff.role, Permission.VIEW_ANALYSES), agents_nav=True,
        operate_nav=allowed(staff.role, Permission.OPERATE),
        follow_ups=allowed(staff.role, Permission.VIEW_FOLLOW_UPS),
        limited=not sees_everywhere(staff),
        scope=", ".join(staff.regions + staff.service_halls + staff.teams),
        whole_programme=leader,
    )  # fmt: skip
