"""Data that cannot carry a result is refused with words that say what to do (issue 14, item 7).

Each case runs the command line as a user does: the exit code (1 for a sample below the
model's minimum, 2 for input that cannot be used) and one message naming the problem.
"""

from __future__ import annotations

import pandas as pd
import pytest
from typer.testing import CliRunner

from api.cli.main import app
from tests.common import SAMPLES

QUESTIONNAIRE = SAMPLES / "csi_questionnaire.yaml"
runner = CliRunner()


@pytest.fixture(scope="module")
def responses():
    return pd.read_csv(SAMPLES / "responses.csv", dtype=str, keep_default_na=False,
                       na_values=[""])  # fmt: skip


@pytest.fixture(scope="module")
def lavaan_text(tmp_path_factory):
    from survey.questionnaire import load_questionnaire

    path = tmp_path_factory.mktemp("model") / "csi.lav"
    path.write_text(load_questionnaire(QUESTIONNAIRE)[0].lavaan_syntax())
    return path


def run(*args):
    result = runner.invoke(app, [str(a) for a in args])
    return result.exit_code, result.stderr


@pytest.mark.parametrize("engine", ["pls", "sem"])
def test_five_rows_are_below_the_models_minimum_and_exit_1_with_the_numbers(
    tmp_path, responses, engine
):
    data = tmp_path / "five.csv"
    responses.head(5).to_csv(data, index=False)
    code, err = run("fit", QUESTIONNAIRE, data, "--engine", engine)
    assert code == 1
    if engine == "pls":
        assert "5 rows with an answer are too few" in err
        assert "PLS needs at least 60 (10 times the 6 arrows pointing at satisfaction)" in err
    else:
        assert "SEM needs at least 82 (more rows than the model's 81 free parameters)" in err
    assert "--allow-small-sample" in err


def test_priorities_on_five_rows_exit_1_too(tmp_path, responses):
    data = tmp_path / "five.csv"
    responses.head(5).to_csv(data, index=False)
    code, err = run("priorities", QUESTIONNAIRE, data, "--target", "satisfaction")
    assert code == 1 and "too few for this model" in err


def test_allow_small_sample_fits_anyway(tmp_path, responses):
    data = tmp_path / "forty.csv"
    responses.head(40).to_csv(data, index=False)
    assert run("fit", QUESTIONNAIRE, data)[0] == 1
    code, err = run("fit", QUESTIONNAIRE, data, "--allow-small-sample")
    assert code == 0, err


def test_an_undeclared_code_of_a_questionnaire_item_is_an_error_naming_it(tmp_path, responses):
    data = tmp_path / "m99.csv"
    changed = responses.head(300).copy()
    changed.loc[changed.index[:20], "net_moving"] = "-99"
    changed.to_csv(data, index=False)
    code, err = run("fit", QUESTIONNAIRE, data)
    assert code == 2
    assert "column net_moving holds '-99' in 20 row(s)" in err and "--missing -99" in err
    assert run("fit", QUESTIONNAIRE, data, "--missing", "-99")[0] == 0


def test_without_a_scale_a_far_out_repeated_value_is_a_warning(tmp_path, responses, lavaan_text):
    data = tmp_path / "m99.csv"
    changed = responses.head(300).copy()
    changed.loc[changed.index[:20], "net_moving"] = "-99"
    changed.to_csv(data, index=False)
    code, err = run("fit", lavaan_text, data, "--missing", "6")
    assert code == 0
    assert "warning: column net_moving holds -99 in 20 rows, far outside its other values " \
           "(1 to 5)" in err and "--missing -99" in err  # fmt: skip
    code, err = run("fit", lavaan_text, data, "--missing", "6", "--scale", "1,5")
    assert code == 2 and "holds -99 in 20 row(s), outside the scale 1 to 5 (--scale)" in err


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ("constant", "item net_clarity has the same answer (3) in all its 300 answers"),
        ("empty", "item net_clarity has no answers in any of the 300 rows"),
    ],
)
@pytest.mark.parametrize("engine", ["pls", "sem"])
def test_a_constant_or_empty_item_is_named_with_the_fix(tmp_path, responses, change, words, engine):
    data = tmp_path / f"{change}.csv"
    changed = responses.head(300).copy()
    changed["net_clarity"] = "3" if change == "constant" else ""
    changed.to_csv(data, index=False)
    code, err = run("fit", QUESTIONNAIRE, data, "--engine", engine)
    assert code == 2 and words in err and "drop it from the model" in err
    assert "RuntimeWarning" not in err
