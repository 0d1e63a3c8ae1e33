"""A team leader's agents measured among the whole programme (api.analysis.agents.measure_among)
and drawn on the programme's rank axis (api.web.charts_svg.rank_plot with ``out_of``)."""

from __future__ import annotations

import re

import pandas as pd

from api.analysis.agents import RANK_COLUMNS, measure, measure_among
from api.web.charts_svg import rank_plot
from survey.programmes.report import COUNT_COLUMNS


def counts(rows: list[tuple[str, str, int, int, int]]) -> pd.DataFrame:
    """``contact_counts``' frame from (agent, team, contacts, replies, satisfied)."""
    frame = pd.DataFrame(rows, columns=["unit", "team", "contacts", "replies", "satisfied"])
    frame["invitations"] = frame["contacts"]
    frame["dissatisfied"] = frame["replies"] - frame["satisfied"]
    frame["fair"] = frame["free_text"] = 0
    return frame[["unit", "team", *COUNT_COLUMNS]]


#: Two teams of three agents; a3 also took 10 contacts for team Y (their team is then the
#: largest name, Y, as ``contact_counts`` says).
EVERYONE = counts([("a1", "X", 40, 30, 27), ("a2", "X", 40, 30, 15),
                   ("a3", "Y", 50, 40, 20), ("b1", "Y", 40, 30, 29),
                   ("b2", "Y", 40, 30, 24), ("b3", "Y", 40, 4, 0)])  # fmt: skip
TEAM_X = counts([("a1", "X", 40, 30, 27), ("a2", "X", 40, 30, 15), ("a3", "X", 40, 32, 16)])


def test_a_teams_agents_keep_their_whole_programme_rank_and_their_teams_counts():
    shown = measure_among(TEAM_X, EVERYONE).set_index("unit")
    whole = measure(EVERYONE, "agent").set_index("unit")
    assert list(shown.index) == ["a1", "a2", "a3"]
    for column in RANK_COLUMNS:
        pd.testing.assert_series_equal(shown[column], whole.loc[shown.index, column],
                                       check_dtype=False, obj=column)  # fmt: skip
    assert (shown["ranked"] == 6).all()
    # The counts and raw rates are the team's contacts: a3's 10 contacts for Y are not here.
    assert shown.loc["a3", "contacts"] == 40
    assert shown.loc["a3", "satisfaction_rate"] == 16 / 32
    # Among themselves the ranks would be of 3, on a prior fitted on one team.
    alone = measure(TEAM_X, "agent").set_index("unit")
    assert (alone["ranked"] == 3).all()


def test_no_agent_to_show_gives_an_empty_table():
    assert measure_among(TEAM_X.iloc[:0], EVERYONE).empty


def test_a_rank_plot_out_of_the_programme_draws_the_rows_shown_on_the_whole_axis():
    rows = [{"unit": "a1", "rank": 1, "rank_low": 1, "rank_high": 2},
            {"unit": "a3", "rank": 280, "rank_low": 250, "rank_high": 300}]  # fmt: skip
    svg = str(rank_plot(rows, ident="agents", caption="Agents", out_of=300))
    assert svg.count('<g class="row') == 2 and "best) · 300</text>" in svg
    assert "a3: 排名 rank 280 / 300" in svg
    circles = [float(x) for x in re.findall(r'<circle cx="([\d.]+)"', svg)]
    ticks = [float(x) for x in re.findall(r'<line class="grid" x1="([\d.]+)"', svg)]
    assert circles[0] == min(ticks) and circles[1] < max(ticks)
    assert str(rank_plot(rows, ident="agents", caption="Agents")).count("· 2</text>") == 1
