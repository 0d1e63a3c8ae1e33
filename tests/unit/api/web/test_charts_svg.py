"""Server-drawn charts: round ticks, every row of a ranking, trend bands inside the drawing."""

from __future__ import annotations

import re

import pytest

from api.web.charts_svg import rank_plot, share_bar, trend_plot
from api.web.matrix_svg import round_ticks


@pytest.mark.parametrize(
    ("low", "high", "ticks"),
    [(0, 0.0855, [0.0, 0.025, 0.05, 0.075]), (36.4, 60.4, [40, 50, 60]), (1, 42, [20, 40])],
)
def test_ticks_fall_on_round_numbers(low, high, ticks):
    assert round_ticks(low, high, 5) == ticks


def test_a_rank_plot_names_the_readers_units_and_leaves_the_others_unnamed():
    rows = [{"unit": None, "rank": 1, "rank_low": 1, "rank_high": 2},
            {"unit": "Wenzhou", "rank": 2, "rank_low": 1, "rank_high": 3},
            {"unit": None, "rank": 3, "rank_low": 2, "rank_high": 3}]  # fmt: skip
    svg = str(rank_plot(rows, ident="region", caption="Regions"))
    assert svg.count('<g class="row') == 3 and svg.count('class="row own"') == 1
    assert re.findall(r'<text class="name"[^>]*>([^<]+)</text>', svg) == ["Wenzhou"]
    assert "Wenzhou: 排名 rank 2 / 3, 区间 interval 1–3" in svg


def test_a_trend_needs_two_periods_and_its_period_labels_stay_apart():
    one = [{"period": "2026-01", "mean": 60.0, "ci_low": 59.0, "ci_high": 61.0, "n": 10}]
    assert trend_plot(one, ident="x", caption="c", scale=(0, 100)) is None
    rows = [{"period": f"2026-{m:02d}", "mean": 55.0 + m, "ci_low": 54.0 + m,
             "ci_high": 56.0 + m, "n": 100} for m in range(1, 9)]  # fmt: skip
    svg = str(trend_plot(rows, ident="M-sat", caption="c", scale=(0, 100)))
    labels = re.findall(r'<text class="tick" x="([\d.]+)" y="[\d.]+" text-anchor="(\w+)">2026', svg)
    positions = [float(x) for x, _ in labels]
    assert labels[0][1] == "start" and labels[-1][1] == "end"
    assert min(b - a for a, b in zip(positions, positions[1:], strict=False)) > 100


def test_a_share_bar_stacks_the_shares_to_the_full_width():
    svg = str(share_bar([("low", 0.25, "s1"), ("high", 0.75, "s5")], caption="x"))
    widths = [float(w) for w in re.findall(r'width="([\d.]+)"', svg)]
    assert widths == [50.0, 150.0]
