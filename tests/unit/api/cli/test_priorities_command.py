"""``manyi priorities``: JSON in the issue's shape, segments, pictures, clear errors."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from typer.testing import CliRunner

from api.cli.main import app
from tests.common import SAMPLES

runner = CliRunner()
QUESTIONNAIRE = str(SAMPLES / "csi_questionnaire.yaml")
RESPONSES = str(SAMPLES / "responses.csv")
DRIVER = {
    "name", "construct", "importance", "importance_ci_low", "importance_ci_high",
    "performance", "performance_ci_low", "performance_ci_high", "quadrant",
    "p_concentrate", "rank", "tier",
}  # fmt: skip


def invoke(*args: str):
    return runner.invoke(app, ["priorities", QUESTIONNAIRE, RESPONSES, *args])


def test_json_holds_the_matrix_with_its_uncertainty_and_warnings(tmp_path) -> None:
    plot = tmp_path / "matrix.svg"
    result = invoke("--target", "satisfaction", "--bootstrap", "200", "--seed", "4", "--json",
                    "--plot", str(plot))  # fmt: skip
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert (out["target"], out["method"], out["level"]) == ("satisfaction", "ipma", "construct")
    assert set(out["crosshair"]) == {"importance", "performance"}
    assert 0 < out["target_performance"] < 100
    assert all(DRIVER <= set(d) for d in out["drivers"])
    first = out["drivers"][0]
    assert (first["name"], first["rank"], first["tier"]) == ("network", 1, 1)
    assert first["importance_ci_low"] < first["importance"] < first["importance_ci_high"]
    assert {w["code"] for w in out["warnings"]} >= {"missing-data"}
    assert plot.read_text(encoding="utf-8").startswith("<?xml")


def test_item_level_with_scale_method_and_text_report() -> None:
    result = invoke(
        "--target",
        "satisfaction",
        "--level",
        "item",
        "--dimension",
        "network",
        "--method",
        "shapley",
        "--scale",
        "1,5",
        "--bootstrap",
        "50",
        "--seed",
        "1",
    )
    assert result.exit_code == 0, result.output
    assert "Priorities for satisfaction (shapley, item level)" in result.stdout
    assert "net_data_speed" in result.stdout and "billing" not in result.stdout


def test_by_gives_one_block_per_segment_with_too_few_flagged(tmp_path) -> None:
    plot = tmp_path / "m.png"
    result = invoke("--target", "satisfaction", "--by", "region", "--min-n", "400",
                    "--bootstrap", "20", "--seed", "1", "--json", "--plot", str(plot))  # fmt: skip
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    regions = pd.read_csv(RESPONSES, usecols=["region"])["region"]
    assert out["by"] == "region"
    assert [s["segment"] for s in out["segments"]] == sorted(regions.unique())
    status = {s["segment"]: s["status"] for s in out["segments"]}
    assert status["Taizhou"] == "too-few-responses" and status["Hangzhou"] == "ok"
    assert (tmp_path / "m_Hangzhou.png").exists()
    assert not (tmp_path / "m_Taizhou.png").exists()


def test_weights_column_is_used_and_reported(tmp_path) -> None:
    data = pd.read_csv(RESPONSES, dtype=str, keep_default_na=False)
    data["w"] = ["1", "3"] * (len(data) // 2)
    path = tmp_path / "weighted.csv"
    data.to_csv(path, index=False)
    result = runner.invoke(
        app,
        [
            "priorities",
            QUESTIONNAIRE,
            str(path),
            "--target",
            "satisfaction",
            "--weights",
            "w",
            "--bootstrap",
            "0",
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert out["design_effect"] == pytest.approx(1.25, rel=1e-12)  # Kish: 1 + cv^2 of {1, 3}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--target", "satisfation"], "not a construct of the model"),
        (["--target", "satisfaction", "--by", "reg"], "--by 'reg': the data has no such column"),
        (["--target", "satisfaction", "--scale", "5,1"], "maximum must exceed"),
        (["--target", "satisfaction", "--method", "magic"], "method must be one of"),
        (["--target", "satisfaction", "--plot", "m.pdf"], "must end in .svg or .png"),
        (["--target", "satisfaction", "--period", "month"], "give --by too"),
        (["--target", "satisfaction", "--weights", "region"], "weights must be non-negative"),
    ],
)
def test_bad_input_exits_2_with_a_fix(args, message) -> None:
    result = invoke(*args, "--bootstrap", "0")
    assert result.exit_code == 2
    assert message in result.stderr


def test_lavaan_model_without_scale_asks_for_it(tmp_path) -> None:
    model = tmp_path / "m.lav"
    model.write_text("a =~ net_moving + net_clarity\nb =~ sat_overall + sat_ideal\nb ~ a\n")
    result = runner.invoke(app, ["priorities", str(model), RESPONSES, "--target", "b",
                                 "--missing", "6", "--bootstrap", "0"])  # fmt: skip
    assert result.exit_code == 2
    assert "--scale MIN,MAX" in result.stderr
