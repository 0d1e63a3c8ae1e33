"""`manyi fit --group` and `manyi invariance`: groups compared from the command line."""

from __future__ import annotations

import json

import pytest
from semopy.examples import holzinger39
from typer.testing import CliRunner

from api.cli.main import app
from tests.common import SAMPLES

runner = CliRunner()
MODEL = "visual =~ x1 + x2 + x3\ntextual =~ x4 + x5 + x6\nspeed =~ x7 + x8 + x9\n"


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("hs39")
    model, data = folder / "hs.lav", folder / "hs39.csv"
    model.write_text(MODEL)
    holzinger39.get_data()[["school", *(f"x{i}" for i in range(1, 10))]].to_csv(data, index=False)
    return model, data


def test_fit_by_group_prints_the_whole_models_fit_and_each_groups_estimates(files):
    model, data = files
    args = ["fit", model, data, "--engine", "sem", "--group", "school", "--equal", "loadings"]
    result = runner.invoke(app, [*map(str, args), "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["fit"]["chisq"] == pytest.approx(124.0435442, rel=1e-6)  # lavaan 0.6-14
    assert report["fit"]["df"] == 54 and report["group_equal"] == ["loadings"]
    assert [g["group"] for g in report["groups"]] == ["Pasteur", "Grant-White"]
    loading = [
        [r for r in g["estimates"] if r["lhs"] == "visual" and r["rhs"] == "x2"][0]["estimate"]
        for g in report["groups"]
    ]
    assert loading[0] == loading[1]  # held equal
    text = runner.invoke(app, list(map(str, args)))
    assert "Group Grant-White:" in text.stdout and "equal across groups: loadings" in text.stdout


def test_invariance_prints_the_sequence_and_the_highest_level(files):
    model, data = files
    result = runner.invoke(app, ["invariance", str(model), str(data), "--group", "school",
                                 "--json"])  # fmt: skip
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert [s["level"] for s in report["steps"]] == ["configural", "metric", "scalar", "strict"]
    assert report["steps"][2]["delta_chisq"] == pytest.approx(40.05928675, rel=1e-5)
    assert report["highest_level"] == "metric" and report["latent_means"] is None
    text = runner.invoke(app, ["invariance", str(model), str(data), "--group", "school"])
    assert "Highest level: metric" in text.stdout


def test_the_sample_questionnaire_is_invariant_across_regions():
    model, data = SAMPLES / "csi_questionnaire.yaml", SAMPLES / "responses.csv"
    args = ["invariance", str(model), str(data), "--group", "region", "--json"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert len(report["groups"]) == 7 and report["highest_level"] == "strict"
    assert {row["factor"] for row in report["latent_means"]} >= {"satisfaction", "loyalty"}


SEM = ["fit", "{model}", "{data}", "--engine", "sem"]


@pytest.mark.parametrize(
    ("args", "words"),
    [
        ([*SEM, "--equal", "loadings"], "--equal needs --group"),
        (["fit", "{model}", "{data}", "--group", "school"], "--engine sem"),
        ([*SEM, "--group", "school", "--estimator", "GLS"], "by ML"),
        ([*SEM, "--group", "school", "--equal", "slopes"], "constraint 'slopes'"),
        (["invariance", "{model}", "{data}", "--group", "schol"], "has no such column"),
    ],
)  # fmt: skip
def test_bad_group_options_exit_2_saying_what_to_do(files, args, words):
    model, data = files
    result = runner.invoke(app, [a.format(model=model, data=data) for a in args])
    assert result.exit_code == 2
    assert words in result.stderr
