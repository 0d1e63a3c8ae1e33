"""lavaan model syntax: the one language of models, parsed into an immutable spec.

Every engine (PLS, covariance-based SEM) reads the same text. This module turns it into a
:class:`PathSpec` and explains mistakes as a :class:`ModelSyntaxError` naming the line, what
is wrong and how to fix it. Nothing is ever ``eval``-ed: the text is tokenised with one
regular expression and read by a small hand-written parser. For an editor that shows every
mistake at once, :func:`read_statements` reads statement by statement, collecting the
unreadable ones with their lines, and :func:`find_cycle` names a loop among the paths.

Supported (a subset of lavaan's ``lavaanify``)::

    # comment                      (also after a statement)
    Image =~ imag1 + imag2 + imag3   reflective / mode A block
    Value <~ perv1 + perv2          composite / mode B block
    Satisfaction ~ Image + Value    structural regression (outcome ~ predictors)
    imag1 ~~ imag2                  covariance
    f =~ 1*x1 + NA*x2 + a*x3         fixed value, free parameter, label
    a ~ b; c ~ d                    ';' separates statements on one line
    f =~ x1 + x2 +                  a trailing '+' (or a leading '+' on the next line)
         x3                         continues the statement

Not supported, with an error saying so: intercepts (``y ~ 1``), defined parameters
(``:=``), constraints (``==``, ``<``, ``>``), thresholds (``|``), several variables on the
left of one operator.

References
----------
Rosseel, Y. (2012). lavaan: An R package for structural equation modeling. *Journal of
Statistical Software*, 48(2), 1-36. doi:10.18637/jss.v048.i02
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Literal

__all__ = [
    "Block",
    "Cycle",
    "ModelSyntaxError",
    "PathSpec",
    "Relation",
    "Statement",
    "Term",
    "find_cycle",
    "parse_model",
    "read_statements",
]

Mode = Literal["A", "B"]

_MEASUREMENT_OPS: dict[str, Mode] = {"=~": "A", "<~": "B"}
_SUPPORTED_OPS = ("=~", "<~", "~~", "~")
_UNSUPPORTED_OPS = {
    ":=": "defined parameters (:=)",
    "==": "equality constraints (==)",
    "<": "inequality constraints (<)",
    ">": "inequality constraints (>)",
    "|": "thresholds (|)",
}

# Order matters: two-character operators before their one-character prefixes.
_TOKEN = re.compile(
    r"""
    (?P<space>\s+)
  | (?P<op>=~|<~|~~|:=|==|~|<|>|\|)
  | (?P<plus>\+)
  | (?P<star>\*)
  | (?P<number>-?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)
  | (?P<name>[A-Za-z_.][A-Za-z0-9_.]*)
    """,
    re.VERBOSE,
)


class ModelSyntaxError(ValueError):
    """A model text that cannot be read, or that does not fit the data.

    Parameters
    ----------
    problem : str
        What is wrong.
    fix : str
        How to fix it.
    line : int, optional
        1-based line of the model text where the problem is.
    """

    def __init__(self, problem: str, fix: str, line: int | None = None) -> None:
        self.problem = problem
        self.fix = fix
        self.line = line
        where = f"line {line}: " if line is not None else ""
        super().__init__(f"{where}{problem}. {fix}")


#: The name of an intercept's term (``y ~ 1``), read only where an engine has means.
INTERCEPT = "1"


@dataclass(frozen=True, slots=True)
class Term:
    """A variable on the right of an operator, with its optional pre-multiplier.

    ``1*x1`` gives ``fixed=1.0``; ``NA*x1`` gives ``free=True`` (lavaan's way to free a
    parameter fixed by default, e.g. a first loading); ``a*x1`` gives ``label="a"``.
    """

    name: str
    fixed: float | None = None
    free: bool = False
    label: str | None = None

    @property
    def is_intercept(self) -> bool:
        return self.name == INTERCEPT

    def to_lavaan(self) -> str:
        if self.fixed is not None:
            return f"{self.fixed:g}*{self.name}"
        if self.free:
            return f"NA*{self.name}"
        if self.label is not None:
            return f"{self.label}*{self.name}"
        return self.name


@dataclass(frozen=True, slots=True)
class Block:
    """One construct and the indicators that measure (mode A) or form (mode B) it."""

    construct: str
    mode: Mode
    indicators: tuple[Term, ...]
    line: int = field(default=0, compare=False)

    @property
    def indicator_names(self) -> tuple[str, ...]:
        return tuple(t.name for t in self.indicators)


@dataclass(frozen=True, slots=True)
class Relation:
    """A regression (``op="~"``, lhs the outcome) or a covariance (``op="~~"``)."""

    lhs: str
    op: Literal["~", "~~"]
    rhs: Term
    line: int = field(default=0, compare=False)


@dataclass(frozen=True, slots=True)
class Statement:
    """One statement as written, ``lhs op term + term ...``, with the line it starts on."""

    lhs: str
    op: str
    terms: tuple[Term, ...]
    line: int

    @property
    def relations(self) -> tuple[Relation, ...]:
        """A ``~`` or ``~~`` statement as one relation per term; () for a block (``=~``, ``<~``)."""
        if self.op not in ("~", "~~"):
            return ()
        op: Literal["~", "~~"] = "~" if self.op == "~" else "~~"
        return tuple(Relation(self.lhs, op, term, self.line) for term in self.terms)


@dataclass(frozen=True, slots=True)
class Cycle:
    """A directed cycle of structural paths.

    Attributes
    ----------
    names : tuple of str
        The variables from a predictor round to itself, e.g. ``("A", "B", "A")``.
    line : int
        Line of the path that closes the cycle.
    """

    names: tuple[str, ...]
    line: int


@dataclass(frozen=True)
class PathSpec:
    """An immutable model specification parsed from lavaan syntax.

    Build it with :func:`parse_model`. Equality ignores line numbers, so
    ``parse_model(spec.to_lavaan()) == spec``.

    Attributes
    ----------
    measurement : tuple of Block
        Blocks in order of first declaration.
    regressions : tuple of Relation
        Structural paths (``outcome ~ predictor``), one relation per predictor.
    covariance_terms : tuple of Relation
        ``~~`` statements.
    """

    measurement: tuple[Block, ...]
    regressions: tuple[Relation, ...] = ()
    covariance_terms: tuple[Relation, ...] = ()

    @property
    def constructs(self) -> tuple[str, ...]:
        """Construct names in order of declaration."""
        return tuple(b.construct for b in self.measurement)

    @property
    def blocks(self) -> Mapping[str, tuple[str, ...]]:
        """Read-only map construct -> indicator names."""
        return MappingProxyType({b.construct: b.indicator_names for b in self.measurement})

    @property
    def modes(self) -> Mapping[str, Mode]:
        """Read-only map construct -> ``"A"`` (``=~``) or ``"B"`` (``<~``)."""
        return MappingProxyType({b.construct: b.mode for b in self.measurement})

    @property
    def paths(self) -> tuple[tuple[str, str], ...]:
        """Structural paths as ``(outcome, predictor)`` pairs, in order of declaration."""
        return tuple((r.lhs, r.rhs.name) for r in self.regressions)

    @property
    def covariances(self) -> tuple[tuple[str, str], ...]:
        """``~~`` pairs as ``(lhs, rhs)``."""
        return tuple((r.lhs, r.rhs.name) for r in self.covariance_terms)

    @property
    def observed(self) -> tuple[str, ...]:
        """Indicator names (variables that must be data columns), in block order.

        A construct used as the indicator of another construct (a second-order model) is
        not observed and is not listed.
        """
        constructs = set(self.constructs)
        names = (n for b in self.measurement for n in b.indicator_names)
        return tuple(n for n in names if n not in constructs)

    @property
    def structural_variables(self) -> tuple[str, ...]:
        """Every variable named in a structural path, in order of first mention."""
        return _unique(name for pair in self.paths for name in pair[::-1])

    @property
    def endogenous(self) -> tuple[str, ...]:
        """Variables that are the outcome of at least one structural path."""
        return _unique(outcome for outcome, _ in self.paths)

    @property
    def exogenous(self) -> tuple[str, ...]:
        """Constructs and path variables that are the outcome of no structural path."""
        endogenous = set(self.endogenous)
        candidates = (*self.constructs, *self.structural_variables)
        return _unique(v for v in candidates if v not in endogenous)

    @property
    def topological_order(self) -> tuple[str, ...]:
        """Constructs and path variables ordered so every predictor precedes its outcomes.

        Ties keep the order of declaration (Kahn's algorithm with a stable queue).
        """
        return _topological_order((*self.constructs, *self.structural_variables), self.paths)

    def predictors(self, outcome: str) -> tuple[str, ...]:
        """The predictors of one outcome, in order of declaration."""
        return tuple(p for o, p in self.paths if o == outcome)

    def to_lavaan(self) -> str:
        """Render the spec back as lavaan text (measurement, regressions, covariances)."""
        lines = [
            f"{b.construct} {_op_of(b.mode)} {' + '.join(t.to_lavaan() for t in b.indicators)}"
            for b in self.measurement
        ]
        for outcome in self.endogenous:
            terms = [r.rhs.to_lavaan() for r in self.regressions if r.lhs == outcome]
            lines.append(f"{outcome} ~ {' + '.join(terms)}")
        lines.extend(f"{r.lhs} ~~ {r.rhs.to_lavaan()}" for r in self.covariance_terms)
        return "\n".join(lines) + "\n"

    def check_data(self, columns: Iterable[str]) -> None:
        """Check that the spec can be estimated on data with these columns.

        Parameters
        ----------
        columns : iterable of str
            Column names of the data.

        Raises
        ------
        ModelSyntaxError
            On the first indicator that is not a column, or the first variable of a
            structural path or covariance that is neither a construct nor a column; the
            message suggests the closest column name.
        """
        available = set(columns)
        constructs = set(self.constructs)
        for block in self.measurement:
            for name in block.indicator_names:
                if name not in available and name not in constructs:
                    raise ModelSyntaxError(
                        f"indicator {name!r} of construct {block.construct!r} is not a column "
                        f"of the data{_did_you_mean(name, available)}",
                        "Fix the name, or add the column to the data.",
                        block.line,
                    )
        for relation in (*self.regressions, *self.covariance_terms):
            for name in (relation.lhs, relation.rhs.name):
                if name not in available and name not in constructs:
                    raise ModelSyntaxError(
                        f"{name!r} in {relation.lhs} {relation.op} {relation.rhs.name} is "
                        "neither a construct nor a column of the data"
                        f"{_did_you_mean(name, available | constructs)}",
                        f"Define it as a construct (`{name} =~ item1 + item2`) or fix the name.",
                        relation.line,
                    )


def parse_model(text: str) -> PathSpec:
    """Parse lavaan model syntax into a :class:`PathSpec`.

    Parameters
    ----------
    text : str
        Model in lavaan syntax (see the module docstring for the supported subset).

    Returns
    -------
    PathSpec
        The immutable specification.

    Raises
    ------
    ModelSyntaxError
        With the line number, the problem and a fix, for: an unknown character or
        operator, a statement without an operator or without right-hand side, a
        construct without indicators, a construct listed as its own indicator, an
        indicator used in two blocks (or twice in one), a construct declared with both
        ``=~`` and ``<~``, a duplicated path, an intercept, and a cycle in the structural
        paths (PLS needs a recursive model; the cycle is named).

    Examples
    --------
    >>> spec = parse_model("Image =~ i1 + i2\\nLoyalty =~ l1 + l2\\nLoyalty ~ Image")
    >>> spec.paths
    (('Loyalty', 'Image'),)
    >>> spec.topological_order
    ('Image', 'Loyalty')
    """
    read = _read_all(text)
    if not read:
        raise ModelSyntaxError(
            "the model text has no statements",
            "Write at least one block, e.g. `Satisfaction =~ sat1 + sat2 + sat3`.",
        )
    builder = _Builder()
    for statement in read:
        if isinstance(statement, ModelSyntaxError):
            raise statement
        builder.add(statement)
    return builder.build()


def read_statements(
    text: str, *, intercepts: bool = False
) -> tuple[tuple[Statement, ...], tuple[ModelSyntaxError, ...]]:
    """Read each statement of lavaan text on its own, collecting every unreadable one.

    :func:`parse_model` stops at the first mistake and checks the model as a whole; this
    reads statement by statement, so that a person editing the text can be shown every
    statement that cannot be read at once, each with its line.

    Parameters
    ----------
    text : str
        Model in lavaan syntax (see the module docstring); may be empty.
    intercepts : bool
        Read ``y ~ 1`` as an intercept term (:attr:`Term.is_intercept`), for an engine with a
        mean structure; otherwise it is an error, as everywhere else.

    Returns
    -------
    statements : tuple of Statement
        The statements that could be read, in order, each with the line it starts on.
    errors : tuple of ModelSyntaxError
        One per statement (or ``;``-separated segment) that could not be read, in order,
        each with its ``line``, ``problem`` and ``fix``.

    Notes
    -----
    Only the rules of one statement are checked (characters, operators, terms). The rules
    that need the whole model (blocks, duplicated paths, cycles) are :func:`parse_model`'s;
    :func:`find_cycle` looks for a cycle among statements' :attr:`Statement.relations`.

    Examples
    --------
    >>> statements, errors = read_statements("Loyalty ~ Satisfaction\\nLoyalty Image")
    >>> [(s.lhs, s.op, s.line) for s in statements]
    [('Loyalty', '~', 1)]
    >>> errors[0].line
    2
    """
    read = _read_all(text, intercepts=intercepts)
    return (
        tuple(s for s in read if isinstance(s, Statement)),
        tuple(s for s in read if isinstance(s, ModelSyntaxError)),
    )


def find_cycle(regressions: Iterable[Relation]) -> Cycle | None:
    """The first directed cycle among structural paths, or None when they are recursive.

    Parameters
    ----------
    regressions : iterable of Relation
        ``outcome ~ predictor`` relations (``PathSpec.regressions``, or
        :attr:`Statement.relations` of ``~`` statements).

    Returns
    -------
    Cycle or None
        The cycle in the direction predictor -> outcome, starting and ending at the same
        variable, with the line of the path that closes it.

    Notes
    -----
    Depth-first search from each predictor in order of declaration; the first edge back to
    a variable on the current path closes the cycle.
    """
    successors: dict[str, list[str]] = {}
    line_of: dict[tuple[str, str], int] = {}
    for r in regressions:
        successors.setdefault(r.rhs.name, []).append(r.lhs)
        line_of[(r.rhs.name, r.lhs)] = r.line
    state: dict[str, int] = {}  # 1 = on the current DFS stack, 2 = finished
    stack: list[str] = []

    def visit(node: str) -> Cycle | None:
        state[node] = 1
        stack.append(node)
        for nxt in successors.get(node, ()):
            if state.get(nxt) == 1:
                return Cycle((*stack[stack.index(nxt) :], nxt), line_of[(node, nxt)])
            if nxt not in state and (found := visit(nxt)):
                return found
        stack.pop()
        state[node] = 2
        return None

    for start in list(successors):
        if start not in state and (found := visit(start)):
            return found
    return None


# --- lexing ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Token:
    kind: str
    text: str
    line: int


# lavaan's modifier functions (start(0.5)*x, equal("a")*x, ...): refused by name.
_MODIFIER = re.compile(r"\b(start|equal|label|lower|upper|prior|rv|c)\s*\($")


def _tokenize(source: str, line: int) -> list[_Token]:
    tokens: list[_Token] = []
    position = 0
    while position < len(source):
        match = _TOKEN.match(source, position)
        if match is None:
            char = source[position]
            modifier = _MODIFIER.search(source[:position + 1])
            if modifier is not None:
                raise ModelSyntaxError(
                    f"lavaan's {modifier.group(1)}() modifier at column "
                    f"{modifier.start(1) + 1} is not supported",
                    "Write a label (`a*x1`; equal labels are equal parameters) or a fixed "
                    "value (`1*x1`, `NA*x1` to free one); starting values are the engine's.",
                    line,
                )
            raise ModelSyntaxError(
                f"unexpected character {char!r} at column {position + 1}",
                "Variable names may contain letters, digits, '_' and '.'; operators are "
                "=~, <~, ~, ~~ and '+'.",
                line,
            )
        kind = match.lastgroup or ""
        if kind != "space":
            tokens.append(_Token(kind, match.group(), line))
        position = match.end()
    return tokens


def _statements(text: str) -> list[tuple[int, list[_Token]] | ModelSyntaxError]:
    """Split text into statements (newline or ';'), joining continuation lines.

    A statement continues onto the next segment when it ends with '+', '*' or an
    operator, or when the next segment starts with '+'. A segment that cannot be
    tokenised is an error in its place; the statement it would have continued is dropped,
    as it cannot be read whole.
    """
    statements: list[tuple[int, list[_Token]] | ModelSyntaxError] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        code = raw.split("#", 1)[0]
        for segment in code.split(";"):
            last = statements[-1] if statements else None
            open_ = isinstance(last, tuple) and _continues(last[1])
            try:
                tokens = _tokenize(segment, number)
            except ModelSyntaxError as error:
                if open_:
                    statements.pop()
                statements.append(error)
                continue
            if not tokens:
                continue
            if isinstance(last, tuple) and (open_ or tokens[0].kind == "plus"):
                last[1].extend(tokens)
            else:
                statements.append((number, tokens))
    return statements


def _continues(tokens: list[_Token]) -> bool:
    return tokens[-1].kind in ("plus", "star", "op")


# --- parsing -----------------------------------------------------------------------------


def _read_all(text: str, *, intercepts: bool = False) -> list[Statement | ModelSyntaxError]:
    """Every statement of the text read on its own, or the error that stopped it, in order."""
    read: list[Statement | ModelSyntaxError] = []
    for segment in _statements(text):
        if isinstance(segment, ModelSyntaxError):
            read.append(segment)
            continue
        try:
            read.append(_read_statement(*segment, intercepts=intercepts))
        except ModelSyntaxError as error:
            read.append(error)
    return read


def _read_statement(line: int, tokens: list[_Token], *, intercepts: bool = False) -> Statement:
    ops = [i for i, t in enumerate(tokens) if t.kind == "op"]
    if not ops:
        raise ModelSyntaxError(
            f"no operator in {_text(tokens)!r}",
            "Each statement needs one of =~ (reflective), <~ (composite), ~ (regression) "
            "or ~~ (covariance), e.g. `Loyalty ~ Satisfaction`.",
            line,
        )
    at = ops[0]
    op = tokens[at].text
    if op in _UNSUPPORTED_OPS:
        raise ModelSyntaxError(
            f"{_UNSUPPORTED_OPS[op]} are not supported",
            "Remove the statement; supported operators are =~, <~, ~ and ~~.",
            line,
        )
    if len(ops) > 1:
        raise ModelSyntaxError(
            f"more than one operator in {_text(tokens)!r}",
            "Write one relation per statement; separate statements with a new line or ';'.",
            line,
        )
    lhs = tokens[:at]
    if len(lhs) != 1 or lhs[0].kind != "name":
        raise ModelSyntaxError(
            f"the left of {op!r} must be one variable name, found {_text(lhs) or 'nothing'!r}",
            f"Write one statement per variable, e.g. `y1 {op} x` and `y2 {op} x`.",
            line,
        )
    rhs = tokens[at + 1 :]
    if not rhs:
        what = "indicators" if op in _MEASUREMENT_OPS else "right-hand side"
        raise ModelSyntaxError(
            f"{lhs[0].text!r} {op} has no {what}",
            f"List them after the operator, e.g. `{lhs[0].text} {op} x1 + x2`.",
            line,
        )
    terms = tuple(_read_term(line, op, group, intercepts) for group in _split_plus(line, rhs))
    return Statement(lhs[0].text, op, terms, line)


def _split_plus(line: int, tokens: list[_Token]) -> list[list[_Token]]:
    groups: list[list[_Token]] = [[]]
    for token in tokens:
        if token.kind == "plus":
            groups.append([])
        else:
            groups[-1].append(token)
    if any(not g for g in groups):
        raise ModelSyntaxError(
            f"empty term in {_text(tokens)!r} (a '+' without a variable)",
            "Remove the extra '+' or add the missing variable.",
            line,
        )
    return groups


def _read_term(line: int, op: str, tokens: list[_Token], intercepts: bool = False) -> Term:
    kinds = [t.kind for t in tokens]
    if kinds == ["name"]:
        return Term(tokens[0].text)
    if kinds == ["number"] and op == "~" and float(tokens[0].text) == 1.0:
        if intercepts:
            return Term(INTERCEPT)
        raise ModelSyntaxError(
            "intercepts (`~ 1`) are not supported",
            "Remove the '1' term; PLS and SEM here work on centred data.",
            line,
        )
    if kinds == ["number", "star", "name"]:
        value = float(tokens[0].text)
        if not math.isfinite(value):
            raise ModelSyntaxError(
                f"pre-multiplier {tokens[0].text!r} is not a finite number",
                "Use a finite number, NA (free) or a label.",
                line,
            )
        return Term(tokens[2].text, fixed=value)
    if kinds == ["name", "star", "name"]:
        if tokens[0].text == "NA":
            return Term(tokens[2].text, free=True)
        return Term(tokens[2].text, label=tokens[0].text)
    raise ModelSyntaxError(
        f"cannot read the term {_text(tokens)!r}",
        "A term is a variable name, optionally pre-multiplied by a number, NA or a label: "
        "`x1`, `1*x1`, `NA*x1`, `a*x1`.",
        line,
    )


def _text(tokens: list[_Token]) -> str:
    return " ".join(t.text for t in tokens)


class _Builder:
    """Collect statements, enforcing the rules that need the whole model."""

    def __init__(self) -> None:
        self.blocks: dict[str, Block] = {}
        self.owner: dict[str, tuple[str, int]] = {}  # indicator -> (construct, line)
        self.regressions: list[Relation] = []
        self.covariances: list[Relation] = []

    def add(self, statement: Statement) -> None:
        if statement.op in _MEASUREMENT_OPS:
            self._add_block(statement)
        elif statement.op == "~":
            self._add_regressions(statement)
        else:
            self.covariances.extend(statement.relations)

    def _add_block(self, s: Statement) -> None:
        mode = _MEASUREMENT_OPS[s.op]
        previous = self.blocks.get(s.lhs)
        if previous is not None and previous.mode != mode:
            raise ModelSyntaxError(
                f"construct {s.lhs!r} was declared with {_op_of(previous.mode)} on line "
                f"{previous.line} and with {s.op} here",
                "A construct has one mode: use =~ (mode A) or <~ (mode B), not both.",
                s.line,
            )
        for term in s.terms:
            if term.name == s.lhs:
                raise ModelSyntaxError(
                    f"construct {s.lhs!r} is listed as its own indicator",
                    f"Remove {s.lhs!r} from the right of {s.op}; name its items instead.",
                    s.line,
                )
            if term.name in self.owner:
                construct, line = self.owner[term.name]
                where = "this construct" if construct == s.lhs else f"construct {construct!r}"
                raise ModelSyntaxError(
                    f"indicator {term.name!r} is already used by {where} (line {line})",
                    "Each indicator measures one construct in PLS; remove it from one block.",
                    s.line,
                )
            self.owner[term.name] = (s.lhs, s.line)
        indicators = (previous.indicators if previous else ()) + s.terms
        line = previous.line if previous else s.line
        self.blocks[s.lhs] = Block(s.lhs, mode, indicators, line)

    def _add_regressions(self, s: Statement) -> None:
        seen = {(r.lhs, r.rhs.name): r.line for r in self.regressions}
        for relation in s.relations:
            if (s.lhs, relation.rhs.name) in seen:
                raise ModelSyntaxError(
                    f"the path {s.lhs} ~ {relation.rhs.name} is already declared on line "
                    f"{seen[(s.lhs, relation.rhs.name)]}",
                    "Declare each structural path once.",
                    s.line,
                )
            self.regressions.append(relation)

    def build(self) -> PathSpec:
        self._check_block_members()
        cycle = find_cycle(self.regressions)
        if cycle is not None:
            raise ModelSyntaxError(
                "the structural paths form a cycle: " + " -> ".join(cycle.names),
                "PLS path models must be recursive; remove or reverse one of these paths.",
                cycle.line,
            )
        return PathSpec(
            measurement=tuple(self.blocks.values()),
            regressions=tuple(self.regressions),
            covariance_terms=tuple(self.covariances),
        )

    def _check_block_members(self) -> None:
        # A construct can be an indicator of another (second-order) only if it is a
        # construct itself; an indicator that is a construct used in paths is fine.
        for indicator, (construct, line) in self.owner.items():
            block = self.blocks.get(indicator)
            if block is not None and construct in block.indicator_names:
                raise ModelSyntaxError(
                    f"constructs {construct!r} and {indicator!r} measure each other",
                    "Remove one of the two measurement relations.",
                    line,
                )


def _topological_order(
    nodes: tuple[str, ...], paths: tuple[tuple[str, str], ...]
) -> tuple[str, ...]:
    order = _unique(nodes)
    indegree = dict.fromkeys(order, 0)
    for outcome, _ in paths:
        indegree[outcome] += 1
    result: list[str] = []
    ready = [n for n in order if indegree[n] == 0]
    while ready:
        node = ready.pop(0)
        result.append(node)
        for outcome, predictor in paths:
            if predictor == node:
                indegree[outcome] -= 1
                if indegree[outcome] == 0:
                    ready.append(outcome)
        ready.sort(key=order.index)
    return tuple(result)


def _unique(names: Iterable[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(names))


def _op_of(mode: Mode) -> str:
    return "=~" if mode == "A" else "<~"


def _did_you_mean(name: str, candidates: Iterable[str]) -> str:
    close = difflib.get_close_matches(name, sorted(candidates), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""
