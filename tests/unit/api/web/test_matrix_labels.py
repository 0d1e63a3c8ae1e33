"""The matrix's point labels are placed so that they do not cover one another."""

from __future__ import annotations

import itertools

from api.web.matrix_svg import _LINE_H, WIDTH, _overlap, _width, place_labels


def boxes(points, places):
    out = []
    for name, _, _, text in points:
        tx, ty, anchor = places[name]
        left = tx - _width(text) if anchor == "end" else tx
        out.append((left, ty - _LINE_H + 3, left + _width(text), ty + 3))
    return out


def test_a_lone_label_sits_above_right_of_its_point_or_left_near_the_right_edge():
    assert place_labels([("a", 100.0, 200.0, "net_coverage")]) == {"a": (112.0, 194.0, "start")}
    x, _, anchor = place_labels([("b", WIDTH - 20.0, 200.0, "net_coverage")])["b"]
    assert (x, anchor) == (WIDTH - 32.0, "end")


def test_labels_of_points_almost_on_top_of_each_other_do_not_overlap():
    # As in the sample's network items of one region: clarity and dropped calls 3 px apart.
    points = [("net_clarity", 240.0, 118.0, "net_clarity"),
              ("net_dropped", 243.0, 121.0, "net_dropped"),
              ("net_coverage", 250.0, 160.0, "net_coverage"),
              ("net_moving", 245.0, 170.0, "net_moving"),
              ("net_data_speed", 238.0, 182.0, "net_data_speed"),
              ("网络质量", 241.0, 120.0, "网络质量")]  # fmt: skip
    placed = boxes(points, place_labels(points))
    for a, b in itertools.combinations(placed, 2):
        assert not _overlap(a, b), (a, b)
