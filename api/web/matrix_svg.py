"""One priority matrix (``scoring.plots.matrix_spec``) drawn as inline SVG on the server.

No JavaScript and no external asset: the page stays light on a cheap phone and prints as
it shows. Each point is a focusable group whose ``<title>`` is the hover (and what a screen
reader announces): the item, importance and performance with their intervals, the rank
interval, the tier and P(concentrate here). Whiskers on both axes are those intervals.
The drawing scales with the ``viewBox`` to any width, down to a 360-pixel screen.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from html import escape
from typing import Any

from markupsafe import Markup

from scoring.priority_rules import QUADRANTS

WIDTH, HEIGHT = 480, 380
LEFT, RIGHT, TOP, BOTTOM = 50, 12, 12, 44
TICKS = 5
#: The quadrant managers act on is drawn in the error colour; the others in the accent.
URGENT = "concentrate-here"


def number(value: float | None, digits: int | None = None) -> str:
    """A figure as the pages show it: "–" when missing; importances keep 3 decimals."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if digits is None:
        digits = 3 if abs(value) < 1 else 1
    text = f"{value:.{digits}f}"
    return text[1:] if text.startswith("-") and not text.strip("-0.") else text  # no "-0.0"


def interval(bounds: list | tuple | None, digits: int | None = None) -> str:
    low, high = (bounds or (None, None))[:2] if bounds else (None, None)
    if low is None and high is None:
        return "–"
    return f"[{number(low, digits)}, {number(high, digits)}]"


def rank_interval(bounds: list | tuple | None) -> str:
    low, high = (bounds or (None, None))[:2] if bounds else (None, None)
    if low is None or high is None:
        return "–"
    return f"{low}" if low == high else f"{low}–{high}"


#: Each quadrant's words by its code (scoring's, whatever words a stored result holds).
QUADRANT_WORDS = {q.code: (q.zh, q.en) for q in QUADRANTS}


def quadrant_names(spec: Mapping[str, Any]) -> dict[str, tuple[str, str]]:
    return {q["code"]: QUADRANT_WORDS.get(q["code"], (q["zh"], q["en"]))
            for q in spec.get("quadrants", [])}  # fmt: skip


def point_title(point: Mapping[str, Any], spec: Mapping[str, Any], label: Mapping[str, str]) -> str:
    """The hover text of one point (plain text: the caller escapes it)."""
    zh, en = label.get("zh", ""), label.get("en", "")
    quadrant = quadrant_names(spec).get(point.get("quadrant"), ("", ""))
    p = point.get("p_concentrate")
    return "\n".join([
        f"{zh} {en} ({point['name']})".strip(),
        f"重要性 importance {number(point.get('x'))} {interval(point.get('x_interval'))}",
        f"表现 performance {number(point.get('y'), 1)} {interval(point.get('y_interval'), 1)}",
        f"排名 rank {point.get('rank', '–')}, "
        f"区间 interval {rank_interval(point.get('rank_interval'))}",
        f"档次 tier {point.get('tier', '–')} · P(重点改进 concentrate) "
        f"{'–' if p is None else f'{p:.2f}'}",
        f"{quadrant[0]} {quadrant[1]}",
    ])  # fmt: skip


def round_ticks(low: float, high: float, most: int = 6) -> list[float]:
    """At most ``most`` ticks between ``low`` and ``high`` on a 1-2-5 step (0.02, 0.04,
    0.06; 40, 45, 50), never the domain cut in equal parts (0.21, 0.31, 0.41)."""
    if not (math.isfinite(low) and math.isfinite(high)) or high <= low:
        return [low]
    raw = (high - low) / max(most - 1, 1)
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= raw)
    first = math.ceil(low / step - 1e-9) * step
    count = int(math.floor((high - first) / step + 1e-9)) + 1
    return [round(first + i * step, 10) for i in range(count)]


class _Scale:
    def __init__(self, domain: list[float], low: float, high: float) -> None:
        start, end = float(domain[0]), float(domain[1])
        self.start, self.end = start, end if end > start else start + 1.0
        self.low, self.high = low, high

    def __call__(self, value: float) -> float:
        share = (value - self.start) / (self.end - self.start)
        return round(self.low + share * (self.high - self.low), 2)

    def ticks(self) -> list[float]:
        return round_ticks(self.start, self.end, TICKS)

    def clamp(self, value: float) -> float:
        return min(max(value, self.start), self.end)


def matrix_svg(
    spec: Mapping[str, Any],
    labels: Mapping[str, Mapping[str, str]],
    *,
    ident: str = "matrix",
    caption: str = "",
) -> Markup:
    """``spec`` as an ``<svg>`` element; ``labels`` maps point names to ``{"zh", "en"}``.

    ``ident`` keeps ids (the clip path) unique when a page shows several matrices.
    """
    axes = spec["axes"]
    x = _Scale(axes["x"]["domain"], LEFT, WIDTH - RIGHT)
    y = _Scale(axes["y"]["domain"], HEIGHT - BOTTOM, TOP)
    cx, cy = spec["crosshair"]["x"], spec["crosshair"]["y"]
    clip = f"{escape(ident)}-plot"
    out: list[str] = [
        f'<svg class="matrix" viewBox="0 0 {WIDTH} {HEIGHT}" role="group" '
        f'aria-labelledby="{clip}-caption" xmlns="http://www.w3.org/2000/svg">',
        f'<title id="{clip}-caption">{escape(caption or "优先级矩阵 Priority matrix")}</title>',
        f'<defs><clipPath id="{clip}"><rect x="{LEFT}" y="{TOP}" width="{WIDTH - LEFT - RIGHT}" '
        f'height="{HEIGHT - TOP - BOTTOM}"/></clipPath></defs>',
    ]
    out += _quadrants(spec, x, y, cx, cy)
    out += _axes(axes, x, y)
    out.append(f'<g clip-path="url(#{clip})">')
    out.append(f'<line class="cross" x1="{x(cx)}" x2="{x(cx)}" y1="{TOP}" y2="{HEIGHT - BOTTOM}"/>')
    out.append(f'<line class="cross" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y(cy)}" y2="{y(cy)}"/>')
    diagonal = spec.get("diagonal", {}).get("points") or []
    if diagonal:
        path = " ".join(f"{x(p['x'])},{y(p['y'])}" for p in diagonal)
        out.append(f'<polyline class="iso" points="{path}"><title>等优先级线 iso-priority: '
                   f'{escape(spec["diagonal"].get("formula", ""))}</title></polyline>')  # fmt: skip
    out.append("</g>")
    drawn = [p for p in spec.get("points", []) if p.get("x") is not None and p.get("y") is not None]
    names = {p["name"]: _name(p, spec, labels.get(p["name"], {})) for p in drawn}
    places = place_labels(
        [(p["name"], x(x.clamp(p["x"])), y(y.clamp(p["y"])), names[p["name"]]) for p in drawn],
        _quadrant_boxes(spec),
    )
    for point in sorted(drawn, key=lambda p: -(p.get("rank") or 0)):
        name = point["name"]
        out += _point(point, spec, labels.get(name, {}), x, y, names[name], places[name])
    out.append("</svg>")
    # Every text that comes from data went through html.escape above.
    return Markup("\n".join(out))  # noqa: S704


def _quadrants(spec, x: _Scale, y: _Scale, cx: float, cy: float) -> list[str]:
    out = []
    for q in spec.get("quadrants", []):
        high_x, high_y = q["x"][0] is not None, q["y"][0] is not None
        if q["code"] == URGENT:
            x0, x1 = x(x.clamp(cx)), WIDTH - RIGHT
            y0, y1 = y(y.clamp(cy)), HEIGHT - BOTTOM
            out.append(f'<rect class="urgent" x="{x0}" y="{y0}" width="{max(x1 - x0, 0)}" '
                       f'height="{max(y1 - y0, 0)}"/>')  # fmt: skip
        zh, en = QUADRANT_WORDS.get(q["code"], (q["zh"], q["en"]))
        tx, ty, anchor = _quadrant_place(high_x, high_y)
        out.append(
            f'<text class="quadrant" x="{tx}" y="{ty}" text-anchor="{anchor}">'
            f'{escape(zh)}<tspan x="{tx}" dy="13" lang="en">{escape(en)}</tspan></text>'
        )
    return out


def _quadrant_place(high_x: bool, high_y: bool) -> tuple[float, float, str]:
    """Where a quadrant's name goes: its outer corner of the plot."""
    tx = WIDTH - RIGHT - 4 if high_x else LEFT + 4
    return tx, (TOP + 14 if high_y else HEIGHT - BOTTOM - 20), "end" if high_x else "start"


def _quadrant_boxes(spec) -> list[tuple[float, float, float, float]]:
    """The room the quadrants' names take (two lines each), which point labels keep out of."""
    boxes = []
    for q in spec.get("quadrants", []):
        zh, en = QUADRANT_WORDS.get(q["code"], (q["zh"], q["en"]))
        tx, ty, anchor = _quadrant_place(q["x"][0] is not None, q["y"][0] is not None)
        width = max(_width(zh, 12), _width(en, 12))
        left = tx - width if anchor == "end" else tx
        boxes.append((left, ty - 12, left + width, ty + 16))
    return boxes


def _axes(axes, x: _Scale, y: _Scale) -> list[str]:
    base, left = HEIGHT - BOTTOM, LEFT
    out = [f'<line class="axis" x1="{left}" x2="{WIDTH - RIGHT}" y1="{base}" y2="{base}"/>',
           f'<line class="axis" x1="{left}" x2="{left}" y1="{TOP}" y2="{base}"/>']  # fmt: skip
    for value in x.ticks():
        out.append(f'<text class="tick" x="{x(value)}" y="{base + 14}" text-anchor="middle">'
                   f"{value:g}</text>")  # fmt: skip
    for value in y.ticks():
        out.append(f'<text class="tick" x="{left - 4}" y="{y(value) + 4}" text-anchor="end">'
                   f"{value:g}</text>")  # fmt: skip
    ax, ay = axes["x"], axes["y"]
    out.append(f'<text class="axis-label" x="{(left + WIDTH - RIGHT) / 2}" y="{HEIGHT - 6}" '
               f'text-anchor="middle">{escape(ax["zh"])} {escape(ax["en"])} '
               f'({escape(str(ax.get("unit", "")))}) →</text>')  # fmt: skip
    out.append(f'<text class="axis-label" transform="translate(12 {(TOP + base) / 2}) rotate(-90)" '
               f'text-anchor="middle">{escape(ay["zh"])} {escape(ay["en"])} '
               f'({escape(str(ay.get("unit", "")))}) →</text>')  # fmt: skip
    return out


#: An item's label on the drawing is cut to this many characters (the table and the
#: hover give it whole).
SHORT = 8


def _name(point, spec, label) -> str:
    """A construct or item by its Chinese label (cut short), else by its name."""
    text = label.get("zh") or point["name"]
    return text if len(text) <= SHORT else text[: SHORT - 1] + "…"


#: Rough extent of a label's text in the drawing's units (13 px font; CJK is wider).
_CHAR_W, _CJK_W, _LINE_H = 7.0, 13.0, 14.0
#: A point's circle, with a little air: no label comes closer.
_DOT = 11.0

Box = tuple[float, float, float, float]  # left, top, right, bottom


def _width(text: str, size: float = 13.0) -> float:
    scale = size / 13.0
    return sum(_CJK_W if ord(ch) > 0x2E7F else _CHAR_W for ch in text) * scale


def place_labels(
    points: list[tuple[str, float, float, str]],
    obstacles: list[Box] = (),  # type: ignore[assignment]
) -> dict[str, tuple[float, float, str] | None]:
    """Where each point's label goes, ``name -> (x, y, text-anchor)``, or None when no place
    is free: a label never covers another label, any point, or an ``obstacle`` (the
    quadrants' names), and stays inside the drawing. A point without a label is still
    drawn with its rank inside and named in the table beside.

    Each label tries, in order: above right of its point, above left, below right, below
    left, then further up or down in steps of a line; the first free place wins (points are
    taken from the top of the drawing down).
    """
    placed: list[Box] = list(obstacles)
    placed += [(sx - _DOT, sy - _DOT, sx + _DOT, sy + _DOT) for _, sx, sy, _ in points]
    out: dict[str, tuple[float, float, str] | None] = {}
    for name, sx, sy, text in sorted(points, key=lambda p: (p[2], p[1])):
        width = _width(text)
        prefer_left = sx > WIDTH * 0.7
        sides = [("end", -12), ("start", 12)] if prefer_left else [("start", 12), ("end", -12)]
        candidates = [(anchor, dx, dy) for dy in (-6, 18) for anchor, dx in sides]
        candidates += [(anchor, dx, dy) for k in range(1, 6) for anchor, dx in sides
                       for dy in (-6 - k * _LINE_H, 18 + k * _LINE_H)]  # fmt: skip
        out[name] = None
        for anchor, dx, dy in candidates:
            tx, ty = sx + dx, sy + dy
            left = tx - width if anchor == "end" else tx
            box = (left, ty - _LINE_H + 3, left + width, ty + 3)
            inside = box[0] >= 0 and box[2] <= WIDTH and box[1] >= 0 and box[3] <= HEIGHT - BOTTOM
            if inside and not any(_overlap(box, other) for other in placed):
                placed.append(box)
                out[name] = (tx, ty, anchor)
                break
    return out


def _overlap(a: tuple[float, float, float, float], b: tuple[float, float, float, float]) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def _point(point, spec, label, x: _Scale, y: _Scale, name: str, place) -> list[str]:
    """One point: a link to its row of the table (``#point-NAME``), so that its details
    are a tap or a Tab and Enter away, not only a mouse's hover."""
    px, py = point.get("x"), point.get("y")
    sx, sy = x(x.clamp(px)), y(y.clamp(py))
    kind = "pt urgent" if point.get("quadrant") == URGENT else "pt"
    title = escape(point_title(point, spec, label))
    ident = escape(point["name"])
    out = [f'<a href="#point-{ident}" class="{kind}" data-name="{ident}">',
           f"<title>{title}</title>"]  # fmt: skip
    (xl, xh), (yl, yh) = (
        point.get("x_interval") or (None, None),
        point.get("y_interval") or (None, None),
    )
    if xl is not None and xh is not None:
        out.append(
            f'<line class="ci" x1="{x(x.clamp(xl))}" x2="{x(x.clamp(xh))}" y1="{sy}" y2="{sy}"/>'
        )
    if yl is not None and yh is not None:
        out.append(
            f'<line class="ci" x1="{sx}" x2="{sx}" y1="{y(y.clamp(yl))}" y2="{y(y.clamp(yh))}"/>'
        )
    out.append(f'<circle cx="{sx}" cy="{sy}" r="9"/>')
    out.append(
        f'<text class="rank" x="{sx}" y="{sy + 4}" text-anchor="middle">'
        f"{escape(str(point.get('rank', '')))}</text>"
    )
    if place is not None:
        tx, ty, anchor = place
        out.append(f'<text class="name" x="{tx:.1f}" y="{ty:.1f}" '
                   f'text-anchor="{anchor}">{escape(name)}</text>')  # fmt: skip
    out.append("</a>")
    return out


#: The drawing's styles, for the page's <style>: colours are the staff pages' palette.
CSS = """
svg.matrix{width:100%;max-width:40rem;height:auto;display:block;background:#fff;
  font:12px system-ui,"PingFang SC","Noto Sans CJK SC",sans-serif}
svg.matrix .axis{stroke:#767676}
svg.matrix .tick{fill:#4d4d4d;font-size:12px}
svg.matrix .axis-label{fill:#1a1a1a;font-size:13px;font-weight:600}
svg.matrix .cross{stroke:#4d4d4d;stroke-dasharray:4 3}
svg.matrix .iso{fill:none;stroke:#0b57d0;stroke-width:1.5;stroke-dasharray:1 4;stroke-linecap:round}
svg.matrix rect.urgent{fill:#fbeaea}
svg.matrix .quadrant{fill:#4d4d4d;font-size:12px}
svg.matrix .pt .ci{stroke:#0b57d0;stroke-width:2}
svg.matrix .pt circle{fill:#0b57d0;stroke:#fff;stroke-width:1.5}
svg.matrix .pt.urgent .ci{stroke:#b3261e}
svg.matrix .pt.urgent circle{fill:#b3261e}
svg.matrix .pt .rank{fill:#fff;font-size:11px;font-weight:700;pointer-events:none}
svg.matrix .pt .name{fill:#1a1a1a;font-size:14px}
svg.matrix .pt:hover circle,svg.matrix .pt:focus circle{stroke:#1a1a1a;stroke-width:3}
svg.matrix .pt:focus{outline:none}
svg.matrix .pt:focus .name,svg.matrix .pt:hover .name{font-weight:700}
tr:target{background:#fff4c2;outline:2px solid #0b57d0}
"""
