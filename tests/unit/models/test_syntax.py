"""lavaan syntax parser: structure of the spec, round trip, and every error kind."""

from __future__ import annotations

import dataclasses
import pickle

import pytest

from models.syntax import ModelSyntaxError, PathSpec, Term, parse_model

ECSI = """
# ECSI model, mobile operator
Image =~ imag1 + imag2 + imag3
Expectation =~ cuex1 + cuex2 +
               cuex3                      # continuation after a trailing '+'
Value <~ perv1 + perv2; Satisfaction =~ cusa1 + cusa2
    + cusa3
Loyalty =~ 1*cusl1 + NA*cusl2 + a*cusl3

Expectation ~ Image
Value ~ Expectation
Satisfaction ~ Image + Expectation + Value
Loyalty ~ Satisfaction
cusa1 ~~ cusa2
"""


@pytest.fixture(scope="module")
def ecsi() -> PathSpec:
    return parse_model(ECSI)


def test_parse_model_ecsi_collects_constructs_in_declaration_order(ecsi: PathSpec) -> None:
    assert ecsi.constructs == ("Image", "Expectation", "Value", "Satisfaction", "Loyalty")


def test_parse_model_continuation_and_semicolon_give_complete_blocks(ecsi: PathSpec) -> None:
    assert ecsi.blocks["Expectation"] == ("cuex1", "cuex2", "cuex3")
    assert ecsi.blocks["Value"] == ("perv1", "perv2")
    assert ecsi.blocks["Satisfaction"] == ("cusa1", "cusa2", "cusa3")


def test_parse_model_operators_set_modes_a_and_b(ecsi: PathSpec) -> None:
    assert dict(ecsi.modes) == {
        "Image": "A",
        "Expectation": "A",
        "Value": "B",
        "Satisfaction": "A",
        "Loyalty": "A",
    }


def test_parse_model_regressions_become_outcome_predictor_pairs(ecsi: PathSpec) -> None:
    assert ecsi.paths == (
        ("Expectation", "Image"),
        ("Value", "Expectation"),
        ("Satisfaction", "Image"),
        ("Satisfaction", "Expectation"),
        ("Satisfaction", "Value"),
        ("Loyalty", "Satisfaction"),
    )
    assert ecsi.covariances == (("cusa1", "cusa2"),)


def test_parse_model_premultipliers_kept_as_fixed_free_and_label(ecsi: PathSpec) -> None:
    loyalty = ecsi.measurement[-1].indicators
    assert loyalty == (
        Term("cusl1", fixed=1.0),
        Term("cusl2", free=True),
        Term("cusl3", label="a"),
    )


def test_parse_model_endogenous_exogenous_and_observed(ecsi: PathSpec) -> None:
    assert ecsi.endogenous == ("Expectation", "Value", "Satisfaction", "Loyalty")
    assert ecsi.exogenous == ("Image",)
    assert len(ecsi.observed) == 14 and ecsi.observed[0] == "imag1"


def test_parse_model_topological_order_puts_predictors_first() -> None:
    spec = parse_model("C =~ c1\nB =~ b1\nA =~ a1\nC ~ B + A\nB ~ A")
    assert spec.topological_order == ("A", "B", "C")


def test_to_lavaan_round_trip_reproduces_the_spec(ecsi: PathSpec) -> None:
    assert parse_model(ecsi.to_lavaan()) == ecsi


def test_pathspec_is_immutable_and_picklable(ecsi: PathSpec) -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        ecsi.measurement = ()  # type: ignore[misc]
    with pytest.raises(TypeError):
        ecsi.blocks["Image"] = ("x",)  # type: ignore[index]
    assert pickle.loads(pickle.dumps(ecsi)) == ecsi


def test_parse_model_repeated_lhs_extends_the_block() -> None:
    spec = parse_model("f =~ x1 + x2\nf =~ x3\ng =~ y1\ng ~ f")
    assert spec.blocks["f"] == ("x1", "x2", "x3")


def test_parse_model_leading_plus_continues_previous_line() -> None:
    spec = parse_model("f =~ x1\n  + x2\ng =~ y1\ng ~ f")
    assert spec.blocks["f"] == ("x1", "x2")


def test_check_data_complete_columns_passes(ecsi: PathSpec) -> None:
    ecsi.check_data(ecsi.observed)


# --- errors: each says where (line), what, and how to fix -------------------------------


@pytest.mark.parametrize(
    ("text", "line", "fragment"),
    [
        pytest.param("f =~ x1 + x@2", 1, "unexpected character '@'", id="bad-character"),
        pytest.param("f =~ x1\ng x1", 2, "no operator", id="missing-operator"),
        pytest.param("f =~ x1 =~ x2", 1, "more than one operator", id="two-operators"),
        pytest.param("f =~ x1\nd := a*b", 2, "defined parameters", id="unsupported-op"),
        pytest.param("f =~ 2*3*x1", 1, "cannot read the term", id="bad-term"),
        pytest.param("f + g =~ x1", 1, "must be one variable name", id="several-lhs"),
        pytest.param("f =~ x1 + + x2", 1, "empty term", id="double-plus"),
        pytest.param("f =~ x1\ng =~", 2, "has no indicators", id="construct-without-items"),
        pytest.param("f =~ x1\ny ~ 1 + f", 2, "intercepts", id="intercept"),
        pytest.param("f =~ f + x1", 1, "its own indicator", id="self-measured"),
        pytest.param("f =~ x1 + x2\ng =~ x2", 2, "already used by construct 'f'", id="shared-item"),
        pytest.param("f =~ x1 + x1", 1, "already used by this construct", id="repeated-item"),
        pytest.param("f =~ x1\nf <~ x2", 2, "declared with =~ on line 1", id="mixed-modes"),
        pytest.param("f =~ x1\ng =~ y1\ng ~ f\ng ~ f", 4, "already declared", id="dup-path"),
        pytest.param("", None, "no statements", id="empty"),
    ],
)
def test_parse_model_bad_text_raises_with_line_problem_and_fix(
    text: str, line: int | None, fragment: str
) -> None:
    with pytest.raises(ModelSyntaxError) as caught:
        parse_model(text)
    error = caught.value
    assert error.line == line
    assert fragment in error.problem
    assert error.fix  # every error tells how to fix it
    assert isinstance(error, ValueError)


def test_parse_model_cycle_raises_naming_the_cycle_in_order() -> None:
    text = "A =~ a1\nB =~ b1\nC =~ c1\nB ~ A\nC ~ B\nA ~ C"
    with pytest.raises(ModelSyntaxError, match=r"cycle: A -> B -> C -> A") as caught:
        parse_model(text)
    assert caught.value.line == 6
    assert "recursive" in caught.value.fix


def test_parse_model_self_loop_is_a_cycle() -> None:
    with pytest.raises(ModelSyntaxError, match=r"cycle: A -> A"):
        parse_model("A =~ a1\nA ~ A")


def test_parse_model_mutual_measurement_raises() -> None:
    with pytest.raises(ModelSyntaxError, match="measure each other"):
        parse_model("f =~ g + x1\ng =~ f + y1")


def test_check_data_missing_indicator_names_line_and_suggests_column(ecsi: PathSpec) -> None:
    columns = [c for c in ecsi.observed if c != "cuex3"] + ["cuex_3"]
    with pytest.raises(ModelSyntaxError, match=r"'cuex3'.*did you mean 'cuex_3'") as caught:
        ecsi.check_data(columns)
    assert caught.value.line == 4  # the Expectation statement starts on line 4


def test_check_data_unknown_path_variable_raises_with_suggestion() -> None:
    spec = parse_model("Satisfaction =~ s1 + s2\nLoyalty =~ l1\nLoyalty ~ Satisfation")
    with pytest.raises(ModelSyntaxError, match=r"did you mean 'Satisfaction'") as caught:
        spec.check_data(["s1", "s2", "l1"])
    assert caught.value.line == 3
    assert "neither a construct nor a column" in caught.value.problem


def test_model_syntax_error_message_reads_line_problem_fix() -> None:
    error = ModelSyntaxError("something is wrong", "Do this.", 7)
    assert str(error) == "line 7: something is wrong. Do this."
