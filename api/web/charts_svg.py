"""Rankings and trends drawn as inline SVG on the server, beside the tables that hold the
same numbers (the tables stay: they are what a screen reader reads and what a page prints
exactly).

- :func:`rank_plot`: each unit's rank and rank interval among all units, a row per unit. A
  limited reader's own units are named and highlighted; the others are grey and unnamed
  (:func:`api.analysis.scope.anonymous`).
- :func:`trend_plot`: an index by period with its confidence band.

No JavaScript and no external asset; each mark carries a ``<title>`` (the hover, and what a
screen reader announces), and the drawing scales with its ``viewBox`` down to a 360-pixel
screen. Ticks are round numbers (:func:`api.web.matrix_svg.round_ticks`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from html import escape
from typing import Any

from markupsafe import Markup

from api.web.matrix_svg import interval, number, rank_interval, round_ticks

WIDTH = 480
#: Room for the units' names at the left of a rank plot.
NAMES = 110
ROW = 16
TOP, BOTTOM, RIGHT = 8, 34, 14


def _tick_text(value: float) -> str:
    return f"{value:g}"


def rank_plot(
    rows: Sequence[Mapping[str, Any]], *, ident: str, caption: str, out_of: int | None = None
) -> Markup:
    """Every unit's rank (dot) and rank interval (line), best first, on an axis 1..N.

    N is the number of rows, or ``out_of`` when the rows are some of N ranked units (a team
    leader's agents among the programme's): one row each, on the whole axis.
    """
    rows = sorted(rows, key=lambda r: r.get("rank") or 10**6)
    total = max(out_of or 0, len(rows))
    height = TOP + ROW * len(rows) + BOTTOM
    left, right = NAMES, WIDTH - RIGHT

    def x(rank: float) -> float:
        return round(left + (rank - 1) / max(total - 1, 1) * (right - left), 2)

    limited = any(r.get("unit") is None for r in rows)
    parts = [
        f'<svg class="chart ranks" id="ranks-{escape(ident)}" viewBox="0 0 {WIDTH} {height}" '
        f'role="img" aria-labelledby="ranks-{escape(ident)}-caption">',
        f'<title id="ranks-{escape(ident)}-caption">{escape(caption)}</title>',
    ]
    bottom = TOP + ROW * len(rows)
    ticks = round_ticks(1, total, 6) if total > 1 else [1]
    for tick in [1, *ticks] if ticks[0] > 1 else ticks:  # rank 1, the best, is always marked
        parts.append(f'<line class="grid" x1="{x(tick)}" x2="{x(tick)}" y1="{TOP}" '
                     f'y2="{bottom}"/><text class="tick" x="{x(tick)}" y="{bottom + 13}" '
                     f'text-anchor="middle">{_tick_text(tick)}</text>')  # fmt: skip
    parts.append(f'<text class="axis" x="{(left + right) / 2}" y="{height - 4}" '
                 f'text-anchor="middle">排名 rank (1 = 最好 best) · {total}</text>')  # fmt: skip
    for i, row in enumerate(rows):
        y = TOP + ROW * i + ROW / 2
        unit, rank = row.get("unit"), row.get("rank")
        low, high = row.get("rank_low") or rank, row.get("rank_high") or rank
        if rank is None:
            continue
        own = unit is not None and limited
        kind = "own" if own else ("other" if unit is None else "unit")
        name = unit if unit is not None else "其他单位 another unit"
        hover = (f"{name}: 排名 rank {rank} / {total}, "
                 f"区间 interval {rank_interval([low, high])}")  # fmt: skip
        parts.append(f'<g class="row {kind}"><title>{escape(hover)}</title>')
        if unit is not None:
            parts.append(f'<text class="name" x="{left - 8}" y="{y + 4}" '
                         f'text-anchor="end">{escape(unit)}</text>')  # fmt: skip
        parts.append(f'<line class="ci" x1="{x(low)}" x2="{x(high)}" y1="{y}" y2="{y}"/>'
                     f'<circle cx="{x(rank)}" cy="{y}" r="{4 if unit is not None else 3}"/>'
                     "</g>")  # fmt: skip
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 (every text above is escaped)


def trend_plot(
    rows: Sequence[Mapping[str, Any]], *, ident: str, caption: str, scale: tuple[float, float]
) -> Markup | None:
    """An index by period (line and dots) inside its confidence band; None with fewer than
    two periods. ``scale`` is the index's range (0-100), zoomed to the data's round ticks."""
    points = [r for r in rows if r.get("mean") is not None]
    if len(points) < 2:
        return None
    height = 200
    left, right, top, bottom = 40, WIDTH - RIGHT, 10, height - 40
    lows = [r.get("ci_low", r["mean"]) for r in points]
    highs = [r.get("ci_high", r["mean"]) for r in points]
    ticks = round_ticks(max(scale[0], min(lows) - 2), min(scale[1], max(highs) + 2), 5)
    start = min(ticks[0], min(lows))
    end = max(ticks[-1], max(highs))
    if end <= start:
        end = start + 1

    def y(value: float) -> float:
        return round(bottom - (value - start) / (end - start) * (bottom - top), 2)

    def x(i: int) -> float:
        return round(left + i / (len(points) - 1) * (right - left), 2)

    ident = escape(ident)
    parts = [f'<svg class="chart trend" id="trend-plot-{ident}" viewBox="0 0 {WIDTH} {height}" '
             f'role="img" aria-labelledby="trend-plot-{ident}-caption">'
             f'<title id="trend-plot-{ident}-caption">{escape(caption)}</title>']  # fmt: skip
    for tick in ticks:
        parts.append(f'<line class="grid" x1="{left}" x2="{right}" y1="{y(tick)}" '
                     f'y2="{y(tick)}"/><text class="tick" x="{left - 6}" y="{y(tick) + 4}" '
                     f'text-anchor="end">{_tick_text(tick)}</text>')  # fmt: skip
    band = [f"{x(i)},{y(h)}" for i, h in enumerate(highs)]
    band += [f"{x(i)},{y(lo)}" for i, lo in reversed(list(enumerate(lows)))]
    parts.append(f'<polygon class="band" points="{" ".join(band)}"/>')
    line = " ".join(f"{x(i)},{y(r['mean'])}" for i, r in enumerate(points))
    parts.append(f'<polyline class="line" points="{line}"/>')
    every = max(1, math.ceil(len(points) / 6))  # at most about six period labels
    for i, row in enumerate(points):
        hover = (f"{row.get('period')}: {number(row['mean'], 1)} "
                 f"95% CI {interval([row.get('ci_low'), row.get('ci_high')], 1)} "
                 f"n = {row.get('n', '–')}")  # fmt: skip
        parts.append(f'<g class="pt"><title>{escape(hover)}</title>'
                     f'<circle cx="{x(i)}" cy="{y(row["mean"])}" r="3.5"/></g>')  # fmt: skip
        last = len(points) - 1
        if (i % every == 0 and last - i >= every) or i == last:
            period = escape(str(row.get("period")))
            # The first and last labels lean inwards, so that none is cut at an edge.
            anchor = "start" if i == 0 else "end" if i == len(points) - 1 else "middle"
            parts.append(f'<text class="tick" x="{x(i)}" y="{bottom + 16}" '
                         f'text-anchor="{anchor}">{period}</text>')  # fmt: skip
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 (every text above is escaped)


def share_bar(parts: Sequence[tuple[str, float, str]], *, caption: str) -> Markup:
    """One stacked bar of shares (label, share 0-1, css class), left to right, 100% wide."""
    width, height, x = 200.0, 14.0, 0.0
    out = [f'<svg class="bar" viewBox="0 0 {width:g} {height:g}" role="img" '
           f'aria-label="{escape(caption)}" preserveAspectRatio="none">']  # fmt: skip
    for name, share, kind in parts:
        w = round(share * width, 2)
        if w > 0:
            title = f"<title>{escape(name)} {share:.0%}</title>"
            out.append(f'<rect class="{escape(kind)}" x="{x:g}" y="0" width="{w:g}" '
                       f'height="{height:g}">{title}</rect>')  # fmt: skip
        x += w
    out.append("</svg>")
    return Markup("".join(out))  # noqa: S704 (every text above is escaped)


CSS = """
svg.chart{width:100%;max-width:40rem;height:auto;display:block;margin:.25rem 0 1rem;
  font:11px system-ui,"Noto Sans CJK SC",sans-serif}
svg.chart .grid{stroke:#d0d0d0;stroke-width:1}
svg.chart .tick,svg.chart .axis{fill:#4d4d4d}
svg.chart .name{fill:#1a1a1a}
svg.ranks .ci{stroke:#767676;stroke-width:2}
svg.ranks circle{fill:#4d4d4d}
svg.ranks .unit .ci{stroke:#0b57d0}
svg.ranks .unit circle{fill:#0b57d0}
svg.ranks .own .ci{stroke:#b3261e;stroke-width:3}
svg.ranks .own circle{fill:#b3261e}
svg.ranks .own .name{font-weight:700}
svg.ranks .other .ci{stroke:#bdbdbd}
svg.ranks .other circle{fill:#bdbdbd}
svg.trend .band{fill:#0b57d0;fill-opacity:.15;stroke:none}
svg.trend .line{fill:none;stroke:#0b57d0;stroke-width:2}
svg.trend circle{fill:#0b57d0}
svg.bar{width:100%;min-width:8rem;height:.9rem;display:block}
svg.bar .s1{fill:#b3261e}svg.bar .s2{fill:#e8a29c}svg.bar .s3{fill:#bdbdbd}
svg.bar .s4{fill:#8fb3ec}svg.bar .s5{fill:#0b57d0}svg.bar .na{fill:#ffffff;stroke:#767676}
"""
