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


def test_no_label_covers_a_point_or_a_quadrant_name_and_a_crowd_leaves_labels_out():
    from api.web.matrix_svg import _DOT, HEIGHT, _quadrant_boxes

    quadrants = [
        {"code": "concentrate-here", "zh": "", "en": "", "x": [0.5, None], "y": [None, 50]},
        {"code": "possible-overkill", "zh": "", "en": "", "x": [None, 0.5], "y": [50, None]},
    ]
    obstacles = _quadrant_boxes({"quadrants": quadrants})
    # Twenty points in a tight cluster, and one alone: the cluster cannot label them all.
    points = [
        (f"item_{i}", 200.0 + (i % 5) * 6, 150.0 + (i // 5) * 6, f"题目{i}") for i in range(20)
    ]
    points.append(("alone", 420.0, 300.0, "很长的题目名称"))
    places = place_labels(points, obstacles)
    drawn = [(p, places[p[0]]) for p in points if places[p[0]] is not None]
    assert places["alone"] is not None
    assert 0 < len(drawn) < len(points)  # crowded labels are left out, never overlapped
    label_boxes = boxes([p for p, _ in drawn], {p[0]: place for p, place in drawn})
    dots = [(sx - _DOT, sy - _DOT, sx + _DOT, sy + _DOT) for _, sx, sy, _ in points]
    for box in label_boxes:
        assert 0 <= box[0] and box[2] <= WIDTH and 0 <= box[1] and box[3] <= HEIGHT
        assert not any(_overlap(box, other) for other in dots + obstacles), box
    for a, b in itertools.combinations(label_boxes, 2):
        assert not _overlap(a, b), (a, b)
