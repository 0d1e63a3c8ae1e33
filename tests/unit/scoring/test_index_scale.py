"""An interval of a 0-100 index never leaves 0-100 (issue 14, item 7)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
from typer.testing import CliRunner

from api.cli.main import app
from scoring import _report
from tests.common import SAMPLES


def test_index_bounds_are_kept_on_the_scale_and_other_axes_are_not():
    draws = np.array([[-41.8, 50.0], [113.0, 60.0], [20.0, 55.0], [90.0, 58.0]])
    low, high = _report.interval(draws, 0.95, 2, _report.INDEX_SCALE)
    assert (low >= 0).all() and (high <= 100).all()
    assert low[1] > 50 and high[1] < 60  # inside the scale: unchanged
    raw_low, raw_high = _report.interval(draws, 0.95, 2)
    assert raw_low[0] < 0 and raw_high[0] > 100  # importance and the like keep their values


def test_a_small_sample_fitted_anyway_never_shows_a_performance_outside_0_100(tmp_path):
    data = tmp_path / "small.csv"
    table = pd.read_csv(SAMPLES / "responses.csv", dtype=str, keep_default_na=False,
                        na_values=[""])  # fmt: skip
    table.head(40).to_csv(data, index=False)
    result = CliRunner().invoke(app, [
        "priorities", str(SAMPLES / "csi_questionnaire.yaml"), str(data), "--target",
        "satisfaction", "--bootstrap", "200", "--seed", "3", "--allow-small-sample", "--json",
    ])  # fmt: skip
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    for row in report["drivers"]:
        assert 0 <= row["performance_ci_low"] <= row["performance_ci_high"] <= 100
