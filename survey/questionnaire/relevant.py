"""Skip logic: a small, safe grammar for ``relevant`` expressions.

The grammar is XLSForm's, restricted to what a satisfaction questionnaire needs::

    expr       := and_expr ("or" and_expr)*
    and_expr   := not_expr ("and" not_expr)*
    not_expr   := "not" "(" expr ")" | comparison
    comparison := operand (("=" | "!=" | "<" | "<=" | ">" | ">=") operand)?
    operand    := "${" name "}" | number | 'string' | "(" expr ")"
                | "selected" "(" "${" name "}" "," 'string' ")"
                | "count-selected" "(" "${" name "}" ")"

Expressions are parsed into a tree and evaluated by walking it. Nothing a questionnaire
author writes is ever handed to ``eval`` or ``exec``: a name that is not in the grammar is
a syntax error, which is what makes an expression such as ``__import__('os')`` harmless.
Nesting deeper than :data:`MAX_NESTING` is a syntax error too, located where it goes too deep.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from survey.errors import InvalidRequest

_TOKEN = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<ref>\$\{(?P<refname>[^}]*)\})
  | (?P<number>\d+(?:\.\d+)?)
  | (?P<string>'[^']*'|"[^"]*")
  | (?P<op><=|>=|!=|=|<|>)
  | (?P<punct>[(),])
  | (?P<word>[A-Za-z_][A-Za-z0-9_\-]*)
    """,
    re.VERBOSE,
)
_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
#: Parentheses and ``not(...)`` nested deeper than this are refused. Real skip logic nests two
#: or three levels; the parser recurses five Python frames per level, so without a bound a few
#: thousand ``(`` end in a RecursionError instead of a located error.
MAX_NESTING = 32


class RelevantSyntaxError(InvalidRequest):
    """A ``relevant`` expression outside the grammar; ``position`` is a 0-based column."""

    def __init__(self, message: str, position: int, fix: str) -> None:
        self.position = position
        self.fix = fix
        super().__init__(f"{message} (at column {position + 1})")


@dataclass(frozen=True, slots=True)
class Ref:
    name: str


@dataclass(frozen=True, slots=True)
class Literal:
    value: float | str


@dataclass(frozen=True, slots=True)
class Compare:
    op: str
    left: Any
    right: Any


@dataclass(frozen=True, slots=True)
class BoolOp:
    op: str  # "and" | "or"
    operands: tuple[Any, ...]


@dataclass(frozen=True, slots=True)
class Not:
    operand: Any


@dataclass(frozen=True, slots=True)
class Call:
    function: str  # "selected" | "count-selected"
    ref: Ref
    argument: str | None = None


@dataclass(frozen=True, slots=True)
class Token:
    kind: str
    text: str
    position: int


def _tokenize(text: str) -> list[Token]:
    tokens: list[Token] = []
    position = 0
    while position < len(text):
        match = _TOKEN.match(text, position)
        if match is None:
            # Name the first word outside the grammar, if any: that is the real problem in
            # an attempt such as __import__('os').system(...).
            _refuse_unknown_words(tokens)
            raise RelevantSyntaxError(
                f"unexpected character {text[position]!r}",
                position,
                "use ${item} references, numbers, 'quoted text', = != < <= > >=, "
                "and, or, not(...), selected(...), count-selected(...)",
            )
        kind = match.lastgroup or ""
        if kind == "refname":  # only reachable through "ref"
            kind = "ref"
        if kind != "ws":
            value = match.group("refname") if kind == "ref" else match.group(0)
            tokens.append(Token(kind, value, position))
        position = match.end()
    tokens.append(Token("end", "", len(text)))
    return tokens


_KEYWORDS = ("and", "or", "not", "selected", "count-selected")


def _refuse_unknown_words(tokens: list[Token]) -> None:
    for token in tokens:
        if token.kind == "word" and token.text not in _KEYWORDS:
            raise RelevantSyntaxError(
                f"{token.text!r} is not allowed in a relevant expression",
                token.position,
                "only ${item} references, literals, comparisons, and/or/not(), selected() "
                "and count-selected() are allowed",
            )


class _Parser:
    def __init__(self, text: str) -> None:
        self.tokens = _tokenize(text)
        self.index = 0
        self.depth = 0

    @property
    def current(self) -> Token:
        return self.tokens[self.index]

    def advance(self) -> Token:
        token = self.current
        self.index += 1
        return token

    def enter(self, opening: Token) -> None:
        """Count one more level of nesting, opened by ``opening``; refuse one too many."""
        self.depth += 1
        if self.depth > MAX_NESTING:
            raise RelevantSyntaxError(
                f"nested more than {MAX_NESTING} levels deep",
                opening.position,
                "write the condition with fewer parentheses: `and` binds tighter than `or`, "
                "and a chain of and/or needs none",
            )

    def expect(self, kind: str, text: str | None = None) -> Token:
        token = self.current
        if token.kind != kind or (text is not None and token.text != text):
            wanted = repr(text) if text else kind
            found = repr(token.text) if token.text else "the end of the expression"
            raise RelevantSyntaxError(
                f"expected {wanted} but found {found}",
                token.position,
                "check the parentheses and quotes around this place",
            )
        return self.advance()

    def parse(self) -> Any:
        if self.current.kind == "end":
            raise RelevantSyntaxError(
                "the expression is empty", 0, "remove `relevant` or write a condition"
            )
        tree = self.parse_or()
        if self.current.kind != "end":
            raise RelevantSyntaxError(
                f"unexpected {self.current.text!r} after a complete expression",
                self.current.position,
                "join conditions with `and` / `or`",
            )
        return tree

    def parse_or(self) -> Any:
        operands = [self.parse_and()]
        while self.current.kind == "word" and self.current.text == "or":
            self.advance()
            operands.append(self.parse_and())
        return operands[0] if len(operands) == 1 else BoolOp("or", tuple(operands))

    def parse_and(self) -> Any:
        operands = [self.parse_not()]
        while self.current.kind == "word" and self.current.text == "and":
            self.advance()
            operands.append(self.parse_not())
        return operands[0] if len(operands) == 1 else BoolOp("and", tuple(operands))

    def parse_not(self) -> Any:
        if self.current.kind == "word" and self.current.text == "not":
            self.enter(self.advance())
            self.expect("punct", "(")
            inner = self.parse_or()
            self.expect("punct", ")")
            self.depth -= 1
            return Not(inner)
        return self.parse_comparison()

    def parse_comparison(self) -> Any:
        left = self.parse_operand()
        if self.current.kind == "op":
            op = self.advance().text
            return Compare(op, left, self.parse_operand())
        return left

    def parse_ref(self) -> Ref:
        token = self.current
        if token.kind != "ref":
            raise RelevantSyntaxError(
                "expected an item reference such as ${overall}",
                token.position,
                "refer to items as ${item_name}",
            )
        self.advance()
        if not _NAME.match(token.text):
            raise RelevantSyntaxError(
                f"{token.text!r} is not an item name",
                token.position,
                "item names are lowercase letters, digits and _, starting with a letter",
            )
        return Ref(token.text)

    def parse_operand(self) -> Any:
        token = self.current
        if token.kind == "ref":
            return self.parse_ref()
        if token.kind == "number":
            self.advance()
            return Literal(float(token.text))
        if token.kind == "string":
            self.advance()
            return Literal(token.text[1:-1])
        if token.kind == "punct" and token.text == "(":
            self.enter(self.advance())
            inner = self.parse_or()
            self.expect("punct", ")")
            self.depth -= 1
            return inner
        if token.kind == "word" and token.text in ("selected", "count-selected"):
            self.advance()
            self.expect("punct", "(")
            ref = self.parse_ref()
            argument = None
            if token.text == "selected":
                self.expect("punct", ",")
                argument = self.expect("string").text[1:-1]
            self.expect("punct", ")")
            return Call(token.text, ref, argument)
        if token.kind == "word":
            raise RelevantSyntaxError(
                f"{token.text!r} is not allowed in a relevant expression",
                token.position,
                "only ${item} references, literals, comparisons, and/or/not(), selected() "
                "and count-selected() are allowed; write an item as ${" + token.text + "}"
                if _NAME.match(token.text)
                else "only ${item} references, literals, comparisons, and/or/not(), "
                "selected() and count-selected() are allowed",
            )
        found = repr(token.text) if token.text else "the end of the expression"
        raise RelevantSyntaxError(
            f"expected a value but found {found}",
            token.position,
            "complete the comparison, e.g. ${overall} <= 2",
        )


@dataclass(frozen=True, slots=True)
class Relevance:
    """A parsed ``relevant`` expression: ``evaluate(answers)`` says whether to ask the item."""

    source: str
    tree: Any

    @property
    def references(self) -> frozenset[str]:
        found: set[str] = set()
        _collect_refs(self.tree, found)
        return frozenset(found)

    def evaluate(self, answers: Mapping[str, Any]) -> bool:
        """Evaluate against answers given so far.

        ``answers`` maps item names to the stored choice code (str or number), a list of
        codes for multiple choice, or None. Unanswered items and missing codes compare as
        empty: every comparison with them is false, as in XLSForm.
        """
        return bool(_evaluate(self.tree, answers))


def parse_relevant(text: str) -> Relevance:
    """Parse a ``relevant`` expression; raise :class:`RelevantSyntaxError` outside the grammar."""
    return Relevance(text, _Parser(text).parse())


def _collect_refs(node: Any, found: set[str]) -> None:
    if isinstance(node, Ref):
        found.add(node.name)
    elif isinstance(node, Call):
        found.add(node.ref.name)
    elif isinstance(node, Compare):
        _collect_refs(node.left, found)
        _collect_refs(node.right, found)
    elif isinstance(node, BoolOp):
        for operand in node.operands:
            _collect_refs(operand, found)
    elif isinstance(node, Not):
        _collect_refs(node.operand, found)


def _as_number(value: Any) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        return float(value)
    try:
        return float(str(value))
    except ValueError:
        return None


def _value(node: Any, answers: Mapping[str, Any]) -> Any:
    if isinstance(node, Ref):
        return answers.get(node.name)
    if isinstance(node, Literal):
        return node.value
    if isinstance(node, Call):
        chosen = answers.get(node.ref.name)
        codes = [] if chosen is None else chosen if isinstance(chosen, list) else [chosen]
        if node.function == "selected":
            return any(str(code) == node.argument for code in codes)
        return float(len(codes))
    return _evaluate(node, answers)


def _compare(op: str, left: Any, right: Any) -> bool:
    if left is None or right is None or left == "" or right == "":
        return False
    a, b = _as_number(left), _as_number(right)
    if a is not None and b is not None:
        pair: tuple[Any, Any] = (a, b)
    elif op in ("=", "!="):
        pair = (str(left), str(right))
    else:
        return False  # ordering text against a number has no meaning in skip logic
    x, y = pair
    return {
        "=": x == y,
        "!=": x != y,
        "<": x < y,
        "<=": x <= y,
        ">": x > y,
        ">=": x >= y,
    }[op]


def _evaluate(node: Any, answers: Mapping[str, Any]) -> Any:
    if isinstance(node, BoolOp):
        results = (bool(_evaluate(o, answers)) for o in node.operands)
        return all(results) if node.op == "and" else any(results)
    if isinstance(node, Not):
        return not _evaluate(node.operand, answers)
    if isinstance(node, Compare):
        return _compare(node.op, _value(node.left, answers), _value(node.right, answers))
    value = _value(node, answers)
    if isinstance(value, list):
        return len(value) > 0
    return value not in (None, "", 0, 0.0, False)
