"""Coded warnings carried by every model result.

A result never prints an unsound solution as if it were sound: each problem found while
fitting or checking a model becomes a :class:`ModelWarning` with a stable ``code`` that the
API, the command line and the scoring layer can act on.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Severity = Literal["error", "warning", "info"]


@dataclass(frozen=True, slots=True)
class ModelWarning:
    """One problem found in a model or its measurement.

    Parameters
    ----------
    code : str
        Stable, kebab-case identifier, e.g. ``"not-converged"``, ``"heywood-case"``,
        ``"low-ave"``, ``"htmt-above-0.90"``.
    message : str
        What is wrong, in words a researcher can act on, naming the construct, item or
        parameter concerned.
    severity : {"error", "warning", "info"}
        ``"error"`` makes a solution improper (``proper`` is False on the result).
    subject : str, optional
        The construct, item, pair or parameter the warning is about.
    """

    code: str
    message: str
    severity: Severity = "warning"
    subject: str | None = None

    def to_dict(self) -> dict[str, str | None]:
        return {
            "code": self.code,
            "message": self.message,
            "severity": self.severity,
            "subject": self.subject,
        }
