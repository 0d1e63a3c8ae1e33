"""Pictures of a priority matrix: SVG/PNG with Chinese labels, and the dashboard's spec."""

from __future__ import annotations

import io
import json
import warnings
import xml.etree.ElementTree as ET

import numpy as np
import pytest

from models.diagnostics import ModelWarning
from scoring.plots import cjk_font, matrix_spec, plot_matrix, save_matrix
from scoring.priorities import matrix_from_axes
from scoring.priority_axes import Axes


@pytest.fixture(scope="module")
def matrix():
    rng = np.random.default_rng(0)
    imp = np.array([0.35, 0.24, 0.06])
    perf = np.array([49.0, 61.0, 62.0])
    axes = Axes(
        method="ipma", level="construct", target="satisfaction",
        names=("network", "billing", "new_services"),
        constructs=("network", "billing", "new_services"),
        importance=imp, performance=perf,
        importance_draws=imp + rng.normal(0, 0.01, (200, 3)),
        performance_draws=perf + rng.normal(0, 0.5, (200, 3)),
        target_performance=58.9, target_performance_draws=58.9 + rng.normal(0, 0.3, 200),
        warnings=(ModelWarning("low-ave", "AVE of billing is 0.41, below 0.50."),),
        provenance={"n_obs": 5000, "n_boot": 200, "seed": 0},
    )  # fmt: skip
    return matrix_from_axes(axes)


def test_the_project_installs_a_cjk_font() -> None:
    # mplfonts is a dependency: Chinese labels never fall back to boxes.
    assert cjk_font() is not None


def test_svg_has_quadrants_warnings_and_chinese_drawn_as_outlines(matrix, tmp_path) -> None:
    path = save_matrix(matrix, tmp_path / "m.svg")
    text = path.read_text(encoding="utf-8")
    root = ET.fromstring(text)
    ids = {el.get("id") for el in root.iter() if el.get("id")}
    assert {"quadrant-concentrate-here", "quadrant-possible-overkill", "warnings"} <= ids
    # Glyphs are paths, so the picture shows Chinese on a phone without the font.
    assert "<text" not in text
    assert "<!-- 重点改进区 -->" in text  # matplotlib names each outlined string


def test_png_is_written_and_other_formats_are_refused(matrix, tmp_path) -> None:
    path = save_matrix(matrix, tmp_path / "m.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(ValueError, match=".png or .svg"):
        save_matrix(matrix, tmp_path / "m.pdf")


def test_figure_draws_one_error_bar_per_driver(matrix) -> None:
    fig = plot_matrix(matrix)
    ax = fig.axes[0]
    labels = [t.get_text() for t in ax.texts]
    assert any("重点改进区" in t and "Concentrate here" in t for t in labels)
    assert sum("network (#1" in a.get_text() for a in ax.texts) == 1
    assert len(ax.containers) == 3  # errorbar containers


def test_figure_keeps_its_chinese_font_when_saved_after_plotting(matrix) -> None:
    fig = plot_matrix(matrix)  # drawn later, outside plot_matrix's rc context, as Jupyter does
    with warnings.catch_warnings():
        warnings.filterwarnings("error", message="Glyph .* missing from font")
        fig.savefig(io.BytesIO(), format="png")


def test_spec_carries_points_intervals_quadrants_diagonal_and_warnings(matrix) -> None:
    spec = json.loads(json.dumps(matrix_spec(matrix), allow_nan=False))
    assert spec["kind"] == "importance-performance-matrix"
    assert [p["name"] for p in spec["points"]] == ["network", "billing", "new_services"]
    first = spec["points"][0]
    assert first["x_interval"][0] < first["x"] < first["x_interval"][1]
    assert first["quadrant"] == "concentrate-here" and first["tier"] == 1
    assert {q["code"] for q in spec["quadrants"]} >= {"concentrate-here"}
    assert spec["axes"]["y"]["zh"] == "表现"
    c = spec["crosshair"]
    for p in spec["diagonal"]["points"]:
        assert p["x"] * (100 - p["y"]) == pytest.approx(c["x"] * (100 - c["y"]), rel=1e-9)
    assert spec["warnings"][0]["code"] == "low-ave"
