import pytest

from survey.questionnaire.relevant import MAX_NESTING, RelevantSyntaxError, parse_relevant


@pytest.mark.parametrize(
    ("expression", "answers", "expected"),
    [
        ("${sat} <= 2", {"sat": "1"}, True),
        ("${sat} <= 2", {"sat": "3"}, False),
        ("${sat} <= 2", {}, False),  # unanswered compares as empty: never relevant
        ("${sat} <= 2", {"sat": None}, False),
        ("${complained} = 'yes'", {"complained": "yes"}, True),
        ("${complained} != 'yes'", {"complained": "no"}, True),
        ("${a} = 1 and ${b} = 2", {"a": 1, "b": "2"}, True),
        ("${a} = 1 and ${b} = 2", {"a": 1, "b": "3"}, False),
        ("${a} = 1 or ${b} = 2", {"a": 0, "b": "2"}, True),
        ("not(${a} = 1)", {"a": 2}, True),
        ("selected(${issues}, 'bill')", {"issues": ["net", "bill"]}, True),
        ("selected(${issues}, 'bill')", {"issues": ["net"]}, False),
        ("count-selected(${issues}) >= 2", {"issues": ["net", "bill"]}, True),
        ("(${a} = 1 or ${a} = 2) and ${b} > 4.5", {"a": "2", "b": "5"}, True),
        ("${name} < 3", {"name": "text"}, False),  # ordering text against a number: false
    ],
)
def test_relevant_evaluates_like_xlsform(expression, answers, expected):
    assert parse_relevant(expression).evaluate(answers) is expected


def test_relevant_lists_the_items_it_refers_to():
    relevance = parse_relevant("${a} = 1 and selected(${b}, 'x') or not(${c} > 2)")
    assert relevance.references == {"a", "b", "c"}


@pytest.mark.parametrize(
    ("expression", "fragment"),
    [
        ("__import__('os').system('ls')", "is not allowed"),
        ("open('/etc/passwd')", "is not allowed"),
        ("${a}.__class__", "unexpected character"),
        ("lambda: 1", "is not allowed"),
        ("${a} = 1; ${b}", "unexpected character"),
        ("${a} = ", "expected a value"),
        ("(${a} = 1", "expected ')'"),
        ("${A} = 1", "is not an item name"),
        ("", "empty"),
        ("sat = 1", "is not allowed"),
    ],
)
def test_relevant_refuses_anything_outside_the_grammar(expression, fragment):
    with pytest.raises(RelevantSyntaxError) as error:
        parse_relevant(expression)
    assert fragment in str(error.value)
    assert error.value.fix


def test_relevant_bare_name_suggests_the_reference_syntax():
    with pytest.raises(RelevantSyntaxError) as error:
        parse_relevant("sat_overall <= 2")
    assert "${sat_overall}" in error.value.fix


@pytest.mark.parametrize("opening", ["(", "not("])
def test_nesting_up_to_the_limit_parses(opening):
    depth = MAX_NESTING
    relevance = parse_relevant(opening * depth + "${a} = 1" + ")" * depth)
    assert relevance.evaluate({"a": "1"}) is True  # an even number of not()


@pytest.mark.parametrize(
    ("opening", "depth"), [("(", MAX_NESTING + 1), ("(", 5000), ("not(", 5000), ("(not(", 2000)]
)
def test_nesting_past_the_limit_is_a_located_syntax_error_not_a_recursion_error(opening, depth):
    with pytest.raises(RelevantSyntaxError) as error:
        parse_relevant(opening * depth + "${a} = 1" + ")" * depth * opening.count("("))
    # Located where the nesting goes one level too deep: the 33rd opening.
    assert error.value.position == MAX_NESTING * len(opening) // opening.count("(")
    assert f"nested more than {MAX_NESTING} levels deep" in str(error.value)
    assert f"(at column {error.value.position + 1})" in str(error.value)
