"""The errors the survey domain raises on purpose, under one base.

Every such error's message is for a person: what was wrong and how to fix it. Its kind says
how the outside world should answer it, so that the web layer maps all of them in one
place (``api.web.errors``): :class:`InvalidRequest` is a 422, :class:`NotFound` a 404,
:class:`Conflict` a 409. Each keeps the built-in base its callers caught before
(``ValueError``, ``LookupError``), so ``except ValueError`` still works.
"""

from __future__ import annotations


class SurveyError(Exception):
    """Base of every error the survey domain raises on purpose."""


class InvalidRequest(SurveyError, ValueError):
    """What was asked cannot be done as asked: bad input, or not in this state."""


class NotFound(SurveyError, LookupError):
    """What was asked for does not exist, or is not open to the one asking."""


class Conflict(SurveyError, ValueError):
    """What was asked contradicts what is already stored (e.g. a published version)."""
