"""A light reading of the questionnaire's structural model, for validation only.

The statistical engines parse lavaan syntax fully (``models.syntax``); here we only need
each statement's operator and the names on both sides, to tell an author that a path names
an unknown construct, uses a measurement operator, or loops back on itself.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_OPERATORS = ("=~", "<~", "~~", "~")  # longest first: "~~" must win over "~"
_TERM = re.compile(r"^(?:(?:[-+]?\d+(?:\.\d+)?|NA)\s*\*\s*)?([A-Za-z][A-Za-z0-9_.]*)$")


@dataclass(frozen=True, slots=True)
class Statement:
    line: int  # 1-based line within the model text
    lhs: tuple[str, ...]
    op: str
    rhs: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class StatementError:
    line: int
    message: str
    fix: str


def read_statements(text: str) -> tuple[list[Statement], list[StatementError]]:
    """Split model text into statements; return them with the lines that could not be read."""
    statements: list[Statement] = []
    errors: list[StatementError] = []
    pending = ""
    pending_line = 0
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        for part in (p.strip() for p in line.split(";")):
            if not part:
                continue
            if pending:
                part = f"{pending} {part}"
            else:
                pending_line = number
            # lavaan continues a statement whose line ends with "+"
            if part.endswith("+"):
                pending = part
                continue
            pending = ""
            parsed = _read_one(part, pending_line)
            if isinstance(parsed, StatementError):
                errors.append(parsed)
            else:
                statements.append(parsed)
    if pending:
        errors.append(
            StatementError(pending_line, "the statement ends with '+'", "add the missing term")
        )
    return statements, errors


def _read_one(text: str, line: int) -> Statement | StatementError:
    op = next((o for o in _OPERATORS if o in text), None)
    if op is None:
        return StatementError(
            line,
            f"{text!r} has no operator",
            "write `outcome ~ driver1 + driver2` (or `a ~~ b` for a covariance)",
        )
    lhs_text, rhs_text = (s.strip() for s in text.split(op, 1))
    sides = []
    for side in (lhs_text, rhs_text):
        names = []
        for term in (t.strip() for t in side.split("+")):
            match = _TERM.match(term)
            if match is None:
                return StatementError(
                    line,
                    f"{term!r} is not a construct name",
                    "use construct names (letters, digits, _), separated by '+'",
                )
            names.append(match.group(1))
        sides.append(tuple(names))
    return Statement(line, sides[0], op, sides[1])


def find_cycle(paths: list[tuple[str, str]]) -> list[str] | None:
    """A directed cycle among ``(outcome, predictor)`` paths, as a list of names, or None."""
    graph: dict[str, list[str]] = {}
    for outcome, predictor in paths:
        graph.setdefault(predictor, []).append(outcome)
    state: dict[str, int] = {}  # 1 = on the current walk, 2 = done
    trail: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        trail.append(node)
        for nxt in graph.get(node, []):
            if state.get(nxt) == 1:
                return trail[trail.index(nxt) :] + [nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        trail.pop()
        state[node] = 2
        return None

    for start in list(graph):
        if start not in state and (found := visit(start)):
            return found
    return None
