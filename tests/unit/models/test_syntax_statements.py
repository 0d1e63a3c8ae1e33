"""Reading lavaan text statement by statement, and the cycle search, for editors of a model."""

from __future__ import annotations

import pytest

from models.syntax import (
    ModelSyntaxError,
    Relation,
    Statement,
    Term,
    find_cycle,
    parse_model,
    read_statements,
)


def test_read_statements_keeps_what_it_can_read_and_every_error_with_its_line():
    text = "A ~ B\nA B\nC ~ D +\n    E   # continued\nF ~ G $ H\nI ~~ J; K =~ k1 + 2*k2"
    statements, errors = read_statements(text)
    assert [(s.lhs, s.op, [t.name for t in s.terms], s.line) for s in statements] == [
        ("A", "~", ["B"], 1),
        ("C", "~", ["D", "E"], 3),
        ("I", "~~", ["J"], 6),
        ("K", "=~", ["k1", "k2"], 6),
    ]
    assert [(e.line, e.problem.split(" ")[0]) for e in errors] == [(2, "no"), (5, "unexpected")]
    assert all(isinstance(e, ModelSyntaxError) and e.fix for e in errors)


def test_read_statements_of_empty_text_is_empty_where_parse_model_refuses():
    assert read_statements("  # nothing\n\n") == ((), ())
    with pytest.raises(ModelSyntaxError, match="no statements"):
        parse_model("  # nothing\n\n")


def test_an_unreadable_continuation_drops_the_statement_it_continues():
    statements, errors = read_statements("A ~ B +\n  C $\nD ~ E")
    assert [s.lhs for s in statements] == ["D"]
    assert [e.line for e in errors] == [2]


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("a + b ~ c", "must be one variable name"),
        ("a ~ b +", "empty term"),
        ("a := b", "not supported"),
        ("a ~ b ~ c", "more than one operator"),
        ("a ~ 1", "intercepts"),
    ],
)
def test_read_statements_reports_what_parse_model_would(text, fragment):
    _, [error] = read_statements(text)
    with pytest.raises(ModelSyntaxError) as caught:
        parse_model(text)
    assert fragment in error.problem and str(error) == str(caught.value)


def test_relations_of_a_statement():
    [paths, covariance, block], _ = read_statements("y ~ x1 + 2*x2\na ~~ b\nf =~ i1 + i2")
    assert paths.relations == (Relation("y", "~", Term("x1")), Relation("y", "~", Term("x2", 2.0)))
    assert [r.line for r in paths.relations] == [1, 1]
    assert covariance.relations == (Relation("a", "~~", Term("b")),)
    assert block.relations == ()
    assert isinstance(block, Statement)


def test_find_cycle_names_it_and_the_line_that_closes_it():
    statements, _ = read_statements("B ~ A\nC ~ B\nD ~ C\nA ~ C")
    cycle = find_cycle(r for s in statements for r in s.relations)
    assert cycle is not None
    assert cycle.names == ("A", "B", "C", "A") and cycle.line == 4


def test_find_cycle_of_a_recursive_model_is_none():
    spec = parse_model("A =~ a1\nB =~ b1\nC =~ c1\nB ~ A\nC ~ A + B")
    assert find_cycle(spec.regressions) is None
    assert find_cycle(()) is None
