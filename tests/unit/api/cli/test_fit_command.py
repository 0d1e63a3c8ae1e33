"""`manyi fit`: a model and data in, a checked fit out, as text or JSON."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from api.cli.main import app
from tests.common import SAMPLES

QUESTIONNAIRE = SAMPLES / "csi_questionnaire.yaml"
RESPONSES = SAMPLES / "responses.csv"
runner = CliRunner()


def fit_json(*args):
    result = runner.invoke(app, ["fit", *map(str, args), "--json"])
    return result, (json.loads(result.stdout) if result.stdout.strip().startswith("{") else None)


@pytest.fixture(scope="module")
def pls_report():
    result, report = fit_json(QUESTIONNAIRE, RESPONSES, "--bootstrap", "100", "--seed", "3")
    assert result.exit_code == 0, result.output
    return report


def test_pls_json_has_the_documented_shape(pls_report):
    assert pls_report["engine"] == "pls"
    assert pls_report["n_obs"] == 5000
    assert pls_report["converged"] is True and pls_report["proper"] is True
    assert {"paths", "loadings", "r2", "reliability", "htmt", "effects", "warnings"} <= set(
        pls_report
    )
    path = next(p for p in pls_report["paths"] if p["rhs"] == "network")
    assert path["lhs"] == "satisfaction"  # lhs is the outcome, as in lavaan
    assert set(path) == {"lhs", "rhs", "estimate", "std_estimate", "se", "ci_low", "ci_high",
                         "p_value"}  # fmt: skip
    assert path["ci_low"] < path["estimate"] < path["ci_high"]
    assert len(pls_report["loadings"]) == 29
    assert set(pls_report["r2"]) == {"satisfaction", "loyalty"}
    assert set(pls_report["reliability"]["network"]) == {"alpha", "rho_a", "rho_c", "ave"}
    assert len(pls_report["htmt"]) == 8 * 7 // 2
    effects = {(e["lhs"], e["rhs"]): e for e in pls_report["effects"]}
    total = effects[("loyalty", "network")]
    assert total["direct"] == 0 and total["total"] == pytest.approx(total["indirect"])
    assert all({"code", "message"} <= set(w) for w in pls_report["warnings"])


def test_lavaan_text_with_missing_codes_gives_the_questionnaire_result(tmp_path, pls_report):
    from survey.questionnaire import load_questionnaire

    questionnaire, _ = load_questionnaire(QUESTIONNAIRE)
    model = tmp_path / "model.lav"
    model.write_text(questionnaire.lavaan_syntax())
    result, report = fit_json(model, RESPONSES, "--missing", "6", "--bootstrap", "100",
                              "--seed", "3")  # fmt: skip
    assert result.exit_code == 0, result.output
    ours = {(p["lhs"], p["rhs"]): p["estimate"] for p in report["paths"]}
    theirs = {(p["lhs"], p["rhs"]): p["estimate"] for p in pls_report["paths"]}
    assert ours == pytest.approx(theirs, abs=1e-12)


def test_text_summary_is_readable(tmp_path):
    result = runner.invoke(app, ["fit", str(QUESTIONNAIRE), str(RESPONSES)])
    assert result.exit_code == 0, result.output
    assert "Structural paths" in result.stdout and "Measurement quality" in result.stdout


def test_sem_reproduces_lavaan_holzinger_swineford_fit(tmp_path):
    from semopy.examples import holzinger39

    data = tmp_path / "hs.csv"
    holzinger39.get_data().to_csv(data, index=False)
    model = tmp_path / "hs.lav"
    model.write_text("visual =~ x1 + x2 + x3\ntextual =~ x4 + x5 + x6\nspeed =~ x7 + x8 + x9\n")
    result, report = fit_json(model, data, "--engine", "sem")
    assert result.exit_code == 0, result.output
    fit = report["fit"]
    # lavaan's published values, 3 decimals
    assert fit["chisq"] == pytest.approx(85.306, abs=1e-3) and fit["df"] == 24
    assert fit["cfi"] == pytest.approx(0.931, abs=1e-3)
    assert fit["rmsea"] == pytest.approx(0.092, abs=1e-3)
    assert fit["srmr"] == pytest.approx(0.065, abs=1e-3)
    assert set(fit) == {"chisq", "df", "pvalue", "cfi", "tli", "rmsea", "rmsea_ci_low",
                        "rmsea_ci_high", "srmr", "aic", "bic", "loglik", "baseline_chisq",
                        "baseline_df"}  # fmt: skip


def heywood_data(n=400, seed=0):
    # Three indicators correlating .9/.9/.7 force a loading above 1 (a negative variance).
    rng = np.random.default_rng(seed)
    corr = np.array([[1, 0.9, 0.9], [0.9, 1, 0.7], [0.9, 0.7, 1]])
    return pd.DataFrame(rng.multivariate_normal(np.zeros(3), corr, n), columns=["a", "b", "c"])


def test_improper_solution_exits_nonzero_naming_the_problem(tmp_path):
    data = tmp_path / "heywood.csv"
    heywood_data().to_csv(data, index=False)
    model = tmp_path / "f.lav"
    model.write_text("f =~ a + b + c\n")
    result = runner.invoke(app, ["fit", str(model), str(data), "--engine", "sem"])
    assert result.exit_code == 1
    assert "heywood-case" in result.output and "--allow-improper" in result.output
    allowed = runner.invoke(app, ["fit", str(model), str(data), "--engine", "sem",
                                  "--allow-improper", "--json"])  # fmt: skip
    assert allowed.exit_code == 0
    assert json.loads(allowed.stdout)["proper"] is False


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["nope.lav", str(RESPONSES)], "no model file"),
        ([str(QUESTIONNAIRE), "nope.csv"], "no data file"),
        ([str(QUESTIONNAIRE), str(QUESTIONNAIRE)], "cannot read .yaml data"),
        ([str(QUESTIONNAIRE), str(RESPONSES), "--engine", "lisrel"], "use pls or sem"),
    ],
)
def test_bad_inputs_exit_2_with_a_clear_message(args, message):
    result = runner.invoke(app, ["fit", *args])
    assert result.exit_code == 2
    assert message in result.output


def test_text_codes_without_missing_option_are_explained(tmp_path):
    data = tmp_path / "d.csv"
    pd.DataFrame({"a": ["1", "2", "x"] * 20, "b": ["2", "3", "1"] * 20,
                  "c": ["3", "1", "2"] * 20}).to_csv(data, index=False)  # fmt: skip
    model = tmp_path / "m.lav"
    model.write_text("f =~ a + b + c\ng =~ b\ng ~ f\n")
    result = runner.invoke(app, ["fit", str(model), str(data)])
    assert result.exit_code == 2


def _heavy_modules_imported(options: list[str], heavy: tuple[str, ...]) -> list[str]:
    """Which of ``heavy`` a fresh interpreter has imported after ``manyi fit`` with
    ``options`` on the sample survey."""
    code = (
        "import sys, json; from typer.testing import CliRunner; from api.cli.main import app; "
        f"r = CliRunner().invoke(app, ['fit', {str(QUESTIONNAIRE)!r}, {str(RESPONSES)!r}, "
        f"*{options!r}]); "
        "assert r.exit_code == 0, r.output; "
        f"print(json.dumps(sorted(m for m in {heavy!r} if m in sys.modules)))"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=False)  # fmt: skip
    assert run.returncode == 0, run.stderr
    return json.loads(run.stdout)


def test_a_pls_fit_imports_neither_the_web_stack_nor_an_sem_engine():
    # semopy brings sympy and scikit-learn (1.6 s); scipy.special is needed only for BCa.
    heavy = ("fastapi", "starlette", "uvicorn", "sqlalchemy", "sqlmodel", "semopy", "sympy",
             "scipy.special", "scipy.stats")  # fmt: skip
    assert _heavy_modules_imported(["--bootstrap", "20"], heavy) == []


def test_an_ml_sem_fit_imports_neither_semopy_nor_scipy_stats():
    # semopy (with sympy and scikit-learn) and scipy.stats cost more to import than an ML
    # fit of 200,000 responses takes; ML is fitted by models.sem_groups.
    heavy = ("semopy", "sympy", "sklearn", "scipy.stats", "scipy.optimize")
    assert _heavy_modules_imported(["--engine", "sem", "--json"], heavy) == []


def test_consistent_pls_disattenuates_the_paths(pls_report):
    result, report = fit_json(QUESTIONNAIRE, RESPONSES, "--consistent")
    assert result.exit_code == 0, result.output
    plain = {(p["lhs"], p["rhs"]): p["estimate"] for p in pls_report["paths"]}
    plsc = {(p["lhs"], p["rhs"]): p["estimate"] for p in report["paths"]}
    # PLSc corrects the attenuation of plain PLS: the strong path moves towards the
    # sample data's true value (0.62, data/samples/csi_truth.yaml).
    key = ("loyalty", "satisfaction")
    assert plain[key] < plsc[key]
    assert plsc[key] == pytest.approx(0.62, abs=0.04)


@pytest.mark.parametrize(
    ("content", "words"),
    [
        (b"", "the file is empty; expected a CSV with a header row"),
        ("满意度".encode("gb18030") * 50, "not UTF-8 text; expected a CSV saved as UTF-8"),
        (b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4, "not UTF-8 text"),
    ],
    ids=["empty", "gb18030", "binary"],
)
def test_an_unreadable_data_file_is_one_message_naming_it(tmp_path, content, words):
    data = tmp_path / "responses.csv"
    data.write_bytes(content)
    result = runner.invoke(app, ["fit", str(QUESTIONNAIRE), str(data)])
    assert result.exit_code == 2
    message = " ".join(result.output.split())  # one message, however the terminal wraps it
    assert message.startswith(f"error: {data}: {words}")


def test_json_carries_every_constructs_weights_and_a_formative_constructs_vifs(tmp_path):
    # Issue 14, item 6: the weights are the result of a mode-B construct.
    rng = np.random.default_rng(5)
    n = 400
    x = rng.normal(size=(n, 3))
    x[:, 2] = x[:, 1] + 0.15 * rng.normal(size=n)  # f3 nearly repeats f2: collinear
    a = x @ [0.5, 0.3, 0.3] + 0.5 * rng.normal(size=n)
    frame = pd.DataFrame(x, columns=["f1", "f2", "f3"]).assign(
        **{f"y{i}": a + 0.6 * rng.normal(size=n) for i in (1, 2, 3)}
    )
    data, model = tmp_path / "d.csv", tmp_path / "m.lav"
    frame.to_csv(data, index=False)
    model.write_text("F <~ f1 + f2 + f3\nY =~ y1 + y2 + y3\nY ~ F\n")
    result, report = fit_json(model, data, "--bootstrap", "100", "--seed", "1")
    assert result.exit_code == 0, result.output
    weights = {(w["lhs"], w["rhs"]): w for w in report["weights"]}
    assert set(weights) == {("F", "f1"), ("F", "f2"), ("F", "f3"), ("Y", "y1"), ("Y", "y2"),
                            ("Y", "y3")}  # fmt: skip
    assert all(w["ci_low"] <= w["estimate"] <= w["ci_high"] for w in weights.values())
    vifs = {v["item"]: v["vif"] for v in report["vif"]}
    assert set(vifs) == {"f1", "f2", "f3"} and vifs["f1"] < 2 and vifs["f2"] > 5
    high = {w["subject"] for w in report["warnings"] if w["code"] == "high-vif"}
    assert high == {"f2", "f3"}


def test_sem_json_carries_loglik_the_baseline_and_the_variances(tmp_path):
    from semopy.examples import holzinger39

    data, model = tmp_path / "hs.csv", tmp_path / "hs.lav"
    holzinger39.get_data().to_csv(data, index=False)
    model.write_text("visual =~ x1 + x2 + x3\ntextual =~ x4 + x5 + x6\nspeed =~ x7 + x8 + x9\n")
    result, report = fit_json(model, data, "--engine", "sem")
    assert result.exit_code == 0, result.output
    fit = report["fit"]  # lavaan 0.6: logl -3737.745, baseline 918.852 on 36 df
    assert fit["loglik"] == pytest.approx(-3737.745, abs=1e-3)
    assert fit["baseline_chisq"] == pytest.approx(918.852, abs=1e-3) and fit["baseline_df"] == 36
    variances = {(v["lhs"], v["rhs"]) for v in report["variances"]}
    assert ("x1", "x1") in variances and ("visual", "textual") in variances


def test_mlr_from_the_command_line_reports_the_robust_measures(tmp_path):
    from semopy.examples import holzinger39

    data, model = tmp_path / "hs.csv", tmp_path / "hs.lav"
    holzinger39.get_data().to_csv(data, index=False)
    model.write_text("visual =~ x1 + x2 + x3\ntextual =~ x4 + x5 + x6\nspeed =~ x7 + x8 + x9\n")
    result, report = fit_json(model, data, "--engine", "sem", "--estimator", "MLR")
    assert result.exit_code == 0, result.output
    fit = report["fit"]  # lavaan 0.6-14, estimator = "MLR"
    assert fit["chisq_scaled"] == pytest.approx(87.132, abs=1e-3)
    assert fit["scaling_factor"] == pytest.approx(0.979, abs=1e-3)
    assert fit["cfi_robust"] == pytest.approx(0.930, abs=1e-3)
    loading = next(p for p in report["loadings"] if p["rhs"] == "x2")
    assert loading["se"] == pytest.approx(0.132, abs=1e-3)  # ML's is 0.100
    text = runner.invoke(app, ["fit", str(model), str(data), "--engine", "sem", "--estimator",
                               "MLR"]).stdout  # fmt: skip
    assert "robust (Yuan-Bentler): chi-square 87.132" in text


def test_ratings_fitted_as_continuous_ml_are_named_with_the_robust_option(tmp_path):
    _, report = fit_json(QUESTIONNAIRE, RESPONSES, "--engine", "sem", "--allow-improper")
    (warning,) = [w for w in report["warnings"] if w["code"] == "few-categories"]
    assert "net_moving" in warning["message"] and "--estimator MLR" in warning["message"]


def test_wlsmv_on_ordered_items_from_the_command_line(tmp_path):
    # HS39 cut into ordered categories, the data of tests/reference/lavaan_wlsmv.R.
    reference = Path(__file__).parents[3] / "reference"
    model = tmp_path / "hs.lav"
    model.write_text("visual =~ x1 + x2 + x3\ntextual =~ x4 + x5 + x6\nspeed =~ x7 + x8 + x9\n")
    data = reference / "hs39_ordered.csv"
    result, report = fit_json(model, data, "--engine", "sem", "--estimator", "WLSMV")
    assert result.exit_code == 0, result.output
    measures = json.loads((reference / "lavaan_wlsmv.json").read_text())["fit"]
    assert report["fit"]["chisq_scaled"] == pytest.approx(measures["chisq.scaled"], rel=1e-5)
    assert report["fit"]["cfi_scaled"] == pytest.approx(measures["cfi.scaled"], rel=1e-5)
    first = report["thresholds"][0]
    assert (first["lhs"], first["op"], first["rhs"]) == ("x1", "|", "t1")
    mixed = runner.invoke(app, ["fit", str(model), str(data), "--engine", "sem", "--estimator",
                                "WLSMV", "--ordered", "x1,x2"])  # fmt: skip
    assert mixed.exit_code == 2 and "--ordered all" in mixed.stderr
    alone = runner.invoke(app, ["fit", str(model), str(data), "--ordered", "x1"])
    assert alone.exit_code == 2 and "--estimator WLSMV" in alone.stderr
