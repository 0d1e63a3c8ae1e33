"""Validation problems of a questionnaire: a code, a place, what is wrong and how to fix it."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from survey.errors import InvalidRequest

Severity = Literal["error", "warning"]


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with a questionnaire.

    ``location`` is a YAML path with its line (``items[3].name (line 42)``) or a sheet, row
    and column of a workbook (``survey sheet, row 5, column name``).
    """

    code: str
    location: str
    message: str
    fix: str
    severity: Severity = "error"

    def __str__(self) -> str:
        return f"{self.location}: {self.severity} [{self.code}] {self.message}\n    fix: {self.fix}"

    def to_dict(self) -> dict[str, str]:
        return {
            "code": self.code,
            "location": self.location,
            "message": self.message,
            "fix": self.fix,
            "severity": self.severity,
        }


class QuestionnaireError(InvalidRequest):
    """Raised when a questionnaire has errors; ``problems`` lists every one of them."""

    def __init__(self, problems: Iterable[Problem], source: str = "questionnaire") -> None:
        self.problems = tuple(problems)
        self.source = source
        errors = [p for p in self.problems if p.severity == "error"]
        lines = [f"{source}: {len(errors)} problem(s) must be fixed:"]
        lines += [str(p) for p in errors]
        super().__init__("\n".join(lines))
