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


QUESTIONNAIRE, RESPONSES = SAMPLES / "csi_questionnaire.yaml", SAMPLES / "responses.csv"


def test_micom_of_two_regions_and_of_each_region_against_the_rest():
    args = ["micom", str(QUESTIONNAIRE), str(RESPONSES), "--group", "region", "--seed", "1",
            "--permutations", "200"]  # fmt: skip
    two = runner.invoke(app, [*args, "--groups", "Hangzhou,Ningbo", "--json"])
    assert two.exit_code == 0, two.output
    report = json.loads(two.stdout)
    assert report["groups"] == ["Hangzhou", "Ningbo"]
    assert set(report["verdicts"].values()) <= {"full", "partial", "none"}
    rest = runner.invoke(app, args)
    assert rest.exit_code == 0, rest.output
    assert "Jiaxing" in rest.stdout


def test_mga_compares_the_paths_of_two_regions_and_asks_for_two():
    args = ["mga", str(QUESTIONNAIRE), str(RESPONSES), "--group", "region", "--seed", "1",
            "--permutations", "200"]  # fmt: skip
    result = runner.invoke(app, [*args, "--groups", "Hangzhou,Ningbo", "--json"])
    assert result.exit_code == 0, result.output
    paths = json.loads(result.stdout)["estimates"]
    assert any(p["lhs"] == "loyalty" and p["rhs"] == "satisfaction" for p in paths)
    assert all(0 <= p["p_value"] <= 1 for p in paths)
    many = runner.invoke(app, args)
    assert many.exit_code == 2 and "has 7 groups" in many.stderr and "--groups A,B" in many.stderr
    one = runner.invoke(app, [*args, "--groups", "Hangzhou"])
    assert one.exit_code == 2 and "name two groups" in one.stderr


def test_invariance_with_mlr_reports_the_scaled_difference_tests(files):
    model, data = files
    args = ["invariance", model, data, "--group", "school", "--estimator", "mlr", "--json"]
    result = runner.invoke(app, [*map(str, args)])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["estimator"] == "MLR" and report["highest_level"] == "metric"
    # lavaan 0.6-14's lavTestLRT (tests/reference/lavaan_invariance_mlr.R)
    assert report["steps"][1]["delta_chisq"] == pytest.approx(6.567201737, rel=1e-4)


def test_invariance_refuses_an_unknown_estimator(files):
    model, data = files
    args = ["invariance", model, data, "--group", "school", "--estimator", "WLSMV"]
    result = runner.invoke(app, [*map(str, args)])
    assert result.exit_code == 2
    assert "use ML or MLR" in result.output
