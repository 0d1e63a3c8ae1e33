"""lavaan's pre-multipliers mean in the SEM engine what they mean in lavaan (issue 14, item 1).

semopy reads ``NA`` as a label and fixes the first *unlabelled* loading of a factor, so the
lavaan idiom ``visual =~ NA*x1 + x2 + x3`` with ``visual ~~ 1*visual`` used to be fitted as
another model (χ² 119.7 on 25 df, where lavaan gives 85.306 on 24) without a word. Each
form below is fitted on HolzingerSwineford1939 and compared with lavaan 0.6-14; the numbers
come from ``tests/reference/lavaan_modifiers.R`` (Debian's r-cran-lavaan), frozen here.
Tolerances: χ², CFI and RMSEA 1e-5 relative; estimates and standard errors 1e-4 absolute
(lavaan prints six decimals; both optimisers stop at their own tolerance).
"""

from __future__ import annotations

import pytest
from semopy.examples import holzinger39

from models.sem import fit_sem
from models.sem_semopy import semopy_syntax
from models.syntax import ModelSyntaxError

THREE = "textual =~ x4 + x5 + x6\nspeed =~ x7 + x8 + x9\n"

#: name -> (model, lavaan's chisq, df, cfi, rmsea, {(lhs, rhs): (loading, se)})
LAVAAN = {
    "na_first": (
        "visual =~ NA*x1 + x2 + x3\n" + THREE + "visual ~~ 1*visual",
        85.305522, 24, 0.930560, 0.092121,
        {("visual", "x1"): (0.899620, 0.080847), ("visual", "x2"): (0.497939, 0.077455),
         ("visual", "x3"): (0.656156, 0.074421), ("textual", "x5"): (1.113077, 0.065420)},
    ),
    "na_two": (
        "visual =~ NA*x1 + x2 + x3\ntextual =~ NA*x4 + x5 + x6\nspeed =~ x7 + x8 + x9\n"
        "visual ~~ 1*visual\ntextual ~~ 1*textual",
        85.305522, 24, 0.930560, 0.092121,
        {("visual", "x1"): (0.899620, 0.080847), ("textual", "x4"): (0.989693, 0.056637),
         ("textual", "x5"): (1.101604, 0.062676), ("textual", "x6"): (0.916600, 0.053658)},
    ),
    "label_first": (
        "visual =~ a*x1 + x2 + x3\n" + THREE,
        85.305522, 24, 0.930560, 0.092121,
        {("visual", "x1"): (1.0, None), ("visual", "x2"): (0.553500, 0.099665),
         ("visual", "x3"): (0.729370, 0.109110)},
    ),
    "equal_labels": (
        "visual =~ x1 + x2 + x3\ntextual =~ x4 + b*x5 + b*x6\nspeed =~ 0.5*x7 + x8 + x9",
        94.570253, 25, 0.921198, 0.096152,
        {("textual", "x5"): (1.004410, 0.052905), ("textual", "x6"): (1.004410, 0.052905),
         ("speed", "x7"): (0.5, None), ("speed", "x8"): (0.590124, 0.082480)},
    ),
    "fixed_cov": (
        "visual =~ x1 + x2 + x3\n" + THREE + "visual ~~ 0*speed\nvisual ~~ NA*textual",
        114.128437, 25, 0.899045, 0.108832,
        {("visual", "x2"): (0.577431, 0.109453), ("speed", "x9"): (0.849038, 0.119882)},
    ),
    "na_label": (
        "visual =~ l1*x1 + NA*x1 + x2 + x3\n" + THREE + "visual ~~ 1*visual",
        85.305522, 24, 0.930560, 0.092121,
        {("visual", "x1"): (0.899620, 0.080847), ("visual", "x2"): (0.497939, 0.077455)},
    ),
    "second_order": (
        "visual =~ x1 + x2 + x3\n" + THREE + "g =~ NA*visual + textual + speed\ng ~~ 1*g",
        85.305522, 24, 0.930560, 0.092121,
        {("g", "visual"): (0.785501, 0.116479), ("g", "textual"): (0.519709, 0.087551),
         ("g", "speed"): (0.333831, 0.066420), ("visual", "x2"): (0.553501, 0.099665)},
    ),
}  # fmt: skip


@pytest.fixture(scope="module")
def hs():
    return holzinger39.get_data()


@pytest.mark.parametrize("name", LAVAAN)
def test_each_modifier_form_gives_lavaans_fit_and_estimates(hs, name):
    model, chisq, df, cfi, rmsea, loadings = LAVAAN[name]
    result = fit_sem(model, hs)
    assert result.fit["chisq"] == pytest.approx(chisq, rel=1e-5)
    assert result.fit["df"] == df
    assert result.fit["cfi"] == pytest.approx(cfi, rel=1e-5)
    assert result.fit["rmsea"] == pytest.approx(rmsea, rel=1e-5)
    table = result.estimates.set_index(["lhs", "op", "rhs"])
    for (lhs, rhs), (estimate, se) in loadings.items():
        row = table.loc[(lhs, "=~", rhs)]
        assert row["estimate"] == pytest.approx(estimate, abs=1e-4), (lhs, rhs)
        if se is None:  # fixed: no standard error
            assert row["se"] != row["se"]
        else:
            assert row["se"] == pytest.approx(se, abs=1e-4), (lhs, rhs)


def test_the_freed_factors_variance_stays_fixed_at_one(hs):
    result = fit_sem(LAVAAN["na_two"][0], hs)
    table = result.estimates.set_index(["lhs", "op", "rhs"])
    assert table.loc[("visual", "~~", "visual"), "estimate"] == 1.0
    assert table.loc[("textual", "~~", "textual"), "estimate"] == 1.0


def test_what_semopy_is_given_says_what_lavaan_means():
    text = semopy_syntax(
        "visual =~ NA*x1 + x2 + x3\ntextual =~ a*x4 + x5 + NA*x6\nvisual ~~ 1*visual\n"
        "textual ~ NA*visual", "ML",
    )  # fmt: skip
    lines = text.splitlines()
    # No fixed loading of visual: every loading a free parameter of its own.
    assert lines[0] == (
        "visual =~ free__visual__x1*x1 + free__visual__x2*x2 + free__visual__x3*x3"
    )
    # textual's first loading fixed at 1 although labelled; NA* elsewhere its own parameter.
    assert lines[1] == "textual =~ 1.0*x4 + x5 + free__textual__x6*x6"
    assert lines[2] == "visual ~~ 1.0*visual"
    assert lines[3] == "textual ~ visual"  # NA on a regression: free, as by default
    assert "NA" not in text


@pytest.mark.parametrize(
    ("model", "line", "words"),
    [
        ("f =~ x1 + x2 + x3\nf =~ start(0.5)*x4", 2, "start\\(\\) modifier at column 6"),
        ("f =~ x1 + x2 + x3\ng <~ x4 + x5", 2, "composite"),
        ("f =~ x1 + x2 + x3\nx1 ~ 1", 2, "intercept"),
        ("f =~ x1 + x2 + x3\nd := a*b", 2, "defined parameters"),
        ("f =~ a*x1 + x2 + x3\ng =~ x4 + a*x5 + x6", 1, "fixes at 1"),
        ("f =~ x1 + x2 + x3\nf =~ NA*x1", 2, "indicator of f on line 1 and again"),
        ("f =~ 1*x1 + NA*x1 + x2 + x3", 1, "conflicting modifiers"),
        ("f =~ a*x1 + b*x1 + x2 + x3", 1, "conflicting modifiers"),
    ],
)
def test_forms_the_engine_cannot_take_are_refused_with_their_line(hs, model, line, words):
    with pytest.raises(ModelSyntaxError, match=words) as refused:
        fit_sem(model, hs)
    assert refused.value.line == line


def test_intercepts_are_read_with_fiml(hs):
    result = fit_sem("visual =~ x1 + x2 + x3\nx1 ~ 1", hs, estimator="FIML")
    table = result.estimates.set_index(["lhs", "op", "rhs"])
    assert table.loc[("x1", "~1", ""), "estimate"] == pytest.approx(hs["x1"].mean(), abs=1e-4)
    with pytest.raises(ModelSyntaxError, match="factor's mean") as refused:
        fit_sem("visual =~ x1 + x2 + x3\nvisual ~ 1", hs, estimator="FIML")
    assert refused.value.line == 2
