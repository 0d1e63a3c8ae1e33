"""Pictures of a priority matrix: SVG/PNG with matplotlib, and a JSON spec for the dashboard.

Matplotlib is used through its object API (``Figure`` and the Agg canvas), never pyplot:
no display is needed, no global figure state is kept, and a server can draw from several
threads. Chinese text needs a CJK font; :func:`cjk_font` takes an installed one, else
"Noto Sans CJK SC" from the ``mplfonts`` wheel that installing Manyi brings. Without any,
the picture is drawn with English labels only and a warning is logged, rather than with
boxes in place of every Chinese character.
"""

from __future__ import annotations

import importlib.util
import logging
import textwrap
from functools import lru_cache
from pathlib import Path
from typing import Any

import matplotlib
import numpy as np
from matplotlib import font_manager
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.text import Text

from scoring import _report
from scoring.priorities import PriorityMatrix
from scoring.priority_rules import QUADRANTS

__all__ = ["CJK_FONTS", "cjk_font", "matrix_spec", "plot_matrix", "save_matrix"]

logger = logging.getLogger(__name__)

#: CJK-capable families, best first: Debian's fonts-noto-cjk, then common alternatives.
CJK_FONTS: tuple[str, ...] = (
    "Noto Sans CJK SC",
    "Source Han Sans SC",
    "Noto Sans SC",
    "WenQuanYi Zen Hei",
    "WenQuanYi Micro Hei",
    "Droid Sans Fallback",
)
#: The CJK font file of the ``mplfonts`` wheel (family "Noto Sans CJK SC"), so that every
#: installation of Manyi draws Chinese without a system font package.
BUNDLED_FONT_FILE = "NotoSansCJKsc-Regular.otf"
_FORMATS = (".png", ".svg")
_MAX_WARNING_LINES = 8
_TIER_COLOURS = ("#c0392b", "#e67e22", "#2e86c1", "#7f8c8d")


@lru_cache(maxsize=1)
def cjk_font() -> str | None:
    """The first installed family of :data:`CJK_FONTS`, or None (a warning is logged).

    Matplotlib's font cache is built once; fonts installed after it (e.g. by the CI
    set-up, after the virtual environment) are missing from it, so the system font
    directories are scanned for CJK files and those are added before giving up.
    """
    found = _known_cjk()
    if found is None and (bundled := _bundled_cjk()) is not None:
        font_manager.fontManager.addfont(str(bundled))
        found = _known_cjk()
    if found is None:
        for path in font_manager.findSystemFonts():
            if "cjk" in Path(path).name.lower() or "wqy" in Path(path).name.lower():
                try:
                    font_manager.fontManager.addfont(path)
                except (OSError, RuntimeError) as error:
                    logger.debug("cannot load font %s: %s", path, error)
        found = _known_cjk()
    if found is None:
        logger.warning(
            "no CJK-capable font found (looked for %s): priority matrices are drawn with "
            "English labels only; install Debian's fonts-noto-cjk",
            ", ".join(CJK_FONTS),
        )
    return found


def _bundled_cjk() -> Path | None:
    """Noto Sans CJK SC as shipped by the ``mplfonts`` wheel, a project dependency.

    Located without importing ``mplfonts`` (its import would set matplotlib options).
    """
    spec = importlib.util.find_spec("mplfonts")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / "fonts" / BUNDLED_FONT_FILE
    return path if path.is_file() else None


def _known_cjk() -> str | None:
    names = {f.name for f in font_manager.fontManager.ttflist}
    return next((name for name in CJK_FONTS if name in names), None)


def _rc(font: str | None) -> dict[str, Any]:
    families = [font, "DejaVu Sans"] if font else ["DejaVu Sans"]
    # svg.fonttype "path": glyphs are embedded as outlines, so the SVG shows Chinese on a
    # machine without the font (a dashboard user's phone).
    return {
        "font.family": "sans-serif",
        "font.sans-serif": families,
        "svg.fonttype": "path",
        "axes.unicode_minus": False,
    }


def _quadrant_label(code: str, chinese: bool) -> str:
    q = next(q for q in QUADRANTS if q.code == code)
    return f"{q.zh}\n{q.en}" if chinese else q.en


def plot_matrix(matrix: PriorityMatrix, *, title: str | None = None) -> Figure:
    """Draw the matrix: error bars on both axes, crosshairs, iso-priority line, quadrants.

    Parameters
    ----------
    matrix : PriorityMatrix
    title : str, optional
        Default: target, method, level, n, effective n and design effect.

    Returns
    -------
    matplotlib.figure.Figure
        With an Agg canvas attached (``fig.savefig`` writes PNG or SVG).

    Notes
    -----
    Importance is on the horizontal axis and performance on the vertical one, as in
    Ringle & Sarstedt (2016): *concentrate here* is the lower right quadrant. Each driver
    is labelled with its rank and tier; tiers are also coloured. The matrix's warnings are
    printed under the plot (the first few, with a count of the rest).
    """
    font = cjk_font()
    rc = _rc(font)
    with matplotlib.rc_context(rc):
        fig = _draw(matrix, font is not None, title)
    # The figure is rendered later (``fig.savefig``, Jupyter's display), after the rc
    # context is gone: pin the families on every text, or Chinese labels become boxes.
    for text in fig.findobj(Text):
        text.set_fontfamily(rc["font.sans-serif"])
    return fig


def _draw(matrix: PriorityMatrix, chinese: bool, title: str | None) -> Figure:
    warnings = list(matrix.warnings)
    lines = _warning_lines(warnings, chinese)
    fig = Figure(figsize=(9.0, 7.0 + 0.15 * len(lines)), dpi=110)
    FigureCanvasAgg(fig)
    bottom = (0.75 + 0.15 * len(lines)) / fig.get_figheight()
    ax = fig.add_axes((0.09, bottom + 0.06, 0.86, 0.86 - bottom - 0.06))
    table = matrix.drivers
    x, y = table["importance"].to_numpy(float), table["performance"].to_numpy(float)
    x_low, x_high = _bounds(table, "importance", x)
    y_low, y_high = _bounds(table, "performance", y)
    cross_x, cross_y = matrix.crosshair["importance"], matrix.crosshair["performance"]
    xmin = min(0.0, float(x_low.min()))
    xmax = max(float(x_high.max()), cross_x) * 1.12 or 1.0
    ymin = max(0.0, min(float(y_low.min()), cross_y) - 6.0)
    ymax = min(100.0, max(float(y_high.max()), cross_y) + 6.0)
    ax.set_xlim(xmin, xmax)
    ax.set_ylim(ymin, ymax)
    ax.axvline(cross_x, color="#555555", linestyle="--", linewidth=1)
    ax.axhline(cross_y, color="#555555", linestyle="--", linewidth=1)
    curve = [(i, p) for i, p in matrix.iso_priority if xmin <= i <= xmax]
    if curve:
        ax.plot(*zip(*curve, strict=True), color="#999999", linestyle=":", linewidth=1.2,
                label=_bilingual("iso-priority", "等优先级线", chinese))  # fmt: skip
    corners = {
        "concentrate-here": (0.98, 0.02, "right", "bottom"),
        "keep-up-the-good-work": (0.98, 0.98, "right", "top"),
        "low-priority": (0.02, 0.02, "left", "bottom"),
        "possible-overkill": (0.02, 0.98, "left", "top"),
    }
    for code, (cx, cy, ha, va) in corners.items():
        text = ax.text(cx, cy, _quadrant_label(code, chinese), transform=ax.transAxes,
                       ha=ha, va=va, fontsize=11, color="#34495e", alpha=0.8)  # fmt: skip
        text.set_gid(f"quadrant-{code}")
    tiers = table["tier"]
    for row, xi, yi, xl, xh, yl, yh in zip(
        table.itertuples(index=False), x, y, x_low, x_high, y_low, y_high, strict=True
    ):
        tier = None if row.tier is None or _isna(row.tier) else int(row.tier)
        colour = _TIER_COLOURS[min((tier or 4) - 1, len(_TIER_COLOURS) - 1)]
        ax.errorbar([xi], [yi], xerr=[[xi - xl], [xh - xi]], yerr=[[yi - yl], [yh - yi]],
                    fmt="o", color=colour, ecolor=colour, elinewidth=1, capsize=3,
                    markersize=6)  # fmt: skip
        tier_text = "" if tier is None else f", T{tier}"
        ax.annotate(f"{row.name} (#{int(row.rank)}{tier_text})", (xi, yi),
                    xytext=(5, 5), textcoords="offset points", fontsize=9)  # fmt: skip
    n_tiers = int(tiers.max()) if tiers.notna().any() else 0
    unit = _importance_unit(matrix.method)
    ax.set_xlabel(f"{_bilingual('importance', '重要性', chinese)} ({unit})")
    ax.set_ylabel(f"{_bilingual('performance', '表现', chinese)} (0-100)")
    ax.set_title(title or _title(matrix, n_tiers), fontsize=11)
    if curve:
        ax.legend(loc="upper center", fontsize=8, frameon=False)
    if lines:
        fig.text(0.02, 0.02, "\n".join(lines), fontsize=8, va="bottom", ha="left",
                 color="#8e44ad", gid="warnings")  # fmt: skip
    return fig


def _isna(value: Any) -> bool:
    try:
        return bool(value != value)  # NaN and pd.NA
    except TypeError:
        return True


def _bounds(table, axis, point):
    # Without a bootstrap the intervals are NaN: draw no bar rather than fail.
    low = table[f"{axis}_ci_low"].to_numpy(float)
    high = table[f"{axis}_ci_high"].to_numpy(float)
    return np.where(np.isnan(low), point, low), np.where(np.isnan(high), point, high)


def _importance_unit(method: str) -> str:
    return {
        "ipma": "total effect on 0-100",
        "relative-weights": "relative weight, R² share",
        "shapley": "Shapley/LMG, R² share",
        "correlation": "correlation",
    }.get(method, method)


def _title(matrix: PriorityMatrix, n_tiers: int) -> str:
    return (
        f"{matrix.target}: priorities ({matrix.method}, {matrix.level})  "
        f"n = {matrix.n}, eff. n {matrix.effective_n:.0f}, deff {matrix.design_effect:.2f}, "
        f"{n_tiers} tier(s), {matrix.ci_level:.0%} intervals"
    )


def _bilingual(en: str, zh: str, chinese: bool) -> str:
    return f"{en} {zh}" if chinese else en


def _warning_lines(warnings, chinese: bool = True) -> list[str]:
    if not warnings:
        return []
    lines = [_bilingual("Warnings", "警告", chinese) + ":"]
    for w in warnings[:_MAX_WARNING_LINES]:
        lines += textwrap.wrap(f"[{w.code}] {w.message}", 150)[:2]
    if len(warnings) > _MAX_WARNING_LINES:
        lines.append(f"... and {len(warnings) - _MAX_WARNING_LINES} more (see the JSON)")
    return lines


def save_matrix(matrix: PriorityMatrix, path: str | Path, *, title: str | None = None) -> Path:
    """Write the matrix as PNG or SVG (by the file's suffix); returns the path."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in _FORMATS:
        raise ValueError(f"plot file must end in {' or '.join(_FORMATS)}, got {path.name!r}")
    font = cjk_font()
    with matplotlib.rc_context(_rc(font)):
        fig = _draw(matrix, font is not None, title)
        fig.savefig(path, format=suffix[1:])
    return path


def matrix_spec(matrix: PriorityMatrix) -> dict[str, Any]:
    """A JSON-serialisable description the dashboard draws interactively.

    Returns
    -------
    dict
        ``kind``, ``target``, ``method``, ``level``, ``axes`` (x = importance, y =
        performance, with labels in zh and en and a suggested domain), ``crosshair``,
        ``diagonal`` (the iso-priority line as points), ``quadrants`` (code, zh, en and
        the region each covers), ``points`` (name, construct, x, y, their intervals,
        quadrant, rank with interval, tier, p_concentrate) and ``warnings``.
    """
    d = matrix.to_dict()
    points = [
        {
            "name": r["name"],
            "construct": r["construct"],
            "x": r["importance"],
            "y": r["performance"],
            "x_interval": [r["importance_ci_low"], r["importance_ci_high"]],
            "y_interval": [r["performance_ci_low"], r["performance_ci_high"]],
            "quadrant": r["quadrant"],
            "rank": r["rank"],
            "rank_interval": [r["rank_ci_low"], r["rank_ci_high"]],
            "tier": r["tier"],
            "p_concentrate": r["p_concentrate"],
            "priority": r["priority"],
        }
        for r in d["drivers"]
    ]
    xs = [v for p in points for v in (p["x"], *p["x_interval"]) if v is not None]
    ys = [v for p in points for v in (p["y"], *p["y_interval"]) if v is not None]
    cx, cy = d["crosshair"]["importance"], d["crosshair"]["performance"]
    domain_x = [min(0.0, *xs), max(*xs, cx) * 1.12]
    domain_y = [max(0.0, min(*ys, cy) - 6.0), min(100.0, max(*ys, cy) + 6.0)]
    quadrants = []
    for q in QUADRANTS:
        quadrants.append(
            {
                "code": q.code,
                "zh": q.zh,
                "en": q.en,
                "x": [cx, None] if q.high_importance else [None, cx],
                "y": [cy, None] if q.high_performance else [None, cy],
            }
        )
    return _report.jsonable(
        {
            "kind": "importance-performance-matrix",
            "target": d["target"],
            "target_performance": d["target_performance"],
            "method": d["method"],
            "level": d["level"],
            "axes": {
                "x": {
                    "field": "importance",
                    "en": "importance",
                    "zh": "重要性",
                    "unit": _importance_unit(matrix.method),
                    "domain": domain_x,
                },
                "y": {
                    "field": "performance",
                    "en": "performance",
                    "zh": "表现",
                    "unit": "0-100",
                    "domain": domain_y,
                },
            },  # fmt: skip
            "crosshair": {"x": cx, "y": cy, "rule": d["crosshair_rule"]},
            "diagonal": {
                "kind": "iso-priority",
                "formula": "importance * (100 - performance) = constant",
                "points": [{"x": i, "y": p} for i, p in matrix.iso_priority],
            },
            "quadrants": quadrants,
            "points": points,
            "n": d["n"],
            "effective_n": d["effective_n"],
            "design_effect": d["design_effect"],
            "ci_level": d["ci_level"],
            "warnings": [
                {"code": w["code"], "message": w["message"], "severity": w["severity"]}
                for w in d["warnings"]
            ],  # fmt: skip
        }
    )
